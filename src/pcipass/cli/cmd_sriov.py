"""`pcipass sriov list/enable/disable`: SR-IOV virtual functions.

`enable` and `disable` are plans (`pcipass.ops.sriov`, `--method module`:
`pcipass.ops.sriov_module`) run by the executor; once the VFs exist, `enable` waits,
re-reading with a deadline, until they have settled on a driver (with autoprobe off they
stay driverless, which the plan checks), with a progress bar on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from pcipass.cli.cmd_state import drop_vf_settings_option, persist_option
from pcipass.cli.context import AppContext, json_option, pass_app
from pcipass.cli.output import columns, emit_json, err, out, run_change
from pcipass.errors import InputError
from pcipass.model import views
from pcipass.ops import persist_store
from pcipass.ops.assign import HostFacts
from pcipass.ops.sriov import (
    EnableRequest,
    disable_plan,
    enable_plan,
    list_json,
    list_pfs,
)
from pcipass.ops.sriov_module import RELOAD_OTHERS, module_plan, refuse_reload_without_module
from pcipass.run.executor import Outcome
from pcipass.run.plan import Plan
from pcipass.run.settle import Progress, wait_settled
from pcipass.run.vf_snapshots import VfSnapshots

METHODS = {"sysfs": enable_plan, "module": module_plan}
"""`--method`: how VFs are created (the kernel's sriov_numvfs, or the driver's max_vfs)."""

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
    from pcipass.ops.vf import pf_links  # noqa: PLC0415

    host = app.host()
    model = discover(host, detail=False, parents=False, full_ids=False)
    pfs = list_pfs(model, pf)
    links = pf_links(pfs, host.vf_states)
    if app.json or json_:
        emit_json(list_json(model, pfs, links))
        return
    if not pfs:
        out().print("no SR-IOV physical functions on this host", markup=False)
        return
    titles = views.SRIOV_COLUMNS + views.SRIOV_LINK_COLUMNS
    rows = [titles]
    for dev in pfs:
        for i, row in enumerate(views.sriov_rows(model, dev, links[str(dev.bdf)])):
            cells = [row.get(c, "") for c in titles]
            cells[0] = cells[0] if i == 0 else f"  {cells[0]}"
            rows.append(tuple(cells))
    sys.stdout.write(columns(rows))


def _changed(app: AppContext, build: Callable[[HostFacts], Plan], dry_run: bool,
             pf: str, wait: bool) -> None:
    """Run the plan; after an enable, wait for the VFs to settle (warnings if they do not)."""

    def settle(outcome: Outcome) -> None:
        bdf = next((s.bdf for s in reversed(outcome.done) if s.bdf), "")
        if wait and bdf:  # every step of an enable names the PF (--persist's file: none)
            with _vf_bar(app, bdf) as tell:
                outcome.warnings += wait_settled(app.host(), bdf, progress=tell)

    run_change(app, build, dry_run, (pf,), then=settle)


@contextmanager
def _vf_bar(app: AppContext, pf: str) -> Iterator[Progress | None]:
    """A progress bar on stderr while the VFs settle; none with --json or off a terminal."""
    console = err()
    if app.json or not console.is_terminal:
        yield None
        return
    from rich import progress  # noqa: PLC0415 - rich only for people

    with progress.Progress(progress.TextColumn("{task.description}"), progress.BarColumn(),
                           progress.MofNCompleteColumn(), progress.TimeElapsedColumn(),
                           console=console, transient=True) as bar:
        task = bar.add_task(f"VFs of {pf} settling on their driver", total=None)

        def tell(settled: int, total: int) -> None:
            bar.update(task, completed=settled, total=total or None)

        yield tell


@click.command("enable")
@click.argument("pf", metavar="PF")
@click.option("--vfs", "count", type=int, required=True, metavar="N",
              help="How many VFs (1 to the PF's sriov_totalvfs); a different count is "
              "changed by removing the current VFs first.")
@click.option("--method", type=click.Choice(list(METHODS)), default="sysfs", show_default=True,
              help="sysfs: write sriov_numvfs; module: reload the PF's driver with its VF "
              "parameter (igb, ixgbe: max_vfs).")
@click.option(RELOAD_OTHERS, "reload_others", is_flag=True,
              help="--method module: also reload the other devices the PF's driver module "
              "drives (they go down while it reloads).")
@click.option("--autoprobe/--no-autoprobe", default=None,
              help="Set sriov_drivers_autoprobe first: whether drivers take the new VFs "
              "(default: leave it).")
@dry_run_option
@persist_option
@drop_vf_settings_option
@json_option
@pass_app
def enable_cmd(app: AppContext, pf: str, count: int, method: str, reload_others: bool,
               autoprobe: bool | None, dry_run: bool, persist: bool, drop_vf_settings: bool,
               json_: bool) -> None:
    """Enable N VFs on PF (a BDF or interface), and wait until they settle."""
    app.json = app.json or json_
    refuse_reload_without_module(method, reload_others)
    _refuse_drop_without_persist(persist, drop_vf_settings)
    request = EnableRequest(pf=pf, vfs=count, autoprobe=autoprobe, reload_others=reload_others)
    plan = METHODS[method]

    def build(facts: HostFacts) -> Plan:
        live = plan(facts, request, VfSnapshots(app.host()).all())
        return _persisted(app, facts, live, pf, count, autoprobe, drop_vf_settings, method,
                          reload_others) if persist else live

    _changed(app, build, dry_run, pf, wait=True)


@click.command("disable")
@click.argument("pf", metavar="PF")
@dry_run_option
@persist_option
@drop_vf_settings_option
@json_option
@pass_app
def disable_cmd(app: AppContext, pf: str, dry_run: bool, persist: bool, drop_vf_settings: bool,
                json_: bool) -> None:
    """Remove every VF of PF (refused while one is assignable or in a domain)."""
    app.json = app.json or json_
    _refuse_drop_without_persist(persist, drop_vf_settings)

    def build(facts: HostFacts) -> Plan:
        live = disable_plan(facts, pf, VfSnapshots(app.host()).all())
        return _persisted(app, facts, live, pf, 0, None, drop_vf_settings) if persist else live

    _changed(app, build, dry_run, pf, wait=False)


def _refuse_drop_without_persist(persist: bool, drop_vf_settings: bool) -> None:
    if drop_vf_settings and not persist:
        raise InputError("--drop-vf-settings applies to --persist only",
                         "add --persist, or leave out --drop-vf-settings")


def _persisted(app: AppContext, facts: HostFacts, live: Plan, pf: str, count: int,
               autoprobe: bool | None, drop_vf_settings: bool, method: str = "sysfs",
               reload_others: bool = False) -> Plan:
    """`live` with the declaration of `count` VFs on PF (created by `method`) as its last
    step; the declared settings of VFs from `count` on are refused unless
    `drop_vf_settings`, as `state set-vfs` does."""
    item = persist_store.vfs_item(facts, pf, count, autoprobe, method, reload_others)
    return persist_store.persisted(
        app.host(), live, lambda d: persist_store.with_vfs(d, item, drop_vf_settings))


@click.group("sriov")
def sriov_group() -> None:
    """SR-IOV: list PFs and their VFs, enable and disable VFs."""


for _cmd in (list_cmd, enable_cmd, disable_cmd):
    sriov_group.add_command(_cmd)

COMMANDS: list[click.Command] = [sriov_group]
