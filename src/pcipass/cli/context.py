"""What every command gets: the global options and the host they select."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from pcipass.host.base import Host
from pcipass.host.real import RealHost


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


pass_app = click.make_pass_decorator(AppContext, ensure=True)
