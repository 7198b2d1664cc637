"""Guards: pure refusals to take a device the host needs, each with its override flag.

A `Refusal` names the device, why it may not move, and the flag that overrides
it (None when nothing may override it, e.g. a device held by a running domain).
"""

from __future__ import annotations

from dataclasses import dataclass

from pcipass.model.device import Device, HostModel

FORCE_STORAGE = "--force-storage"
FORCE_NET = "--force-net"
FORCE_VFS = "--force-vfs"


@dataclass(frozen=True)
class Refusal:
    """Why `bdf` may not be taken, and the flag that says "take it anyway"."""

    bdf: str
    reason: str
    flag: str | None

    def line(self) -> str:
        return f"{self.bdf}: it {self.reason}"

    def fix(self) -> str:
        return f"pass {self.flag} to take it anyway" if self.flag else "it cannot be overridden"


def storage_refusals(dev: Device) -> list[Refusal]:
    """Disks on `dev` that hold `/`, a mounted filesystem, swap, or an LVM/MD/dm member."""
    out: list[Refusal] = []
    bdf = str(dev.bdf)
    for disk in dev.block:
        if disk.holds_root:
            out.append(Refusal(bdf, f"holds the root filesystem (/dev/{disk.name})", FORCE_STORAGE))
        elif disk.mounts:
            where = ", ".join(f"{m.source} on {m.target}" for m in disk.mounts)
            out.append(Refusal(bdf, f"backs mounted filesystems ({where})", FORCE_STORAGE))
        if disk.swap:
            out.append(Refusal(bdf, f"backs swap ({', '.join(disk.swap)})", FORCE_STORAGE))
        if disk.holders:
            out.append(Refusal(
                bdf, f"is a member of {', '.join(disk.holders)} (LVM/MD/dm)", FORCE_STORAGE
            ))
    return out


def net_refusals(dev: Device) -> list[Refusal]:
    """Interfaces on `dev` that carry the default route or an address, directly or via a master."""
    out: list[Refusal] = []
    for nic in dev.net:
        if not nic.carries_traffic:
            continue
        if nic.default_route:
            why = f"carries the default route ({nic.name})"
        elif nic.master_default_route:
            why = f"is {nic.name}, member of {nic.master} which carries the default route"
        else:
            addrs = (*nic.ipv4_routes, *nic.ipv6_addresses_global)
            why = f"has addresses on {nic.name} ({', '.join(addrs)})"
        out.append(Refusal(str(dev.bdf), why, FORCE_NET))
    return out


def vf_refusals(model: HostModel, dev: Device) -> list[Refusal]:
    """A PF with enabled VFs: unbinding it destroys them."""
    if dev.sriov is None or not dev.sriov.num_vfs:
        return []
    vfs = ", ".join(str(v) for v in dev.sriov.vfs) or f"{dev.sriov.num_vfs} VFs"
    return [Refusal(
        str(dev.bdf),
        f"is an SR-IOV PF with {dev.sriov.num_vfs} enabled VF(s) ({vfs}); "
        "unbinding it destroys them",
        FORCE_VFS,
    )]


def domain_refusal(bdf: str, domid: int | None) -> list[Refusal]:
    """A device held by a running domain."""
    if domid is None:
        return []
    return [Refusal(bdf, f"is attached to domain {domid}; detach it first "
                         f"(xl pci-detach {domid} {bdf})", None)]


def bridge_refusal(dev: Device) -> list[Refusal]:
    if not dev.is_bridge:
        return []
    return [Refusal(str(dev.bdf), "is a bridge or PCIe port, which cannot be passed through", None)]


def refusals(model: HostModel, dev: Device, domid: int | None = None) -> list[Refusal]:
    """Every reason not to make `dev` assignable."""
    return (
        bridge_refusal(dev)
        + domain_refusal(str(dev.bdf), domid)
        + storage_refusals(dev)
        + net_refusals(dev)
        + vf_refusals(model, dev)
    )


def blocking(found: list[Refusal], overrides: frozenset[str]) -> list[Refusal]:
    """The refusals the given override flags do not lift."""
    return [r for r in found if r.flag is None or r.flag not in overrides]
