"""`pcipass recover`: finish (or roll back) an operation a crash interrupted, or abandon it."""

from __future__ import annotations

from typing import Any

import click

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.errors import InputError, OperationError
from pcipass.host.base import Host
from pcipass.run.executor import Executor, payload_of
from pcipass.run.faults import from_env
from pcipass.run.journal import Entry
from pcipass.run.leftover import observe
from pcipass.run.lock import Lock
from pcipass.run.records import RecordStore

HELP = """Finish an interrupted operation from the journal (every mutating command does this
first). An operation whose rollback cannot finish is left "stuck": commands on its devices are
refused until `recover` (or `recover --rollback`) finishes undoing it or `recover --abandon`
closes it; commands on other devices run meanwhile."""


@click.command("recover", help=HELP)
@click.option("--rollback", is_flag=True, help="Undo the interrupted operation, do not finish it.")
@click.option("--abandon", is_flag=True,
              help="Close the journal without touching any device; print each device's state "
                   "and the commands that give it back by hand.")
@click.option("--dry-run", is_flag=True, help="Show the interrupted operation; change nothing.")
@pass_app
def recover_cmd(app: AppContext, rollback: bool, abandon: bool, dry_run: bool) -> None:
    host = app.host()
    if rollback and abandon:
        raise InputError("--rollback and --abandon exclude each other",
                         "give one: --rollback undoes, --abandon leaves the devices as they are")
    executor = Executor(host, RecordStore(host), fault=from_env())
    if abandon:
        _abandon(app, host, executor, dry_run)
        return
    if dry_run:
        _show_pending(app, executor, rollback)
        return
    with Lock(host):
        outcome = executor.recover(rollback=rollback, stuck=True)
    if app.json:
        emit_json({"recovered": outcome.to_json() if outcome else None})
    elif outcome is None:
        out().print("nothing to recover", markup=False)
    else:
        out().print(f"{outcome.plan.command}: {outcome.state}", markup=False)
        for step in outcome.done:
            out().print(f"  {step.render()}", markup=False)


def _show_pending(app: AppContext, executor: Executor, rollback: bool) -> None:
    entry = executor.pending()
    stuck = executor.stuck()
    if app.json:
        emit_json({"pending": entry.to_json() if entry else None,
                   "stuck": [e.to_json() for e in stuck], "dry_run": True})
        return
    if entry is None and not stuck:
        out().print("nothing to recover", markup=False)
    if entry is not None:
        verb = "roll back" if rollback or entry.state == "rolling-back" else "finish"
        out().print(f"would {verb} `{entry.plan.command}` (at step {entry.step + 1} of "
                    f"{len(entry.plan.steps)}, pid {entry.pid})", markup=False)
    for left in stuck:
        out().print(f"would roll back `{left.plan.command}` again (stuck at step "
                    f"{left.step + 1} of {len(left.plan.steps)})", markup=False)


def _abandon(app: AppContext, host: Host, executor: Executor, dry_run: bool) -> None:
    if dry_run:
        entries = [e for e in (executor.pending(),) if e is not None] + executor.stuck()
    else:
        with Lock(host):
            entries = executor.abandon()
    report = [_left(host, e) for e in entries]
    if app.json:
        emit_json({"abandoned": report, "dry_run": dry_run})
        return
    if not report:
        out().print("nothing to abandon", markup=False)
    verb = "would abandon" if dry_run else "abandoned"
    for item in report:
        out().print(f"{verb} `{item['command']}` ({item['state']} at step {item['step']}); "
                    "every device is left as it is now", markup=False)
        for dev in item["devices"]:
            out().print(f"{dev['bdf']}: {dev['state']}", markup=False)
            if not dev["hand_back"]:
                out().print("  nothing to give back", markup=False)
                continue
            out().print("  give it back by hand:", markup=False)
            for cmd in dev["hand_back"]:
                out().print(f"    {cmd}", markup=False)


def _left(host: Host, entry: Entry) -> dict[str, Any]:
    """One abandoned operation: each device's state and the commands that give it back."""
    devices = []
    for bdf in entry.devices():
        try:
            found = observe(host, bdf, payload_of(entry.plan, bdf))
        except OperationError as exc:
            devices.append({"bdf": bdf, "state": f"cannot be read ({exc.what})", "hand_back": []})
            continue
        devices.append({"bdf": bdf, "state": found.describe(), "hand_back": found.hand_back()})
    return {"command": entry.plan.command, "state": entry.state,
            "step": f"{entry.step + 1} of {len(entry.plan.steps)}", "devices": devices}


COMMANDS: list[click.Command] = [recover_cmd]
