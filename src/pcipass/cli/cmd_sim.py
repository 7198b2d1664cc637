"""`pcipass sim init DIR [--profile NAME]` and `pcipass sim profiles`: simulated hosts.

A simulated host lives in a directory; every later command selects it with the global
``--sim DIR`` and its state persists between invocations. ``sim init --json`` prints
``{"directory", "profile", "functions", "created"}``; ``sim profiles --json`` a list of
``{"name", "description"}``.
"""

from __future__ import annotations

from pathlib import Path

import click

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.sim.host import check_target, create_sim
from pcipass.sim.profiles import PROFILES, get_profile


@click.group("sim")
def sim_group() -> None:
    """Simulated hosts with kernel-faithful sysfs, xen-pciback and xl (for demos and tests)."""


@sim_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--profile",
    default="xen-host",
    show_default=True,
    type=click.Choice(sorted(PROFILES)),
    help="Which bundled host to simulate.",
)
@click.option("--force", is_flag=True, help="Replace a simulated host already in DIRECTORY.")
@click.option("--dry-run", is_flag=True, help="Say what would be created; create nothing.")
@pass_app
def init(app: AppContext, directory: Path, profile: str, force: bool, dry_run: bool) -> None:
    """Create a simulated host in DIRECTORY (then use `pcipass --sim DIRECTORY ...`)."""
    prof = get_profile(profile)
    count = len(prof.spec.functions)
    if dry_run:
        check_target(directory, force=force)  # refuse what init itself would refuse
    else:
        create_sim(directory, profile, force=force)
    if app.json:
        emit_json(
            {
                "directory": str(directory),
                "profile": profile,
                "functions": count,
                "created": not dry_run,
            }
        )
        return
    verb = "would create" if dry_run else "created"
    out().print(f"{verb} simulated host {profile!r} ({count} PCI functions) in {directory}",
                markup=False)  # fmt: skip
    if not dry_run:
        out().print(f"use it: pcipass --sim {directory} list", markup=False)


@sim_group.command("profiles")
@pass_app
def profiles(app: AppContext) -> None:
    """List the bundled simulated hosts."""
    rows = [{"name": n, "description": get_profile(n).description} for n in PROFILES]
    if app.json:
        emit_json(rows)
        return
    for row in rows:
        out().print(f"{row['name']:<12} {row['description']}", markup=False)


COMMANDS: list[click.Command] = [sim_group]
