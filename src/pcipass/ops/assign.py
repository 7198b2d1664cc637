"""Requests → plans for `assignable add/remove`, and the `assignable list` view. Pure.

Xen: the Xen-side steps are `xl pci-assignable-add/-remove`, so Xen's
quarantine and libxl's xenstore bookkeeping happen exactly as with xl;
pcipass adds its checks, its record of the original driver and
`driver_override=pciback` for VFs whose PF has `sriov_drivers_autoprobe=0`.
KVM: vfio-pci through unbind + `driver_override` + `drivers_probe`, with the
IOMMU group made viable (every non-bridge member on vfio-pci, pci-stub or
unbound). Remove restores the original driver and `driver_override`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError, abbreviate
from pcipass.host import paths
from pcipass.model import drivers
from pcipass.model.device import Device, HostModel
from pcipass.model.resolve import LOOKS_LIKE_BDF, Accept, is_slot, resolve_all
from pcipass.model.rules import GROUP, Code
from pcipass.ops.guards import (
    Refusal,
    Refused,
    blocking,
    detach_hint,
    domain_refusal,
    group_refusals,
    refusals,
)
from pcipass.ops.records import Record, XenDevice
from pcipass.run.plan import (
    Action,
    Check,
    CheckKind,
    Plan,
    Step,
    bind,
    forget,
    probe,
    record,
    set_override,
    unbind,
)

Backend = Literal["xen", "vfio"]
STUB: dict[str, str] = {b: d.name for b, d in drivers.BY_BACKEND.items()}
STUB_MODULE: dict[str, str] = {b: d.module for b, d in drivers.BY_BACKEND.items()}
MAX_NAME = 64
#: Characters a name may not hold: it must fit in a `pci=[…]` entry (`name=NAME,...`).
NAME_FORBIDDEN = frozenset(",=@'\"")


@dataclass(frozen=True)
class HostFacts:
    """Everything the planners need to know about the host, read beforehand."""

    model: HostModel
    records: Mapping[str, Record] = field(default_factory=dict)
    drivers: frozenset[str] = frozenset()
    modules: Mapping[str, str] = field(default_factory=dict)
    dom0: bool = False
    xen_directio: bool | None = None
    xen: Mapping[str, XenDevice] = field(default_factory=dict)
    interfaces: frozenset[str] = frozenset()
    """Network interface names on the host (`sys/class/net`)."""

    def device(self, bdf: str) -> Device:
        parsed = PciAddress.try_parse(bdf)
        dev = self.model.get(parsed) if parsed else None
        if dev is None:
            raise InputError(f"no PCI device {bdf} on this host", "see `pcipass list`")
        return dev

    def domid(self, bdf: str) -> int | None:
        xd = self.xen.get(bdf)
        return xd.domid if xd else None

    def names(self) -> dict[str, str]:
        """Every device name known to pcipass or libxl: name → BDF (libxl wins for its devices)."""
        out = {r.name: bdf for bdf, r in self.records.items() if r.name}
        out.update({xd.name: bdf for bdf, xd in self.xen.items() if xd.name})
        return out


def live_records(
    model: HostModel, records: Mapping[str, Record], xen: Mapping[str, XenDevice] | None = None
) -> dict[str, Record]:
    """Records still describing a device pcipass holds. Stale (ignored): the device is back
    on a host driver, or it is on pciback and libxl's name for it differs from the record's
    (xl gave it back and made it assignable again). An unbound device keeps its record:
    `xl pci-assignable-remove` without `-r` drops libxl's name but the device still waits
    for `remove -r`."""
    live: dict[str, Record] = {}
    for bdf, rec in records.items():
        parsed = PciAddress.try_parse(bdf)
        dev = model.get(parsed) if parsed else None
        if dev is not None and not drivers.idle(dev.driver):
            continue
        xd = (xen or {}).get(bdf)
        on_pciback = dev is not None and dev.driver == drivers.PCIBACK.name
        if rec.backend == "xen" and on_pciback and xd is not None and xd.name != rec.name:
            continue
        live[bdf] = rec
    return live


@dataclass(frozen=True)
class AddRequest:
    bdfs: tuple[str, ...]
    backend: Backend
    name: str | None = None
    group: bool = False
    overrides: frozenset[str] = frozenset()
    slots: frozenset[str] = frozenset()
    """Slots named with `.*` (`DDDD:BB:DD`): all their functions move, or none."""


@dataclass(frozen=True)
class Assignable:
    """One row of `assignable list`: an assignable device and where it came from."""

    bdf: str
    backend: str
    name: str | None
    original_driver: str | None
    original_override: str | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "bdf": self.bdf,
            "backend": self.backend,
            "name": self.name,
            "original_driver": self.original_driver,
            "original_driver_override": self.original_override,
            "source": self.source,
        }


def choose_backend(requested: str, facts: HostFacts) -> Backend:
    """`auto` means xen in a Xen dom0, else vfio."""
    if requested == "auto":
        return auto_backend(facts.dom0)
    if requested not in STUB:
        raise InputError(f"unknown backend {requested!r}", "use xen, vfio or auto")
    return "xen" if requested == "xen" else "vfio"


def auto_backend(dom0: bool) -> Backend:
    """The backend `auto` picks: xen in a Xen dom0, else vfio."""
    return "xen" if dom0 else "vfio"


XEN_IOMMU_FIX = ("enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup, and "
                 "drop any iommu=0/off from Xen's command line (GRUB_CMDLINE_XEN)")
"""The one fix for a Xen without an IOMMU: `add`, `attach`, `show` and `doctor` give it."""


def iommu_refusal(backend: Backend, iommu_enabled: bool,
                  xen_directio: bool | None) -> OperationError | None:
    """The host-wide refusal when `backend` has no IOMMU to work with (None: it has one, or
    Xen was not asked). `assignable add` raises it; `show` reports it as a blocker."""
    if backend == "vfio" and not iommu_enabled:
        return OperationError(
            "vfio-pci needs an IOMMU and none is enabled on this host (no IOMMU groups)",
            "enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on or amd_iommu=on",
        )
    if backend == "xen" and xen_directio is False:
        return OperationError(
            "Xen reports no IOMMU (`xl info` virt_caps lacks directio): passthrough is impossible",
            XEN_IOMMU_FIX,
        )
    return None


# -- add ---------------------------------------------------------------------
def add_plan(facts: HostFacts, req: AddRequest) -> Plan:
    """The plan that makes every requested device assignable, or a refusal."""
    if not req.bdfs:
        raise InputError("no device given", "name one or more devices, e.g. 0000:05:00.0")
    if req.name is not None:
        check_name(facts, req.name, req.bdfs)
    _check_backend(facts, req.backend)
    devices = [facts.device(b) for b in dict.fromkeys(req.bdfs)]
    for dev in devices:
        _check_not_on_other_stub(dev, req.backend)
    stub = STUB[req.backend]
    # As xl: a device already on the stub is a warning, not a failure (idempotent scripts).
    notes = tuple(f"{d.bdf} already assigned to {stub}"
                  + (f" (its name is left as it is, not set to {req.name!r})" if req.name else "")
                  for d in devices if d.driver == stub)
    devices = [d for d in devices if d.driver != stub]
    found: list[Refusal] = []
    for dev in devices:
        found += refusals(facts.model, dev, facts.domid(str(dev.bdf)))
    asked = frozenset(str(d.bdf) for d in devices)
    if req.backend == "vfio" and devices:
        devices, found = _viable_group(facts, devices, req.group, found)
    refused = blocking(found, req.overrides | ({GROUP} if req.group else set()))
    if refused:
        raise _refusal_error(refused, req.slots, asked)
    steps: list[Step] = []
    if devices and stub not in facts.drivers:
        steps.append(_modprobe(STUB_MODULE[req.backend], stub))
    for dev in devices:
        steps += _record_step(facts, dev, req)  # all records first: one durable write
    for dev in devices:
        if req.backend == "vfio":
            steps += _vfio_add(dev)
        else:
            steps += _xen_add(facts, dev, req.name)
    named = " ".join(dict.fromkeys([*(str(d.bdf) for d in devices), *req.bdfs]))
    return Plan(f"assignable add {named}", tuple(steps), notes)


def _refusal_error(refused: list[Refusal], slots: frozenset[str],
                   asked: frozenset[str] = frozenset()) -> Refused:
    """Every refusal, named: `refusing to take A: why; B: why — fix; fix`. `--group` is
    offered only when the group's other members could move (`asked`: the devices named)."""
    whole = sorted({r.bdf.rpartition(".")[0] for r in refused} & slots)
    prefix = "".join(f"{s}.* includes a function that cannot move: " for s in whole)
    stuck = any(r.bdf not in asked and r.code is not Code.GROUP_SHARED for r in refused)
    group_fix = ("its IOMMU group cannot be made viable (a member cannot move): use a device "
                 "in a group of its own") if stuck and asked else \
        "pass --group to move the whole group to vfio-pci"
    fixes = "; ".join(dict.fromkeys(
        group_fix if r.code is Code.GROUP_SHARED else r.fix() for r in refused))
    return Refused(f"{prefix}refusing to take {'; '.join(r.line() for r in refused)}",
                   fixes, refused)


