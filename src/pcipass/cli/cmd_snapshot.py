"""`pcipass snapshot FILE`: a read-only capture of the host's PCI state, replayable with --root.

Replay: ``mkdir DIR && tar -xzf FILE -C DIR && pcipass --root DIR list`` (the archive holds
host paths such as ``sys/bus/pci/devices/...`` and a ``pcipass-snapshot.json`` manifest).
``--json`` prints ``{"file", "files", "links", "dirs", "skipped", "bytes", "written"}``.
"""

from __future__ import annotations

import click

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.host.snapshot import check_target, collect, write_snapshot


@click.command("snapshot")
@click.argument("file")
@click.option("--dry-run", is_flag=True, help="Count what would be captured; write nothing.")
@pass_app
def snapshot(app: AppContext, file: str, dry_run: bool) -> None:
    """Capture the PCI state (sysfs, iommu groups, drivers, modules) into FILE (tar.gz)."""
    host = app.host()
    if dry_run:
        check_target(file)
        cap = collect(host)
    else:
        cap = write_snapshot(host, file)
    report = {"file": file, **cap.summary(), "written": not dry_run}
    if app.json:
        emit_json(report)
        return
    verb = "would capture" if dry_run else "captured"
    out().print(
        f"{verb} {cap.files} files, {cap.links} links, {cap.dirs} directories "
        f"({cap.size} bytes) from {host.root}" + ("" if dry_run else f" into {file}"),
        markup=False,
    )
    if not dry_run:
        out().print(
            f"replay: mkdir DIR && tar -xzf {file} -C DIR && pcipass --root DIR list",
            markup=False,
        )


COMMANDS: list[click.Command] = [snapshot]
