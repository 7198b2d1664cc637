"""`pcipass list`, `pcipass show`, `pcipass tree`: what is on the host's PCI buses.

Names come out exactly as ``lspci -nn`` prints them for the same pci.ids. The
JSON shapes are documented in docs/json.md. Startup cost matters here (a
listing should beat lspci): rich is imported only to draw human output, and
the listing itself is plain aligned columns.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from pcipass.address import PciAddress
from pcipass.cli.context import AppContext, pass_app
from pcipass.errors import InputError
from pcipass.model import pciids
from pcipass.model.device import Device, HostModel

if TYPE_CHECKING:
    from rich.tree import Tree

#: ``--class`` words → class-code prefixes (hex of base class, or base+subclass).
CLASS_WORDS: dict[str, tuple[str, ...]] = {
    "storage": ("01",),
    "net": ("02",),
    "gpu": ("03",),
    "display": ("03",),
    "multimedia": ("04",),
    "audio": ("0401", "0403"),
    "memory": ("05",),
    "bridge": ("06",),
    "comm": ("07",),
    "system": ("08",),
    "input": ("09",),
    "serial": ("0c",),
    "usb": ("0c03",),
    "wireless": ("0d",),
    "crypto": ("10",),
    "signal": ("11",),
    "accel": ("12",),
}


json_option = click.option(
    "--json", "json_", is_flag=True, help="Machine output (same as the global --json)."
)


def _emit(obj: Any) -> None:
    """One JSON document on stdout (kept free of rich for a fast `--json`)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _h(value: int | None, width: int) -> str | None:
    return None if value is None else f"{value:0{width}x}"


def describe(dev: Device) -> str:
    """``Vendor Device [vvvv:dddd]`` exactly as ``lspci -nn`` prints it."""
    if dev.vendor_id is None or dev.device_id is None:
        return "unknown device"
    return pciids.format_pair(
        dev.names.vendor, dev.names.device, f"{dev.vendor_id:04x}:{dev.device_id:04x}"
    )


def describe_class(dev: Device) -> str:
    """``Ethernet controller [0200]`` exactly as ``lspci -nn`` prints it."""
    if dev.class_code is None:
        return "unknown class"
    name = dev.names.subclass or dev.names.class_
    num = f"{dev.class_code >> 8:04x}"
    return f"{name} [{num}]" if name else f"Class [{num}]"


def describe_subsystem(dev: Device) -> str | None:
    """What ``lspci -nnk`` prints after ``Subsystem:`` (None when it prints nothing)."""
    sv, sd = dev.subsystem_vendor_id, dev.subsystem_device_id
    if not sv or sv == 0xFFFF or sd is None:
        return None
    return pciids.format_pair(
        dev.names.subsystem_vendor, dev.names.subsystem_device, f"{sv:04x}:{sd:04x}"
    )


def device_json(dev: Device) -> dict[str, Any]:
    """The fields `list` shows, as JSON (docs/json.md: list)."""
    return {
        "bdf": str(dev.bdf),
        "vendor_id": _h(dev.vendor_id, 4),
        "device_id": _h(dev.device_id, 4),
        "subsystem_vendor_id": _h(dev.subsystem_vendor_id, 4),
        "subsystem_device_id": _h(dev.subsystem_device_id, 4),
        "class": _h(dev.class_code, 6),
        "revision": _h(dev.revision, 2),
        "vendor_name": dev.names.vendor,
        "device_name": dev.names.device,
        "subsystem_vendor_name": dev.names.subsystem_vendor,
        "subsystem_device_name": dev.names.subsystem_device,
        "class_name": dev.names.subclass or dev.names.class_,
        "description": describe(dev),
        "class_description": describe_class(dev),
        "subsystem_description": describe_subsystem(dev),
        "driver": dev.driver,
        "iommu_group": dev.iommu_group,
        "status": dev.status.value,
        "physfn": str(dev.physfn) if dev.physfn else None,
        "sriov": None
        if dev.sriov is None
        else {"total_vfs": dev.sriov.total_vfs, "num_vfs": dev.sriov.num_vfs},
        "unknown": list(dev.unknown),
    }


def _emit_listing(model: HostModel, devices: list[Device]) -> None:
    """The `list` document, written one device at a time (what json.dumps would print)."""
    head = json.dumps({"pci_ids": model.pci_ids_source, "iommu": model.iommu_enabled})
    write = sys.stdout.write
    write(head[:-1] + ', "devices": [')
    for i, dev in enumerate(devices):
        write((", " if i else "") + json.dumps(device_json(dev), ensure_ascii=False))
    write("]}\n")


