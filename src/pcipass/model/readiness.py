"""Why a device is, or is not, ready for passthrough — a pure function over the model.

Each `Finding` is one fact with a severity: ``blocker`` (passing it through would
break the host or cannot work), ``warning`` (works, with a cost the user should
know), ``info``. A device is ready when nothing blocks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcipass.model.device import Device, HostModel, Status

BLOCKER = "blocker"
WARNING = "warning"
INFO = "info"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class Readiness:
    ready: bool
    findings: tuple[Finding, ...]

    @property
    def blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == BLOCKER)


def assess(model: HostModel, dev: Device) -> Readiness:
    """Every finding for `dev`, blockers first."""
    found = (
        _kind(dev)
        + _host_use(dev)
        + _group(model, dev)
        + _reset(dev)
        + _sriov(model, dev)
        + _holder(dev)
        + _unknown(dev)
    )
    order = {BLOCKER: 0, WARNING: 1, INFO: 2}
    found.sort(key=lambda f: order[f.severity])
    return Readiness(not any(f.severity == BLOCKER for f in found), tuple(found))


def _kind(dev: Device) -> list[Finding]:
    if dev.is_bridge:
        return [
            Finding("bridge", BLOCKER, f"{dev.bdf} is a bridge/port; pass its endpoints instead")
        ]
    if dev.class_code is not None and dev.class_code >> 8 == 0x0600:
        return [Finding("host-bridge", BLOCKER, f"{dev.bdf} is the host bridge")]
    return []


def _host_use(dev: Device) -> list[Finding]:
    found = []
    for nif in dev.net:
        if nif.default_route or nif.master_default_route:
            via = f" through {nif.master}" if nif.master_default_route and nif.master else ""
            found.append(
                Finding(
                    "net-default-route",
                    BLOCKER,
                    f"{nif.name} carries the host's default route{via}",
                )
            )
        elif nif.carries_traffic:
            found.append(
                Finding("net-in-use", WARNING, f"{nif.name} has addresses/routes on the host")
            )
        elif nif.master:
            found.append(
                Finding("net-enslaved", WARNING, f"{nif.name} is a member of {nif.master}")
            )
    for blk in dev.block:
        if blk.holds_root:
            found.append(Finding("block-root", BLOCKER, f"{blk.name} holds the root filesystem"))
        elif blk.mounts:
            where = ", ".join(m.target for m in blk.mounts)
            found.append(Finding("block-mounted", BLOCKER, f"{blk.name} is mounted on {where}"))
        if blk.swap:
            found.append(Finding("block-swap", BLOCKER, f"{blk.name} is used as swap"))
        if blk.holders and not blk.mounts:
            found.append(
                Finding("block-holders", BLOCKER, f"{blk.name} is held by {', '.join(blk.holders)}")
            )
    return found


def _group(model: HostModel, dev: Device) -> list[Finding]:
    if dev.iommu_group is None:
        if model.iommu_enabled:
            return [Finding("no-group", WARNING, f"{dev.bdf} has no IOMMU group")]
        return [
            Finding(
                "no-iommu-groups",
                INFO,
                "no IOMMU groups: the IOMMU is off, or Xen owns it (dom0) — ask Xen (xl info)",
            )
        ]
    others = [model.devices[b] for b in model.group_members(dev) if b in model.devices]
    busy = [
        o
        for o in others
        if not o.is_bridge
        and o.status not in (Status.UNBOUND, Status.VFIO, Status.PCIBACK, Status.PCI_STUB)
    ]
    if busy:
        names = ", ".join(f"{o.bdf} ({o.driver})" for o in busy)
        return [
            Finding(
                "group-shared",
                WARNING,
                f"IOMMU group {dev.iommu_group} also holds {names}: they go to the guest together",
            )
        ]
    return []


def _reset(dev: Device) -> list[Finding]:
    r = dev.reset
    if r.flr or r.af_flr:
        return [Finding("reset-flr", INFO, "function-level reset available")]
    if r.methods and set(r.methods) <= {"bus", "cxl_bus"}:
        return [
            Finding(
                "reset-bus-only",
                WARNING,
                "only a bus reset: it also resets every other function below the same bridge",
            )
        ]
    if r.methods:
        return [Finding("reset-method", INFO, f"kernel reset methods: {', '.join(r.methods)}")]
    if r.flr is None:
        return [
            Finding("reset-unknown", WARNING, "reset capability unknown (config space unreadable)")
        ]
    return [
        Finding(
            "no-flr",
            WARNING,
            "no function-level reset: state may leak between guests"
            " (a bus reset also resets its siblings)",
        )
    ]


def _sriov(model: HostModel, dev: Device) -> list[Finding]:
    found = []
    if dev.sriov is not None and (dev.sriov.num_vfs or 0) > 0:
        found.append(
            Finding(
                "pf-has-vfs",
                WARNING,
                f"SR-IOV PF with {dev.sriov.num_vfs} VFs enabled: unbinding it destroys them",
            )
        )
    if dev.physfn is not None:
        pf = model.devices.get(dev.physfn)
        if pf is None or pf.driver is None:
            found.append(Finding("vf-pf-unbound", WARNING, f"its PF {dev.physfn} has no driver"))
    return found


def _holder(dev: Device) -> list[Finding]:
    if dev.status in (Status.PCIBACK, Status.VFIO, Status.PCI_STUB):
        return [Finding("assignable", INFO, f"already on {dev.driver}")]
    if dev.status is Status.HOST:
        return [Finding("host-driver", INFO, f"bound to host driver {dev.driver}")]
    return []


def _unknown(dev: Device) -> list[Finding]:
    if not dev.unknown:
        return []
    return [Finding("unreadable", WARNING, f"could not read: {', '.join(dev.unknown)}")]
