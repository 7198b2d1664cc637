"""The simulated kernel: the PCI driver core, SR-IOV, xen-pciback and module loading.

Every sysfs write pcipass makes is applied here with the semantics of Linux 6.1
(drivers/base/bus.c, drivers/pci/pci-driver.c, drivers/pci/iov.c,
drivers/xen/xen-pciback/pci_stub.c) and the errno the real kernel returns (measured in the
project's labs). The sysfs tree under the sim's root is the visible state (driver links,
``driver_override``, ``sriov_numvfs``); `SimState` holds what sysfs does not show (driver id
tables, dynamic ids, pciback's slot list, the module catalogue, function descriptions).

`WriteError` carries the errno; `SimHost` turns it into `WriteFailed`.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pcipass.sim.tree import (
    Disk,
    Driver,
    Module,
    NetIf,
    PciFunction,
    SriovCap,
    SysfsTree,
    default_reset_methods,
    vf_function,
)

ANY = -1  # PCI_ANY_ID in id tables
RELEASE = "6.1.0-sim-amd64"  # the simulated kernel's release (uname -r)
PAGE_SIZE = 4096
BDF_RE = re.compile(r"^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")

PciId = tuple[int, int, int, int, int, int]  # vendor, device, subvendor, subdevice, class, mask


class WriteError(Exception):
    """A write the kernel refuses; `errno` is what write(2)/open(2) returns."""

    def __init__(self, err: int, log: str = "") -> None:
        super().__init__(os.strerror(err))
        self.errno = err
        self.log = log


@dataclass(frozen=True)
class DriverDef:
    """A PCI driver the simulated kernel knows.

    `kind`: ``native`` (a hardware driver, its `ids` match), ``vfio`` (binds only through
    driver_override or new_id), ``pciback`` (matches everything, probe accepts only slot-listed
    devices or driver_override=pciback), ``stub`` (pci-stub: new_id/override only), ``port``.
    """

    name: str
    module: str | None  # None: built into the kernel
    ids: tuple[PciId, ...] = ()
    kind: str = "native"
    sriov_configure: bool = False
    makes_children: bool = False  # creates the function's netdevs / block devices when bound
    vf_probe_fails: bool = False  # probe of a VF "succeeds" and the device is dropped again
    sriov_needs_param: str | None = None  # sriov_configure says ENOENT unless this param is Y


@dataclass(frozen=True)
class ModuleDef:
    """A kernel module: the drivers it registers and its parameters."""

    name: str
    drivers: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()  # visible in sys/module/<m>/parameters
    hidden_params: tuple[str, ...] = ()  # accepted by modprobe, not shown in sysfs
    max_vfs_limit: int = 0  # >0: `max_vfs=N` makes the PF driver enable min(N, limit) VFs
    autoload: bool = True  # udev loads it for a matching device (modalias)
    builtin: bool = False
    xen_only: bool = False  # loads only in a Xen dom0 (xen-pciback)
    deps: tuple[str, ...] = ()


def pci_id(vendor: int, device: int, cls: int = 0, mask: int = 0) -> PciId:
    """An id-table entry matching vendor/device (ANY allowed) and optionally a class."""
    return (vendor, device, ANY, ANY, cls, mask)


def alias_line(pid: PciId, module: str) -> str:
    """The ``modules.alias`` line depmod writes for one id-table entry."""
    vendor, device, subv, subd, cls, mask = pid

    def field(value: int) -> str:
        return "*" if value == ANY else f"{value:08X}"

    def byte(shift: int) -> str:
        return f"{cls >> shift & 0xFF:02X}" if mask >> shift & 0xFF == 0xFF else "*"

    return (
        f"alias pci:v{field(vendor)}d{field(device)}sv{field(subv)}sd{field(subd)}"
        f"bc{byte(16)}sc{byte(8)}i{byte(0)}* {module}"
    )


def module_name(name: str) -> str:
    """modprobe treats dashes and underscores alike."""
    return name.replace("-", "_")


# -- JSON (de)serialisation of function descriptions ---------------------------------


def function_to_json(fn: PciFunction) -> dict[str, Any]:
    return asdict(fn)


def function_from_json(data: dict[str, Any]) -> PciFunction:
    d = dict(data)
    d["sriov"] = SriovCap(**d["sriov"]) if d.get("sriov") else None
    d["net"] = tuple(NetIf(**n) for n in d.get("net", ()))
    d["disks"] = tuple(
        Disk(x["name"], tuple(x["partitions"]), x["size_sectors"]) for x in d.get("disks", ())
    )
    d["bars"] = tuple(tuple(b) for b in d.get("bars", ()))
    if d.get("reset_methods") is not None:
        d["reset_methods"] = tuple(d["reset_methods"])
    return PciFunction(**d)


@dataclass
class SimState:
    """What the simulated kernel remembers besides the sysfs tree (JSON-serialisable)."""

    functions: dict[str, dict[str, Any]]
    modules: dict[str, dict[str, Any]]
    drivers: dict[str, dict[str, Any]]
    loaded: list[str]  # loadable modules in load order
    registered: list[str]  # drivers in registration (= probe) order
    params: dict[str, dict[str, str]] = field(default_factory=dict)  # of loaded modules
    dynids: dict[str, list[list[int]]] = field(default_factory=dict)
    pciback_slots: list[str] = field(default_factory=list)
    pciback_permissive: list[str] = field(default_factory=list)
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)  # via `remove`, for rescan
    iommu: bool = True
    xen: bool = False

    def fn(self, bdf: str) -> PciFunction:
        return function_from_json(self.functions[bdf])

    def put(self, fn: PciFunction) -> None:
        self.functions[fn.bdf] = function_to_json(fn)

    def driver(self, name: str) -> DriverDef:
        d = dict(self.drivers[name])
        d["ids"] = tuple(tuple(i) for i in d["ids"])
        return DriverDef(**d)

    def module(self, name: str) -> ModuleDef:
        d = dict(self.modules[name])
        d["params"] = tuple(tuple(p) for p in d["params"])
        for key in ("drivers", "hidden_params", "deps"):
            d[key] = tuple(d[key])
        return ModuleDef(**d)


def new_state(
    functions: list[PciFunction],
    modules: list[ModuleDef],
    drivers: list[DriverDef],
    *,
    iommu: bool,
    xen: bool,
) -> SimState:
    """A state for a freshly built tree (nothing loaded yet)."""
    return SimState(
        functions={f.bdf: function_to_json(f) for f in functions},
        modules={m.name: asdict(m) for m in modules},
        drivers={d.name: asdict(d) for d in drivers},
        loaded=[],
        registered=[],
        iommu=iommu,
        xen=xen,
    )


def _match_one(pid: PciId | list[int], fn: PciFunction) -> bool:
    vendor, device, subv, subd, cls, mask = pid
    return (
        vendor in (ANY, fn.vendor)
        and device in (ANY, fn.device)
        and subv in (ANY, fn.subsystem_vendor)
        and subd in (ANY, fn.subsystem_device)
        and not ((cls ^ fn.class_code) & mask)
    )


def _parse_hex_fields(text: str, limit: int) -> list[int]:
    """sscanf("%x %x ...") semantics: leading fields that parse, stop at the first that does not."""
    out: list[int] = []
    for tok in text.split()[:limit]:
        body = tok[2:] if tok.lower().startswith("0x") else tok
        m = re.match(r"[0-9a-fA-F]+", body)
        if not m:
            break
        out.append(int(m.group(0), 16))
        if m.group(0) != body:
            break
    return out


def _sysfs_str(data: str) -> str:
    """A BDF as the kernel compares it (sysfs_streq: one trailing newline ignored)."""
    return data[:-1] if data.endswith("\n") else data


def _ifname(bdf: str) -> str:
    """udev's predictable name for a PCI NIC: enp<bus>s<slot>[f<function>]."""
    bus, slot, fn = int(bdf[5:7], 16), int(bdf[8:10], 16), int(bdf[11])
    return f"enp{bus}s{slot}" + (f"f{fn}" if fn else "")


