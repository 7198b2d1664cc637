"""Run a plan: journal each step, take it through `Host`, verify it by re-reading, undo on failure.

Steps are verified by their `Check`s, never by the write's success (the kernel
accepts some writes that do nothing). On a failure the steps taken so far are
undone in reverse order; each undo step is skipped when its expected state
already holds, which makes rollback and recovery idempotent. An interrupted
operation (journal left "running" or "rolling-back") is finished or rolled
back by `recover`, which every mutating command calls first.

A rollback that cannot finish leaves the operation "stuck" (kept by the
journal): it is no longer retried by every command, commands on its devices are
refused until `recover --rollback` finishes it or `recover --abandon` closes it,
and commands on other devices run.

A file a `put-file` step replaces is written only while it holds the text the step
replaces or the one it writes. Edited by someone else meanwhile, it is left as it is: a run
is undone ("changed since pcipass read it"); recovery stops with the journal kept (keep the
edit: `recover --abandon`; or put the file back and `recover`); a rollback undoes every other
step and leaves the operation stuck on that file.

Test hook: `fault(when, n)` is called before ("before") and after ("after") the
n-th forward step (1-based); the kill -9 sweep passes one that SIGKILLs
(`pcipass.run.faults`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pcipass.errors import OperationError, PcipassError
from pcipass.host import paths
from pcipass.host.base import (
    DEFAULT_RUN_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    Host,
    NotThisMachine,
    RunResult,
)
from pcipass.host.netlink import text as setting_text
from pcipass.host.xen import XlUnavailable, pci_list, xenstore_read
from pcipass.run.journal import Entry, Journal, State
from pcipass.run.leftover import observe, xl_listed
from pcipass.run.plan import (
    EMPTY_OVERRIDE,
    Action,
    Check,
    Plan,
    Step,
    digest,
    read_file,
    text_digest,
)
from pcipass.run.vf_snapshots import VfSnapshots

Fault = Callable[[str, int], None]
"""Test hook called as fault("before"|"after", n) around the n-th forward step."""
#: Writes the kernel answers only after long work: `sriov_numvfs` creates (or removes) and
#: probes every VF inside the write (2 igb VFs took 8.9 s in the loaded Xen lab).
SLOW_WRITES: dict[str, float] = {"sriov_numvfs": 120.0}


def write_timeout(path: str) -> float:
    """How long a write to `path` may take before it counts as hung."""
    return SLOW_WRITES.get(path.rpartition("/")[2], DEFAULT_WRITE_TIMEOUT)


#: Programs that take minutes: `update-initramfs -u` rebuilds every initramfs (it took over
#: 120 s, the default limit, in the Xen lab under TCG).
SLOW_PROGRAMS: dict[str, float] = {"update-initramfs": 900.0}


def run_timeout(argv: tuple[str, ...]) -> float:
    """How long the program `argv` may run before it counts as hung."""
    return SLOW_PROGRAMS.get(argv[0].rpartition("/")[2], DEFAULT_RUN_TIMEOUT) if argv \
        else DEFAULT_RUN_TIMEOUT


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


class FileEdited(StepFailed):
    """The file of a `put-file` step holds neither the text the step replaces nor the one it
    writes: someone else edited it, and pcipass leaves it as it is (`name`: the file)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} changed since pcipass read it", "run the command again")
        self.name = name


def _edited_meanwhile(plan: Plan, exc: FileEdited) -> OperationError:
    """Recovery stops at a file edited while the operation was interrupted (journal kept)."""
    return OperationError(
        f"{exc.name} was edited after `{plan.command}` was interrupted (it holds neither the "
        "text before nor the planned one); pcipass left it as it is",
        "keep your edit: `pcipass recover --abandon` (closes the journal, changes nothing); or "
        "put the file back as it was before (`pcipass recover --dry-run --json` shows both "
        "texts) and run `pcipass recover`",
    )


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


def refuse_programs(host: Host, plan: Plan) -> None:
    """On another host's tree no program may run: a plan that needs one is refused whole,
    before anything is journalled (and a dry run says so too)."""
    if host.runs_programs:
        return
    for step in plan.steps:
        if step.action in (Action.RUN, Action.MODPROBE):
            raise NotThisMachine(step.argv or ("modprobe", step.data), host.root)


