"""Write a kernel-like sysfs (and the procfs bits pcipass reads) under a root directory.

Used by tests, the benchmark, profiles and the simulated host. Describe the host with
frozen dataclasses and call `build_tree(root, spec)`; the result is what Linux shows:

- ``sys/devices/pci0000:00/<bridge BDF>/<BDF>`` hierarchy (VFs sit next to their PF),
  ``sys/bus/pci/devices/<BDF>`` links, attribute files (vendor, device, subsystem_vendor,
  subsystem_device, class, revision, irq, resource, numa_node, local_cpulist, modalias, enable,
  driver_override, reset_method), a binary ``config`` (256 or 4096 bytes: header type with the
  multifunction bit, bridge bus numbers, PM / MSI-X / PCIe capabilities (port type, FLR bit in
  DevCap), extended capabilities SR-IOV, ACS, ARI);
- ``driver`` links to ``sys/bus/pci/drivers/<drv>`` (``bind``, ``unbind``, ``new_id``,
  ``remove_id``, one link per bound BDF, ``module`` link), ``sys/module/<m>`` (``parameters/*``,
  ``drivers/pci:<drv>``, ``initstate`` for loadable modules) and ``proc/modules``;
- ``iommu_group`` links to ``sys/kernel/iommu_groups/<n>/devices/<BDF>``;
- SR-IOV: ``sriov_totalvfs``, ``sriov_numvfs``, ``sriov_offset``, ``sriov_stride``,
  ``sriov_vf_device``, ``sriov_drivers_autoprobe``, ``virtfnN`` links and the VF's ``physfn``;
- ``net/<ifname>`` (``address``, ``operstate``, ``ifindex``) with ``sys/class/net`` links, NVMe
  controllers ``nvme/nvmeX/nvmeXn1[pN]`` and other disks with ``sys/block`` and
  ``sys/class/block`` links;
- ``proc/mounts``, ``proc/swaps``, ``proc/net/route``, ``proc/cmdline``, ``proc/modules`` and,
  for a Xen dom0, ``sys/hypervisor/type`` and ``proc/xen/capabilities``.

`HostSpec` is the whole host; `PciFunction` one function (`SriovCap` if it is an SR-IOV PF,
``physfn`` if it is a VF); `Driver` and `Module` the loaded drivers. `build_tree` fills in what
can be derived (multifunction bits, bridge bus numbers, drivers and modules named only by a
function). Helpers: `vf_function(pf, i)` / `vf_bdf` (the VF the kernel creates: routing ID =
PF + offset + i * stride), `config_space(fn)`, `modalias(fn)`, `default_reset_methods(fn)`.
`SysfsTree` offers the incremental edits the simulated host makes (`add_function`,
`remove_function`, `bind`, `unbind`, `add_children`/`remove_children` (netdevs, disks),
`add_driver`, `remove_driver`, `add_module`, `remove_module`, `set_attr`, `write_config`,
`set_virtfn_links`). Attribute files are plain files (mode 0644); writing them does nothing
by itself: the simulated host (`pcipass.sim.host`) gives writes their kernel meaning.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pcipass.model.config_space import PCIE_TYPE_TABLE

PCIE_TYPES = {t.sim_key: t.code for t in PCIE_TYPE_TABLE}
BRIDGE_CLASS = 0x0604


@dataclass(frozen=True)
class SriovCap:
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
    pcie_type: str | None = "endpoint"  # a PCIE_TYPES key; None: conventional PCI
    flr: bool = False
    pm: bool = True
    pm_no_soft_reset: bool = True  # PMCSR No_Soft_Reset; clear: the kernel offers "pm" reset
    msix_vectors: int = 0  # 0: no MSI-X capability
    acs: bool = False
    ari: bool = False
    sriov: SriovCap | None = None
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
class Mount:
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
    mounts: tuple[Mount, ...] = ()
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


# -- config space ----------------------------------------------------------


def config_space(fn: PciFunction) -> bytes:
    """The function's config space: header, capability list, extended capabilities."""
    size = fn.config_size or (4096 if fn.pcie_type else 256)
    cfg = bytearray(size)
    vendor, device = (0xFFFF, 0xFFFF) if fn.physfn else (fn.vendor, fn.device)
    struct.pack_into("<HHHH", cfg, 0, vendor, device, 0x0406, 0x0010)
    cfg[8] = fn.revision
    cfg[9:12] = bytes([fn.class_code & 0xFF, (fn.class_code >> 8) & 0xFF, fn.class_code >> 16])
    cfg[0x0E] = (1 if fn.is_bridge else 0) | (0x80 if fn.multifunction else 0)
    if fn.is_bridge:
        cfg[0x18:0x1B] = bytes([fn.bus, fn.secondary_bus or 0, fn.subordinate_bus or 0])
    else:
        struct.pack_into("<HH", cfg, 0x2C, fn.subsystem_vendor, fn.subsystem_device)
    for i, (start, _end, flags) in enumerate(fn.bars[: 2 if fn.is_bridge else 6]):
        struct.pack_into("<I", cfg, 0x10 + 4 * i, (start & 0xFFFFFFF0) | (flags & 0xF))
    cfg[0x3C] = fn.irq & 0xFF
    cfg[0x3D] = 1 if fn.irq else 0
    caps: list[tuple[int, bytes]] = []
    if fn.pm:
        pmcsr = 0x0008 if fn.pm_no_soft_reset else 0x0000
        caps.append((0x01, struct.pack("<HHB", 0x0003, pmcsr, 0) + b"\0"))
    if fn.msix_vectors:
        caps.append((0x11, struct.pack("<HII", fn.msix_vectors - 1, 0x0000_0000, 0x0000_0800)))
    if fn.pcie_type is not None:
        flags = 0x0002 | PCIE_TYPES[fn.pcie_type] << 4
        devcap = 0x0000_8000 | (1 << 28 if fn.flr else 0)
        body = struct.pack("<HI", flags, devcap) + bytes(0x3C - 8)
        caps.append((0x10, body))
    if fn.is_bridge and fn.subsystem_vendor:
        caps.append((0x0D, struct.pack("<HHH", 0, fn.subsystem_vendor, fn.subsystem_device)))
    pos = 0x40
    if caps:
        cfg[0x34] = pos
    for i, (cap_id, body) in enumerate(caps):
        nxt = pos + 2 + len(body)
        nxt = (nxt + 3) & ~3
        cfg[pos] = cap_id
        cfg[pos + 1] = nxt if i + 1 < len(caps) else 0
        cfg[pos + 2 : pos + 2 + len(body)] = body
        pos = nxt
    if size > 256:
        _write_ext_caps(cfg, fn)
    return bytes(cfg)


