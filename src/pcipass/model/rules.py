"""The one table of "the host needs this device / this device cannot move".

`show`'s readiness and the guards of `assignable add`, `--group` and `reset`
read the same rows, so `show`'s verdict is what `add` does without overrides:
a row whose severity is ``blocker`` is a refusal in `add`, lifted only by the
row's `flag` (None: nothing lifts it); a ``warning`` row only informs. `reset`
honours the rows marked `reset` (it moves nothing, so neither SR-IOV nor the
group rows matter to it).

Platform functions (`PLATFORM_CLASSES`) are the chipset's own: host bridges,
bridges to non-PCI buses (ISA/LPC, EISA, MCA, PCMCIA, NuBus, CardBus, RACEway,
InfiniBand), the legacy system peripherals (PIC/IOAPIC, DMA controller,
timer/HPET, RTC, PCI hot-plug controller), the IOMMU and the root complex event
collector, and the SMBus controller. The list is kept to what is the host's
without doubt; left out on purpose: `06 80` (other bridge) and `08 80` (other
system peripheral), which hold real endpoints people pass through (Intel
DSA/IAA, I/OAT DMA engines), and `08 05` (SD host controller).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pcipass.address import PciAddress
from pcipass.model import drivers
from pcipass.model.device import BlockDevice, Device, HostModel, NetInterface

FORCE_STORAGE = "--force-storage"
FORCE_NET = "--force-net"
FORCE_VFS = "--force-vfs"
GROUP = "--group"


class Severity(StrEnum):
    """How much a finding weighs in `show`: a blocker is what `add` refuses."""

    BLOCKER = "blocker"
    WARNING = "warning"
    INFO = "info"


class Code(StrEnum):
    """Every finding code `show` reports (docs/json.md) and every refusal's code."""

    BRIDGE = "bridge"
    HOST_BRIDGE = "host-bridge"
    PLATFORM = "platform"
    ATTACHED = "attached"
    NET_DEFAULT_ROUTE = "net-default-route"
    NET_IN_USE = "net-in-use"
    NET_ENSLAVED = "net-enslaved"
    BLOCK_ROOT = "block-root"
    BLOCK_MOUNTED = "block-mounted"
    BLOCK_SWAP = "block-swap"
    BLOCK_HOLDERS = "block-holders"
    PF_HAS_VFS = "pf-has-vfs"
    GROUP_SHARED = "group-shared"
    NO_GROUP = "no-group"
    NO_IOMMU_GROUPS = "no-iommu-groups"
    NO_IOMMU = "no-iommu"
    RESET_FLR = "reset-flr"
    RESET_METHOD = "reset-method"
    RESET_BUS_ONLY = "reset-bus-only"
    RESET_UNKNOWN = "reset-unknown"
    NO_FLR = "no-flr"
    VF_PF_UNBOUND = "vf-pf-unbound"
    ASSIGNABLE = "assignable"
    HOST_DRIVER = "host-driver"
    UNREADABLE = "unreadable"


HOST_BRIDGE_CLASS = 0x0600

#: Class/subclass (`class_code >> 8`) → what the platform function is.
PLATFORM_CLASSES: dict[int, str] = {
    0x0601: "ISA/LPC bridge",
    0x0602: "EISA bridge",
    0x0603: "MicroChannel bridge",
    0x0605: "PCMCIA bridge",
    0x0606: "NuBus bridge",
    0x0607: "CardBus bridge",
    0x0608: "RACEway bridge",
    0x060A: "InfiniBand-to-PCI host bridge",
    0x0800: "interrupt controller",
    0x0801: "DMA controller",
    0x0802: "system timer",
    0x0803: "RTC",
    0x0804: "PCI hot-plug controller",
    0x0806: "IOMMU",
    0x0807: "root complex event collector",
    0x0C05: "SMBus controller",
}


@dataclass(frozen=True)
class Hit:
    """One match of a rule on one function: what `show` says, what a refusal says."""

    finding: str
    refusal: str


