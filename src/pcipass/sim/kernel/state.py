"""What the simulated kernel remembers besides sysfs, and the descriptions it is built from.

`DriverDef`/`ModuleDef` describe the drivers and modules a profile offers; `SimState` is the
JSON-serialisable memory of a running kernel (driver id tables, dynamic ids, pciback's slot list,
the module catalogue, function descriptions); `WriteError` is a write the kernel refuses.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from pcipass.sim.layout import Disk, NetIf, PciFunction, SriovSpec

ANY = -1  # PCI_ANY_ID in id tables
RELEASE = "6.1.0-sim-amd64"  # the simulated kernel's release (uname -r)

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
    max_vfs_limit: int = 0  # >0: probe enables `max_vfs=N` VFs, N up to this (sriov.MAX_VFS)
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
    d["sriov"] = SriovSpec(**d["sriov"]) if d.get("sriov") else None
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
