"""What a simulated host is made of: frozen descriptions of its PCI functions, drivers,
modules, mounts and routes, and the facts derived from them.

`HostSpec` is the whole host; `PciFunction` one function (`SriovSpec` if it is an SR-IOV PF,
``physfn`` if it is a VF); `Driver` and `Module` the loaded drivers; `MountSpec` and `Route`
what procfs shows. `complete_spec` fills in what can be derived (multifunction bits, bridge bus
numbers, drivers and modules named only by a function). Helpers: `vf_function(pf, i)` /
`vf_bdf` (the VF the kernel creates: routing ID = PF + offset + i * stride), `modalias(fn)`,
`default_reset_methods(fn)`. `pcipass.sim.config_bytes` encodes a function's config space,
`pcipass.sim.tree` writes the host as sysfs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

BRIDGE_CLASS = 0x0604


@dataclass(frozen=True)
class SriovSpec:
    """The SR-IOV extended capability of a PF (sysfs shows it as ``sriov_*``)."""

    total_vfs: int
    vf_device: int
    offset: int = 1
    stride: int = 1
    num_vfs: int = 0
    drivers_autoprobe: bool = True


@dataclass(frozen=True)
class NetIf:
    """A network interface on a function."""

    name: str
    address: str = "00:00:00:00:00:00"
    operstate: str = "up"
    ifindex: int = 0


@dataclass(frozen=True)
class Disk:
    """A block device on a function: ``nvme0n1`` (under ``nvme/nvme0``) or e.g. ``sda``."""

    name: str
    partitions: tuple[str, ...] = ()
    size_sectors: int = 2097152


@dataclass(frozen=True)
class PciFunction:
    """One PCI function as sysfs and its config space show it."""

    bdf: str
    vendor: int
    device: int
    class_code: int  # 24 bits: base, sub, prog-if
    subsystem_vendor: int = 0
    subsystem_device: int = 0
    revision: int = 0
    parent: str | None = None  # upstream bridge BDF; None: on a root bus
    driver: str | None = None
    driver_override: str | None = None
    iommu_group: int | None = None
    numa_node: int = -1
    local_cpulist: str = "0-3"
    irq: int = 0
    pcie_type: str | None = "endpoint"  # a PCIE_TYPE_TABLE sim_key; None: conventional PCI
    flr: bool = False
    pm: bool = True
    pm_no_soft_reset: bool = True  # PMCSR No_Soft_Reset; clear: the kernel offers "pm" reset
    msix_vectors: int = 0  # 0: no MSI-X capability
    acs: bool = False
    ari: bool = False
    sriov: SriovSpec | None = None
    physfn: str | None = None  # set on a VF: its PF
    multifunction: bool = False
    secondary_bus: int | None = None  # bridges; derived from children when None
    subordinate_bus: int | None = None
    reset_methods: tuple[str, ...] | None = None  # None: derived (flr, pm, bus)
    bars: tuple[tuple[int, int, int], ...] = ()  # (start, end, flags) for BAR0..
    config_size: int | None = None  # None: 4096 for PCIe, 256 otherwise
    net: tuple[NetIf, ...] = ()
    disks: tuple[Disk, ...] = ()
    nvme_controller: str | None = None  # e.g. "nvme0" when disks are NVMe namespaces

    @property
    def is_bridge(self) -> bool:
        return self.class_code >> 8 == BRIDGE_CLASS

    @property
    def domain(self) -> int:
        return int(self.bdf[:4], 16)

    @property
    def bus(self) -> int:
        return int(self.bdf[5:7], 16)

    @property
    def devfn(self) -> int:
        return (int(self.bdf[8:10], 16) << 3) | int(self.bdf[11], 16)


@dataclass(frozen=True)
class Driver:
    """A PCI driver registered on the bus; ``module`` None means built into the kernel."""

    name: str
    module: str | None = None


@dataclass(frozen=True)
class Module:
    """A kernel module (``sys/module/<name>``); built-in modules have no ``initstate``."""

    name: str
    params: tuple[tuple[str, str], ...] = ()
    builtin: bool = False


@dataclass(frozen=True)
class MountSpec:
    """One ``/proc/mounts`` line."""

    source: str
    target: str
    fstype: str = "ext4"
    options: str = "rw,relatime"


@dataclass(frozen=True)
class Route:
    """One ``/proc/net/route`` entry (IPv4, host byte order shown as the kernel prints it)."""

    iface: str
    destination: str = "0.0.0.0"
    gateway: str = "0.0.0.0"
    mask: str = "0.0.0.0"


@dataclass(frozen=True)
class HostSpec:
    """A whole host: functions, drivers, modules and the procfs bits pcipass reads."""

    functions: tuple[PciFunction, ...]
    drivers: tuple[Driver, ...] = ()
    modules: tuple[Module, ...] = ()
    mounts: tuple[MountSpec, ...] = ()
    swaps: tuple[str, ...] = ()  # swap device paths
    routes: tuple[Route, ...] = ()
    cmdline: str = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet"
    iommu: bool = True  # sys/class/iommu/dmar0 (groups come from the functions)
    hypervisor: str | None = None  # "xen": a dom0 (sys/hypervisor/type, proc/xen/capabilities)
    extra_files: tuple[tuple[str, str], ...] = field(default=())


def default_module(driver: str) -> str:
    """The usual module name of a driver (dashes become underscores)."""
    return driver.replace("-", "_")


def modalias(fn: PciFunction) -> str:
    c = fn.class_code
    return (
        f"pci:v{fn.vendor:08X}d{fn.device:08X}sv{fn.subsystem_vendor:08X}"
        f"sd{fn.subsystem_device:08X}bc{c >> 16:02X}sc{(c >> 8) & 0xFF:02X}i{c & 0xFF:02X}"
    )


def vf_bdf(pf: PciFunction, index: int) -> str:
    """The BDF of VF `index` (0-based) of `pf`: routing ID = PF + offset + index * stride."""
    assert pf.sriov is not None
    rid = (pf.bus << 8 | pf.devfn) + pf.sriov.offset + index * pf.sriov.stride
    return f"{pf.domain:04x}:{rid >> 8 & 0xFF:02x}:{rid >> 3 & 0x1F:02x}.{rid & 7}"


def vf_function(pf: PciFunction, index: int, iommu_group: int | None = None) -> PciFunction:
    """The `PciFunction` the kernel creates for VF `index` of `pf` (unbound, FLR-capable)."""
    assert pf.sriov is not None
    return PciFunction(
        bdf=vf_bdf(pf, index),
        vendor=pf.vendor,
        device=pf.sriov.vf_device,
        class_code=pf.class_code,
        subsystem_vendor=pf.subsystem_vendor,
        subsystem_device=pf.subsystem_device,
        revision=pf.revision,
        parent=pf.parent,
        iommu_group=iommu_group,
        numa_node=pf.numa_node,
        local_cpulist=pf.local_cpulist,
        pcie_type="endpoint",
        flr=True,
        pm=False,
        msix_vectors=min(pf.msix_vectors, 3) if pf.msix_vectors else 0,
        ari=pf.ari,
        physfn=pf.bdf,
    )


def default_reset_methods(fn: PciFunction) -> tuple[str, ...]:
    """The methods the kernel's probe finds, in its order: FLR if DevCap says so, PM if the
    PM capability's No_Soft_Reset is clear, bus reset for a PF or plain function behind a bridge."""
    methods = ["flr"] if fn.flr else []
    if fn.pm and not fn.pm_no_soft_reset:
        methods.append("pm")
    if fn.parent is not None and fn.physfn is None:
        methods.append("bus")
    return tuple(methods)


