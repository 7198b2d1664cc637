"""`pcipass sriov list/enable/disable`: SR-IOV virtual functions through sysfs.

`enable` and `disable` are plans (`pcipass.ops.sriov`) run by the executor; once the
count is written, `enable` waits, re-reading with a deadline, until the new VFs have
settled on a driver (with autoprobe off they stay driverless, which the plan checks).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from pcipass.cli.context import AppContext, json_option, pass_app
from pcipass.cli.output import emit_json, out, run_change
from pcipass.model import views
from pcipass.ops.assign import HostFacts
from pcipass.ops.sriov import (
    NUMVFS,
    EnableRequest,
    disable_plan,
    enable_plan,
    list_json,
    list_pfs,
)
from pcipass.run.executor import Outcome
from pcipass.run.plan import Plan
from pcipass.run.settle import wait_settled

dry_run_option = click.option("--dry-run", is_flag=True,
                              help="Print the exact writes; change nothing.")


# -- commands ----------------------------------------------------------------
@click.command("list")
@click.argument("pf", required=False, metavar="[PF]")
@json_option
@pass_app
def list_cmd(app: AppContext, pf: str | None, json_: bool) -> None:
    """Each SR-IOV PF (or PF, a BDF or interface): driver, VFs enabled/total, autoprobe,
    and each VF's index, driver, status, netdev and MAC."""
    from pcipass.model.discovery import discover  # noqa: PLC0415 - startup cost

    model = discover(app.host(), detail=False, parents=False, full_ids=False)
    pfs = list_pfs(model, pf)
    if app.json or json_:
        emit_json(list_json(model, pfs))
        return
    if not pfs:
        out().print("no SR-IOV physical functions on this host", markup=False)
        return
    from rich.table import Table  # noqa: PLC0415 - rich only for people

    table = Table(box=None, pad_edge=False, highlight=False)
    for title in views.SRIOV_COLUMNS:
        table.add_column(title, no_wrap=title in ("BDF", "MAC"))
    for dev in pfs:
        for i, row in enumerate(views.sriov_rows(model, dev)):
            cells = [row.get(c, "") for c in views.SRIOV_COLUMNS]
            cells[0] = cells[0] if i == 0 else f"  {cells[0]}"
            table.add_row(*cells)
    out().print(table)


def _changed(app: AppContext, build: Callable[[HostFacts], Plan], dry_run: bool,
             pf: str, wait: bool) -> None:
    """Run the plan; after an enable, wait for the VFs to settle (warnings if they do not)."""

    def settle(outcome: Outcome) -> None:
        step = next((s for s in outcome.done if s.path.endswith(NUMVFS)), None)
        if wait and step is not None:
            outcome.warnings += wait_settled(app.host(), step.bdf)

    run_change(app, build, dry_run, (pf,), then=settle)


@click.command("enable")
@click.argument("pf", metavar="PF")
@click.option("--vfs", "count", type=int, required=True, metavar="N",
              help="How many VFs (1 to the PF's sriov_totalvfs); a different count is "
              "changed by removing the current VFs first.")
@click.option("--autoprobe/--no-autoprobe", default=None,
              help="Set sriov_drivers_autoprobe first: whether drivers take the new VFs "
              "(default: leave it).")
@dry_run_option
@json_option
@pass_app
def enable_cmd(app: AppContext, pf: str, count: int, autoprobe: bool | None, dry_run: bool,
               json_: bool) -> None:
    """Enable N VFs on PF (a BDF or interface) through sysfs, and wait until they settle."""
    app.json = app.json or json_
    request = EnableRequest(pf=pf, vfs=count, autoprobe=autoprobe)
    _changed(app, lambda facts: enable_plan(facts, request), dry_run, pf, wait=True)


@click.command("disable")
@click.argument("pf", metavar="PF")
@dry_run_option
@json_option
@pass_app
def disable_cmd(app: AppContext, pf: str, dry_run: bool, json_: bool) -> None:
    """Remove every VF of PF (refused while one is assignable or in a domain)."""
    app.json = app.json or json_
    _changed(app, lambda facts: disable_plan(facts, pf), dry_run, pf, wait=False)


@click.group("sriov")
def sriov_group() -> None:
    """SR-IOV: list PFs and their VFs, enable and disable VFs."""


for _cmd in (list_cmd, enable_cmd, disable_cmd):
    sriov_group.add_command(_cmd)

COMMANDS: list[click.Command] = [sriov_group]
