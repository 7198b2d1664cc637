"""This machine's PCI functions, for the tests that read the real /sys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SYS_PCI = Path("/sys/bus/pci/devices")


def pci_functions() -> list[str]:
    """The addresses in /sys/bus/pci/devices, sorted; the test skips where there are none
    (no sysfs, or a container's empty one), so it never passes by comparing nothing."""
    names = sorted(os.listdir(SYS_PCI)) if SYS_PCI.is_dir() else []
    if not names:
        pytest.skip(f"this machine shows no PCI function in {SYS_PCI}")
    return names


def sysfs_hex(bdf: str, attribute: str) -> int:
    """A hex attribute of one of this machine's functions (`vendor`, `class`)."""
    return int((SYS_PCI / bdf / attribute).read_text().strip(), 16)
