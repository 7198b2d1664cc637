"""The device-field table: one row per device fact, driving `list`'s columns, `show`'s
rows and the JSON keys (docs/json.md is checked against it by tests/unit/model/test_views.py).

`DEVICE_FIELDS` are the keys of every device in `list --json` (and the first keys of
`show --json`); those with a `column` are `list`'s table columns, in order. `SHOW_FIELDS`
are the keys `show --json` adds (or expands: `sriov`); those with a `row` are `show`'s
rows, in order (a row may repeat, one line per item, e.g. `net`). Names come out exactly as
``lspci -nn`` prints them for the same pci.ids (`pcipass.model.pciids` formatters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pcipass.address import PciAddress
from pcipass.model import pciids
from pcipass.model.device import Device, HostModel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pcipass.host.netlink import VfState
    from pcipass.model.readiness import Readiness


def _h(value: int | None, width: int) -> str | None:
    return None if value is None else f"{value:0{width}x}"


def _yn(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def description(dev: Device) -> str:
    """``Vendor Device [vvvv:dddd]`` exactly as ``lspci -nn`` prints it."""
    if dev.vendor_id is None or dev.device_id is None:
        return "unknown device"
    return pciids.format_pair(
        dev.names.vendor, dev.names.device, f"{dev.vendor_id:04x}:{dev.device_id:04x}"
    )


def class_description(dev: Device) -> str:
    """``Ethernet controller [0200]`` exactly as ``lspci -nn`` prints it."""
    if dev.class_code is None:
        return "unknown class"
    return pciids.class_text(dev.names.subclass or dev.names.class_, dev.class_code)


def subsystem_description(dev: Device) -> str | None:
    """What ``lspci -nnk`` prints after ``Subsystem:`` (None when it prints nothing)."""
    sv, sd = dev.subsystem_vendor_id, dev.subsystem_device_id
    if not sv or sv == 0xFFFF or sd is None:
        return None
    return pciids.format_pair(
        dev.names.subsystem_vendor, dev.names.subsystem_device, f"{sv:04x}:{sd:04x}"
    )


# -- the device fields (list, and the first keys of show) -----------------------------------
@dataclass(frozen=True)
class Field:
    """One device fact: its JSON key and value, and where people see it in `list`."""

    key: str
    get: Callable[[Device], Any]
    column: str | None = None
    """`list`'s column header (None: JSON only)."""
    cell: Callable[[Device], str] | None = None
    """The column's text (default: the JSON value, `-` for null)."""

    def text(self, dev: Device) -> str:
        if self.cell is not None:
            return self.cell(dev)
        value = self.get(dev)
        return "-" if value is None else str(value)


DEVICE_FIELDS: tuple[Field, ...] = (
    Field("bdf", lambda d: str(d.bdf), "BDF"),
    Field("vendor_id", lambda d: _h(d.vendor_id, 4)),
    Field("device_id", lambda d: _h(d.device_id, 4)),
    Field("subsystem_vendor_id", lambda d: _h(d.subsystem_vendor_id, 4)),
    Field("subsystem_device_id", lambda d: _h(d.subsystem_device_id, 4)),
    Field("class", lambda d: _h(d.class_code, 6)),
    Field("revision", lambda d: _h(d.revision, 2)),
    Field("vendor_name", lambda d: d.names.vendor),
    Field("device_name", lambda d: d.names.device),
    Field("subsystem_vendor_name", lambda d: d.names.subsystem_vendor),
    Field("subsystem_device_name", lambda d: d.names.subsystem_device),
    Field("class_name", lambda d: d.names.subclass or d.names.class_),
    Field("description", description, "DEVICE"),
    Field("class_description", class_description, "CLASS"),
    Field("subsystem_description", subsystem_description),
    Field("driver", lambda d: d.driver, "DRIVER"),
    Field("iommu_group", lambda d: d.iommu_group, "GROUP"),
    Field("status", lambda d: d.status.value, "STATUS"),
    Field("physfn", lambda d: str(d.physfn) if d.physfn else None),
    Field(
        "sriov",
        lambda d: None
        if d.sriov is None
        else {"total_vfs": d.sriov.total_vfs, "num_vfs": d.sriov.num_vfs},
    ),
    Field("unknown", lambda d: list(d.unknown)),
)

