"""`pcipass assignable add/list/remove` (and xl's spellings `pci-assignable-*`)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import click
from rich.table import Table

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import emit_json, out, warn
from pcipass.errors import InputError
from pcipass.host.base import Host
from pcipass.host.xen import xen_devices, xen_directio, xl_info
from pcipass.model.device import Device, HostModel
from pcipass.model.discovery import discover
from pcipass.model.resolve import resolve
from pcipass.ops.assign import (
    AddRequest,
    HostFacts,
    add_plan,
    assignable,
    choose_backend,
    live_records,
    remove_plan,
    resolve_targets,
)
from pcipass.ops.guards import FORCE_NET, FORCE_STORAGE, FORCE_VFS
from pcipass.run.executor import Executor, Outcome
from pcipass.run.lock import Lock
from pcipass.run.plan import Plan
from pcipass.run.records import RecordStore
from pcipass.spec import check_spec, parse_spec


# -- host facts --------------------------------------------------------------
def gather_facts(host: Host, model: HostModel) -> HostFacts:
    """Read what the planners need: records, loaded drivers, and Xen's view in a dom0
    (a Xen host where `xl info` answers: a domU has no working xl)."""
    drivers = frozenset(host.listdir("sys/bus/pci/drivers"))
    modules = {
        d: m for d in drivers if (m := host.link_name(f"sys/bus/pci/drivers/{d}/module"))
    }
    info = xl_info(host)
    dom0 = info is not None
    xen = xen_devices(host) if dom0 else {}
    return HostFacts(
        model=model,
        records=live_records(model, RecordStore(host).all(), xen),
        drivers=drivers,
        modules=modules,
        dom0=dom0,
        xen_directio=xen_directio(info) if info is not None else None,
        xen=xen,
    )


def expand(model: HostModel, spec: str) -> list[Device]:
    """Devices a SPEC names: one function, an interface name, or `BB:DD.*` (every function).
    Guest-side parts of a spec (`@vslot`, `permissive=`, ...) are refused, not dropped."""
    parsed_spec = check_spec(spec.strip(), strict=True).spec
    extra = sorted(parsed_spec.explicit - {"bdf"}) if parsed_spec else []
    if extra:
        raise InputError(
            f"{spec!r} sets {', '.join(extra)}, which a device made assignable does not keep",
            "give just the address here; put guest options in the domain's pci list "
            "(`pcipass config pci add`)",
        )
    if spec.strip().endswith(".*"):
        parsed = parse_spec(spec.strip())
        addr = parsed.address
        if addr is None:
            raise InputError(f"{spec!r} names no address", "write e.g. 0000:05:00.*")
        found = [d for b, d in model.devices.items()
                 if (b.domain, b.bus, b.dev) == (addr.domain, addr.bus, addr.dev)]
        if not found:
            slot = f"{addr.domain:04x}:{addr.bus:02x}:{addr.dev:02x}"
            raise InputError(f"no PCI device in slot {slot}", "see `pcipass list`")
        return found
    return [resolve(model, spec)]


# -- running a plan ----------------------------------------------------------
def execute(app: AppContext, build: Callable[[HostFacts], Plan], dry_run: bool) -> None:
    """Plan on fresh facts; print it with --dry-run, else finish any interrupted
    operation, then run the plan under the lock."""
    host = app.host()
    if dry_run:
        executor = Executor(host, RecordStore(host))
        if executor.pending() is not None:
            warn("an interrupted operation is pending; `pcipass recover` will finish it first")
        show_plan(app, build(gather_facts(host, discover(host, names=False))), dry_run=True)
        return
    with Lock(host):
        executor = Executor(host, RecordStore(host))
        recovered = executor.recover()
        if recovered is not None:
            warn(f"finished an interrupted operation first ({recovered.plan.command}: "
                 f"{recovered.state})")
        plan = build(gather_facts(host, discover(host, names=False)))
        outcome = executor.run(plan)
    show_outcome(app, outcome)


def show_plan(app: AppContext, plan: Plan, dry_run: bool) -> None:
    if app.json:
        emit_json(dict(plan.to_json(), dry_run=dry_run))
        return
    for line in plan.render():
        out().print(line, markup=False)
    for note in plan.notes:
        out().print(f"# {note}", markup=False)


def show_outcome(app: AppContext, outcome: Outcome) -> None:
    for message in outcome.warnings:
        warn(message)
    if app.json:
        emit_json(outcome.to_json())
        return
    for step in outcome.done:
        out().print(step.render(), markup=False)


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
@click.option("--dry-run", is_flag=True, help="Print the exact writes; change nothing.")
@pass_app
def add_cmd(app: AppContext, specs: tuple[str, ...], backend: str, name: str | None,
            group: bool, force_storage: bool, force_net: bool, force_vfs: bool,
            dry_run: bool) -> None:
    """Make devices assignable to guests: SPEC is a BDF, `BB:DD.*`, or an interface name."""
    flags = {FORCE_STORAGE: force_storage, FORCE_NET: force_net, FORCE_VFS: force_vfs}
    overrides = frozenset(f for f, on in flags.items() if on)

    def build(facts: HostFacts) -> Plan:
        devices: list[Device] = []
        slots: set[str] = set()
        for spec in specs:
            found = expand(facts.model, spec)
            devices += found
            if spec.strip().endswith(".*"):
                slots.update(str(d.bdf).rpartition(".")[0] for d in found)
        request = AddRequest(
            bdfs=tuple(str(d.bdf) for d in devices),
            backend=choose_backend(backend, facts),
            name=name,
            group=group,
            overrides=overrides,
            slots=frozenset(slots),
        )
        return add_plan(facts, request)

    execute(app, build, dry_run)


@click.command("remove")
@click.argument("devices", nargs=-1, required=True)
@click.option("-r", "--rebind", is_flag=True, help="Give the device back to its original driver.")
@click.option("--dry-run", is_flag=True, help="Print the exact writes; change nothing.")
@pass_app
def remove_cmd(app: AppContext, devices: tuple[str, ...], rebind: bool, dry_run: bool) -> None:
    """Give devices back to the host (BDF or NAME); `-r` restores the original driver."""

    def build(facts: HostFacts) -> Plan:
        return remove_plan(facts, resolve_targets(facts, devices), rebind)

    execute(app, build, dry_run)


@click.command("list")
@click.option("-n", "--names", is_flag=True, help="Also show device names.")
@pass_app
def list_cmd(app: AppContext, names: bool) -> None:
    """Devices that are assignable (on pciback or vfio-pci, in no domain), and their origin."""
    host = app.host()
    rows = assignable(gather_facts(host, discover(host, names=False)))
    if app.json:
        emit_json({"assignable": [r.to_json() for r in rows]})
        return
    if not rows:
        return
    table = Table(box=None, pad_edge=False, highlight=False)
    for title in ("BDF", *(["NAME"] if names else []), "BACKEND", "FROM DRIVER", "RECORDED BY"):
        table.add_column(title, no_wrap=True)
    for r in rows:
        table.add_row(r.bdf, *([r.name or "-"] if names else []), r.backend,
                      r.original_driver or "-", r.source)
    out().print(table)


@click.group("assignable")
def assignable_group() -> None:
    """Make devices assignable to guests, list them, give them back."""


for _cmd in (add_cmd, list_cmd, remove_cmd):
    assignable_group.add_command(_cmd)


def _alias(cmd: click.Command, name: str) -> click.Command:
    alias = copy.copy(cmd)
    alias.name = name
    return alias


COMMANDS: list[click.Command] = [
    assignable_group,
    _alias(add_cmd, "pci-assignable-add"),
    _alias(list_cmd, "pci-assignable-list"),
    _alias(remove_cmd, "pci-assignable-remove"),
]