def _vf_mac(bdf: str) -> str:
    """A stable locally administered MAC for a VF (igbvf/ixgbevf pick random ones)."""
    bus, devfn = int(bdf[5:7], 16), int(bdf[8:10], 16) << 3 | int(bdf[11])
    return f"02:00:00:00:{bus:02x}:{devfn:02x}"


def kstrtoul(text: str) -> int | None:
    """The kernel's kstrtoul(s, 0): optional '+', 0x hex / 0 octal / decimal, nothing else."""
    m = re.fullmatch(r"\+?(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))", text)
    if not m:
        return None
    if m.group(1):
        return int(m.group(1), 16)
    return int(m.group(2), 8) if m.group(2) else int(m.group(3))


def _ulong(data: str) -> int:
    """A ``kstrtoul(buf, 0, &val)`` store (remove, rescan, reset): the value, else EINVAL."""
    value = kstrtoul(_sysfs_str(data))
    if value is None:
        raise WriteError(errno.EINVAL)
    return value


def _param_text(default: str | None, value: str) -> str:
    """How sysfs shows a module parameter: bools (default Y/N) as Y/N, others verbatim."""
    if default in ("Y", "N"):
        flag = kstrtobool(value)
        return value if flag is None else ("Y" if flag else "N")
    return value


def _parse_ids_param(text: str) -> list[list[int]]:
    """vfio-pci's ``ids=vendor:device[:subvendor[:subdevice[:class[:class_mask]]]],...``;
    entries that do not parse are skipped (the module logs "incorrect ids field")."""
    out = []
    for entry in text.split(","):
        fields = entry.split(":")
        try:
            nums = [int(f, 16) for f in fields]
        except ValueError:
            continue
        if 2 <= len(nums) <= 6:
            out.append((nums + [ANY, ANY, 0, 0][len(nums) - 2 :])[:6])
    return out