def complete_spec(spec: HostSpec) -> HostSpec:
    """Fill in derived facts: multifunction bits, bridge bus numbers, drivers and modules."""
    fns = list(spec.functions)
    slots: dict[str, int] = {}
    for fn in fns:
        if fn.physfn is None:
            slots[fn.bdf[:10]] = slots.get(fn.bdf[:10], 0) + 1
    children: dict[str, list[PciFunction]] = {}
    for fn in fns:
        if fn.parent is not None:
            children.setdefault(fn.parent, []).append(fn)

    def max_bus(bdf: str) -> int:
        kids = children.get(bdf, [])
        return max([k.bus for k in kids] + [max_bus(k.bdf) for k in kids if k.is_bridge] + [0])

    out: list[PciFunction] = []
    for fn in fns:
        changes: dict[str, object] = {}
        if fn.physfn is None and slots.get(fn.bdf[:10], 0) > 1 and not fn.multifunction:
            changes["multifunction"] = True
        if fn.is_bridge and fn.secondary_bus is None:
            kids = children.get(fn.bdf, [])
            changes["secondary_bus"] = min((k.bus for k in kids), default=0)
        if fn.is_bridge and fn.subordinate_bus is None:
            changes["subordinate_bus"] = max_bus(fn.bdf)
        out.append(replace(fn, **changes) if changes else fn)  # type: ignore[arg-type]
    drivers = {d.name: d for d in spec.drivers}
    for fn in out:
        if fn.driver and fn.driver not in drivers:
            drivers[fn.driver] = Driver(fn.driver, default_module(fn.driver))
    modules = {m.name: m for m in spec.modules}
    for d in drivers.values():
        if d.module and d.module not in modules:
            modules[d.module] = Module(d.module)
    return replace(
        spec, functions=tuple(out), drivers=tuple(drivers.values()), modules=tuple(modules.values())
    )
