"""The simulated kernel's common ground: the tree, the state, the log and plain queries.

The subsystems stack on it in the order they call each other: `pciback.Pciback` →
`driver_core.DriverCore` → `sriov.Sriov` → `device_attrs.DeviceAttrs` → `modules.Modules` →
`pcipass.sim.kernel.SimKernel`. A call up the stack (the driver core asks SR-IOV or module
loading for something) is declared abstract where it is made.
"""

from __future__ import annotations

import os
from pathlib import Path

from pcipass.host import paths
from pcipass.sim.kernel.state import ModuleDef, SimState
from pcipass.sim.tree import SysfsTree


class KernelBase:
    """A sysfs tree plus `SimState`, and what can be read from them."""

    def __init__(self, root: Path, state: SimState) -> None:
        self.tree = SysfsTree(root)
        self.root = root
        self.state = state
        self.log: list[str] = []  # kernel messages (dmesg), newest last

    # -- queries --------------------------------------------------------------
    def exists(self, bdf: str) -> bool:
        return bdf in self.state.functions and os.path.lexists(self.root / paths.dev(bdf))

    def driver_of(self, bdf: str) -> str | None:
        link = self.root / paths.dev(bdf, "driver")
        return os.path.basename(os.readlink(link)) if link.is_symlink() else None

    def override_of(self, bdf: str) -> str | None:
        text = (self.root / paths.dev(bdf, "driver_override")).read_text()
        value = text[:-1] if text.endswith("\n") else text
        return None if value == "(null)" else value

    def numvfs(self, bdf: str) -> int:
        return int((self.root / paths.dev(bdf, "sriov_numvfs")).read_text())

    def autoprobe(self, bdf: str) -> bool:
        path = self.root / paths.dev(bdf, "sriov_drivers_autoprobe")
        return path.read_text().strip() != "0"

    def vfs_of(self, pf: str) -> list[str]:
        return sorted(b for b, f in self.state.functions.items() if f.get("physfn") == pf)

    def _module_of_driver(self, name: str) -> ModuleDef | None:
        module = self.state.drivers[name]["module"]
        return self.state.module(module) if module in self.state.modules else None

    def _param(self, module: str, key: str) -> str | None:
        return self.state.params.get(module, {}).get(key)
