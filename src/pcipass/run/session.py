"""One change to the host, start to end: lock → recover → plan on fresh facts → run.

`execute` is what every mutating command calls. With `dry_run` it only plans
(and says whether an interrupted operation is pending); otherwise, under the
lock, it first finishes an interrupted operation, then plans on facts read after
that and runs the plan. It prints nothing: warnings go to the `warn` callback and
the result is returned for the caller to render (a plan's notes become the
outcome's first warnings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pcipass.errors import PcipassError, abbreviate
from pcipass.host.base import Host
from pcipass.ops.assign import HostFacts
from pcipass.ops.facts import gather_facts
from pcipass.run.executor import Executor, Fault, Outcome, refuse_programs
from pcipass.run.lock import Lock
from pcipass.run.plan import Plan
from pcipass.run.records import RecordStore

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    """A dry run's plan, or a run's outcome (exactly one is set)."""

    plan: Plan | None = None
    outcome: Outcome | None = None


def _ignore(_message: str) -> None:
    """The default `warn`: drop the message."""


def execute(
    host: Host,
    build: Callable[[HostFacts], Plan],
    dry_run: bool,
    warn: Warn = _ignore,
    targets: Sequence[str] = (),
    fault: Fault | None = None,
) -> Result:
    """Plan (and unless `dry_run`, run) the change `build` describes on `host`.

    `targets`: the devices the user named; when there are several and the change
    fails, the error says that none of them was changed (a failed plan is undone).
    `fault`: the executor's test hook (the CLI sets it from `PCIPASS_TEST_KILL`).
    """
    try:
        return _execute(host, build, dry_run, warn, fault)
    except PcipassError as e:
        if len(targets) > 1:
            e.what = f"{e.what} (nothing was changed: {', '.join(map(abbreviate, targets))} " \
                     "left as they were)"
        raise


def _execute(
    host: Host, build: Callable[[HostFacts], Plan], dry_run: bool, warn: Warn, fault: Fault | None
) -> Result:
    if dry_run:
        executor = Executor(host, RecordStore(host))
        if executor.pending() is not None:
            warn("an interrupted operation is pending; `pcipass recover` will finish it first")
        plan = build(gather_facts(host))
        try:
            refuse_programs(host, plan)
        except PcipassError as exc:  # the plan of another host's tree: shown, with a word
            warn(f"only on that host: {exc.what}")
        return Result(plan=plan)
    with Lock(host):
        executor = Executor(host, RecordStore(host), fault=fault)
        try:
            recovered = executor.recover()
        except PcipassError as exc:
            if executor.pending() is not None:
                raise
            # Undone, or left stuck (which then blocks only its own devices): say so, go on.
            warn(f"an interrupted operation could not be finished: {exc.line()}")
            recovered = None
        if recovered is not None:
            warn(f"finished an interrupted operation first ({recovered.plan.command}: "
                 f"{recovered.state})")
        plan = build(gather_facts(host))
        outcome = executor.run(plan)
        outcome.warnings[:0] = plan.notes  # e.g. "already assigned": said, not failed
        return Result(outcome=outcome)
