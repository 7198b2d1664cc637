"""Run a plan: journal each step, take it through `Host`, verify it by re-reading, undo on failure.

Steps are verified by their `Check`s, never by the write's success (the kernel
accepts some writes that do nothing). On a failure the steps taken so far are
undone in reverse order; each undo step is skipped when its expected state
already holds, which makes rollback and recovery idempotent. An interrupted
operation (journal left "running" or "rolling-back") is finished or rolled
back by `recover`, which every mutating command calls first.

Test hook: `PCIPASS_TEST_KILL=before:N` or `after:N` makes the process SIGKILL
itself before or after its N-th forward step (1-based), for the kill -9 sweep.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pcipass.errors import OperationError, PcipassError
from pcipass.host.base import Host, RunResult
from pcipass.run.journal import Entry, Journal, State
from pcipass.run.plan import EMPTY_OVERRIDE, Check, Plan, Step, dev_path

KILL_ENV = "PCIPASS_TEST_KILL"
SETTLE_SECONDS = 5.0
"""How long a step's expected state may take to appear (asynchronous probes)."""
UNJOURNALLED = ("record", "forget")
"""Steps taken without a journal entry of their own: pcipass's own durable files, whose
expected state recovery re-reads (saves one fsync per device and step)."""


class RecordKeeper(Protocol):
    """Where `record`/`forget` steps keep pcipass's memory of devices."""

    def save(self, bdf: str, payload: dict[str, Any], defer: bool = False) -> None: ...

    def drop(self, bdf: str, defer: bool = False) -> None: ...

    def flush(self) -> None: ...

    def has(self, bdf: str) -> bool: ...


class StepFailed(OperationError):
    """A step did not reach its expected state."""


@dataclass
class Outcome:
    """What an execution did: steps taken, warnings from tools, how it ended."""

    plan: Plan
    done: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    state: str = "done"

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.plan.command,
            "state": self.state,
            "steps": [s.render() for s in self.done],
            "warnings": self.warnings,
        }


def holds(host: Host, records: RecordKeeper, check: Check) -> bool:
    """Whether the host is in the state `check` describes (one re-read)."""
    if check.kind == "driver":
        return host.link_name(dev_path(check.bdf, "driver")) == check.value
    if check.kind == "text":
        text = host.try_read_text(check.path)
        current = None if text in (None, "", EMPTY_OVERRIDE) else text
        return current == check.value
    if check.kind == "exists":
        return host.exists(check.path)
    if check.kind == "absent":
        return not host.exists(check.path)
    return records.has(check.bdf) == (check.value == "present")