#: `list`'s columns, in the order shown.
LIST_COLUMNS: tuple[str, ...] = ("bdf", "class_description", "description", "driver",
                                 "iommu_group", "status")
_BY_KEY = {f.key: f for f in DEVICE_FIELDS}


def device_json(dev: Device) -> dict[str, Any]:
    """The fields `list` shows, as JSON (docs/json.md: list)."""
    return {f.key: f.get(dev) for f in DEVICE_FIELDS}


def list_header() -> tuple[str, ...]:
    return tuple(_BY_KEY[k].column or k for k in LIST_COLUMNS)


def list_row(dev: Device) -> tuple[str, ...]:
    return tuple(_BY_KEY[k].text(dev) for k in LIST_COLUMNS)


def listing_head(model: HostModel) -> dict[str, Any]:
    """The keys of the `list` document before `devices` (docs/json.md: list)."""
    return {"pci_ids": model.pci_ids_source, "pci_ids_from": model.pci_ids_from,
            "iommu": model.iommu_enabled}


LISTING_KEYS: tuple[str, ...] = ("pci_ids", "pci_ids_from", "iommu", "devices")


# -- show ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """What `show` reports on: the device, its host, and the readiness verdict."""

    model: HostModel
    dev: Device
    verdict: Readiness

    @property
    def members(self) -> list[Device]:
        return [self.model.devices[b] for b in self.model.group_members(self.dev)
                if b in self.model.devices]


@dataclass(frozen=True)
class ShowField:
    """One fact `show` adds: its JSON key and value, and its human row(s)."""

    key: str
    get: Callable[[Subject], Any]
    row: str | None = None
    """The row's label (None: JSON only)."""
    lines: Callable[[Subject], Iterable[str]] | None = None
    """The row's text, one row per item (default: the JSON value, `-` for null)."""

    def rows(self, s: Subject) -> list[tuple[str, str]]:
        if self.row is None:
            return []
        if self.lines is not None:
            return [(self.row, line) for line in self.lines(s)]
        value = self.get(s)
        return [(self.row, "-" if value is None else str(value))]


def _reset(s: Subject) -> dict[str, Any]:
    r = s.dev.reset
    return {"flr": r.flr, "af_flr": r.af_flr, "pm_no_soft_reset": r.pm_no_soft_reset,
            "reset_file": r.reset_file, "methods": None if r.methods is None else list(r.methods)}


def _sriov(s: Subject) -> dict[str, Any] | None:
    v = s.dev.sriov
    if v is None:
        return None
    return {"total_vfs": v.total_vfs, "num_vfs": v.num_vfs, "vf_offset": v.vf_offset,
            "vf_stride": v.vf_stride, "vf_device_id": _h(v.vf_device_id, 4),
            "drivers_autoprobe": v.drivers_autoprobe, "vfs": [str(b) for b in v.vfs]}


def _net(s: Subject) -> list[dict[str, Any]]:
    return [{"name": n.name, "mac": n.mac, "operstate": n.operstate, "master": n.master,
             "ipv4_routes": list(n.ipv4_routes), "ipv6_addresses": list(n.ipv6_addresses),
             "default_route": n.default_route, "master_default_route": n.master_default_route}
            for n in s.dev.net]


def _block(s: Subject) -> list[dict[str, Any]]:
    return [{"name": b.name, "partitions": list(b.partitions),
             "mounts": [{"source": m.source, "target": m.target, "fstype": m.fstype}
                        for m in b.mounts],
             "swap": list(b.swap), "holders": list(b.holders), "root": b.holds_root}
            for b in s.dev.block]


def _net_lines(s: Subject) -> list[str]:
    out = []
    for n in s.dev.net:
        words = [n.name, n.operstate or "?", *n.ipv4_routes]
        words += ["default-route"] if n.default_route else []
        words += ["master", n.master] if n.master else []
        out.append(" ".join(words))
    return out


def _sriov_lines(s: Subject) -> list[str]:
    v = s.dev.sriov
    if v is None:
        return []
    return [f"{v.num_vfs}/{v.total_vfs} VFs, offset {v.vf_offset}, stride {v.vf_stride}, "
            f"VF id {_h(v.vf_device_id, 4)}, autoprobe {_yn(v.drivers_autoprobe)}"]