def holds(host: Host, records: RecordKeeper, check: Check) -> bool:
    """Whether the host is in the state `check` describes (one re-read)."""
    if check.kind == "driver":
        return host.link_name(paths.dev(check.bdf, "driver")) == check.value
    if check.kind == "text":
        text = host.try_read_text(check.path)
        current = None if text in (None, "", EMPTY_OVERRIDE) else text
        return current == check.value
    if check.kind == "exists":
        return host.exists(check.path)
    if check.kind == "absent":
        return not host.exists(check.path)
    if check.kind == "xl-assignable":
        return xl_listed(host, check.bdf) is (check.value == "listed")
    if check.kind == "xenstore":
        return xenstore_read(host, check.path) == check.value
    if check.kind == "vf":
        return vf_setting(host, check.path) == check.value
    if check.kind == "vf-saved":
        return VfSnapshots(host).has(check.bdf) == (check.value == "present")
    if check.kind == "xl-attached":
        try:
            listed = pci_list(host, int(check.path))
        except XlUnavailable:  # xenstore not read: neither listed nor unlisted is known
            return False
        return (check.bdf in listed) is (check.value == "listed")
    if check.kind == "listed":
        return check.value in (host.try_read_text(check.path) or "").splitlines()
    if check.kind == "file":
        try:
            return digest(read_file(host, check.path)) == check.value
        except PcipassError:  # not a regular file, too large: not the planned text
            return False
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
        fault: Fault | None = None,
    ) -> None:
        self.host = host
        self.records = records
        self.journal = journal or Journal(host)
        self.settle = settle
        self.sleep = sleep
        self.fault = fault
        self._taken = 0

    # -- public ------------------------------------------------------------
    def run(self, plan: Plan) -> Outcome:
        """Execute `plan`; on failure undo what was done and raise the failure."""
        outcome = Outcome(plan)
        if not plan:
            return outcome
        self._refuse_stuck(plan)
        refuse_programs(self.host, plan)
        self.journal.begin(plan)
        self._forward(plan, 0, outcome, skip_done=False)
        return outcome

    def pending(self) -> Entry | None:
        """The interrupted operation, if any."""
        entry = self.journal.load()
        return entry if entry is not None and entry.interrupted else None

    def stuck(self) -> list[Entry]:
        """Operations whose rollback could not finish (see `recover --rollback/--abandon`)."""
        return self.journal.stuck()

    def recover(self, rollback: bool = False, stuck: bool = False) -> Outcome | None:
        """Finish (or with `rollback`, undo) an interrupted operation; None if there is none.

        With `stuck` (an explicit `pcipass recover`), operations left stuck are rolled back
        again as well (the last outcome is returned); mutating commands never retry them."""
        entry = self.pending()
        outcome = self._resume(entry, rollback) if entry is not None else None
        for left in self.stuck() if stuck else []:
            outcome = self._resume(left, rollback=True)
        return outcome

    def abandon(self) -> list[Entry]:
        """Close the interrupted and the stuck operations without touching any device."""
        stuck = self.stuck()
        entries = [e for e in (self.pending(),) if e is not None] + stuck
        if entries and entries[0].interrupted:
            self.journal.resume(entries[0])
            self.journal.end(State.ABANDONED)
        if stuck:  # nothing to abandon writes nothing
            self.journal.set_stuck([])
        return entries

    def _resume(self, entry: Entry, rollback: bool) -> Outcome:
        self.journal.resume(entry)
        outcome = Outcome(entry.plan)
        start = max(entry.step, 0)
        if rollback or entry.state in ("rolling-back", "stuck"):
            # One step further: the journal does not mark record/forget steps, and undoing a
            # step that never happened is a no-op (its undo's expected state already holds).
            self._rollback(entry.plan, min(start + 1, len(entry.plan.steps) - 1), outcome,
                           entry.id)
            return outcome
        self._forward(entry.plan, start, outcome, skip_done=True)
        return outcome

    def _refuse_stuck(self, plan: Plan) -> None:
        """A stuck operation blocks commands on its own devices, not on others."""
        wanted = {s.bdf for s in plan.steps if s.bdf}
        for entry in self.stuck():
            shared = [b for b in entry.devices() if b in wanted]
            if shared:
                found = observe(self.host, shared[0], payload_of(entry.plan, shared[0]))
                raise OperationError(
                    f"{shared[0]} was left half-done by `{entry.plan.command}`, whose rollback "
                    f"could not finish (found: {found.describe()})",
                    "run `pcipass recover --rollback` once the cause is fixed, or "
                    "`pcipass recover --abandon` for the commands that give it back by hand",
                )

    # -- forward -----------------------------------------------------------
    def _forward(self, plan: Plan, start: int, outcome: Outcome, skip_done: bool) -> None:
        for index in range(start, len(plan.steps)):
            step = plan.steps[index]
            if step.action not in UNJOURNALLED:
                self.records.flush()  # a journalled step implies durable records before it
                self.journal.at(index)
            if skip_done and step.skip_when and self._all_hold(step.skip_when):
                continue
            self._fault("before")
            try:
                self._take(step, outcome, strict=True)
            except PcipassError as exc:
                if isinstance(exc, FileEdited) and skip_done:  # recovery: the edit is theirs
                    raise _edited_meanwhile(plan, exc) from exc
                unwritten = isinstance(exc, FileEdited)  # the edited file was not touched
                self._rollback(plan, index - 1 if unwritten else index, outcome)
                done = len(outcome.done)
                undone = f"; the {done} step(s) done were undone" if done else ""
                if skip_done and step.bdf:  # recovery: say where the device is now
                    state = observe(self.host, step.bdf, payload_of(plan, step.bdf))
                    undone += f"; found {step.bdf} {state.describe()}"
                raise OperationError(
                    f"{exc.what}{undone}", exc.fix or "see `pcipass recover` and dmesg"
                ) from exc
            outcome.done.append(step)
            self._fault("after")
        self.records.flush()
        self.journal.end(State.DONE)
        outcome.state = "done"

    # -- backward ----------------------------------------------------------
    def _rollback(self, plan: Plan, start: int, outcome: Outcome, resumed: str = "") -> None:
        """Undo steps `start`..0; a file edited meanwhile is left as it is, the other steps
        undone, and the operation then kept as stuck."""
        edited: list[str] = []
        for index in range(start, -1, -1):
            self.journal.at(index, State.ROLLING_BACK)
            for undo in plan.steps[index].undo:
                if undo.skip_when and self._all_hold(undo.skip_when):
                    continue
                try:
                    self._take(undo, outcome, strict=False)
                except FileEdited as exc:
                    edited.append(exc.name)
                except PcipassError as exc:
                    raise self._stuck(plan, index, undo, exc, resumed) from exc
        if edited:
            raise self._stuck_on_edits(plan, edited, resumed)
        self.records.flush()
        self.journal.end(State.ROLLED_BACK)
        self._unstick(resumed)
        outcome.state = "rolled-back"

    def _stuck(
        self, plan: Plan, index: int, undo: Step, exc: PcipassError, resumed: str
    ) -> OperationError:
        """Keep the operation as stuck; the error names the device, its state and the way out."""
        self._keep_stuck(resumed)
        bdf = undo.bdf or plan.steps[index].bdf
        state = observe(self.host, bdf, payload_of(plan, bdf)) if bdf else None
        found = f"; found {bdf} {state.describe()}" if state else ""
        cause = (state.obstacle() if state else "") or exc.fix
        fix = f"{cause}, then " if cause else ""
        return OperationError(
            f"cannot undo `{plan.command}`: {exc.what}{found}",
            f"{fix}run `pcipass recover --rollback`; or `pcipass recover --abandon`, which "
            "closes the journal and prints the commands that give each device back by hand "
            "(other devices are not blocked meanwhile)",
        )

    def _stuck_on_edits(self, plan: Plan, edited: list[str], resumed: str) -> OperationError:
        """Keep the operation as stuck on files someone edited after pcipass wrote them."""
        self._keep_stuck(resumed)
        was = "was" if len(edited) == 1 else "were"
        return OperationError(
            f"cannot undo `{plan.command}`: {', '.join(edited)} {was} edited after pcipass "
            "wrote it (neither pcipass's text nor the text before), so pcipass left it as it "
            "is; every other step was undone",
            "keep it as it is: `pcipass recover --abandon` (closes the journal, changes "
            "nothing); or put back the text it had before and run `pcipass recover --rollback`",
        )

    def _keep_stuck(self, resumed: str) -> None:
        """End the journal's operation as stuck and keep it in the stuck list."""
        self.records.flush()
        self.journal.end(State.STUCK)
        entry = self.journal.load()
        if entry is not None:
            kept = [e for e in self.journal.stuck() if e.id not in (entry.id, resumed)]
            self.journal.set_stuck([*kept, entry])

    def _unstick(self, resumed: str) -> None:
        if resumed and any(e.id == resumed for e in self.journal.stuck()):
            self.journal.set_stuck([e for e in self.journal.stuck() if e.id != resumed])

    # -- one step ----------------------------------------------------------
    def _take(self, step: Step, outcome: Outcome, strict: bool) -> None:
        """Perform one step and verify it; `strict` also requires a zero exit status.

        Record changes are kept in memory and made durable (one write for a run of
        them) before the next step that touches the host, and at the end."""
        if step.action not in UNJOURNALLED:
            self.records.flush()
        said = ""
        if step.action == "write":
            self.host.write(step.path, step.data, write_timeout(step.path))
        elif step.action == "run":
            result = self.host.run(list(step.argv), run_timeout(step.argv))
            outcome.warnings += _tool_warnings(result.stderr)
            if result.returncode != 0 and (strict or not step.expect):
                raise StepFailed(f"`{step.render()}` failed: {_last_line(result)}",
                                 "see the tool's message")
            said = _last_line(result) if result.returncode != 0 else ""
        elif step.action == "modprobe":
            result = self.host.modprobe(step.data)
            if result.returncode != 0:
                raise StepFailed(
                    f"cannot load kernel module {step.data}: {_last_line(result)}",
                    f"install the module or its package, or check the blacklist of {step.data}",
                )
        elif step.action == "vf-set":
            p = step.payload or {}
            self.host.set_vf(str(p.get("ifname")), int(p.get("vf", -1)), p.get("settings", {}))
        elif step.action == "vf-save":
            VfSnapshots(self.host).save(step.bdf, step.payload or {})
        elif step.action == "vf-forget":
            VfSnapshots(self.host).drop(step.bdf)
        elif step.action == "put-file":
            if file_edited(self.host, step):
                raise FileEdited(self.host.name_of(step.path))
            put_file(self.host, step)
        elif step.action == "record":
            self.records.save(step.bdf, step.payload or {}, defer=True)
        else:
            self.records.drop(step.bdf, defer=True)
        self._verify(step, said)

    def _verify(self, step: Step, said: str = "") -> None:
        """Wait for the expected state; `said`: what a tool that failed printed last."""
        if not step.expect:
            return
        deadline = time.monotonic() + self.settle
        while True:
            failed = [c for c in step.expect if not holds(self.host, self.records, c)]
            if not failed:
                return
            if time.monotonic() >= deadline:
                result = f"failed: {said}" if said else "was accepted but did not take effect"
                raise StepFailed(
                    f"`{step.render()}` {result} (expected {failed[0].describe()})",
                    "check dmesg for the driver's reason"
                    if failed[0].kind in ("driver", "text", "exists", "absent", "vf")
                    else "see `xl dmesg` and the tool's messages above",
                )
            self.sleep(0.01)

    def _all_hold(self, checks: tuple[Check, ...]) -> bool:
        return all(holds(self.host, self.records, c) for c in checks)

    def _fault(self, when: str) -> None:
        if when == "before":
            self._taken += 1
        if self.fault is not None:
            self.fault(when, self._taken)