@dataclass(frozen=True)
class Rule:
    """One row: the code, its weight in `show`, the `add` flag that lifts it (None:
    nothing does), whether `reset` honours it, and the test. `scope` says what the
    test reads: the function (``kind``, ``sriov``), each interface, each disk."""

    code: Code
    severity: Severity
    flag: str | None
    reset: bool
    scope: str
    check: Callable[[Any], Iterable[Hit]]

    @property
    def refuses(self) -> bool:
        return self.severity is Severity.BLOCKER


@dataclass(frozen=True)
class Violation:
    """A rule `bdf` breaks (for a group row, `bdf` is the member that breaks it)."""

    rule: Rule
    bdf: str
    hit: Hit


def _subclass(dev: Device) -> int | None:
    return None if dev.class_code is None else dev.class_code >> 8


def _bridge(dev: Device) -> Iterable[Hit]:
    if dev.is_bridge:
        yield Hit(f"{dev.bdf} is a bridge/port; pass its endpoints instead",
                  "is a bridge or PCIe port, which cannot be passed through")


def _host_bridge(dev: Device) -> Iterable[Hit]:
    if not dev.is_bridge and _subclass(dev) == HOST_BRIDGE_CLASS:
        yield Hit(f"{dev.bdf} is the host bridge",
                  "is the host bridge, which the host needs and cannot be passed through")


def _platform(dev: Device) -> Iterable[Hit]:
    what = PLATFORM_CLASSES.get(_subclass(dev) or -1)
    if not dev.is_bridge and what is not None:
        yield Hit(f"{dev.bdf} is a platform function ({what}) the host needs",
                  f"is a platform function ({what}) the host needs, "
                  "which cannot be passed through")


def _default_route(nif: NetInterface) -> Iterable[Hit]:
    if nif.default_route or nif.master_default_route:
        via = f" through {nif.master}" if nif.master_default_route and nif.master else ""
        why = (f"carries the default route ({nif.name})" if nif.default_route
               else f"is {nif.name}, member of {nif.master} which carries the default route")
        yield Hit(f"{nif.name} carries the host's default route{via}", why)


def _net_in_use(nif: NetInterface) -> Iterable[Hit]:
    if nif.carries_traffic and not (nif.default_route or nif.master_default_route):
        addrs = (*nif.ipv4_routes, *nif.ipv6_addresses_global)
        yield Hit(f"{nif.name} has addresses/routes on the host",
                  f"has addresses on {nif.name} ({', '.join(addrs)})")


def _net_enslaved(nif: NetInterface) -> Iterable[Hit]:
    if nif.master and not nif.carries_traffic:
        yield Hit(f"{nif.name} is a member of {nif.master}", "")


def _block_root(blk: BlockDevice) -> Iterable[Hit]:
    if blk.holds_root:
        yield Hit(f"{blk.name} holds the root filesystem",
                  f"holds the root filesystem (/dev/{blk.name})")


def _block_mounted(blk: BlockDevice) -> Iterable[Hit]:
    if blk.mounts and not blk.holds_root:
        where = ", ".join(m.target for m in blk.mounts)
        sources = ", ".join(f"{m.source} on {m.target}" for m in blk.mounts)
        yield Hit(f"{blk.name} is mounted on {where}", f"backs mounted filesystems ({sources})")


def _block_swap(blk: BlockDevice) -> Iterable[Hit]:
    if blk.swap:
        yield Hit(f"{blk.name} is used as swap", f"backs swap ({', '.join(blk.swap)})")


def _block_holders(blk: BlockDevice) -> Iterable[Hit]:
    if blk.holders:
        held = ", ".join(blk.holders)
        yield Hit(f"{blk.name} is held by {held}", f"is a member of {held} (LVM/MD/dm)")


def _pf_has_vfs(dev: Device) -> Iterable[Hit]:
    if dev.sriov is not None and dev.sriov.num_vfs:
        n = dev.sriov.num_vfs
        vfs = ", ".join(str(v) for v in dev.sriov.vfs) or f"{n} VFs"
        yield Hit(f"SR-IOV PF with {n} VFs enabled: unbinding it destroys them",
                  f"is an SR-IOV PF with {n} enabled VF(s) ({vfs}); unbinding it destroys them")