def _reset_line(s: Subject) -> list[str]:
    r = s.dev.reset
    methods = " ".join(r.methods) if r.methods else "-"
    return [f"FLR {_yn(r.flr)}, AF FLR {_yn(r.af_flr)}, methods {methods}"]


SHOW_FIELDS: tuple[ShowField, ...] = (
    # rows that show the device fields `list` already has
    ShowField("description", lambda s: description(s.dev), "device",
              lambda s: [f"{class_description(s.dev)}: {description(s.dev)}"]),
    ShowField("subsystem_description", lambda s: subsystem_description(s.dev), "subsystem"),
    ShowField("revision", lambda s: _h(s.dev.revision, 2), "revision"),
    ShowField("driver", lambda s: s.dev.driver, "driver",
              lambda s: [f"{s.dev.driver or '-'}  (status: {s.dev.status.value})"]),
    # what `show` adds
    ShowField("driver_override", lambda s: s.dev.driver_override, "driver_override"),
    ShowField("modalias", lambda s: s.dev.modalias),
    ShowField("modules", lambda s: None if s.dev.modules is None else list(s.dev.modules),
              "modules", lambda s: [", ".join(s.dev.modules) if s.dev.modules else "-"]),
    ShowField("iommu_group", lambda s: s.dev.iommu_group, "iommu group"),
    ShowField("numa_node", lambda s: s.dev.numa_node, "numa node"),
    ShowField("parent", lambda s: str(s.dev.parent) if s.dev.parent else None),
    ShowField("pcie_type", lambda s: s.dev.pcie_type, "pcie type"),
    ShowField("reset", _reset, "reset", _reset_line),
    ShowField("acs", lambda s: None if s.dev.acs is None else
              {"capable": list(s.dev.acs.capable), "enabled": list(s.dev.acs.enabled)},
              "acs", lambda s: ["-" if s.dev.acs is None
                                else " ".join(s.dev.acs.enabled) or "none enabled"]),
    ShowField("ari", lambda s: s.dev.ari, "ari", lambda s: [_yn(s.dev.ari)]),
    ShowField("sriov", _sriov, "sr-iov pf", _sriov_lines),
    ShowField("physfn", lambda s: str(s.dev.physfn) if s.dev.physfn else None, "sr-iov vf of",
              lambda s: [str(s.dev.physfn)] if s.dev.physfn else []),
    ShowField("group_members", lambda s: [
        {"bdf": str(m.bdf), "description": description(m), "driver": m.driver,
         "status": m.status.value} for m in s.members],
        "group member", lambda s: [f"{m.bdf} {description(m)} ({m.driver or '-'})"
                                   for m in s.members]),
    ShowField("net", _net, "net", _net_lines),
    ShowField("block", _block, "block",
              lambda s: [" ".join([b.name, *(m.target for m in b.mounts)])
                         for b in s.dev.block]),
    ShowField("ready", lambda s: s.verdict.ready),
    ShowField("findings", lambda s: [f.to_json() for f in s.verdict.findings]),
)

#: Keys of SHOW_FIELDS that repeat a device field for their human row (not new JSON keys).
SHOW_ROWS_OF_DEVICE_FIELDS = frozenset(
    {"description", "subsystem_description", "revision", "driver", "iommu_group", "physfn"}
)


def subject(model: HostModel, dev: Device, host_refusal: str | None = None) -> Subject:
    from pcipass.model.readiness import assess  # noqa: PLC0415 - `list` does not need it

    return Subject(model, dev, assess(model, dev, host_refusal))


def show_json(model: HostModel, dev: Device, host_refusal: str | None = None) -> dict[str, Any]:
    """Everything known about one device (docs/json.md: show)."""
    s = subject(model, dev, host_refusal)
    out = device_json(dev)
    out.update({f.key: f.get(s) for f in SHOW_FIELDS if f.key not in SHOW_ROWS_OF_DEVICE_FIELDS})
    out["pci_ids"] = model.pci_ids_source
    out["pci_ids_from"] = model.pci_ids_from
    return out