def kstrtobool(text: str) -> bool | None:
    """The kernel's kstrtobool: y/Y/1/on true, n/N/0/off false (by the first characters)."""
    low = text.lower()
    if low[:1] in ("y", "1", "t"):
        return True
    if low[:1] in ("n", "0", "f"):
        return False
    if low.startswith("on"):
        return True
    if low.startswith("of"):
        return False
    return None


def parse_slot(text: str) -> tuple[int, int, int, int] | None:
    """pciback's str_to_slot: ``[DDDD:]BB:DD.F``, ``DD.*`` or ``*.*`` wildcards (-1)."""
    hexnum = r"[0-9a-fA-F]+"
    m = re.fullmatch(
        rf"(?:({hexnum}):)?({hexnum}):(?:({hexnum})\.({hexnum}|\*)|(\*)\.\*)", text.strip()
    )
    if not m:
        return None
    dom = int(m.group(1), 16) if m.group(1) else 0
    bus = int(m.group(2), 16)
    if m.group(5):
        return dom, bus, -1, -1
    func = -1 if m.group(4) == "*" else int(m.group(4), 16)
    return dom, bus, int(m.group(3), 16), func


def parse_hide(text: str) -> list[tuple[int, int, int, int]] | None:
    """xen-pciback's ``hide=(slot)(slot)...`` parameter, or None if it does not parse."""
    groups = re.findall(r"\s*\(([^()]*)\)\s*", text)
    if "".join(f"({g})" for g in groups) != re.sub(r"\s+", "", text):
        return None
    slots = [parse_slot(g) for g in groups]
    return None if any(s is None for s in slots) else [s for s in slots if s is not None]