# -- filters ---------------------------------------------------------------


def _class_prefixes(word: str) -> tuple[str, ...]:
    word = word.lower()
    if word in CLASS_WORDS:
        return CLASS_WORDS[word]
    if all(c in "0123456789abcdef" for c in word) and len(word) in (2, 4, 6):
        return (word,)
    raise InputError(
        f"unknown device class {word!r}",
        f"use one of {', '.join(sorted(CLASS_WORDS))} or a hex class like 0200",
    )


def _id_matches(value: int | None, name: str | None, want: str) -> bool:
    want = want.lower().removeprefix("0x")
    is_hex = 0 < len(want) <= 4 and all(c in "0123456789abcdef" for c in want)
    if value is not None and is_hex and int(want, 16) == value:
        return True
    return name is not None and want in name.lower()


def select(
    model: HostModel,
    classes: tuple[str, ...],
    driver: str | None,
    sriov: bool,
    vendor: str | None,
    device: str | None,
) -> list[Device]:
    """The devices that pass every filter given (a filter not given passes all)."""
    prefixes = tuple(p for word in classes for p in _class_prefixes(word))
    out = []
    for dev in model.devices.values():
        if prefixes and not (
            dev.class_code is not None and f"{dev.class_code:06x}".startswith(prefixes)
        ):
            continue
        if driver is not None and (dev.driver or "none") != driver:
            continue
        if sriov and not (dev.is_pf or dev.is_vf):
            continue
        if vendor is not None and not _id_matches(dev.vendor_id, dev.names.vendor, vendor):
            continue
        if device is not None and not _id_matches(dev.device_id, dev.names.device, device):
            continue
        out.append(dev)
    return out


# -- list ------------------------------------------------------------------


