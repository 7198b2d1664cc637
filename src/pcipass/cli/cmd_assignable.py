"""`pcipass assignable add/list/remove` (and xl's spellings `pci-assignable-*`)."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from pcipass.cli.cmd_state import persist_option
from pcipass.cli.context import AppContext, alias, pass_app
from pcipass.cli.output import emit_json, out, run_change
from pcipass.errors import InputError
from pcipass.model import resolve
from pcipass.model.declared import Declared
from pcipass.ops import persist_store
from pcipass.ops.assign import (
    AddRequest,
    HostFacts,
    add_plan,
    assignable,
    choose_backend,
    remove_plan,
    resolve_targets,
    xl_assignable_list,
)
from pcipass.ops.facts import gather_facts
from pcipass.ops.guards import FORCE_NET, FORCE_STORAGE, FORCE_VFS
from pcipass.ops.sriov import vfs_by_index
from pcipass.run.plan import Plan


# -- commands ----------------------------------------------------------------
@click.command("add")
@click.argument("specs", nargs=-1, required=True)
@click.option("--backend", type=click.Choice(["xen", "vfio", "auto"]), default="auto",
              show_default=True, help="xen: xl + pciback; vfio: vfio-pci (KVM); auto: xen in dom0.")
@click.option("-n", "--name", help="Name the device (one device only), as `xl -n`.")
@click.option("--group", is_flag=True, help="vfio: move every device of the IOMMU group.")
@click.option(FORCE_STORAGE, "force_storage", is_flag=True,
              help="Take a device that backs mounted filesystems, swap, LVM/MD/dm or /.")
@click.option(FORCE_NET, "force_net", is_flag=True,
              help="Take a NIC that carries the default route or an address.")
@click.option(FORCE_VFS, "force_vfs", is_flag=True,
              help="Take an SR-IOV PF with enabled VFs (they are destroyed).")
@click.option("--vf", "vf_list", metavar="INDEXES",
              help="SPEC is an SR-IOV PF: take its VFs of these indexes (e.g. 0-3 or 0,2-3).")
@click.option("--dry-run", is_flag=True, help="Print the exact writes; change nothing.")
@persist_option
@pass_app
def add_cmd(app: AppContext, specs: tuple[str, ...], backend: str, name: str | None,
            group: bool, force_storage: bool, force_net: bool, force_vfs: bool,
            vf_list: str | None, dry_run: bool, persist: bool) -> None:
    """Make devices assignable to guests: SPEC is a BDF, `BB:DD.*`, or an interface name."""
    flags = {FORCE_STORAGE: force_storage, FORCE_NET: force_net, FORCE_VFS: force_vfs}
    overrides = frozenset(f for f, on in flags.items() if on)
    if vf_list is not None and len(specs) != 1:
        raise InputError(f"--vf names VFs of one PF, and {len(specs)} devices were given",
                         "give the PF alone, e.g. `pcipass assignable add PF --vf 0-3`")

    def build(facts: HostFacts) -> Plan:
        if vf_list is not None:
            bdfs, slots = vfs_by_index(facts.model, specs[0], vf_list), frozenset[str]()
        else:
            bdfs, slots = resolve_targets(facts, specs, resolve.ADD)
        request = AddRequest(bdfs=bdfs, backend=choose_backend(backend, facts), name=name,
                             group=group, overrides=overrides, slots=slots)
        plan = add_plan(facts, request)
        if not persist:
            return plan
        # the devices named and every other one the plan moves (an IOMMU group's members)
        moved = dict.fromkeys([*bdfs, *(s.bdf for s in plan.steps if s.action == "record")])
        items = [persist_store.assignable_item(facts, b, request.backend, name) for b in moved]

        def declare(declared: Declared) -> Declared:
            for item in items:
                declared = declared.with_assignable(item)
            return declared

        return persist_store.persisted(app.host(), plan, declare)

    run_change(app, build, dry_run, specs)


@click.command("remove")
@click.argument("devices", nargs=-1, required=True)
@click.option("-r", "--rebind", is_flag=True, help="Give the device back to its original driver.")
@click.option("--dry-run", is_flag=True, help="Print the exact writes; change nothing.")
@persist_option
@pass_app
def remove_cmd(app: AppContext, devices: tuple[str, ...], rebind: bool, dry_run: bool,
               persist: bool) -> None:
    """Give devices back to the host (BDF or NAME); `-r` restores the original driver."""

    def build(facts: HostFacts) -> Plan:
        bdfs = resolve_targets(facts, devices, resolve.REMOVE)[0]
        plan = remove_plan(facts, bdfs, rebind)
        if not persist:
            return plan

        def undeclare(declared: Declared) -> Declared:
            for bdf in bdfs:
                declared = declared.without_assignable(bdf)
            return declared

        return persist_store.persisted(app.host(), plan, undeclare)

    run_change(app, build, dry_run, devices)


@click.command("list")
@click.option("-n", "--names", is_flag=True, help="Also show device names.")
@pass_app
def list_cmd(app: AppContext, names: bool) -> None:
    """Devices that are assignable (on pciback or vfio-pci, in no domain), and their origin."""
    rows = assignable(gather_facts(app.host()))
    if app.json:
        emit_json({"assignable": [r.to_json() for r in rows]})
        return
    if not rows:
        return
    table = Table(box=None, pad_edge=False, highlight=False)
    table.add_column("BDF", no_wrap=True, min_width=12)
    for title in (*(["NAME"] if names else []), "BACKEND", "FROM DRIVER", "RECORDED BY"):
        table.add_column(title, overflow="fold")
    for r in rows:
        table.add_row(r.bdf, *([r.name or "-"] if names else []), r.backend,
                      r.original_driver or "-", r.source)
    out().print(table)


@click.command("pci-assignable-list")
@click.option("-n", "--show-names", "names", is_flag=True, help="Also print each device's name.")
@pass_app
def xl_list_cmd(app: AppContext, names: bool) -> None:
    """Exactly what `xl pci-assignable-list [-n]` prints: `BDF NAME` per pciback device."""
    lines = xl_assignable_list(gather_facts(app.host()), names)
    if app.json:
        emit_json({"assignable": lines})
        return
    sys.stdout.write("".join(f"{line}\n" for line in lines))


@click.group("assignable")
def assignable_group() -> None:
    """Make devices assignable to guests, list them, give them back."""


for _cmd in (add_cmd, list_cmd, remove_cmd):
    assignable_group.add_command(_cmd)


COMMANDS: list[click.Command] = [
    assignable_group,
    alias(add_cmd, "pci-assignable-add"),
    xl_list_cmd,
    alias(remove_cmd, "pci-assignable-remove"),
]
