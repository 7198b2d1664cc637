"""`pcipass vf show/set/reset`: a VF's settings on its PF, over netlink.

`set` and `reset` are plans (`pcipass.ops.vf`) run by the executor: each netlink change is
re-read from the PF afterwards, and undone on a failure. The PF's VF states are read under
the lock, after recovery, when the plan is made.
"""

from __future__ import annotations

import click

from pcipass.cli.cmd_state import persist_option, settings_options
from pcipass.cli.context import AppContext, json_option, pass_app
from pcipass.cli.output import emit_json, out, run_change
from pcipass.errors import InputError
from pcipass.model import views
from pcipass.model.declared import Declared
from pcipass.ops import persist_store
from pcipass.ops import vf as ops_vf
from pcipass.ops.assign import HostFacts
from pcipass.ops.sriov import sriov_pf
from pcipass.run.plan import Plan
from pcipass.run.vf_snapshots import VfSnapshots

dry_run_option = click.option("--dry-run", is_flag=True,
                              help="Print the exact changes; change nothing.")


def _index(text: str) -> int:
    try:
        index = int(text, 10)
    except ValueError:
        index = -1
    if index < 0:
        raise InputError(f"VF {text!r} is not a VF index", "give its number, 0, 1, ...")
    return index


@click.command("show")
@click.argument("pf", metavar="PF")
@json_option
@pass_app
def show_cmd(app: AppContext, pf: str, json_: bool) -> None:
    """Each VF of PF (a BDF or interface) with its settings as the PF reports them."""
    from pcipass.model.discovery import discover  # noqa: PLC0415 - startup cost

    host = app.host()
    model = discover(host, detail=False, parents=False, full_ids=False)
    dev, ifname = ops_vf.pf_netdev(model, pf)
    saved = frozenset(VfSnapshots(host).all())
    doc = views.vf_show_json(model, dev, ifname, host.vf_states(ifname), saved)
    if app.json or json_:
        emit_json(doc)
        return
    if not doc["vfs"]:
        out().print(f"{dev.bdf} ({ifname}) has no VF enabled", markup=False)
        return
    from rich.table import Table  # noqa: PLC0415 - rich only for people

    table = Table(box=None, pad_edge=False, highlight=False)
    for f in views.VF_SHOW_FIELDS:
        table.add_column(f.column, no_wrap=True)
    for row in views.vf_show_rows(doc):
        table.add_row(*row)
    out().print(table)


@click.command("set")
@click.argument("pf", metavar="PF")
@click.argument("vf", metavar="VF")
@settings_options
@dry_run_option
@persist_option
@json_option
@pass_app
def set_cmd(app: AppContext, /, pf: str, vf: str, dry_run: bool, persist: bool, json_: bool,
            **values: str | None) -> None:
    """Change VF number VF of PF (a BDF or interface); its settings before the first change
    are saved for `vf reset`."""
    app.json = app.json or json_
    request = ops_vf.SetRequest(pf, _index(vf), {k: v for k, v in values.items()
                                                 if v is not None})
    ops_vf.parse_values(request.values)  # bad input: refused before the lock
    host = app.host()

    def build(facts: HostFacts) -> Plan:
        t = ops_vf.target(facts.model, request.pf, request.vf)
        plan = ops_vf.set_plan(t, request, host.vf_states(t.ifname),
                               VfSnapshots(host).get(t.bdf))
        if not persist:
            return plan
        return persist_store.persisted(host, plan, lambda d: persist_store.with_vf_settings(
            facts, d, request.pf, request.vf, request.values, declare_count=True))

    run_change(app, build, dry_run, (pf,))


@click.command("reset")
@click.argument("pf", metavar="PF")
@click.argument("vf", metavar="VF")
@dry_run_option
@persist_option
@json_option
@pass_app
def reset_cmd(app: AppContext, pf: str, vf: str, dry_run: bool, persist: bool,
              json_: bool) -> None:
    """Give VF number VF of PF back the settings it had before pcipass changed it."""
    app.json = app.json or json_
    index = _index(vf)
    host = app.host()

    def build(facts: HostFacts) -> Plan:
        t = ops_vf.target(facts.model, pf, index)
        plan = ops_vf.reset_plan(t, host.vf_states(t.ifname), VfSnapshots(host).get(t.bdf))
        return persist_store.persisted(host, plan, lambda d: _undeclared(facts, d, pf, index)) \
            if persist else plan

    run_change(app, build, dry_run, (pf,))


def _undeclared(facts: HostFacts, declared: Declared, pf: str, index: int) -> Declared:
    """`declared` without VF `index`'s settings (as it is when none are declared)."""
    item = declared.vfs_of(str(sriov_pf(facts.model, pf).bdf))
    if item is None or item.vf(index) is None:
        return declared
    return persist_store.with_vf_settings(facts, declared, pf, index, {}, clear=True)


@click.group("vf")
def vf_group() -> None:
    """SR-IOV VF settings through the PF: MAC, VLAN, QoS, spoof checking, trust, rates."""


for _cmd in (show_cmd, set_cmd, reset_cmd):
    vf_group.add_command(_cmd)

COMMANDS: list[click.Command] = [vf_group]