def _check_backend(facts: HostFacts, backend: Backend) -> None:
    if backend == "xen" and not facts.dom0:
        raise OperationError(
            "the xen backend needs a Xen dom0 and this host is not one",
            "use --backend vfio, or run pcipass in dom0",
        )
    refusal = iommu_refusal(backend, facts.model.iommu_enabled, facts.xen_directio)
    if refusal is not None:
        raise refusal


def check_name(facts: HostFacts, name: str, bdfs: Iterable[str]) -> None:
    """xl's rule (1-64 printable characters, no blanks) plus what a `pci=[…]` entry can
    name: no `,` `=` `@` or quotes, not an address or slot, not an interface name."""
    targets = list(dict.fromkeys(bdfs))
    if len(targets) != 1:
        raise InputError("--name needs exactly one device", "add devices one by one to name them")
    shown = abbreviate(name)
    if not name or len(name) > MAX_NAME or not all(33 <= ord(c) < 127 for c in name):
        raise InputError(
            f"bad device name {shown!r}",
            f"use 1-{MAX_NAME} printable characters without spaces (as xl requires)",
        )
    bad = sorted(set(name) & NAME_FORBIDDEN)
    if bad:
        raise InputError(
            f"bad device name {shown!r}: {' '.join(bad)} cannot appear in a name "
            "a domain's pci=[…] entry refers to",
            "use letters, digits, '-', '_' or '.'",
        )
    if LOOKS_LIKE_BDF.match(name) or ":" in name:
        raise InputError(
            f"bad device name {shown!r}: it reads as a PCI address (a ':' in a name does), so "
            "xl and pcipass would take it for one",
            "choose a name that is not an address, e.g. nic0",
        )
    if name in facts.interfaces:
        raise InputError(
            f"bad device name {shown!r}: it is a network interface on this host",
            "choose a name that no interface has",
        )
    holder = facts.names().get(name)
    if holder is not None and holder != targets[0]:
        raise InputError(f"the name {shown!r} is already used by {holder}", "choose another name")