def show_rows(s: Subject) -> list[tuple[str, str]]:
    """`show`'s human rows (label, text), in order."""
    return [row for f in SHOW_FIELDS for row in f.rows(s)]


# -- sriov list ----------------------------------------------------------------------------
@dataclass(frozen=True)
class VfItem:
    """One VF as `sriov list` shows it: its index on its PF (virtfnN) and the function."""

    index: int | None
    dev: Device
    link: VfState | None = None
    """Its settings as the PF reports them over netlink (None: not read)."""


@dataclass(frozen=True)
class VfField:
    """One fact of a VF in `sriov list`: its JSON key and value, and its column."""

    key: str
    get: Callable[[VfItem], Any]
    column: str


def _netdev(dev: Device) -> str | None:
    return dev.net[0].name if dev.net else None


def _mac(dev: Device) -> str | None:
    return dev.net[0].mac if dev.net else None


#: The keys of each PF in `sriov list --json` (before `vfs`), and its row's columns.
SRIOV_PF_FIELDS: tuple[Field, ...] = (
    Field("bdf", lambda d: str(d.bdf), "BDF"),
    Field("description", description),
    Field("driver", lambda d: d.driver, "DRIVER"),
    Field("status", lambda d: d.status.value, "STATUS"),
    Field("total_vfs", lambda d: d.sriov.total_vfs if d.sriov else None),
    Field("num_vfs", lambda d: d.sriov.num_vfs if d.sriov else None, "VFS",
          lambda d: f"{d.sriov.num_vfs}/{d.sriov.total_vfs}" if d.sriov else "-"),
    Field("drivers_autoprobe", lambda d: d.sriov.drivers_autoprobe if d.sriov else None,
          "AUTOPROBE", lambda d: _yn(d.sriov.drivers_autoprobe if d.sriov else None)),
    Field("netdev", _netdev, "NETDEV"),
    Field("mac", _mac, "MAC"),
)

#: The keys of each VF in `sriov list --json`; every one is a column of its row.
SRIOV_VF_FIELDS: tuple[VfField, ...] = (
    VfField("bdf", lambda v: str(v.dev.bdf), "BDF"),
    VfField("index", lambda v: v.index, "VF"),
    VfField("driver", lambda v: v.dev.driver, "DRIVER"),
    VfField("status", lambda v: v.dev.status.value, "STATUS"),
    VfField("netdev", lambda v: _netdev(v.dev), "NETDEV"),
    VfField("mac", lambda v: _mac(v.dev), "MAC"),
    VfField("admin_mac", lambda v: _admin_mac(v.link), "ADMIN-MAC"),
    VfField("vlan", lambda v: v.link.vlan if v.link else None, "VLAN"),
    VfField("spoofchk", lambda v: v.link.spoofchk if v.link else None, "SPOOFCHK"),
    VfField("trust", lambda v: v.link.trust if v.link else None, "TRUST"),
)

#: `sriov list`'s columns, in order: a PF row fills those of SRIOV_PF_FIELDS, a VF row
#: those of SRIOV_VF_FIELDS.
SRIOV_COLUMNS: tuple[str, ...] = ("BDF", "VF", "DRIVER", "STATUS", "VFS", "AUTOPROBE",
                                  "NETDEV", "MAC")
#: The columns of a VF's netlink settings (ADMIN-MAC, VLAN, SPOOFCHK, TRUST), shown after those when
#: `sriov list` read the PF's netlink (`sriov_rows(..., links)`).
SRIOV_LINK_COLUMNS: tuple[str, ...] = ("ADMIN-MAC", "VLAN", "SPOOFCHK", "TRUST")


def _admin_mac(link: VfState | None) -> str | None:
    """The MAC set on the PF for the VF (what a guest gets), None when none is set."""
    if link is None or not link.mac or link.mac == "00:00:00:00:00:00":
        return None
    return link.mac


def vf_index(pf: Device, vf: PciAddress) -> int | None:
    """The VF's number on its PF (`virtfnN`), from the SR-IOV offset and stride."""
    s = pf.sriov
    if s is None or not s.vf_offset or not s.vf_stride or vf.domain != pf.bdf.domain:
        return None
    step, rest = divmod(_routing_id(vf) - _routing_id(pf.bdf) - s.vf_offset, s.vf_stride)
    return step if rest == 0 and step >= 0 else None