def _write_ext_caps(cfg: bytearray, fn: PciFunction) -> None:
    ext: list[tuple[int, bytes]] = []
    if fn.ari:
        ext.append((0x000E, struct.pack("<HH", 0, 0)))
    if fn.sriov is not None:
        s = fn.sriov
        ctrl = (0x0019 if s.num_vfs else 0) | (0x0010 if fn.ari else 0)
        body = struct.pack(
            "<IHHHHHHHHHHII",
            0,  # SR-IOV capabilities
            ctrl,
            0,  # status
            s.total_vfs,  # initial VFs
            s.total_vfs,
            s.num_vfs,
            0,  # function dependency link
            s.offset,
            s.stride,
            0,  # reserved
            s.vf_device,
            0x553,  # supported page sizes
            0x1,  # system page size
        ) + bytes(0x40 - 4 - 32)
        ext.append((0x0010, body))
    if fn.acs:
        ext.append((0x000D, struct.pack("<HH", 0x005F, 0x001D)))
    pos = 0x100
    for i, (cap_id, body) in enumerate(ext):
        nxt = (pos + 4 + len(body) + 7) & ~7
        header = cap_id | 1 << 16 | ((nxt if i + 1 < len(ext) else 0) << 20)
        struct.pack_into("<I", cfg, pos, header)
        cfg[pos + 4 : pos + 4 + len(body)] = body
        pos = nxt