def _check_not_on_other_stub(dev: Device, backend: Backend) -> None:
    if dev.driver in drivers.ASSIGNABLE and dev.driver != STUB[backend]:
        raise OperationError(
            f"{dev.bdf} is already assignable (on {dev.driver})",
            f"`pcipass assignable remove {dev.bdf}` first",
        )


def _viable_group(
    facts: HostFacts, devices: list[Device], group: bool, found: list[Refusal]
) -> tuple[list[Device], list[Refusal]]:
    """The devices to move so their IOMMU groups are viable, and the refusals: first
    the one `--group` lifts, then `found`, then those of the members `--group` would
    move (a platform function among them makes the group not viable at all)."""
    members, refused = group_refusals(facts.model, devices)
    found = refused[:1] + found + refused[1:]
    if not group:
        return devices, found
    for member in members:
        found += domain_refusal(str(member.bdf), facts.domid(str(member.bdf)))
    return [*devices, *members], found


def _payload(facts: HostFacts, dev: Device, req: AddRequest) -> dict[str, Any]:
    bdf = str(dev.bdf)
    old = facts.records.get(bdf)
    xd = facts.xen.get(bdf)
    driver = dev.driver or (old.driver if old else None) or (xd.driver if xd else None)
    return {
        "driver": driver,
        "module": facts.modules.get(driver or "") or (old.module if old else None),
        "driver_override": old.driver_override if old else dev.driver_override,
        "backend": req.backend,
        "name": req.name,
        "source": "pcipass",
    }