def put_file(host: Host, step: Step) -> None:
    """Take a `put-file` step: pcipass's own file written atomically (tmp + fsync + rename)
    or removed; a user's file replaced by its one writer (`Host.replace_user_file`)."""
    p = step.payload or {}
    new, old = p.get("new"), p.get("old")
    try:
        if p.get("user"):
            host.replace_user_file("/" + step.path, str(old).encode(), str(new).encode())
        elif new is None:
            host.remove_state_file(step.path)
        else:
            host.write_state_file(step.path, new)
    except OSError as exc:
        raise StepFailed(f"cannot write {host.name_of(step.path)}: {exc.strerror or exc}",
                         "check the permissions of its directory") from exc


def file_edited(host: Host, step: Step) -> bool:
    """Whether the file of `put-file` step `step` holds neither the text the step replaces
    nor the one it writes (another writer edited it after the plan was made)."""
    p = step.payload or {}
    try:
        now = digest(read_file(host, step.path))
    except PcipassError:  # no longer a regular file, or too large
        return True
    return now not in (text_digest(p.get("old")), text_digest(p.get("new")))


def vf_setting(host: Host, path: str) -> str | None:
    """The VF setting a `vf` check names (`IFNAME/vf/N/KEY`), as the PF reports it now."""
    ifname, _, vf, key = path.split("/")
    state = next((s for s in host.vf_states(ifname) or [] if s.vf == int(vf)), None)
    return setting_text(getattr(state, key)) if state is not None else None


def payload_of(plan: Plan, bdf: str) -> dict[str, Any] | None:
    """The record a plan stores for `bdf` (where the device came from), if it has one."""
    steps = [s for s in plan.steps if s.bdf == bdf and s.action in ("record", "forget")]
    for step in steps:
        if step.action == "record" and step.payload:
            return step.payload
        restore = next((u.payload for u in step.undo if u.payload), None)
        if restore:
            return restore
    return None


def _last_line(result: RunResult) -> str:
    """What a failed tool said last (its exit status if it said nothing)."""
    return (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]


def _tool_warnings(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if "warning" in line.lower()]
