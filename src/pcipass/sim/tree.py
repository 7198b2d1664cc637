"""Write a kernel-like sysfs (and the procfs bits pcipass reads) under a root directory.

Used by tests, the benchmark, profiles and the simulated host. Describe the host with the
frozen dataclasses of `pcipass.sim.layout` and call `build_tree(root, spec)`; the result is
what Linux shows:

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

`build_tree` completes the spec (`pcipass.sim.layout.complete_spec`) and writes it; paths
come from `pcipass.host.paths`, config spaces from `pcipass.sim.config_bytes`.
`SysfsTree` offers the incremental edits the simulated host makes (`add_function`,
`remove_function`, `bind`, `unbind`, `add_children`/`remove_children` (netdevs, disks),
`add_driver`, `remove_driver`, `add_module`, `remove_module`, `set_attr`, `write_config`,
`set_virtfn_links`). Attribute files are plain files (mode 0644); writing them does nothing
by itself: the simulated host (`pcipass.sim.host`) gives writes their kernel meaning.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from pcipass.host import paths
from pcipass.sim.config_bytes import encode_config_space
from pcipass.sim.layout import (
    Driver,
    HostSpec,
    Module,
    NetIf,
    PciFunction,
    Route,
    SriovSpec,
    complete_spec,
    default_reset_methods,
    modalias,
)


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


class SysfsTree:
    """A sysfs tree under `root` and the edits the kernel makes to it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.bus = self.root / paths.PCI_BUS
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
            known = self._dirs[bdf] = Path(os.path.realpath(self.root / paths.dev(bdf)))
        return known

    def _parent_dir(self, fn: PciFunction) -> Path:
        if fn.parent is None:
            path = self.root / paths.DEVICES / f"pci{fn.domain:04x}:{fn.bus:02x}"
            path.mkdir(parents=True, exist_ok=True)
            return path
        return self.device_dir(fn.parent)

    def init_skeleton(self, spec: HostSpec) -> None:
        """The bus, class and procfs files that exist independent of devices."""
        dirs = (paths.PCI_DEVICES, paths.PCI_DRIVERS, f"{paths.PCI_BUS}/slots", paths.CLASS_NET,
                paths.CLASS_BLOCK, paths.CLASS_NVME, paths.BLOCK, paths.MODULES, paths.IOMMU_GROUPS)
        for rel in dirs:
            (self.root / rel).mkdir(parents=True, exist_ok=True)
        for rel in (paths.DRIVERS_PROBE, paths.RESCAN):
            self._write(self.root / rel, "")
        self._write(self.bus / "drivers_autoprobe", "1\n")
        if spec.iommu:
            (self.root / paths.CLASS_IOMMU / "dmar0").mkdir(parents=True, exist_ok=True)
        if spec.hypervisor:
            self._write(self.root / paths.HYPERVISOR_TYPE, spec.hypervisor + "\n")
        if spec.hypervisor == "xen":  # a dom0: xenfs shows the control domain
            self._write(self.root / paths.XEN_CAPABILITIES, "control_d\n")
        self._write(self.root / paths.CMDLINE, spec.cmdline + "\n")
        self._write(
            self.root / paths.MOUNTS,
            "".join(f"{m.source} {m.target} {m.fstype} {m.options} 0 0\n" for m in spec.mounts),
        )
        swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        swaps += "".join(f"{s}\tpartition\t1048572\t\t0\t\t-2\n" for s in spec.swaps)
        self._write(self.root / paths.SWAPS, swaps)
        self._write(self.root / paths.ROUTE, _route_text(spec.routes))
        for rel, text in spec.extra_files:
            self._write(self.root / rel, text)

    # -- modules and drivers ---------------------------------------------------
    def add_module(self, module: Module) -> None:
        mdir = self.root / paths.MODULES / module.name
        (mdir / "drivers").mkdir(parents=True, exist_ok=True)
        for key, value in module.params:
            self._write(mdir / "parameters" / key, value + "\n")
        if not module.builtin:
            self._write(mdir / "initstate", "live\n")
            self._write(mdir / "refcnt", "0\n")
        self._write_proc_modules()

    def remove_module(self, name: str) -> None:
        shutil.rmtree(self.root / paths.MODULES / name, ignore_errors=True)
        self._write_proc_modules()

    def loaded_modules(self) -> list[str]:
        """Loadable modules currently present (those with ``initstate``)."""
        mods = self.root / paths.MODULES
        return sorted(m.name for m in mods.iterdir() if (m / "initstate").exists())

    def _write_proc_modules(self) -> None:
        lines = [f"{m} 16384 0 - Live 0x0000000000000000\n" for m in self.loaded_modules()]
        self._write(self.root / paths.PROC_MODULES, "".join(lines))

    def add_driver(self, driver: Driver) -> None:
        ddir = self.root / paths.drv(driver.name)
        ddir.mkdir(parents=True, exist_ok=True)
        for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
            self._write(ddir / name, "")
        if driver.module is not None:
            mdir = self.root / paths.MODULES / driver.module
            self._link(ddir / "module", mdir)
            self._link(mdir / "drivers" / f"pci:{driver.name}", ddir)

    def remove_driver(self, name: str) -> None:
        ddir = self.root / paths.drv(name)
        mlink = ddir / "module"
        module = os.path.basename(os.readlink(mlink)) if mlink.is_symlink() else None
        for entry in list(ddir.iterdir()) if ddir.exists() else []:
            if entry.is_symlink() and entry.name != "module":
                self.unbind(entry.name)
        shutil.rmtree(ddir, ignore_errors=True)
        if module:
            link = self.root / paths.MODULES / module / "drivers" / f"pci:{name}"
            if link.is_symlink():
                link.unlink()

    def bind(self, bdf: str, driver: str) -> None:
        dev = self.device_dir(bdf)
        ddir = self.root / paths.drv(driver)
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
        self._put(dev / "config", encode_config_space(fn))
        self._put(dev / "uevent", _uevent(fn).encode())
        self._link(dev / "subsystem", self.bus)
        self._link(self.root / paths.dev(fn.bdf), dev)
        if fn.is_bridge:
            self._write(dev / "secondary_bus_number", f"{fn.secondary_bus or 0}\n")
            self._write(dev / "subordinate_bus_number", f"{fn.subordinate_bus or 0}\n")
        if fn.sriov is not None:
            self._write_sriov(dev, fn.sriov)
        if fn.physfn is not None:
            self._link(dev / "physfn", self.device_dir(fn.physfn))
        if fn.iommu_group is not None:
            gdir = self.root / paths.IOMMU_GROUPS / str(fn.iommu_group)
            self._write(gdir / "type", "identity\n")
            self._write(gdir / "reserved_regions", "")
            self._link(gdir / "devices" / fn.bdf, dev)
            self._link(dev / "iommu_group", gdir)
        if fn.driver is not None:
            self.bind(fn.bdf, fn.driver)
        self.add_children(fn)

    def _write_sriov(self, dev: Path, s: SriovSpec) -> None:
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
        for cls in (self.root / c for c in (paths.CLASS_NET, paths.CLASS_BLOCK, paths.CLASS_NVME,
                                            paths.BLOCK)):
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
            self._link(self.root / paths.net(nif.name), ndir)

    def _add_disks(self, dev: Path, fn: PciFunction) -> None:
        for disk in fn.disks:
            if fn.nvme_controller:
                ctrl = dev / "nvme" / fn.nvme_controller
                self._write(ctrl / "address", fn.bdf + "\n")
                self._link(ctrl / "device", dev)
                self._link(self.root / paths.CLASS_NVME / fn.nvme_controller, ctrl)
                ddir = ctrl / disk.name
            else:
                ddir = dev / "host0" / "target0:0:0" / "0:0:0:0" / "block" / disk.name
            self._write(ddir / "size", f"{disk.size_sectors}\n")
            self._write(ddir / "dev", "259:0\n")
            self._link(self.root / paths.BLOCK / disk.name, ddir)
            self._link(self.root / paths.block(disk.name), ddir)
            for part in disk.partitions:
                pdir = ddir / part
                self._write(pdir / "partition", "1\n")
                self._write(pdir / "size", f"{disk.size_sectors // 2}\n")
                self._link(self.root / paths.block(part), pdir)

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
        (self.root / paths.dev(bdf)).unlink(missing_ok=True)
        self._dirs.pop(bdf, None)
        shutil.rmtree(dev)

    # -- attribute edits -----------------------------------------------------------
    def set_attr(self, bdf: str, name: str, value: str) -> None:
        """Replace an attribute file's content (a newline is added)."""
        self._write(self.device_dir(bdf) / name, value + "\n")

    def write_config(self, fn: PciFunction) -> None:
        """Regenerate a function's config space from its description."""
        (self.device_dir(fn.bdf) / "config").write_bytes(encode_config_space(fn))

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