class Executor:
    """Executes plans on one host with one journal and record store."""

    def __init__(
        self,
        host: Host,
        records: RecordKeeper,
        journal: Journal | None = None,
        settle: float = SETTLE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.records = records
        self.journal = journal or Journal(host)
        self.settle = settle
        self.sleep = sleep
        self._kill = _parse_kill(os.environ.get(KILL_ENV, ""))
        self._taken = 0

    # -- public ------------------------------------------------------------
    def run(self, plan: Plan) -> Outcome:
        """Execute `plan`; on failure undo what was done and raise the failure."""
        outcome = Outcome(plan)
        if not plan:
            return outcome
        self.journal.begin(plan)
        self._forward(plan, 0, outcome, skip_done=False)
        return outcome

    def pending(self) -> Entry | None:
        """The interrupted operation, if any."""
        entry = self.journal.load()
        return entry if entry is not None and entry.interrupted else None

    def recover(self, rollback: bool = False) -> Outcome | None:
        """Finish (or with `rollback`, undo) an interrupted operation; None if there is none."""
        entry = self.pending()
        if entry is None:
            return None
        self.journal.resume(entry)
        outcome = Outcome(entry.plan)
        start = max(entry.step, 0)
        if rollback or entry.state == "rolling-back":
            # One step further: the journal does not mark record/forget steps, and undoing a
            # step that never happened is a no-op (its undo's expected state already holds).
            self._rollback(entry.plan, min(start + 1, len(entry.plan.steps) - 1), outcome)
            return outcome
        self._forward(entry.plan, start, outcome, skip_done=True)
        return outcome

    # -- forward -----------------------------------------------------------
    def _forward(self, plan: Plan, start: int, outcome: Outcome, skip_done: bool) -> None:
        for index in range(start, len(plan.steps)):
            step = plan.steps[index]
            if step.action not in UNJOURNALLED:
                self.records.flush()  # a journalled step implies durable records before it
                self.journal.at(index)
            if skip_done and step.expect and self._all_hold(step.expect):
                continue
            self._maybe_kill("before")
            try:
                self._take(step, outcome, strict=True)
            except PcipassError as exc:
                self._rollback(plan, index, outcome)
                done = len(outcome.done)
                undone = f"; the {done} step(s) done were undone" if done else ""
                raise OperationError(
                    f"{exc.what}{undone}", exc.fix or "see `pcipass recover` and dmesg"
                ) from exc
            outcome.done.append(step)
            self._maybe_kill("after")
        self.records.flush()
        self.journal.end(State.DONE)
        outcome.state = "done"

    # -- backward ----------------------------------------------------------
    def _rollback(self, plan: Plan, start: int, outcome: Outcome) -> None:
        for index in range(start, -1, -1):
            self.journal.at(index, State.ROLLING_BACK)
            for undo in plan.steps[index].undo:
                if undo.expect and self._all_hold(undo.expect):
                    continue
                try:
                    self._take(undo, outcome, strict=False)
                except PcipassError as exc:
                    raise OperationError(
                        f"undoing {plan.steps[index].render()!r} failed: {exc.what}",
                        "fix what the message says, then run `pcipass recover --rollback`",
                    ) from exc
        self.records.flush()
        self.journal.end(State.ROLLED_BACK)
        outcome.state = "rolled-back"

    # -- one step ----------------------------------------------------------
    def _take(self, step: Step, outcome: Outcome, strict: bool) -> None:
        """Perform one step and verify it; `strict` also requires a zero exit status.

        Record changes are kept in memory and made durable (one write for a run of
        them) before the next step that touches the host, and at the end."""
        if step.action not in UNJOURNALLED:
            self.records.flush()
        if step.action == "write":
            self.host.write(step.path, step.data)
        elif step.action == "run":
            result = self.host.run(list(step.argv))
            outcome.warnings += _tool_warnings(result.stderr)
            if result.returncode != 0 and (strict or not step.expect):
                raise StepFailed(f"`{step.render()}` failed: {_last_line(result)}",
                                 "see the tool's message")
        elif step.action == "modprobe":
            result = self.host.modprobe(step.data)
            if result.returncode != 0:
                raise StepFailed(
                    f"cannot load kernel module {step.data}: {_last_line(result)}",
                    f"install the module or its package, or check the blacklist of {step.data}",
                )
        elif step.action == "record":
            self.records.save(step.bdf, step.payload or {}, defer=True)
        else:
            self.records.drop(step.bdf, defer=True)
        self._verify(step)

    def _verify(self, step: Step) -> None:
        if not step.expect:
            return
        deadline = time.monotonic() + self.settle
        while True:
            failed = [c for c in step.expect if not holds(self.host, self.records, c)]
            if not failed:
                return
            if time.monotonic() >= deadline:
                raise StepFailed(
                    f"`{step.render()}` was accepted but did not take effect "
                    f"(expected {failed[0].describe()})",
                    "check dmesg for the driver's reason",
                )
            self.sleep(0.01)

    def _all_hold(self, checks: tuple[Check, ...]) -> bool:
        return all(holds(self.host, self.records, c) for c in checks)

    def _maybe_kill(self, when: str) -> None:
        if when == "before":
            self._taken += 1
        if self._kill == (when, self._taken):
            os.kill(os.getpid(), signal.SIGKILL)


def _parse_kill(spec: str) -> tuple[str, int] | None:
    when, _, number = spec.partition(":")
    if when in ("before", "after") and number.isdigit():
        return when, int(number)
    return None


def _last_line(result: RunResult) -> str:
    """What a failed tool said last (its exit status if it said nothing)."""
    return (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]


def _tool_warnings(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if "warning" in line.lower()]
