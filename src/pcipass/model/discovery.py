"""Build the host model from what a `pcipass.host.base.Host` reads (reads only).

Devices come and go (hot-unplug, VFs destroyed by a driver): a function whose
directory vanished mid-read is left out, and an attribute that cannot be read
becomes `None` and is named in `Device.unknown`. ``detail=False`` reads only
what a listing shows (IDs, class, revision, driver, IOMMU group, PF/VF links),
which keeps ``pcipass list`` on thousands of functions cheap.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable
from dataclasses import replace

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host import paths
from pcipass.host.base import Host
from pcipass.model import config_space, pciids, usage
from pcipass.model.device import (
    Device,
    HostModel,
    Names,
    Reset,
    SriovPF,
    status_of,
)


def require_host_tree(host: Host) -> None:
    """Raise `InputError` unless the root holds a PCI sysfs tree."""
    if not host.is_dir(paths.PCI_DEVICES):
        raise InputError(
            f"{host.root} is not a host tree: it has no /{paths.PCI_DEVICES}",
            "point --root at / or at a snapshot directory (pcipass snapshot), or use --sim DIR",
        )


_PAGE = 4096  # a sysfs attribute is at most one page


def _attr(host: Host, rel: str) -> str | None:
    """A sysfs attribute as stripped text, or None (cheaper than reading it as a text file)."""
    data = host.try_read_bytes(rel, _PAGE)
    return None if data is None else data.decode("utf-8", "replace").strip()


def _hex(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _bdf_of_link(target: str | None) -> PciAddress | None:
    return PciAddress.try_parse(target.rstrip("/").rsplit("/", 1)[-1]) if target else None


def _parent_of(link: str | None) -> PciAddress | None:
    """The upstream bridge, from the bus link ``../../../devices/pci0000:00/<bridge>/<bdf>``."""
    if not link:
        return None
    parts = link.rstrip("/").split("/")
    return PciAddress.try_parse(parts[-2]) if len(parts) >= 2 else None


class ModuleIndex:
    """``modules.alias`` PCI patterns of the running kernel, matched per modalias (cached).

    Only parsed when loaded (a kernel has ~9,000 PCI aliases; compiling each took 4 s, a
    minute under the labs' TCG): bucketed by their fixed vendor and device, a modalias is
    matched against its few candidates: its vendor's in file order, then those that fix
    no vendor."""

    def __init__(self, text: str | None) -> None:
        self.available = text is not None
        self._buckets: dict[str, list[tuple[int, str, str]]] = {}
        self._cache: dict[str, tuple[str, ...]] = {}
        for index, line in enumerate((text or "").splitlines()):
            parts = line.split()
            if len(parts) != 3 or parts[0] != "alias" or not parts[1].startswith("pci:"):
                continue
            self._buckets.setdefault(_bucket(parts[1]), []).append((index, parts[1], parts[2]))

    @classmethod
    def load(cls, host: Host) -> ModuleIndex:
        release = host.try_read_text(paths.OSRELEASE)
        text = host.try_read_text(paths.modules_alias(release)) if release else None
        return cls(text)

    def match(self, modalias: str | None) -> tuple[str, ...] | None:
        """Modules whose aliases match (None when unknown: no modalias or no alias file)."""
        if modalias is None or not self.available:
            return None
        if modalias not in self._cache:
            vendor, device = modalias[4:13], modalias[13:22]
            candidates = sorted(self._buckets.get(vendor + device, [])
                                + self._buckets.get(vendor, [])) + self._buckets.get("*", [])
            found = [mod for _, pat, mod in candidates if fnmatch.fnmatchcase(modalias, pat)]
            self._cache[modalias] = tuple(dict.fromkeys(found))
        return self._cache[modalias]


def _bucket(pattern: str) -> str:
    """An alias's bucket: its vendor and device fields (`v0000VVVVd0000DDDD`) when both
    are fixed, its vendor when only that is, `*` when neither is."""
    vendor, device = pattern[4:13], pattern[13:22]
    if "*" in vendor or len(vendor) != 9:
        return "*"
    if "*" in device or len(device) != 9 or not device.startswith("d"):
        return vendor
    return vendor + device


def _names(ids: pciids.PciIds, dev: dict[str, int | None]) -> Names:
    v, d, sv, sd, cls = (dev[k] for k in ("vendor", "device", "sv", "sd", "class"))
    base = sub = pif = None
    if cls is not None:
        base, sub, pif = cls >> 16 & 0xFF, cls >> 8 & 0xFF, cls & 0xFF
    return Names(
        vendor=ids.vendor(v) if v is not None else None,
        device=ids.device(v, d) if v is not None and d is not None else None,
        subsystem_vendor=ids.vendor(sv) if sv else None,
        subsystem_device=ids.subsystem(v, d, sv, sd)
        if v is not None and d is not None and sv is not None and sd is not None
        else None,
        class_=ids.class_name(base) if base is not None else None,
        subclass=ids.subclass_name(base, sub) if base is not None and sub is not None else None,
        prog_if=ids.progif_name(base, sub, pif)
        if base is not None and sub is not None and pif is not None
        else None,
    )


def _uevent_ids(text: str | None) -> dict[str, int | None]:
    """IDs and class from a device's ``uevent`` (the same kernel fields as the attributes)."""
    found: dict[str, int | None] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition("=")
        if key == "PCI_ID" or key == "PCI_SUBSYS_ID":
            first, _, second = value.partition(":")
            names = ("vendor", "device") if key == "PCI_ID" else ("sv", "sd")
            found[names[0]], found[names[1]] = _hex(first), _hex(second)
        elif key == "PCI_CLASS":
            found["class"] = _hex(value)
    return found


_ATTR_FILES = {
    "vendor": "vendor",
    "device": "device",
    "class": "class",
    "sv": "subsystem_vendor",
    "sd": "subsystem_device",
}


def _read_ids(host: Host, name: str, full: bool) -> dict[str, int | None]:
    """vendor, device, class (and with `full` subsystem IDs and revision): one ``uevent``
    read where it has them (a real kernel's does), attribute files for whatever it lacks."""
    raw = _uevent_ids(_attr(host, paths.dev(name, "uevent")))
    for key, attr in _ATTR_FILES.items():
        if raw.get(key) is None and (full or key in ("vendor", "device", "class")):
            raw[key] = _hex(_attr(host, paths.dev(name, attr)))
        raw.setdefault(key, None)
    raw["revision"] = _hex(_attr(host, paths.dev(name, "revision"))) if full else None
    return raw


def _read_function(
    host: Host,
    name: str,
    bdf: PciAddress,
    names_of: Callable[[dict[str, int | None]], Names],
    detail: bool,
    mods: ModuleIndex | None,
    parents: bool = True,
    full_ids: bool = True,
) -> Device | None:
    raw = _read_ids(host, name, full_ids or detail)
    driver = host.link_name(paths.dev(name, "driver"))
    if raw["vendor"] is None and not host.is_dir(paths.dev(name)):
        return None  # hot-unplugged while we looked
    unknown = [k for k in ("vendor", "device", "class") if raw[k] is None]
    group = _int(host.link_name(paths.dev(name, "iommu_group")))
    physfn = _bdf_of_link(host.readlink(paths.dev(name, "physfn")))
    fields: dict[str, object] = {}
    if detail:
        fields = _detail(host, name, unknown, mods)
    elif physfn is None:  # a VF is never a PF: skip the read (thousands of VFs on big hosts)
        total = _int(_attr(host, paths.dev(name, "sriov_totalvfs")))
        if total is not None:
            fields["sriov"] = _sriov(host, name, total, None)
    cfg = fields.pop("config", None)
    if raw["revision"] is None and isinstance(cfg, bytes) and len(cfg) > 8:
        raw["revision"] = cfg[8]
    readable = raw["vendor"] is not None
    return Device(
        bdf=bdf,
        vendor_id=raw["vendor"],
        device_id=raw["device"],
        subsystem_vendor_id=raw["sv"],
        subsystem_device_id=raw["sd"],
        class_code=raw["class"],
        revision=raw["revision"],
        names=names_of(raw),
        driver=driver,
        iommu_group=group,
        parent=_parent_of(host.readlink(paths.dev(name))) if parents or detail else None,
        physfn=physfn,
        status=status_of(driver, readable),
        unknown=tuple(unknown),
        **fields,  # type: ignore[arg-type]
    )


def _either(first: int | None, second: int | None) -> int | None:
    return first if first is not None else second


def _sriov(host: Host, name: str, total: int, caps: config_space.ConfigCaps | None) -> SriovPF:
    def read(attr: str) -> str | None:
        return _attr(host, paths.dev(name, attr))

    num = _int(read("sriov_numvfs"))
    autoprobe = _int(read("sriov_drivers_autoprobe"))
    cap = caps.sriov if caps else None
    return SriovPF(
        total_vfs=total,
        num_vfs=num if num is not None else (cap.num_vfs if cap else None),
        vf_offset=_either(_int(read("sriov_offset")), cap.vf_offset if cap else None),
        vf_stride=_either(_int(read("sriov_stride")), cap.vf_stride if cap else None),
        vf_device_id=_either(_hex(read("sriov_vf_device")), cap.vf_device_id if cap else None),
        drivers_autoprobe=None if autoprobe is None else bool(autoprobe),
    )


def _detail(
    host: Host, name: str, unknown: list[str], mods: ModuleIndex | None
) -> dict[str, object]:
    def read(attr: str) -> str | None:
        return _attr(host, paths.dev(name, attr))

    cfg = host.try_read_bytes(paths.dev(name, "config"))
    caps = config_space.parse(cfg) if cfg is not None else None
    if caps is None:
        unknown.append("config")
    methods_text = read("reset_method")
    total = _int(read("sriov_totalvfs"))
    if total is None and caps is not None and caps.sriov is not None:
        total = caps.sriov.total_vfs
    modalias = read("modalias")
    override = read("driver_override")
    return {
        "config": cfg,
        "driver_override": None if override in (None, "(null)", "") else override,
        "modalias": modalias,
        "modules": mods.match(modalias) if mods else None,
        "numa_node": _int(read("numa_node")),
        "header_type": caps.header_type if caps else None,
        "pcie_type": caps.pcie_type if caps else None,
        "reset": Reset(
            flr=caps.flr if caps else None,
            af_flr=caps.af_flr if caps else None,
            pm_no_soft_reset=caps.pm_no_soft_reset if caps else None,
            reset_file=host.exists(paths.dev(name, "reset")),
            methods=tuple(methods_text.split()) if methods_text is not None else None,
        ),
        "acs": caps.acs if caps else None,
        "ari": caps.ari if caps else None,
        "sriov": _sriov(host, name, total, caps) if total is not None else None,
    }


def discover(
    host: Host,
    *,
    detail: bool = True,
    usage_facts: bool = True,
    modules: bool = False,
    only: Iterable[PciAddress] | None = None,
    parents: bool = True,
    full_ids: bool = True,
    names: bool = True,
) -> HostModel:
    """The host model. ``only`` limits the detailed read to some functions (others: listing);
    a listing that does not show them can skip the upstream-bridge links (``parents=False``)
    and the subsystem IDs and revision (``full_ids=False``); commands that change the host
    need no pci.ids names (``names=False``)."""
    require_host_tree(host)
    ids = _pci_ids(host) if names else pciids.PciIds()
    cache: dict[tuple[int | None, ...], Names] = {}

    def names_of(raw: dict[str, int | None]) -> Names:
        """Names shared by every function with the same IDs (VFs: thousands of them)."""
        key = (raw["vendor"], raw["device"], raw["sv"], raw["sd"], raw["class"])
        if key not in cache:
            cache[key] = _names(ids, raw)
        return cache[key]

    mods = ModuleIndex.load(host) if modules else None
    focus = set(only) if only is not None else None
    devices: dict[PciAddress, Device] = {}
    for name in host.listdir(paths.PCI_DEVICES):
        bdf = PciAddress.try_parse(name)
        if bdf is None:
            continue
        want = detail and (focus is None or bdf in focus)
        dev = _read_function(
            host, name, bdf, names_of, want, mods if want else None, parents, full_ids
        )
        if dev is not None:
            devices[bdf] = dev
    devices = _with_vfs(devices)
    if usage_facts:
        devices = _with_usage(host, devices)
    groups: dict[int, list[PciAddress]] = {}
    for dev in devices.values():
        if dev.iommu_group is not None:
            groups.setdefault(dev.iommu_group, []).append(dev.bdf)
    iommu = bool(groups) or bool(host.listdir(paths.CLASS_IOMMU))
    return HostModel(
        devices=dict(sorted(devices.items())),
        groups={g: tuple(sorted(m)) for g, m in sorted(groups.items())},
        iommu_enabled=iommu,
        pci_ids_source=ids.source,
        pci_ids_from=ids.origin,
    )


def _pci_ids(host: Host) -> pciids.PciIds:
    """The tree's pci.ids, else this machine's (a raw sysfs capture carries none)."""
    here = os.path.realpath(host.root) == "/"
    return pciids.load(host.try_read_bytes, None if here else Host("/").try_read_bytes)


def _with_vfs(devices: dict[PciAddress, Device]) -> dict[PciAddress, Device]:
    """Each PF's VFs, from the VFs' ``physfn`` links (already read; no ``virtfnN`` reads)."""
    vfs: dict[PciAddress, list[PciAddress]] = {}
    for dev in devices.values():
        if dev.physfn is not None:
            vfs.setdefault(dev.physfn, []).append(dev.bdf)
    for pf, members in vfs.items():
        pf_dev = devices.get(pf)
        if pf_dev is not None and pf_dev.sriov is not None:
            devices[pf] = replace(pf_dev, sriov=replace(pf_dev.sriov, vfs=tuple(sorted(members))))
    return devices


def _with_usage(host: Host, devices: dict[PciAddress, Device]) -> dict[PciAddress, Device]:
    net = usage.net_by_function(host)
    block = usage.block_by_function(host)
    for bdf in set(net) | set(block):
        if bdf in devices:
            devices[bdf] = replace(devices[bdf], net=net.get(bdf, ()), block=block.get(bdf, ()))
    return devices