def _record_step(facts: HostFacts, dev: Device, req: AddRequest) -> list[Step]:
    old = facts.records.get(str(dev.bdf))
    return [record(str(dev.bdf), _payload(facts, dev, req), old.to_json() if old else None)]


def _vfio_add(dev: Device) -> list[Step]:
    bdf = str(dev.bdf)
    steps = [unbind(bdf, dev.driver)] if dev.driver else []
    vfio = drivers.VFIO_PCI.name
    if dev.driver_override != vfio:
        steps.append(set_override(bdf, vfio, dev.driver_override))
    steps.append(probe(bdf, vfio, f"bind {bdf} to {vfio}"))
    return steps


def _xen_add(facts: HostFacts, dev: Device, name: str | None) -> list[Step]:
    """`xl pci-assignable-add`, then libxl's `driver_path` made sure of.

    xl unbinds, writes `driver_path`, binds pciback and quarantines, in that order; a
    kill in between leaves any prefix of that. Recovery therefore always runs xl again
    (on a device already on pciback it only quarantines it: the quarantine cannot be
    re-read) and writes `driver_path` if xl did not get to it. Undoing first lets xl
    finish, since `pci-assignable-remove` fails on a device it has not quarantined."""
    bdf = str(dev.bdf)
    steps: list[Step] = []
    if _needs_override(facts, dev) and dev.driver_override != "pciback":
        steps.append(set_override(bdf, "pciback", dev.driver_override,
                                  f"let pciback probe VF {bdf} (its PF has autoprobe off)"))
    argv = ["xl", "pci-assignable-add", *(["-n", name] if name else []), bdf]
    give_back = ["xl", "pci-assignable-remove", *(["-r"] if dev.driver else []), bdf]
    original = Check(CheckKind.DRIVER, bdf, value=dev.driver)
    on_pciback = Check(CheckKind.DRIVER, bdf, value="pciback")
    assignable = (on_pciback, Check(CheckKind.XL_ASSIGNABLE, bdf, value="listed"))
    remembered = _driver_path_step(dev)
    finish = Step(Action.RUN, f"let xl finish with {bdf} (quarantine) so that it can give it back",
                  bdf=bdf, argv=("xl", "pci-assignable-add", bdf), expect=(on_pciback,),
                  unless=(original,))
    steps.append(Step(
        Action.RUN,
        f"make {bdf} assignable through xl (pciback, quarantine, xenstore)",
        bdf=bdf,
        argv=tuple(argv),
        expect=assignable,
        unless=(),
        undo=(
            finish,
            *(replace(step, unless=(original,)) for step in remembered),
            Step(Action.RUN, f"give {bdf} back through xl", bdf=bdf, argv=tuple(give_back),
                 expect=(original, Check(CheckKind.XL_ASSIGNABLE, bdf, value="unlisted"))),
        ),
    ))
    return steps + remembered


def _driver_path_step(dev: Device) -> list[Step]:
    """Write libxl's `driver_path` (what xl writes before it binds pciback) unless it holds."""
    if not dev.driver:
        return []
    key = f"/libxl/pci/{dev.bdf.xenstore}/driver_path"
    path = f"/{paths.drv(dev.driver)}"
    return [Step(Action.RUN, f"make sure xl remembers {dev.driver} for {dev.bdf}", bdf=str(dev.bdf),
                 argv=("xenstore-write", key, path),
                 expect=(Check(CheckKind.XENSTORE, path=key, value=path),))]


