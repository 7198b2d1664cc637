"""`pcipass recover`: finish (or roll back) an operation a crash interrupted."""

from __future__ import annotations

import click

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.run.executor import Executor
from pcipass.run.lock import Lock
from pcipass.run.records import RecordStore


@click.command("recover")
@click.option("--rollback", is_flag=True, help="Undo the interrupted operation, do not finish it.")
@click.option("--dry-run", is_flag=True, help="Show the interrupted operation; change nothing.")
@pass_app
def recover_cmd(app: AppContext, rollback: bool, dry_run: bool) -> None:
    """Finish an interrupted operation from the journal (every mutating command does this first)."""
    host = app.host()
    if dry_run:
        entry = Executor(host, RecordStore(host)).pending()
        if app.json:
            emit_json({"pending": entry.to_json() if entry else None, "dry_run": True})
        elif entry is None:
            out().print("nothing to recover", markup=False)
        else:
            verb = "roll back" if rollback or entry.state == "rolling-back" else "finish"
            out().print(f"would {verb} `{entry.plan.command}` (at step {entry.step + 1} of "
                        f"{len(entry.plan.steps)}, pid {entry.pid})", markup=False)
        return
    with Lock(host):
        outcome = Executor(host, RecordStore(host)).recover(rollback=rollback)
    if app.json:
        emit_json({"recovered": outcome.to_json() if outcome else None})
    elif outcome is None:
        out().print("nothing to recover", markup=False)
    else:
        out().print(f"{outcome.plan.command}: {outcome.state}", markup=False)
        for step in outcome.done:
            out().print(f"  {step.render()}", markup=False)


COMMANDS: list[click.Command] = [recover_cmd]