# -- the tree ----------------------------------------------------------------


def _uevent(fn: PciFunction) -> str:
    """A PCI device's ``uevent`` as Linux writes it (drivers/pci/pci-driver.c), without DRIVER."""
    return (
        f"PCI_CLASS={fn.class_code:04X}\n"  # "%04X", as pci_uevent() prints it
        f"PCI_ID={fn.vendor:04X}:{fn.device:04X}\n"
        f"PCI_SUBSYS_ID={fn.subsystem_vendor:04X}:{fn.subsystem_device:04X}\n"
        f"PCI_SLOT_NAME={fn.bdf}\n"
        f"MODALIAS={modalias(fn)}\n"
    )


def _resource_text(fn: PciFunction) -> str:
    lines = 17 if fn.is_bridge else 13
    rows = list(fn.bars) + [(0, 0, 0)] * (lines - len(fn.bars))
    return "".join(f"0x{a:016x} 0x{b:016x} 0x{c:016x}\n" for a, b, c in rows[:lines])


def default_reset_methods(fn: PciFunction) -> tuple[str, ...]:
    """The methods the kernel's probe finds, in its order: FLR if DevCap says so, PM if the
    PM capability's No_Soft_Reset is clear, bus reset for a PF or plain function behind a bridge."""
    methods = ["flr"] if fn.flr else []
    if fn.pm and not fn.pm_no_soft_reset:
        methods.append("pm")
    if fn.parent is not None and fn.physfn is None:
        methods.append("bus")
    return tuple(methods)