class SimKernel:
    """Applies writes and module operations to a sysfs tree plus `SimState`."""

    def __init__(self, root: Path, state: SimState) -> None:
        self.tree = SysfsTree(root)
        self.root = root
        self.state = state
        self.log: list[str] = []  # kernel messages (dmesg), newest last

    # -- queries --------------------------------------------------------------
    def exists(self, bdf: str) -> bool:
        return bdf in self.state.functions and os.path.lexists(self.tree.bus / "devices" / bdf)

    def driver_of(self, bdf: str) -> str | None:
        link = self.tree.bus / "devices" / bdf / "driver"
        return os.path.basename(os.readlink(link)) if link.is_symlink() else None

    def override_of(self, bdf: str) -> str | None:
        text = (self.tree.bus / "devices" / bdf / "driver_override").read_text()
        value = text[:-1] if text.endswith("\n") else text
        return None if value == "(null)" else value

    def numvfs(self, bdf: str) -> int:
        return int((self.tree.bus / "devices" / bdf / "sriov_numvfs").read_text())

    def autoprobe(self, bdf: str) -> bool:
        path = self.tree.bus / "devices" / bdf / "sriov_drivers_autoprobe"
        return path.read_text().strip() != "0"

    def vfs_of(self, pf: str) -> list[str]:
        return sorted(b for b, f in self.state.functions.items() if f.get("physfn") == pf)

    # -- matching and probing -----------------------------------------------------
    def _matches(self, drv: DriverDef, fn: PciFunction, override: str | None) -> bool:
        """pci_match_device: override first, then dynamic ids, then the static table."""
        if override is not None and override != drv.name:
            return False
        if any(_match_one(pid, fn) for pid in self.state.dynids.get(drv.name, [])):
            return True
        if drv.kind in ("native", "port") and any(_match_one(pid, fn) for pid in drv.ids):
            return True
        if drv.kind == "pciback":
            return True  # pcistub_ids is PCI_ANY_ID; the probe decides
        return override is not None

    def _probe(self, drv: DriverDef, fn: PciFunction, override: str | None) -> int:
        """pci_device_probe + the driver's probe: 0 or a positive errno."""
        if fn.physfn is not None and not self.autoprobe(fn.physfn) and override is None:
            return errno.ENODEV  # pci_device_can_probe
        if drv.kind == "pciback" and not (self._slot_listed(fn.bdf) or override == "pciback"):
            return errno.ENODEV
        return 0

    def _attach(self, drv: DriverDef, fn: PciFunction) -> None:
        self.tree.bind(fn.bdf, drv.name)
        self.tree.set_attr(fn.bdf, "enable", "1")
        if drv.vf_probe_fails and fn.physfn is not None:
            self.log.append(f"{drv.name} {fn.bdf}: Removing after probe failure status: -19")
            self.tree.unbind(fn.bdf)
            self.tree.set_attr(fn.bdf, "enable", "0")
            return
        if drv.makes_children:
            self.tree.add_children(fn)
        mod = self._module_of_driver(drv.name)
        if mod is not None and fn.sriov is not None and mod.max_vfs_limit:
            want = int(self._param(mod.name, "max_vfs") or "0")
            if want > 0:
                self._enable_vfs(fn.bdf, min(want, mod.max_vfs_limit, fn.sriov.total_vfs))

    def _detach(self, bdf: str) -> None:
        """device_release_driver: the driver's remove() runs, then the link goes."""
        drv = self.driver_of(bdf)
        if drv is None:
            return
        if bdf in self.state.functions and self.state.fn(bdf).sriov and self.numvfs(bdf):
            self._disable_vfs(bdf)
        self.tree.remove_children(bdf)
        self.tree.unbind(bdf)
        self.tree.set_attr(bdf, "enable", "0")
        if bdf in self.state.pciback_permissive:
            self.state.pciback_permissive.remove(bdf)

    def device_attach(self, bdf: str) -> None:
        """__device_attach: try registered drivers in order; the first probe that succeeds wins."""
        if self.driver_of(bdf) is not None:
            return
        fn = self.state.fn(bdf)
        override = self.override_of(bdf)
        for name in self.state.registered:
            drv = self.state.driver(name)
            if self._matches(drv, fn, override) and self._probe(drv, fn, override) == 0:
                self._attach(drv, fn)
                return

    def driver_attach(self, name: str) -> None:
        """driver_attach: a new driver (or new id) probes every unbound device."""
        drv = self.state.driver(name)
        for bdf in sorted(self.state.functions):
            if not self.exists(bdf) or self.driver_of(bdf) is not None:
                continue
            fn = self.state.fn(bdf)
            override = self.override_of(bdf)
            if self._matches(drv, fn, override) and self._probe(drv, fn, override) == 0:
                self._attach(drv, fn)

    def _udev_add(self, bdf: str) -> None:
        """A device appeared: the bus probes it; udev loads a module its modalias names."""
        fn = self.state.fn(bdf)
        if fn.physfn is not None and not self.autoprobe(fn.physfn):
            self._autoload_for(fn)  # udev still loads the module; nothing binds
            return
        self.device_attach(bdf)
        if self.driver_of(bdf) is None:
            self._autoload_for(fn)

    def _autoload_for(self, fn: PciFunction) -> None:
        for name in self.state.modules:
            mod = self.state.module(name)
            if not mod.autoload or name in self.state.loaded or mod.builtin:
                continue
            if mod.xen_only and not self.state.xen:
                continue
            for dname in mod.drivers:
                drv = self.state.driver(dname)
                if drv.kind == "native" and any(_match_one(pid, fn) for pid in drv.ids):
                    self.load_module(name, {})
                    return

    # -- SR-IOV -------------------------------------------------------------------
    def _next_group(self) -> int:
        groups = self.tree.sys / "kernel" / "iommu_groups"
        used = {int(g) for g in os.listdir(groups)} if groups.exists() else set()
        n = 0
        while n in used:
            n += 1
        return n

    def _enable_vfs(self, pf_bdf: str, count: int) -> None:
        pf = self.state.fn(pf_bdf)
        assert pf.sriov is not None
        pf = replace(pf, sriov=replace(pf.sriov, num_vfs=count))
        self.state.put(pf)
        self.tree.write_config(pf)
        self.tree.set_attr(pf_bdf, "sriov_numvfs", str(count))
        created = []
        for i in range(count):
            vf = vf_function(pf, i, self._next_group() if self.state.iommu else None)
            if pf.class_code >> 16 == 0x02:  # a NIC's VF gets a netdev from its VF driver
                vf = replace(vf, net=(NetIf(_ifname(vf.bdf), _vf_mac(vf.bdf), "down"),))
            self.state.put(vf)
            self.tree.add_function(vf)
            created.append(vf.bdf)
        self.tree.set_virtfn_links(pf_bdf, created)
        for bdf in created:
            self._udev_add(bdf)

    def _disable_vfs(self, pf_bdf: str) -> None:
        for bdf in reversed(self.vfs_of(pf_bdf)):
            self._remove_device(bdf)
        pf = self.state.fn(pf_bdf)
        assert pf.sriov is not None
        pf = replace(pf, sriov=replace(pf.sriov, num_vfs=0))
        self.state.put(pf)
        self.tree.write_config(pf)
        self.tree.set_attr(pf_bdf, "sriov_numvfs", "0")
        self.tree.set_virtfn_links(pf_bdf, [])

    def _remove_device(self, bdf: str) -> None:
        self._detach(bdf)
        self.tree.remove_function(bdf)
        del self.state.functions[bdf]

    def _sriov_numvfs(self, bdf: str, data: str) -> None:
        num = kstrtoul(_sysfs_str(data))
        if num is None or num > 0xFFFF:
            raise WriteError(errno.EINVAL)
        fn = self.state.fn(bdf)
        assert fn.sriov is not None
        if num > fn.sriov.total_vfs:
            raise WriteError(errno.ERANGE)
        current = self.numvfs(bdf)
        if num == current:
            return
        drv = self.driver_of(bdf)
        if drv is None:
            raise WriteError(errno.ENOENT, "no driver bound to device; cannot configure SR-IOV")
        pf_driver = self.state.driver(drv)
        if not pf_driver.sriov_configure:
            raise WriteError(errno.ENOENT, "driver does not support SR-IOV configuration via sysfs")
        gate = pf_driver.sriov_needs_param
        enabled = gate is None or self._param(pf_driver.module or "", gate) in ("Y", "y", "1")
        if num and not enabled:
            raise WriteError(errno.ENOENT)
        if num == 0:
            self._disable_vfs(bdf)
            return
        if current:
            raise WriteError(
                errno.EBUSY, f"{current} VFs already enabled. Disable before enabling {num} VFs"
            )
        self._enable_vfs(bdf, num)

    # -- writes -------------------------------------------------------------------
    def write(self, rel: str, data: str) -> None:
        """Apply one sysfs write at host path `rel` (relative to the root)."""
        path = self.root / rel.lstrip("/")
        if not os.path.exists(path):
            raise WriteError(errno.ENOENT)
        real = Path(os.path.realpath(path))
        if real.is_dir():
            raise WriteError(errno.EISDIR)
        try:
            parts = real.relative_to(os.path.realpath(self.root)).parts
        except ValueError as exc:
            raise WriteError(errno.EACCES) from exc
        if len(parts) > 1 and parts[:3] == ("sys", "bus", "pci"):
            self._bus_write(parts[3:], data)
        elif parts[:2] == ("sys", "devices") and BDF_RE.match(parts[-2]):
            self._device_write(parts[-2], parts[-1], data)
        else:
            raise WriteError(errno.EACCES)

    def _bus_write(self, parts: tuple[str, ...], data: str) -> None:
        if parts == ("drivers_probe",):
            bdf = _sysfs_str(data)
            if not self.exists(bdf):
                raise WriteError(errno.ENODEV)
            self.device_attach(bdf)
            return
        if parts == ("rescan",):
            if _ulong(data):
                self._rescan()
            return
        if len(parts) == 3 and parts[0] == "drivers":
            self._driver_write(parts[1], parts[2], data)
            return
        raise WriteError(errno.EACCES)

    def _driver_write(self, name: str, attr: str, data: str) -> None:
        drv = self.state.driver(name)
        if attr == "bind":
            bdf = _sysfs_str(data)
            if not self.exists(bdf):
                raise WriteError(errno.ENODEV)
            fn = self.state.fn(bdf)
            override = self.override_of(bdf)
            if not self._matches(drv, fn, override):
                raise WriteError(errno.ENODEV)
            if self.driver_of(bdf) is not None:
                raise WriteError(errno.EBUSY)
            err = self._probe(drv, fn, override)
            if err:
                raise WriteError(err)
            self._attach(drv, fn)
        elif attr == "unbind":
            bdf = _sysfs_str(data)
            if not self.exists(bdf) or self.driver_of(bdf) != name:
                raise WriteError(errno.ENODEV)
            self._detach(bdf)
        elif attr == "new_id":
            self._new_id(drv, data)
        elif attr == "remove_id":
            self._remove_id(drv, data)
        elif drv.kind == "pciback" and attr in ("new_slot", "remove_slot", "permissive"):
            self._pciback_write(attr, data)
        else:
            raise WriteError(errno.EACCES)

    def _new_id(self, drv: DriverDef, data: str) -> None:
        fields = _parse_hex_fields(data, 7)
        if len(fields) < 2:
            raise WriteError(errno.EINVAL)
        full = fields + [ANY, ANY, 0, 0, 0][len(fields) - 2 :]
        pid = full[:6]
        if len(fields) != 7:
            probe = PciFunction("0000:00:00.0", pid[0], pid[1], pid[4], pid[2], pid[3])
            if self._matches(drv, probe, None):
                raise WriteError(errno.EEXIST)
        self.state.dynids.setdefault(drv.name, []).append(pid)
        self.driver_attach(drv.name)

    def _remove_id(self, drv: DriverDef, data: str) -> None:
        fields = _parse_hex_fields(data, 6)
        if len(fields) < 2:
            raise WriteError(errno.EINVAL)
        pid = (fields + [ANY, ANY, 0, 0][len(fields) - 2 :])[:6]
        ids = self.state.dynids.get(drv.name, [])
        if pid not in ids:
            raise WriteError(errno.ENODEV)
        ids.remove(pid)

    def _device_write(self, bdf: str, attr: str, data: str) -> None:
        if attr == "driver_override":
            if len(data) >= PAGE_SIZE - 1:
                raise WriteError(errno.EINVAL)
            override = data.split("\0", 1)[0].split("\n", 1)[0]
            self.tree.set_attr(bdf, "driver_override", override or "(null)")
        elif attr == "sriov_numvfs":
            self._sriov_numvfs(bdf, data)
        elif attr == "sriov_drivers_autoprobe":
            flag = kstrtobool(data)
            if flag is None:
                raise WriteError(errno.EINVAL)
            self.tree.set_attr(bdf, "sriov_drivers_autoprobe", "1" if flag else "0")
        elif attr == "reset":
            if _ulong(data) != 1:
                raise WriteError(errno.EINVAL)
            if not self._reset_methods(bdf):
                raise WriteError(errno.ENOTTY)
        elif attr == "reset_method":
            self._set_reset_methods(bdf, data)
        elif attr == "remove":
            if not _ulong(data):
                return
            fn = self.state.fn(bdf)
            self.state.removed[bdf] = function_to_json(fn)
            if fn.sriov is not None and self.numvfs(bdf):
                self._disable_vfs(bdf)
            self._remove_device(bdf)
        elif attr == "rescan":
            if _ulong(data):
                self._rescan()
        else:
            raise WriteError(errno.EACCES)

    def _reset_methods(self, bdf: str) -> list[str]:
        text = (self.tree.bus / "devices" / bdf / "reset_method").read_text()
        return text.split()

    def _set_reset_methods(self, bdf: str, data: str) -> None:
        """reset_method_store: "" disables all, "default" re-probes, else supported names."""
        fn = self.state.fn(bdf)
        supported = fn.reset_methods if fn.reset_methods is not None else default_reset_methods(fn)
        text = _sysfs_str(data).strip()
        if text == "default":
            chosen = list(supported)
        else:
            chosen = text.split()
            if any(name not in supported for name in chosen):
                raise WriteError(errno.EINVAL, "Invalid or unsupported reset method")
        path = self.tree.bus / "devices" / bdf / "reset_method"
        path.write_text(" ".join(chosen) + "\n" if chosen else "")

    def _rescan(self) -> None:
        for bdf, data in sorted(self.state.removed.items()):
            fn = replace(function_from_json(data), driver=None)
            if fn.sriov is not None:
                fn = replace(fn, sriov=replace(fn.sriov, num_vfs=0))
            self.state.put(fn)
            self.tree.add_function(fn)
            self._udev_add(bdf)
        self.state.removed.clear()

    # -- xen-pciback ------------------------------------------------------------------
    def _slot_listed(self, bdf: str) -> bool:
        return bdf in self.state.pciback_slots

    def _pciback_write(self, attr: str, data: str) -> None:
        slot = parse_slot(data)
        if slot is None:
            raise WriteError(errno.EINVAL)
        dom, bus, dev, func = slot
        if attr == "permissive":
            bdf = f"{dom:04x}:{bus:02x}:{dev:02x}.{func}"
            seized = min(slot) >= 0 and self.exists(bdf) and self.driver_of(bdf) == "pciback"
            if not seized:
                raise WriteError(errno.ENODEV)
            if bdf not in self.state.pciback_permissive:
                self.state.pciback_permissive.append(bdf)
                self.log.append(f"pciback {bdf}: enabling permissive mode configuration space")
            self._write_pciback_files()
        elif attr == "new_slot":
            self.add_slots(slot)
        else:
            kept = [
                s
                for s in self.state.pciback_slots
                if not (
                    int(s[:4], 16) == dom
                    and int(s[5:7], 16) == bus
                    and dev in (-1, int(s[8:10], 16))
                    and func in (-1, int(s[11]))
                )
            ]
            if len(kept) == len(self.state.pciback_slots):
                raise WriteError(errno.ENOENT)
            self.state.pciback_slots = kept
            self._write_pciback_files()

    def add_slots(self, slot: tuple[int, int, int, int]) -> None:
        """pcistub_device_id_add: wildcards expand to every slot/function; EINVAL out of range."""
        dom, bus, dev, func = slot
        devs = range(32) if dev < 0 else [dev]
        funcs = range(8) if func < 0 else [func]
        if not (0 <= dom <= 0xFFFF and 0 <= bus <= 0xFF and max(devs) < 32 and max(funcs) < 8):
            raise WriteError(errno.EINVAL)
        self.state.pciback_slots.extend(
            f"{dom:04x}:{bus:02x}:{d:02x}.{f}" for d in devs for f in funcs
        )
        self._write_pciback_files()

    def _write_pciback_files(self) -> None:
        ddir = self.tree.bus / "drivers" / "pciback"
        if not ddir.exists():
            return
        (ddir / "slots").write_text("".join(s + "\n" for s in self.state.pciback_slots))
        (ddir / "permissive").write_text("".join(s + "\n" for s in self.state.pciback_permissive))

    # -- modules ------------------------------------------------------------------------
    def _module_of_driver(self, name: str) -> ModuleDef | None:
        module = self.state.drivers[name]["module"]
        return self.state.module(module) if module in self.state.modules else None

    def _param(self, module: str, key: str) -> str | None:
        return self.state.params.get(module, {}).get(key)

    def register_driver(self, name: str) -> None:
        """driver_register: the driver appears in sysfs and probes unbound devices."""
        drv = self.state.driver(name)
        self.tree.add_driver(Driver(drv.name, drv.module))
        if drv.kind == "pciback":
            ddir = self.tree.bus / "drivers" / drv.name
            for extra in ("new_slot", "remove_slot", "quirks", "irq_handlers",
                          "irq_handler_state", "allow_interrupt_control"):  # fmt: skip
                (ddir / extra).write_text("")
            self._write_pciback_files()
        if name not in self.state.registered:
            self.state.registered.append(name)
        self.driver_attach(name)

    def unregister_driver(self, name: str) -> None:
        for bdf in sorted(self.state.functions):
            if self.exists(bdf) and self.driver_of(bdf) == name:
                self._detach(bdf)
        self.tree.remove_driver(name)
        if name in self.state.registered:
            self.state.registered.remove(name)
        self.state.dynids.pop(name, None)

    def load_module(self, name: str, params: dict[str, str]) -> tuple[int, str]:
        """modprobe NAME k=v...: (exit code, stderr). A loaded module ignores new params."""
        name = module_name(name)
        if name not in self.state.modules:
            return (
                1,
                f"modprobe: FATAL: Module {name} not found in directory /lib/modules/{RELEASE}\n",
            )
        mod = self.state.module(name)
        if mod.builtin or name in self.state.loaded:
            return 0, ""
        if mod.xen_only and not self.state.xen:
            return 1, f"modprobe: ERROR: could not insert '{name}': No such device\n"
        known = {k for k, _ in mod.params} | set(mod.hidden_params)
        unknown = [k for k in params if k not in known]
        if unknown:
            return 1, (
                f"modprobe: ERROR: could not insert '{name}': Unknown symbol in module, "
                "or unknown parameter (see dmesg)\n"
            )
        hide = parse_hide(params.get("hide", "")) if name == "xen_pciback" else []
        if hide is None:
            return 1, f"modprobe: ERROR: could not insert '{name}': Invalid argument\n"
        for dep in mod.deps:
            self.load_module(dep, {})
        for slot in hide:
            self.add_slots(slot)
        defaults = dict(mod.params)
        values = defaults | {k: _param_text(defaults.get(k), v) for k, v in params.items()}
        self.state.params[name] = values
        self.state.loaded.append(name)
        visible = tuple((k, v) for k, v in values.items() if k not in mod.hidden_params)
        self.tree.add_module(Module(name, visible))
        for drv in mod.drivers:
            self.register_driver(drv)
        if values.get("ids") and mod.drivers:  # vfio-pci / pci-stub `ids=`: dynamic ids
            for pid in _parse_ids_param(values["ids"]):
                self.state.dynids.setdefault(mod.drivers[0], []).append(pid)
            self.driver_attach(mod.drivers[0])
        return 0, ""

    def unload_module(self, name: str) -> tuple[int, str]:
        """modprobe -r NAME."""
        name = module_name(name)
        if name not in self.state.modules:
            return 1, f"modprobe: FATAL: Module {name} not found.\n"
        mod = self.state.module(name)
        if mod.builtin:
            return 1, f"modprobe: FATAL: Module {name} is builtin.\n"
        if name not in self.state.loaded:
            return 1, f"modprobe: FATAL: Module {name} is not in kernel.\n"
        users = [m for m in self.state.loaded if name in self.state.module(m).deps]
        if users:
            return 1, f"modprobe: FATAL: Module {name} is in use.\n"
        for drv in mod.drivers:
            self.unregister_driver(drv)
        self.state.loaded.remove(name)
        self.state.params.pop(name, None)
        self.tree.remove_module(name)
        for dep in mod.deps:  # modprobe -r also removes dependencies nothing else uses
            if dep in self.state.loaded and not any(
                dep in self.state.module(m).deps for m in self.state.loaded
            ):
                self.unload_module(dep)
        return 0, ""

    def boot(self, modules: list[str]) -> None:
        """Register built-in drivers, then load `modules` in order (as the initramfs/udev do)."""
        for name in self.state.modules:
            mod = self.state.module(name)
            if mod.builtin:
                if mod.params:
                    self.tree.add_module(Module(name, mod.params, builtin=True))
                for drv in mod.drivers:
                    self.register_driver(drv)
        for name in modules:
            self.load_module(name, {})
