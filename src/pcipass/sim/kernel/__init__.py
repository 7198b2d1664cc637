"""The simulated kernel: the PCI driver core, SR-IOV, xen-pciback and module loading.

Every sysfs write pcipass makes is applied here with the semantics of Linux 6.1
(drivers/base/bus.c, drivers/pci/pci-driver.c, drivers/pci/iov.c,
drivers/xen/xen-pciback/pci_stub.c) and the errno the real kernel returns (measured in the
project's labs). The sysfs tree under the sim's root is the visible state (driver links,
``driver_override``, ``sriov_numvfs``); `state.SimState` holds what sysfs does not show.
One module per subsystem (`pciback`, `driver_core`, `sriov`, `device_attrs`, `modules`, over
`base`); `SimKernel` routes a write to the one it concerns.

`state.WriteError` carries the errno; `SimHost` turns it into `WriteFailed`.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from pcipass.host import paths
from pcipass.sim.kernel.kstr import sysfs_str, ulong_arg
from pcipass.sim.kernel.modules import Modules
from pcipass.sim.kernel.state import WriteError

BDF_RE = re.compile(r"^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")


class SimKernel(Modules):
    """Applies writes and module operations to a sysfs tree plus `SimState`."""

    def write(self, rel: str, data: str) -> None:
        """Apply one sysfs write at host path `rel` (relative to the root)."""
        path = self.root / rel.lstrip("/")
        if not os.path.exists(path):
            raise WriteError(errno.ENOENT)
        real = Path(os.path.realpath(path))
        if real.is_dir():
            raise WriteError(errno.EISDIR)
        try:
            parts = real.relative_to(os.path.realpath(self.root)).parts
        except ValueError as exc:
            raise WriteError(errno.EACCES) from exc
        target = "/".join(parts)
        if target.startswith(f"{paths.PCI_BUS}/"):
            self._bus_write(target, data)
        elif target.startswith(f"{paths.DEVICES}/") and BDF_RE.match(parts[-2]):
            self._device_write(parts[-2], parts[-1], data)
        else:
            raise WriteError(errno.EACCES)

    def _bus_write(self, target: str, data: str) -> None:
        if target == paths.DRIVERS_PROBE:
            bdf = sysfs_str(data)
            if not self.exists(bdf):
                raise WriteError(errno.ENODEV)
            self.device_attach(bdf)
            return
        if target == paths.RESCAN:
            if ulong_arg(data):
                self._rescan()
            return
        driver, _, attr = target.removeprefix(f"{paths.PCI_DRIVERS}/").partition("/")
        if target.startswith(f"{paths.PCI_DRIVERS}/") and attr and "/" not in attr:
            self._driver_write(driver, attr, data)
            return
        raise WriteError(errno.EACCES)
