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
from pcipass.errors import InputError, OperationError
from pcipass.model.device import Device, HostModel
from pcipass.ops.guards import Refusal, blocking, refusals
from pcipass.ops.records import Record, XenDevice
from pcipass.run.plan import (
    Check,
    Plan,
    Step,
    bind,
    drv_path,
    forget,
    probe,
    record,
    set_override,
    unbind,
)

Backend = Literal["xen", "vfio"]
STUB: dict[str, str] = {"xen": "pciback", "vfio": "vfio-pci"}
STUB_MODULE: dict[str, str] = {"xen": "xen-pciback", "vfio": "vfio-pci"}
HARMLESS_GROUP_DRIVERS = (None, "vfio-pci", "pci-stub")
MAX_NAME = 64


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
        if dev is not None and dev.driver not in (None, "pciback", "vfio-pci", "pci-stub"):
            continue
        xd = (xen or {}).get(bdf)
        on_pciback = dev is not None and dev.driver == "pciback"
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
        return "xen" if facts.dom0 else "vfio"
    if requested not in STUB:
        raise InputError(f"unknown backend {requested!r}", "use xen, vfio or auto")
    return "xen" if requested == "xen" else "vfio"


# -- add ---------------------------------------------------------------------
def add_plan(facts: HostFacts, req: AddRequest) -> Plan:
    """The plan that makes every requested device assignable, or a refusal."""
    if not req.bdfs:
        raise InputError("no device given", "name one or more devices, e.g. 0000:05:00.0")
    if req.name is not None:
        _check_name(facts, req.name, req.bdfs)
    _check_backend(facts, req.backend)
    devices = [facts.device(b) for b in dict.fromkeys(req.bdfs)]
    if req.backend == "vfio":
        devices = _viable_group(facts, devices, req.group)
    found: list[Refusal] = []
    for dev in devices:
        found += refusals(facts.model, dev, facts.domid(str(dev.bdf)))
    refused = blocking(found, req.overrides)
    if refused:
        first = refused[0]
        more = f" (and {len(refused) - 1} more refusal(s))" if len(refused) > 1 else ""
        slot = first.bdf.rpartition(".")[0]
        whole = f"{slot}.* includes a function that cannot move: " if slot in req.slots else ""
        raise OperationError(f"{whole}refusing to take {first.line()}{more}", first.fix())
    steps: list[Step] = []
    stub = STUB[req.backend]
    if stub not in facts.drivers:
        steps.append(_modprobe(STUB_MODULE[req.backend], stub))
    for dev in devices:
        _check_not_assigned(dev, req.backend)
        steps += _record_step(facts, dev, req)  # all records first: one durable write
    for dev in devices:
        if req.backend == "vfio":
            steps += _vfio_add(dev)
        else:
            steps += _xen_add(facts, dev, req.name)
    return Plan(f"assignable add {' '.join(str(d.bdf) for d in devices)}", tuple(steps))


def _check_backend(facts: HostFacts, backend: Backend) -> None:
    if backend == "vfio" and not facts.model.iommu_enabled:
        raise OperationError(
            "vfio-pci needs an IOMMU and none is enabled on this host (no IOMMU groups)",
            "enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on or amd_iommu=on",
        )
    if backend == "xen" and not facts.dom0:
        raise OperationError(
            "the xen backend needs a Xen dom0 and this host is not one",
            "use --backend vfio, or run pcipass in dom0",
        )
    if backend == "xen" and facts.xen_directio is False:
        raise OperationError(
            "Xen reports no IOMMU (`xl info` virt_caps lacks directio): passthrough is impossible",
            "enable VT-d/AMD-Vi in the firmware and iommu=1 on Xen's command line",
        )


def _check_name(facts: HostFacts, name: str, bdfs: Iterable[str]) -> None:
    targets = list(dict.fromkeys(bdfs))
    if len(targets) != 1:
        raise InputError("--name needs exactly one device", "add devices one by one to name them")
    if not name or len(name) > MAX_NAME or not all(33 <= ord(c) < 127 for c in name):
        raise InputError(
            f"bad device name {name!r}",
            f"use 1-{MAX_NAME} printable characters without spaces (as xl requires)",
        )
    holder = facts.names().get(name)
    if holder is not None and holder != targets[0]:
        raise InputError(f"the name {name!r} is already used by {holder}", "choose another name")


def _check_not_assigned(dev: Device, backend: Backend) -> None:
    if dev.driver in ("pciback", "vfio-pci"):
        other = dev.driver != STUB[backend]
        raise OperationError(
            f"{dev.bdf} is already assignable (on {dev.driver})",
            f"`pcipass assignable remove {dev.bdf}` first" if other else "nothing to do",
        )


