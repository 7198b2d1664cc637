"""What every command gets: the global options and the host they select."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import click

from pcipass.errors import InputError
from pcipass.host import paths
from pcipass.host.base import Host
from pcipass.host.real import RealHost

ROOT_ENV = "PCIPASS_ROOT"
SIM_ENV = "PCIPASS_SIM"


@dataclass
class AppContext:
    """Global options shared by all commands."""

    root: Path = Path("/")
    json: bool = False
    debug: bool = False
    sim: Path | None = None
    _host: Host | None = field(default=None, repr=False)

    def host(self) -> Host:
        """The host the global options select: the simulated host with --sim, else --root."""
        if self._host is None:
            if self.sim is not None:
                from pcipass.sim.host import SimHost  # noqa: PLC0415 - only needed with --sim

                self._host = SimHost(self.sim)
            else:
                self._host = RealHost(self.root)
        return self._host


def select_host(ctx: click.Context, root: Path, sim: Path | None) -> tuple[Path, Path | None]:
    """The (root, sim) the options mean: an option given on the command line beats the
    environment, `--root` with `--sim` is a usage error, and a root that is not this machine
    must be a host tree (checked before any command reads or creates anything)."""
    root_given = ctx.get_parameter_source("root") == click.core.ParameterSource.COMMANDLINE
    sim_given = ctx.get_parameter_source("sim") == click.core.ParameterSource.COMMANDLINE
    if root_given and sim_given:
        raise click.UsageError("--root and --sim select different hosts; give one of them")
    if not root_given and not sim_given and sim is not None and os.environ.get(ROOT_ENV):
        raise click.UsageError(f"{ROOT_ENV} and {SIM_ENV} are both set and select different "
                               f"hosts; unset one, or give --root or --sim")
    if root_given:
        sim = None
    elif sim_given:
        root = Path("/")
    if sim is None:
        check_host_tree(root, "--root" if root_given else f"{ROOT_ENV}=")
    return root, sim


def check_host_tree(root: Path, via: str) -> None:
    """Raise `InputError` unless `root` is this machine or holds a host's sys/bus/pci."""
    if os.path.realpath(root) == "/" or os.path.isdir(root / paths.PCI_BUS):
        return
    why = "does not exist" if not os.path.lexists(root) else "has no sys/bus/pci"
    sep = "" if via.endswith("=") else " "
    raise InputError(
        f"{via}{sep}{root} is not a host tree: it {why}",
        "point it at a host's root (an unpacked `pcipass snapshot`), or leave it out for "
        "this machine",
    )


pass_app = click.make_pass_decorator(AppContext, ensure=True)

json_option = click.option(
    "--json", "json_", is_flag=True, help="Machine output (same as the global --json)."
)
"""The per-command `--json` (commands that take it after their name as well)."""


def alias(cmd: click.Command, name: str) -> click.Command:
    """`cmd` under another name (xl's spellings: pci-attach, pci-assignable-add, ...)."""
    copied = copy.copy(cmd)
    copied.name = name
    return copied
