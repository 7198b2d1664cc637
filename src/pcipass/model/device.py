"""The host model: frozen dataclasses for PCI functions and what sits on them.

Built by `pcipass.model.discovery` from what `pcipass.host` reads; everything
above works on these plain values. `None` in a field means "could not be read"
(an unreadable attribute, or a device that vanished mid-read), never "no".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pcipass.address import PciAddress
from pcipass.model import drivers
from pcipass.model.config_space import Acs


class Status(StrEnum):
    """Who holds a function, as far as passthrough is concerned."""

    HOST = "host-driver"
    UNBOUND = "unbound"
    PCIBACK = drivers.PCIBACK.name
    VFIO = drivers.VFIO_PCI.name
    PCI_STUB = drivers.PCI_STUB.name
    UNKNOWN = "unknown"


#: Driver name (as in /sys/bus/pci/drivers) → status, for the passthrough drivers.
PASSTHROUGH_DRIVERS: dict[str, Status] = {d.name: Status(d.name) for d in drivers.DRIVERS}


def status_of(driver: str | None, readable: bool = True) -> Status:
    """The status a bound driver name means (None = unbound)."""
    if not readable:
        return Status.UNKNOWN
    if driver is None:
        return Status.UNBOUND
    return PASSTHROUGH_DRIVERS.get(driver, Status.HOST)


@dataclass(frozen=True, slots=True)
class NetInterface:
    """A network interface on a function, with what a guard must know before taking it."""

    name: str
    operstate: str | None = None
    mac: str | None = None
    master: str | None = None
    ipv4_routes: tuple[str, ...] = ()
    ipv6_addresses: tuple[str, ...] = ()
    default_route: bool = False
    master_default_route: bool = False

    @property
    def carries_traffic(self) -> bool:
        """Up with routes or addresses, or enslaved to a master that carries the default route."""
        return bool(
            self.default_route
            or self.master_default_route
            or self.ipv4_routes
            or self.ipv6_addresses_global
        )

    @property
    def ipv6_addresses_global(self) -> tuple[str, ...]:
        return tuple(a for a in self.ipv6_addresses if not a.lower().startswith("fe80"))


@dataclass(frozen=True, slots=True)
class Mount:
    source: str
    target: str
    fstype: str


@dataclass(frozen=True, slots=True)
class BlockDevice:
    """A block device (disk or partition) on a function and what uses it."""

    name: str
    partitions: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    swap: tuple[str, ...] = ()
    holders: tuple[str, ...] = ()

    @property
    def holds_root(self) -> bool:
        return any(m.target == "/" for m in self.mounts)

    @property
    def in_use(self) -> bool:
        return bool(self.mounts or self.swap or self.holders)


@dataclass(frozen=True, slots=True)
class SriovPF:
    """A physical function's SR-IOV state (from sysfs, else config space)."""

    total_vfs: int | None
    num_vfs: int | None
    vf_offset: int | None
    vf_stride: int | None
    vf_device_id: int | None
    drivers_autoprobe: bool | None
    vfs: tuple[PciAddress, ...] = ()


@dataclass(frozen=True, slots=True)
class Names:
    """lspci's names for the IDs (None where pci.ids has no entry or is missing)."""

    vendor: str | None = None
    device: str | None = None
    subsystem_vendor: str | None = None
    subsystem_device: str | None = None
    class_: str | None = None
    subclass: str | None = None
    prog_if: str | None = None


@dataclass(frozen=True, slots=True)
class Reset:
    """How the function can be reset, from config space and the kernel."""

    flr: bool | None = None
    af_flr: bool | None = None
    pm_no_soft_reset: bool | None = None
    reset_file: bool = False
    methods: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """One PCI function as the host sees it."""

    bdf: PciAddress
    vendor_id: int | None
    device_id: int | None
    subsystem_vendor_id: int | None = None
    subsystem_device_id: int | None = None
    class_code: int | None = None
    revision: int | None = None
    names: Names = field(default_factory=Names)
    driver: str | None = None
    driver_override: str | None = None
    modalias: str | None = None
    modules: tuple[str, ...] | None = None
    iommu_group: int | None = None
    numa_node: int | None = None
    parent: PciAddress | None = None
    header_type: int | None = None
    pcie_type: str | None = None
    reset: Reset = field(default_factory=Reset)
    acs: Acs | None = None
    ari: bool | None = None
    sriov: SriovPF | None = None
    physfn: PciAddress | None = None
    net: tuple[NetInterface, ...] = ()
    block: tuple[BlockDevice, ...] = ()
    status: Status = Status.UNKNOWN
    unknown: tuple[str, ...] = ()

    @property
    def is_vf(self) -> bool:
        return self.physfn is not None

    @property
    def is_pf(self) -> bool:
        return self.sriov is not None

    @property
    def is_bridge(self) -> bool:
        """A PCI-to-PCI bridge or PCIe port (header type 1, or class 0604/0609)."""
        if self.header_type is not None:
            return self.header_type == 1
        return self.class_code is not None and self.class_code >> 8 in (0x0604, 0x0609)

    @property
    def base_class(self) -> int | None:
        return None if self.class_code is None else self.class_code >> 16


@dataclass(frozen=True, slots=True)
class HostModel:
    """Every PCI function of a host, by address, with its IOMMU groups."""

    devices: dict[PciAddress, Device]
    groups: dict[int, tuple[PciAddress, ...]]
    iommu_enabled: bool
    pci_ids_source: str | None = None
    pci_ids_from: str | None = None
    """`tree` (the host tree's pci.ids), `machine` (this machine's), None (no names)."""

    def get(self, bdf: PciAddress) -> Device | None:
        return self.devices.get(bdf)

    def group_members(self, dev: Device) -> tuple[PciAddress, ...]:
        """The other functions in `dev`'s IOMMU group (empty when it has none)."""
        if dev.iommu_group is None:
            return ()
        return tuple(b for b in self.groups.get(dev.iommu_group, ()) if b != dev.bdf)

    def vfs_of(self, pf: Device) -> tuple[Device, ...]:
        if pf.sriov is None:
            return ()
        return tuple(self.devices[b] for b in pf.sriov.vfs if b in self.devices)

    def children(self, bridge: PciAddress | None) -> tuple[Device, ...]:
        """Functions directly below `bridge` (None: the root buses), in address order."""
        return tuple(d for d in self.devices.values() if d.parent == bridge)