def _needs_override(facts: HostFacts, dev: Device) -> bool:
    """A VF whose PF has `sriov_drivers_autoprobe=0` binds only through `driver_override`."""
    if dev.physfn is None:
        return False
    pf = facts.model.get(dev.physfn)
    return pf is not None and pf.sriov is not None and pf.sriov.drivers_autoprobe is False


def _modprobe(module: str, driver: str) -> Step:
    return Step(Action.MODPROBE, f"load {module}", data=module,
                expect=(Check(CheckKind.EXISTS, path=paths.drv(driver)),))


# -- remove ------------------------------------------------------------------
def resolve_targets(
    facts: HostFacts, args: Iterable[str], accept: Accept, options: bool = False
) -> tuple[tuple[str, ...], frozenset[str]]:
    """The BDFs the arguments name (through the one resolver, with the names pcipass and
    libxl know), and the slots (`DDDD:BB:DD`) named with `.*`."""
    names = facts.names() if Accept.NAME in accept else None
    bdfs: list[str] = []
    slots: set[str] = set()
    for arg in args:
        found = resolve_all(facts.model, arg, accept, names, options)
        bdfs += (str(d.bdf) for d in found)
        if is_slot(arg):
            slots.update(d.bdf.slot for d in found)
    return tuple(dict.fromkeys(bdfs)), frozenset(slots)


def remove_plan(facts: HostFacts, bdfs: Iterable[str], rebind: bool) -> Plan:
    """The plan that gives devices back (with `rebind`, to their original driver)."""
    steps: list[Step] = []
    targets = list(bdfs)
    if not targets:
        raise InputError("no device given", "name one or more devices or names")
    for bdf in targets:
        dev = facts.device(bdf)
        bdf = str(dev.bdf)
        domid = facts.domid(bdf)
        if domid is not None:
            raise OperationError(
                f"{bdf} is attached to domain {domid}",
                detach_hint(domid, bdf),
            )
        rec = facts.records.get(bdf)
        if dev.driver == drivers.VFIO_PCI.name:
            steps += _vfio_remove(facts, dev, rec, rebind)
        elif dev.driver == drivers.PCIBACK.name:
            steps += _xen_remove(facts, dev, rec, rebind)
        elif dev.driver is None and rec is not None and rebind:
            steps += _restore_override(dev, rec) + _rebind(facts, dev, rec)
        else:
            raise OperationError(
                f"{bdf} is not assignable (it is on {dev.driver or 'no driver'})",
                "nothing to give back; `pcipass assignable list` shows the assignable devices",
            )
    # Records are forgotten last, in one durable write, once every device is back.
    ordered = [s for s in steps if s.action != Action.FORGET]
    ordered += [s for s in steps if s.action == Action.FORGET]
    return Plan(f"assignable remove {' '.join(targets)}", tuple(ordered))


def _vfio_remove(facts: HostFacts, dev: Device, rec: Record | None, rebind: bool) -> list[Step]:
    steps = [unbind(str(dev.bdf), drivers.VFIO_PCI.name)]
    steps += _restore_override(dev, rec)
    if rebind:
        steps += _rebind(facts, dev, rec)
    return steps


