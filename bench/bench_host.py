"""The host a benchmark runs against: a fresh simulated lab host with --sim, else this machine."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from pcipass.host.base import Host
from pcipass.host.real import RealHost


def bench_host(sim: bool, profile: str, name: str, *, root_why: str | None = None,
               real_prefix: tuple[str, ...] = ()) -> tuple[Host, list[str]]:
    """The host and the CLI arguments that reach it; `root_why` (if given) is the exit text
    when the real host is used without root."""
    if sim:
        from pcipass.sim.host import create_sim  # noqa: PLC0415

        sim_dir = Path(tempfile.mkdtemp(prefix=f"{name}-")) / "sim"
        return create_sim(sim_dir, profile=profile), ["--sim", str(sim_dir)]
    if root_why is not None and os.geteuid() != 0:
        sys.exit(root_why)
    return RealHost("/"), list(real_prefix)