B, W = Severity.BLOCKER, Severity.WARNING

#: The rows, in the order `show` lists them and `add` refuses.
RULES: tuple[Rule, ...] = (
    Rule(Code.BRIDGE, B, None, False, "kind", _bridge),  # reset: its own words (endpoints only)
    Rule(Code.HOST_BRIDGE, B, None, True, "kind", _host_bridge),
    Rule(Code.PLATFORM, B, None, True, "kind", _platform),
    Rule(Code.NET_DEFAULT_ROUTE, B, FORCE_NET, True, "net", _default_route),
    Rule(Code.NET_IN_USE, B, FORCE_NET, True, "net", _net_in_use),
    Rule(Code.NET_ENSLAVED, W, None, False, "net", _net_enslaved),
    Rule(Code.BLOCK_ROOT, B, FORCE_STORAGE, True, "block", _block_root),
    Rule(Code.BLOCK_MOUNTED, B, FORCE_STORAGE, True, "block", _block_mounted),
    Rule(Code.BLOCK_SWAP, B, FORCE_STORAGE, True, "block", _block_swap),
    Rule(Code.BLOCK_HOLDERS, B, FORCE_STORAGE, True, "block", _block_holders),
    Rule(Code.PF_HAS_VFS, B, FORCE_VFS, False, "sriov", _pf_has_vfs),
)


def _nothing(_: object) -> Iterable[Hit]:
    return ()


#: A vfio IOMMU group with a member a host driver holds: `--group` moves them too
#: (`group_busy`; its words are `show`'s and `add`'s own).
GROUP_RULE = Rule(Code.GROUP_SHARED, B, GROUP, False, "group", _nothing)
#: A device held by a running domain (only `add` knows the domains).
ATTACHED_RULE = Rule(Code.ATTACHED, B, None, False, "domain", _nothing)

BY_CODE: dict[Code, Rule] = {r.code: r for r in (*RULES, GROUP_RULE, ATTACHED_RULE)}


def violations(dev: Device, *, only_reset: bool = False) -> list[Violation]:
    """Every row `dev` breaks, in table order (`only_reset`: the rows `reset` honours)."""
    subjects: dict[str, tuple[object, ...]] = {
        "kind": (dev,), "net": dev.net, "block": dev.block, "sriov": (dev,),
    }
    out = []
    for scope, items in subjects.items():
        rules = [r for r in RULES if r.scope == scope and (r.reset or not only_reset)]
        out += [Violation(r, str(dev.bdf), hit)
                for item in items for r in rules for hit in r.check(item)]
    return out


def group_busy(
    model: HostModel, devices: Iterable[Device], chosen: Iterable[PciAddress] = ()
) -> dict[PciAddress, Device]:
    """Members of the devices' IOMMU groups that keep the groups from being viable for
    vfio: not a bridge, not chosen, on a driver other than vfio-pci/pci-stub/none."""
    devices = list(devices)
    skip = {*chosen, *(d.bdf for d in devices)}
    busy: dict[PciAddress, Device] = {}
    for dev in devices:
        for member in model.group_members(dev):
            other = model.devices.get(member)
            if other is None or other.is_bridge or member in skip:
                continue
            if not drivers.group_safe(other.driver):
                busy[member] = other
    return dict(sorted(busy.items()))


def member_violations(group: int | None, target: str, member: Device) -> list[Violation]:
    """The blockers of a group member `--group` would move, worded as the member's."""
    out = []
    for v in violations(member):
        if not v.rule.refuses:
            continue
        said = v.hit.finding
        said = said if said.startswith(v.bdf) else f"{v.bdf}: {said}"
        hit = Hit(f"{said}; it shares IOMMU group {group}",
                  f"{v.hit.refusal}; it shares IOMMU group {group} with {target}")
        out.append(Violation(v.rule, v.bdf, hit))
    return out