def _xen_remove(facts: HostFacts, dev: Device, rec: Record | None, rebind: bool) -> list[Step]:
    bdf = str(dev.bdf)
    xd = facts.xen.get(bdf)
    xl_driver = xd.driver if xd else None
    use_r = rebind and xl_driver is not None
    name = (rec.name if rec else None) or (xd.name if xd else None)
    back = ["xl", "pci-assignable-add", *(["-n", name] if name else []), bdf]
    # driver_override while xl runs: the kernel binds a device only to the driver its
    # override names (ENODEV otherwise), and a VF whose PF has autoprobe off only through
    # its override; so no `pciback` left for xl's `-r` bind, and the original driver for
    # such a VF. Its undo puts pciback's override back before xl takes the device again.
    want = rec.driver_override if rec else None
    during = xl_driver if use_r and _needs_override(facts, dev) else want
    steps: list[Step] = []
    if dev.driver_override != during:
        steps.append(set_override(bdf, during, dev.driver_override))
    steps.append(Step(
        Action.RUN,
        f"give {bdf} back through xl" + (f" (rebind to {xl_driver})" if use_r else ""),
        bdf=bdf,
        argv=("xl", "pci-assignable-remove", *(["-r"] if use_r else []), bdf),
        expect=(Check(CheckKind.DRIVER, bdf, value=xl_driver if use_r else None),),
        undo=(
            *set_override(bdf, during, dev.driver_override).undo,
            Step(Action.RUN, f"make {bdf} assignable again", bdf=bdf, argv=tuple(back),
                 expect=(Check(CheckKind.DRIVER, bdf, value="pciback"),)),
        ),
    ))
    if during != want:
        steps.append(set_override(bdf, want, during))
    if rebind and use_r:
        steps += [forget(bdf, rec.to_json())] if rec else []
    elif rebind:
        steps += _rebind(facts, dev, rec)
    return steps


def _restore_override(dev: Device, rec: Record | None) -> list[Step]:
    want = rec.driver_override if rec else None
    if dev.driver_override == want:
        return []
    return [set_override(str(dev.bdf), want, dev.driver_override)]


def _rebind(facts: HostFacts, dev: Device, rec: Record | None) -> list[Step]:
    """Bind the device to its recorded driver, then forget the record."""
    bdf = str(dev.bdf)
    if rec is None:
        return [Step(Action.WRITE, f"original driver of {bdf} unknown: let the kernel choose",
                     bdf=bdf, path=paths.DRIVERS_PROBE, data=bdf)]
    steps: list[Step] = []
    if rec.driver:
        if rec.driver not in facts.drivers:
            steps.append(_modprobe(rec.module or rec.driver, rec.driver))
        if _needs_override(facts, dev) and rec.driver_override is None:
            steps += [set_override(bdf, rec.driver, None), bind(bdf, rec.driver),
                      set_override(bdf, None, rec.driver)]
        else:
            steps.append(bind(bdf, rec.driver))
    steps.append(forget(bdf, rec.to_json()))
    return steps


# -- list --------------------------------------------------------------------
def assignable(facts: HostFacts) -> list[Assignable]:
    """Devices on pciback or vfio-pci not held by a domain (as `xl pci-assignable-list`)."""
    rows: list[Assignable] = []
    for bdf_key in sorted(facts.model.devices):
        dev = facts.model.devices[bdf_key]
        if dev.driver not in drivers.ASSIGNABLE:
            continue
        bdf = str(bdf_key)
        xd = facts.xen.get(bdf)
        if xd is not None and xd.domid is not None:
            continue
        rec = facts.records.get(bdf)
        rows.append(Assignable(
            bdf=bdf,
            backend=drivers.BY_NAME[dev.driver].backend or "vfio",
            name=(xd.name if xd else None) or (rec.name if rec else None),
            original_driver=(rec.driver if rec else None) or (xd.driver if xd else None),
            original_override=rec.driver_override if rec else None,
            source="pcipass" if rec else ("xl" if xd and (xd.driver or xd.name) else "unknown"),
        ))
    return rows


def xl_assignable_list(facts: HostFacts, names: bool = False) -> list[str]:
    """The lines `xl pci-assignable-list [-n]` prints (Xen 4.17): `BDF NAME` for each device
    on pciback that no domain holds; NAME is libxl's name with `-n`, else empty (so each line
    ends with a blank, as xl's `printf("%s %s\\n")`)."""
    lines: list[str] = []
    for bdf_key in sorted(facts.model.devices):
        if facts.model.devices[bdf_key].driver != "pciback":
            continue
        xd = facts.xen.get(str(bdf_key))
        if xd is not None and xd.domid is not None:
            continue
        label = (xd.name or "") if names and xd is not None else ""
        lines.append(f"{bdf_key} {label}")
    return lines