class SysfsTree:
    """A sysfs tree under `root` and the edits the kernel makes to it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.sys = self.root / "sys"
        self.bus = self.sys / "bus" / "pci"
        self._dirs: dict[str, Path] = {}  # BDF -> real device directory

    # -- helpers -------------------------------------------------------------
    def _link(self, link: Path, target: Path) -> None:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(target, link.parent))

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        """Create or replace a file whose directory exists (the fast path: one open)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._put(path, text.encode())

    def device_dir(self, bdf: str) -> Path:
        """The real directory of a function (resolves the bus link)."""
        known = self._dirs.get(bdf)
        if known is None:
            known = self._dirs[bdf] = Path(os.path.realpath(self.bus / "devices" / bdf))
        return known

    def _parent_dir(self, fn: PciFunction) -> Path:
        if fn.parent is None:
            path = self.sys / "devices" / f"pci{fn.domain:04x}:{fn.bus:02x}"
            path.mkdir(parents=True, exist_ok=True)
            return path
        return self.device_dir(fn.parent)

    def init_skeleton(self, spec: HostSpec) -> None:
        """The bus, class and procfs files that exist independent of devices."""
        for d in ("devices", "drivers", "slots"):
            (self.bus / d).mkdir(parents=True, exist_ok=True)
        for name in ("drivers_probe", "rescan"):
            self._write(self.bus / name, "")
        self._write(self.bus / "drivers_autoprobe", "1\n")
        for d in ("class/net", "class/block", "class/nvme", "block", "module", "kernel"):
            (self.sys / d).mkdir(parents=True, exist_ok=True)
        (self.sys / "kernel" / "iommu_groups").mkdir(parents=True, exist_ok=True)
        if spec.iommu:
            (self.sys / "class" / "iommu" / "dmar0").mkdir(parents=True, exist_ok=True)
        if spec.hypervisor:
            self._write(self.sys / "hypervisor" / "type", spec.hypervisor + "\n")
        if spec.hypervisor == "xen":  # a dom0: xenfs shows the control domain
            self._write(self.root / "proc" / "xen" / "capabilities", "control_d\n")
        proc = self.root / "proc"
        self._write(proc / "cmdline", spec.cmdline + "\n")
        self._write(
            proc / "mounts",
            "".join(f"{m.source} {m.target} {m.fstype} {m.options} 0 0\n" for m in spec.mounts),
        )
        swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        swaps += "".join(f"{s}\tpartition\t1048572\t\t0\t\t-2\n" for s in spec.swaps)
        self._write(proc / "swaps", swaps)
        self._write(proc / "net" / "route", _route_text(spec.routes))
        for rel, text in spec.extra_files:
            self._write(self.root / rel, text)

    # -- modules and drivers ---------------------------------------------------
    def add_module(self, module: Module) -> None:
        mdir = self.sys / "module" / module.name
        (mdir / "drivers").mkdir(parents=True, exist_ok=True)
        for key, value in module.params:
            self._write(mdir / "parameters" / key, value + "\n")
        if not module.builtin:
            self._write(mdir / "initstate", "live\n")
            self._write(mdir / "refcnt", "0\n")
        self._write_proc_modules()

    def remove_module(self, name: str) -> None:
        shutil.rmtree(self.sys / "module" / name, ignore_errors=True)
        self._write_proc_modules()

    def loaded_modules(self) -> list[str]:
        """Loadable modules currently present (those with ``initstate``)."""
        mods = self.sys / "module"
        return sorted(m.name for m in mods.iterdir() if (m / "initstate").exists())

    def _write_proc_modules(self) -> None:
        lines = [f"{m} 16384 0 - Live 0x0000000000000000\n" for m in self.loaded_modules()]
        self._write(self.root / "proc" / "modules", "".join(lines))

    def add_driver(self, driver: Driver) -> None:
        ddir = self.bus / "drivers" / driver.name
        ddir.mkdir(parents=True, exist_ok=True)
        for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
            self._write(ddir / name, "")
        if driver.module is not None:
            mdir = self.sys / "module" / driver.module
            self._link(ddir / "module", mdir)
            self._link(mdir / "drivers" / f"pci:{driver.name}", ddir)

    def remove_driver(self, name: str) -> None:
        ddir = self.bus / "drivers" / name
        mlink = ddir / "module"
        module = os.path.basename(os.readlink(mlink)) if mlink.is_symlink() else None
        for entry in list(ddir.iterdir()) if ddir.exists() else []:
            if entry.is_symlink() and entry.name != "module":
                self.unbind(entry.name)
        shutil.rmtree(ddir, ignore_errors=True)
        if module:
            link = self.sys / "module" / module / "drivers" / f"pci:{name}"
            if link.is_symlink():
                link.unlink()

    def bind(self, bdf: str, driver: str) -> None:
        dev = self.device_dir(bdf)
        ddir = self.bus / "drivers" / driver
        self._link(dev / "driver", ddir)
        self._link(ddir / bdf, dev)
        self._uevent_driver(dev, driver)

    def _uevent_driver(self, dev: Path, driver: str | None) -> None:
        """The kernel's ``uevent`` starts with ``DRIVER=`` while a driver is bound."""
        old = (dev / "uevent").read_text().splitlines()
        lines = [line for line in old if not line.startswith("DRIVER=")]
        if driver:
            lines.insert(0, f"DRIVER={driver}")
        self._put(dev / "uevent", "".join(line + "\n" for line in lines).encode())

    def unbind(self, bdf: str) -> None:
        dev = self.device_dir(bdf)
        link = dev / "driver"
        if link.is_symlink():
            ddir = Path(os.path.realpath(link))
            link.unlink()
            back = ddir / bdf
            if back.is_symlink():
                back.unlink()
            self._uevent_driver(dev, None)

    # -- functions ---------------------------------------------------------------
    def add_function(self, fn: PciFunction) -> None:
        """Create the function's directory, attributes and links (its parent must exist)."""
        dev = self._parent_dir(fn) / fn.bdf
        dev.mkdir(parents=True, exist_ok=True)
        self._dirs[fn.bdf] = Path(os.path.realpath(dev))
        attrs = {
            "vendor": f"0x{fn.vendor:04x}",
            "device": f"0x{fn.device:04x}",
            "subsystem_vendor": f"0x{fn.subsystem_vendor:04x}",
            "subsystem_device": f"0x{fn.subsystem_device:04x}",
            "class": f"0x{fn.class_code:06x}",
            "revision": f"0x{fn.revision:02x}",
            "irq": str(fn.irq),
            "numa_node": str(fn.numa_node),
            "local_cpulist": fn.local_cpulist,
            "modalias": modalias(fn),
            "enable": "1" if fn.driver else "0",
            "driver_override": fn.driver_override or "(null)",
            "resource": _resource_text(fn).rstrip("\n"),
            "remove": "",
            "rescan": "",
        }
        methods = fn.reset_methods if fn.reset_methods is not None else default_reset_methods(fn)
        if methods:  # the kernel shows both only when the device has a reset method
            attrs["reset"] = ""
            attrs["reset_method"] = " ".join(methods)
        for name, value in attrs.items():
            self._put(dev / name, (value + "\n" if value else "").encode())
        self._put(dev / "config", config_space(fn))
        self._put(dev / "uevent", _uevent(fn).encode())
        self._link(dev / "subsystem", self.bus)
        self._link(self.bus / "devices" / fn.bdf, dev)
        if fn.is_bridge:
            self._write(dev / "secondary_bus_number", f"{fn.secondary_bus or 0}\n")
            self._write(dev / "subordinate_bus_number", f"{fn.subordinate_bus or 0}\n")
        if fn.sriov is not None:
            self._write_sriov(dev, fn.sriov)
        if fn.physfn is not None:
            self._link(dev / "physfn", self.device_dir(fn.physfn))
        if fn.iommu_group is not None:
            gdir = self.sys / "kernel" / "iommu_groups" / str(fn.iommu_group)
            self._write(gdir / "type", "identity\n")
            self._write(gdir / "reserved_regions", "")
            self._link(gdir / "devices" / fn.bdf, dev)
            self._link(dev / "iommu_group", gdir)
        if fn.driver is not None:
            self.bind(fn.bdf, fn.driver)
        self.add_children(fn)

    def _write_sriov(self, dev: Path, s: SriovCap) -> None:
        attrs = {
            "sriov_totalvfs": str(s.total_vfs),
            "sriov_numvfs": str(s.num_vfs),
            "sriov_offset": str(s.offset),
            "sriov_stride": str(s.stride),
            "sriov_vf_device": f"{s.vf_device:x}",
            "sriov_drivers_autoprobe": "1" if s.drivers_autoprobe else "0",
            "sriov_vf_total_msix": "0",
        }
        for name, value in attrs.items():
            self._put(dev / name, (value + "\n").encode())

    def add_children(self, fn: PciFunction) -> None:
        """Create the function's network interfaces and block devices (a driver made them)."""
        dev = self.device_dir(fn.bdf)
        self._add_net(dev, fn.net)
        self._add_disks(dev, fn)

    def remove_children(self, bdf: str) -> None:
        """Remove the function's network interfaces and block devices (its driver left)."""
        dev = self.device_dir(bdf)
        for cls in (self.sys / "class" / c for c in ("net", "block", "nvme", "../block")):
            for link in list(cls.iterdir()) if cls.exists() else []:
                if os.path.realpath(link).startswith(str(dev) + os.sep):
                    link.unlink()
        for sub in ("net", "nvme", "host0"):
            shutil.rmtree(dev / sub, ignore_errors=True)

    def _add_net(self, dev: Path, nets: Iterable[NetIf]) -> None:
        for i, nif in enumerate(nets):
            ndir = dev / "net" / nif.name
            self._write(ndir / "address", nif.address + "\n")
            self._write(ndir / "operstate", nif.operstate + "\n")
            self._write(ndir / "ifindex", f"{nif.ifindex or 2 + i}\n")
            self._link(ndir / "device", dev)
            self._link(self.sys / "class" / "net" / nif.name, ndir)

    def _add_disks(self, dev: Path, fn: PciFunction) -> None:
        for disk in fn.disks:
            if fn.nvme_controller:
                ctrl = dev / "nvme" / fn.nvme_controller
                self._write(ctrl / "address", fn.bdf + "\n")
                self._link(ctrl / "device", dev)
                self._link(self.sys / "class" / "nvme" / fn.nvme_controller, ctrl)
                ddir = ctrl / disk.name
            else:
                ddir = dev / "host0" / "target0:0:0" / "0:0:0:0" / "block" / disk.name
            self._write(ddir / "size", f"{disk.size_sectors}\n")
            self._write(ddir / "dev", "259:0\n")
            self._link(self.sys / "block" / disk.name, ddir)
            self._link(self.sys / "class" / "block" / disk.name, ddir)
            for part in disk.partitions:
                pdir = ddir / part
                self._write(pdir / "partition", "1\n")
                self._write(pdir / "size", f"{disk.size_sectors // 2}\n")
                self._link(self.sys / "class" / "block" / part, pdir)

    def remove_function(self, bdf: str) -> None:
        """Delete a function and every link to it (as device removal does)."""
        dev = self.device_dir(bdf)
        self.unbind(bdf)
        group = dev / "iommu_group"
        if group.is_symlink():
            gdir = Path(os.path.realpath(group))
            (gdir / "devices" / bdf).unlink(missing_ok=True)
            if not any((gdir / "devices").iterdir()):
                shutil.rmtree(gdir)
        self.remove_children(bdf)
        (self.bus / "devices" / bdf).unlink(missing_ok=True)
        self._dirs.pop(bdf, None)
        shutil.rmtree(dev)

    # -- attribute edits -----------------------------------------------------------
    def set_attr(self, bdf: str, name: str, value: str) -> None:
        """Replace an attribute file's content (a newline is added)."""
        self._write(self.device_dir(bdf) / name, value + "\n")

    def write_config(self, fn: PciFunction) -> None:
        """Regenerate a function's config space from its description."""
        (self.device_dir(fn.bdf) / "config").write_bytes(config_space(fn))

    def set_virtfn_links(self, pf: str, vfs: list[str]) -> None:
        """Make ``virtfnN`` links of `pf` point at `vfs` (removing stale ones)."""
        dev = self.device_dir(pf)
        for entry in dev.iterdir():
            if entry.name.startswith("virtfn") and entry.is_symlink():
                entry.unlink()
        for i, vf in enumerate(vfs):
            self._link(dev / f"virtfn{i}", self.device_dir(vf))


