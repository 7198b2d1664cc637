"""A simulated host per test, copied from one built per module (building one costs more)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pcipass.host.base import Host
from pcipass.sim.host import SimHost, create_sim


def template(factory: pytest.TempPathFactory, profile: str) -> Path:
    """A simulated host of `profile`, for `fresh` to copy."""
    path = factory.mktemp("tpl") / "sim"
    create_sim(path, profile)
    return path


def fresh(template: Path, tmp_path: Path) -> SimHost:
    """A copy of `template` of the test's own."""
    shutil.copytree(template, tmp_path / "sim", symlinks=True)
    return SimHost(tmp_path / "sim")


def driver(host: Host, bdf: str) -> str | None:
    """The driver device `bdf` is bound to now (None: none)."""
    return host.link_name(f"sys/bus/pci/devices/{bdf}/driver")