def _columns(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


@click.command("list")
@click.option(
    "--class",
    "classes",
    multiple=True,
    metavar="CLASS",
    help="net, storage, gpu, audio, usb, bridge, ... or a hex class (0200). Repeatable.",
)
@click.option("--driver", help="Only functions bound to this driver ('none': unbound).")
@click.option("--sriov", is_flag=True, help="Only SR-IOV physical and virtual functions.")
@click.option("--vendor", help="Vendor ID (hex) or part of its name.")
@click.option("--device", help="Device ID (hex) or part of its name.")
@json_option
@pass_app
def list_cmd(
    app: AppContext,
    classes: tuple[str, ...],
    driver: str | None,
    sriov: bool,
    vendor: str | None,
    device: str | None,
    json_: bool,
) -> None:
    """List PCI functions: address, class, names with IDs, driver, IOMMU group, status."""
    from pcipass.model.discovery import discover  # noqa: PLC0415 - startup cost

    as_json = app.json or json_
    # The table shows neither subsystems nor revisions: do not read them for it.
    model = discover(app.host(), detail=False, usage_facts=False, parents=False, full_ids=as_json)
    devices = select(model, classes, driver, sriov, vendor, device)
    if as_json:
        _emit_listing(model, devices)
        return
    if not devices:
        sys.stdout.write("no PCI functions match\n")
        return
    rows: list[tuple[str, ...]] = [("BDF", "CLASS", "DEVICE", "DRIVER", "GROUP", "STATUS")]
    for dev in devices:
        rows.append(
            (
                str(dev.bdf),
                describe_class(dev),
                describe(dev),
                dev.driver or "-",
                "-" if dev.iommu_group is None else str(dev.iommu_group),
                dev.status.value,
            )
        )
    sys.stdout.write(_columns(rows))


# -- show ------------------------------------------------------------------


def _show_model(app: AppContext, target: str) -> tuple[HostModel, Device]:
    from pcipass.model.discovery import discover  # noqa: PLC0415 - startup cost
    from pcipass.model.resolve import parse_address, resolve  # noqa: PLC0415

    host = app.host()
    bdf = parse_address(target)
    if bdf is None:
        light = discover(host, detail=False, usage_facts=True)
        bdf = resolve(light, target).bdf
    model = discover(host, only={bdf}, modules=True)
    return model, resolve(model, target)


def show_json(model: HostModel, dev: Device) -> dict[str, Any]:
    """Everything known about one device (docs/json.md: show)."""
    from pcipass.model.readiness import assess  # noqa: PLC0415

    verdict = assess(model, dev)
    members = [model.devices[b] for b in model.group_members(dev) if b in model.devices]
    r = dev.reset
    out = device_json(dev)
    out.update(
        {
            "driver_override": dev.driver_override,
            "modalias": dev.modalias,
            "modules": None if dev.modules is None else list(dev.modules),
            "numa_node": dev.numa_node,
            "parent": str(dev.parent) if dev.parent else None,
            "pcie_type": dev.pcie_type,
            "reset": {
                "flr": r.flr,
                "af_flr": r.af_flr,
                "pm_no_soft_reset": r.pm_no_soft_reset,
                "reset_file": r.reset_file,
                "methods": None if r.methods is None else list(r.methods),
            },
            "acs": None
            if dev.acs is None
            else {"capable": list(dev.acs.capable), "enabled": list(dev.acs.enabled)},
            "ari": dev.ari,
            "sriov": None
            if dev.sriov is None
            else {
                "total_vfs": dev.sriov.total_vfs,
                "num_vfs": dev.sriov.num_vfs,
                "vf_offset": dev.sriov.vf_offset,
                "vf_stride": dev.sriov.vf_stride,
                "vf_device_id": _h(dev.sriov.vf_device_id, 4),
                "drivers_autoprobe": dev.sriov.drivers_autoprobe,
                "vfs": [str(b) for b in dev.sriov.vfs],
            },
            "group_members": [
                {
                    "bdf": str(m.bdf),
                    "description": describe(m),
                    "driver": m.driver,
                    "status": m.status.value,
                }
                for m in members
            ],
            "net": [
                {
                    "name": n.name,
                    "mac": n.mac,
                    "operstate": n.operstate,
                    "master": n.master,
                    "ipv4_routes": list(n.ipv4_routes),
                    "ipv6_addresses": list(n.ipv6_addresses),
                    "default_route": n.default_route,
                    "master_default_route": n.master_default_route,
                }
                for n in dev.net
            ],
            "block": [
                {
                    "name": b.name,
                    "partitions": list(b.partitions),
                    "mounts": [
                        {"source": m.source, "target": m.target, "fstype": m.fstype}
                        for m in b.mounts
                    ],
                    "swap": list(b.swap),
                    "holders": list(b.holders),
                    "root": b.holds_root,
                }
                for b in dev.block
            ],
            "ready": verdict.ready,
            "findings": [f.to_json() for f in verdict.findings],
        }
    )
    return out


def _yn(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


@click.command("show")
@click.argument("target", metavar="BDF|IFNAME")
@json_option
@pass_app
def show_cmd(app: AppContext, target: str, json_: bool) -> None:
    """Everything known about one device, and whether it is ready for passthrough."""
    model, dev = _show_model(app, target)
    data = show_json(model, dev)
    if app.json or json_:
        _emit(data)
        return
    from pcipass.cli.output import out  # noqa: PLC0415 - rich only for people

    rows: list[tuple[str, str]] = [
        ("device", f"{describe_class(dev)}: {describe(dev)}"),
        ("subsystem", data["subsystem_description"] or "-"),
        ("revision", data["revision"] or "-"),
        ("driver", f"{dev.driver or '-'}  (status: {dev.status.value})"),
        ("driver_override", dev.driver_override or "-"),
        ("modules", ", ".join(dev.modules) if dev.modules else "-"),
        ("iommu group", "-" if dev.iommu_group is None else str(dev.iommu_group)),
        ("numa node", "-" if dev.numa_node is None else str(dev.numa_node)),
        ("pcie type", dev.pcie_type or "-"),
        (
            "reset",
            f"FLR {_yn(dev.reset.flr)}, AF FLR {_yn(dev.reset.af_flr)}, methods "
            f"{' '.join(dev.reset.methods) if dev.reset.methods else '-'}",
        ),
        ("acs", "-" if dev.acs is None else " ".join(dev.acs.enabled) or "none enabled"),
        ("ari", _yn(dev.ari)),
    ]
    if dev.sriov:
        s = dev.sriov
        rows.append(
            (
                "sr-iov pf",
                f"{s.num_vfs}/{s.total_vfs} VFs, offset {s.vf_offset}, "
                f"stride {s.vf_stride}, VF id {_h(s.vf_device_id, 4)}, "
                f"autoprobe {_yn(s.drivers_autoprobe)}",
            )
        )
    if dev.physfn:
        rows.append(("sr-iov vf of", str(dev.physfn)))
    for m in data["group_members"]:
        rows.append(("group member", f"{m['bdf']} {m['description']} ({m['driver'] or '-'})"))
    for n in dev.net:
        words = [n.name, n.operstate or "?", *n.ipv4_routes]
        words += ["default-route"] if n.default_route else []
        words += ["master", n.master] if n.master else []
        rows.append(("net", " ".join(words)))
    for b in dev.block:
        rows.append(("block", " ".join([b.name, *(m.target for m in b.mounts)])))
    console = out()
    console.print(f"[bold]{dev.bdf}[/bold]")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"  {key.ljust(width)}  {value}", markup=False)
    verdict = "[green]ready for passthrough[/green]" if data["ready"] else "[red]not ready[/red]"
    console.print(f"  {verdict}")
    marks = {"blocker": "[red]✗[/red]", "warning": "[yellow]![/yellow]", "info": "·"}
    for f in data["findings"]:
        console.print(f"    {marks[f['severity']]} ", end="")
        console.print(f["message"] + (f"  [{f['override']}]" if f["override"] else ""),
                      markup=False)


# -- tree ------------------------------------------------------------------


def _tree_node(
    model: HostModel, dev: Device, kids: dict[PciAddress | None, list[Device]]
) -> dict[str, Any]:
    vfs = set(dev.sriov.vfs) if dev.sriov else set()
    return {
        "bdf": str(dev.bdf),
        "class_description": describe_class(dev),
        "description": describe(dev),
        "driver": dev.driver,
        "iommu_group": dev.iommu_group,
        "status": dev.status.value,
        "children": [_tree_node(model, c, kids) for c in kids.get(dev.bdf, []) if c.bdf not in vfs],
        "vfs": [
            _tree_node(model, model.devices[b], kids) for b in sorted(vfs) if b in model.devices
        ],
    }


def tree_json(model: HostModel) -> dict[str, Any]:
    """Bridges with what is below them, PFs with their VFs, and IOMMU groups (docs/json.md)."""
    kids: dict[PciAddress | None, list[Device]] = {}
    vf_set = {b for d in model.devices.values() if d.sriov for b in d.sriov.vfs}
    for dev in model.devices.values():
        parent = dev.parent if dev.parent in model.devices else None
        if dev.bdf in vf_set and dev.physfn in model.devices:
            continue  # shown under its PF
        kids.setdefault(parent, []).append(dev)
    return {
        "tree": [_tree_node(model, d, kids) for d in kids.get(None, [])],
        "groups": {str(g): [str(b) for b in m] for g, m in model.groups.items()},
    }


def _add_rich(node: Tree, item: dict[str, Any]) -> None:
    from rich.text import Text  # noqa: PLC0415 - rich only for people

    group = "" if item["iommu_group"] is None else f" [group {item['iommu_group']}]"
    label = (
        f"{item['bdf']} {item['class_description']}: {item['description']}"
        f" ({item['driver'] or 'no driver'}){group}"
    )
    child = node.add(Text(label))  # plain text: names and "[group N]" hold brackets
    for c in item["children"]:
        _add_rich(child, c)
    if item["vfs"]:
        vf_node = child.add(f"{len(item['vfs'])} virtual functions")
        for v in item["vfs"]:
            _add_rich(vf_node, v)


@click.command("tree")
@json_option
@pass_app
def tree_cmd(app: AppContext, json_: bool) -> None:
    """Bridges and what sits below them, PFs with their VFs, and the IOMMU groups."""
    from pcipass.model.discovery import discover  # noqa: PLC0415 - startup cost

    # the tree shows neither subsystems nor revisions: do not read them for it
    model = discover(app.host(), detail=False, usage_facts=False, full_ids=False)
    data = tree_json(model)
    if app.json or json_:
        _emit(data)
        return
    from rich.tree import Tree  # noqa: PLC0415 - rich only for people

    from pcipass.cli.output import out  # noqa: PLC0415

    root = Tree("PCI")
    for item in data["tree"]:
        _add_rich(root, item)
    groups = Tree(
        "IOMMU groups" if data["groups"] else "IOMMU groups: none (IOMMU off, or Xen dom0)"
    )
    for g, members in data["groups"].items():
        groups.add(f"{g}: {' '.join(members)}")
    out().print(root, soft_wrap=False, crop=False)
    out().print(groups, soft_wrap=False, crop=False)


COMMANDS: list[click.Command] = [list_cmd, show_cmd, tree_cmd]