def _route_text(routes: Iterable[Route]) -> str:
    def hexip(ip: str) -> str:
        return "".join(f"{int(p):02X}" for p in reversed(ip.split(".")))

    head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    rows = []
    for r in routes:
        flags = 0x0003 if r.gateway != "0.0.0.0" else 0x0001
        rows.append(
            f"{r.iface}\t{hexip(r.destination)}\t{hexip(r.gateway)}\t{flags:04X}\t0\t0\t0\t"
            f"{hexip(r.mask)}\t0\t0\t0\n"
        )
    return head + "".join(rows)


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


def _parent_first(fns: Iterable[PciFunction]) -> list[PciFunction]:
    by_bdf = {f.bdf: f for f in fns}
    done: set[str] = set()
    order: list[PciFunction] = []

    def visit(fn: PciFunction) -> None:
        if fn.bdf in done:
            return
        done.add(fn.bdf)
        for dep in (fn.parent, fn.physfn):
            if dep is not None:
                if dep not in by_bdf:
                    raise ValueError(f"{fn.bdf}: {dep} is not in the tree")
                visit(by_bdf[dep])
        order.append(fn)

    for fn in by_bdf.values():
        visit(fn)
    return order


def build_tree(root: str | os.PathLike[str], spec: HostSpec) -> SysfsTree:
    """Write the whole host `spec` under `root` (which may already exist) and return the tree."""
    spec = complete_spec(spec)
    tree = SysfsTree(root)
    tree.init_skeleton(spec)
    for module in spec.modules:
        tree.add_module(module)
    for driver in spec.drivers:
        tree.add_driver(driver)
    for fn in _parent_first(spec.functions):
        tree.add_function(fn)
    vfs: dict[str, list[str]] = {}
    for fn in spec.functions:
        if fn.physfn is not None:
            vfs.setdefault(fn.physfn, []).append(fn.bdf)
    for pf, members in vfs.items():
        tree.set_virtfn_links(pf, sorted(members))
    return tree