def _viable_group(facts: HostFacts, devices: list[Device], group: bool) -> list[Device]:
    """The devices to move so their IOMMU groups are viable; refuses without --group."""
    chosen = {d.bdf: d for d in devices}
    blockers: dict[PciAddress, Device] = {}
    for dev in devices:
        for member in facts.model.group_members(dev):
            other = facts.model.devices.get(member)
            if other is None or other.is_bridge or member in chosen:
                continue
            if other.driver not in HARMLESS_GROUP_DRIVERS:
                blockers[member] = other
    if blockers and not group:
        names = ", ".join(f"{b} (on {d.driver})" for b, d in sorted(blockers.items()))
        grp = devices[0].iommu_group
        raise OperationError(
            f"IOMMU group {grp} is not viable: it also holds {names}",
            "pass --group to move the whole group to vfio-pci",
        )
    return [*devices, *(blockers[b] for b in sorted(blockers))]


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
    if dev.driver_override != "vfio-pci":
        steps.append(set_override(bdf, "vfio-pci", dev.driver_override))
    steps.append(probe(bdf, "vfio-pci", f"bind {bdf} to vfio-pci"))
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
    original = Check("driver", bdf, value=dev.driver)
    on_pciback = Check("driver", bdf, value="pciback")
    assignable = (on_pciback, Check("xl-assignable", bdf, value="listed"))
    remembered = _driver_path_step(dev)
    finish = Step("run", f"let xl finish with {bdf} (quarantine) so that it can give it back",
                  bdf=bdf, argv=("xl", "pci-assignable-add", bdf), expect=(on_pciback,),
                  unless=(original,))
    steps.append(Step(
        "run",
        f"make {bdf} assignable through xl (pciback, quarantine, xenstore)",
        bdf=bdf,
        argv=tuple(argv),
        expect=assignable,
        unless=(),
        undo=(
            finish,
            *(replace(step, unless=(original,)) for step in remembered),
            Step("run", f"give {bdf} back through xl", bdf=bdf, argv=tuple(give_back),
                 expect=(original, Check("xl-assignable", bdf, value="unlisted"))),
        ),
    ))
    return steps + remembered


def _driver_path_step(dev: Device) -> list[Step]:
    """Write libxl's `driver_path` (what xl writes before it binds pciback) unless it holds."""
    if not dev.driver:
        return []
    key = f"/libxl/pci/{dev.bdf.xenstore}/driver_path"
    path = f"/{drv_path(dev.driver)}"
    return [Step("run", f"make sure xl remembers {dev.driver} for {dev.bdf}", bdf=str(dev.bdf),
                 argv=("xenstore-write", key, path),
                 expect=(Check("xenstore", path=key, value=path),))]


def _needs_override(facts: HostFacts, dev: Device) -> bool:
    """A VF whose PF has `sriov_drivers_autoprobe=0` binds only through `driver_override`."""
    if dev.physfn is None:
        return False
    pf = facts.model.get(dev.physfn)
    return pf is not None and pf.sriov is not None and pf.sriov.drivers_autoprobe is False


def _modprobe(module: str, driver: str) -> Step:
    return Step("modprobe", f"load {module}", data=module,
                expect=(Check("exists", path=drv_path(driver)),))


# -- remove ------------------------------------------------------------------
def resolve_targets(facts: HostFacts, args: Iterable[str]) -> list[str]:
    """BDFs for `remove` arguments: a name first (as xl does), then an address."""
    names = facts.names()
    out: list[str] = []
    for arg in args:
        if arg in names:
            out.append(names[arg])
            continue
        parsed = PciAddress.try_parse(arg)
        if parsed is None:
            raise InputError(
                f"{arg!r} is neither a PCI address nor the name of an assignable device",
                "see `pcipass assignable list --names`",
            )
        out.append(str(parsed))
    return list(dict.fromkeys(out))


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
                f"detach it first: xl pci-detach {domid} {bdf}",
            )
        rec = facts.records.get(bdf)
        if dev.driver == "vfio-pci":
            steps += _vfio_remove(facts, dev, rec, rebind)
        elif dev.driver == "pciback":
            steps += _xen_remove(facts, dev, rec, rebind)
        elif dev.driver is None and rec is not None and rebind:
            steps += _restore_override(dev, rec) + _rebind(facts, dev, rec)
        else:
            raise OperationError(
                f"{bdf} is not assignable (it is on {dev.driver or 'no driver'})",
                "nothing to give back; `pcipass assignable list` shows the assignable devices",
            )
    # Records are forgotten last, in one durable write, once every device is back.
    ordered = [s for s in steps if s.action != "forget"]
    ordered += [s for s in steps if s.action == "forget"]
    return Plan(f"assignable remove {' '.join(targets)}", tuple(ordered))


def _vfio_remove(facts: HostFacts, dev: Device, rec: Record | None, rebind: bool) -> list[Step]:
    steps = [unbind(str(dev.bdf), "vfio-pci")]
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
        "run",
        f"give {bdf} back through xl" + (f" (rebind to {xl_driver})" if use_r else ""),
        bdf=bdf,
        argv=("xl", "pci-assignable-remove", *(["-r"] if use_r else []), bdf),
        expect=(Check("driver", bdf, value=xl_driver if use_r else None),),
        undo=(
            *set_override(bdf, during, dev.driver_override).undo,
            Step("run", f"make {bdf} assignable again", bdf=bdf, argv=tuple(back),
                 expect=(Check("driver", bdf, value="pciback"),)),
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
        return [Step("write", f"original driver of {bdf} unknown: let the kernel choose",
                     bdf=bdf, path="sys/bus/pci/drivers_probe", data=bdf)]
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
        if dev.driver not in ("pciback", "vfio-pci"):
            continue
        bdf = str(bdf_key)
        xd = facts.xen.get(bdf)
        if xd is not None and xd.domid is not None:
            continue
        rec = facts.records.get(bdf)
        rows.append(Assignable(
            bdf=bdf,
            backend="xen" if dev.driver == "pciback" else "vfio",
            name=(xd.name if xd else None) or (rec.name if rec else None),
            original_driver=(rec.driver if rec else None) or (xd.driver if xd else None),
            original_override=rec.driver_override if rec else None,
            source="pcipass" if rec else ("xl" if xd and (xd.driver or xd.name) else "unknown"),
        ))
    return rows