def _routing_id(bdf: PciAddress) -> int:
    return bdf.bus << 8 | bdf.dev << 3 | bdf.func


def sriov_json(model: HostModel, pf: Device,
               links: Sequence[VfState] | None = None) -> dict[str, Any]:
    """One PF and its VFs (docs/json.md: sriov list); `links`: the PF's netlink VF states."""
    out = {f.key: f.get(pf) for f in SRIOV_PF_FIELDS}
    out["vfs"] = [{f.key: f.get(item) for f in SRIOV_VF_FIELDS}
                  for item in vf_items(model, pf, links)]
    return out


def vf_items(model: HostModel, pf: Device,
             links: Sequence[VfState] | None = None) -> list[VfItem]:
    """The PF's VFs with their indexes (and netlink states), in index order (unknown
    indexes last)."""
    by_index = {s.vf: s for s in links or ()}
    items = [VfItem(i, vf, by_index.get(i) if i is not None else None)
             for vf in model.vfs_of(pf) for i in (vf_index(pf, vf.bdf),)]
    return sorted(items, key=lambda v: (v.index is None, v.index or 0, v.dev.bdf))


def sriov_rows(model: HostModel, pf: Device,
               links: Sequence[VfState] | None = None) -> list[dict[str, str]]:
    """`sriov list`'s human rows for one PF (column → text), the PF's first."""
    rows = [{f.column: f.text(pf) for f in SRIOV_PF_FIELDS if f.column} | {"VF": "PF"}]
    for item in vf_items(model, pf, links):
        rows.append({f.column: _setting(f.get(item)) for f in SRIOV_VF_FIELDS})
    return rows


def _setting(value: Any) -> str:
    """A cell: `-` for unknown, on/off for flags."""
    if value is None:
        return "-"
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


# -- vf show -------------------------------------------------------------------------------
#: The keys of `vf show --json` (before `vfs`).
VF_SHOW_KEYS: tuple[str, ...] = ("pf", "netdev", "driver", "vfs")


@dataclass(frozen=True)
class VfSetting:
    """One fact of a VF in `vf show`: its JSON key, its column, and its value."""

    key: str
    column: str
    get: Callable[[VfItem, bool], Any]


def _link(key: str) -> Callable[[VfItem, bool], Any]:
    return lambda v, _saved: getattr(v.link, key) if v.link else None


#: The keys of each VF in `vf show --json` and `vf show`'s columns, in order.
VF_SHOW_FIELDS: tuple[VfSetting, ...] = (
    VfSetting("vf", "VF", lambda v, _s: v.index),
    VfSetting("bdf", "BDF", lambda v, _s: str(v.dev.bdf)),
    *(VfSetting(k, c, _link(k)) for k, c in (
        ("mac", "MAC"), ("vlan", "VLAN"), ("qos", "QOS"), ("spoofchk", "SPOOFCHK"),
        ("trust", "TRUST"), ("link_state", "LINK-STATE"), ("min_tx_rate", "MIN-RATE"),
        ("max_tx_rate", "MAX-RATE"))),
    VfSetting("saved", "SAVED", lambda _v, saved: saved),
)


def vf_show_json(model: HostModel, pf: Device, netdev: str, links: Sequence[VfState] | None,
                 saved: frozenset[str]) -> dict[str, Any]:
    """`vf show PF` (docs/json.md): the PF, its interface and each VF's settings; `saved`:
    the VFs whose original settings pcipass keeps."""
    vfs = [{f.key: f.get(item, str(item.dev.bdf) in saved) for f in VF_SHOW_FIELDS}
           for item in vf_items(model, pf, links)]
    return {"pf": str(pf.bdf), "netdev": netdev, "driver": pf.driver, "vfs": vfs}


def vf_show_rows(doc: dict[str, Any]) -> list[list[str]]:
    """`vf show`'s table cells, one row per VF, in `VF_SHOW_FIELDS`' order."""
    return [[("yes" if vf[f.key] else "no") if f.key == "saved" else _setting(vf[f.key])
             for f in VF_SHOW_FIELDS] for vf in doc["vfs"]]
