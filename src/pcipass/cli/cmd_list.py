"""`pcipass list`, `pcipass show`, `pcipass tree`: what is on the host's PCI buses.

Each command discovers, filters (`model.select`), takes its view (`model.views`'s
field table, `model.topology`) and renders. Startup cost matters here (a listing
should beat lspci): rich is imported only to draw human output, and the listing
itself is plain aligned columns.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from pcipass.cli.context import AppContext, json_option, pass_app
from pcipass.cli.output import columns
from pcipass.model import views
from pcipass.model.device import Device, HostModel
from pcipass.model.select import select
from pcipass.model.topology import tree_json

if TYPE_CHECKING:
    from rich.tree import Tree



def _emit(obj: Any) -> None:
    """One JSON document on stdout (kept free of rich for a fast `--json`)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _emit_listing(model: HostModel, devices: list[Device]) -> None:
    """The `list` document, written one device at a time (what json.dumps would print)."""
    head = json.dumps(views.listing_head(model))
    write = sys.stdout.write
    write(head[:-1] + ', "devices": [')
    for i, dev in enumerate(devices):
        write((", " if i else "") + json.dumps(views.device_json(dev), ensure_ascii=False))
    write("]}\n")


# -- list ------------------------------------------------------------------


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
    rows = [views.list_header(), *(views.list_row(dev) for dev in devices)]
    sys.stdout.write(columns(rows))


# -- show ------------------------------------------------------------------


def _show_model(app: AppContext, target: str) -> tuple[HostModel, Device]:
    from pcipass.model.discovery import discover  # noqa: PLC0415 - startup cost
    from pcipass.model.resolve import SHOW, parse_address, resolve  # noqa: PLC0415

    host = app.host()
    bdf = parse_address(target)
    if bdf is None:
        light = discover(host, detail=False, usage_facts=True)
        bdf = resolve(light, target, SHOW).bdf
    model = discover(host, only={bdf}, modules=True)
    return model, resolve(model, target, SHOW)


def _host_refusal(app: AppContext, model: HostModel) -> str | None:
    """Why `assignable add` (backend auto) refuses every device here: the same check."""
    from pcipass.host.xen import xen_directio, xl_info  # noqa: PLC0415
    from pcipass.ops.assign import auto_backend, iommu_refusal  # noqa: PLC0415

    info = xl_info(app.host())
    directio = xen_directio(info) if info is not None else None
    refusal = iommu_refusal(auto_backend(info is not None), model.iommu_enabled, directio)
    return refusal.line() if refusal else None


@click.command("show")
@click.argument("target", metavar="BDF|IFNAME")
@json_option
@pass_app
def show_cmd(app: AppContext, target: str, json_: bool) -> None:
    """Everything known about one device, and whether it is ready for passthrough."""
    model, dev = _show_model(app, target)
    refusal = _host_refusal(app, model)
    if app.json or json_:
        _emit(views.show_json(model, dev, refusal))
        return
    from pcipass.cli.output import out  # noqa: PLC0415 - rich only for people

    subject = views.subject(model, dev, refusal)
    rows = views.show_rows(subject)
    console = out()
    console.print(f"[bold]{dev.bdf}[/bold]")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"  {key.ljust(width)}  {value}", markup=False)
    ready = subject.verdict.ready
    console.print("  [green]ready for passthrough[/green]" if ready else "  [red]not ready[/red]")
    marks = {"blocker": "[red]✗[/red]", "warning": "[yellow]![/yellow]", "info": "·"}
    for f in subject.verdict.findings:
        console.print(f"    {marks[f.severity]} ", end="")
        console.print(f.message + (f"  [{f.flag}]" if f.flag else ""), markup=False)


# -- tree ------------------------------------------------------------------


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
