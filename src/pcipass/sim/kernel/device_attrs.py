"""A device's writable attributes: driver_override, sriov_*, reset, reset_method, remove, rescan.

drivers/pci/pci-sysfs.c; ``remove`` keeps the description so a ``rescan`` brings it back.
"""

from __future__ import annotations

import errno
from dataclasses import replace

from pcipass.host import paths
from pcipass.sim.kernel.kstr import kstrtobool, sysfs_str, ulong_arg
from pcipass.sim.kernel.sriov import Sriov
from pcipass.sim.kernel.state import WriteError, function_from_json, function_to_json
from pcipass.sim.layout import default_reset_methods

PAGE_SIZE = 4096


class DeviceAttrs(Sriov):
    """Writes to ``sys/devices/.../<BDF>/<attribute>``."""

    def _device_write(self, bdf: str, attr: str, data: str) -> None:
        if attr == "driver_override":
            if len(data) >= PAGE_SIZE - 1:
                raise WriteError(errno.EINVAL)
            override = data.split("\0", 1)[0].split("\n", 1)[0]
            self.tree.set_attr(bdf, "driver_override", override or "(null)")
        elif attr == "sriov_numvfs":
            self._sriov_numvfs(bdf, data)
        elif attr == "sriov_drivers_autoprobe":
            flag = kstrtobool(data)
            if flag is None:
                raise WriteError(errno.EINVAL)
            self.tree.set_attr(bdf, "sriov_drivers_autoprobe", "1" if flag else "0")
        elif attr == "reset":
            if ulong_arg(data) != 1:
                raise WriteError(errno.EINVAL)
            if not self._reset_methods(bdf):
                raise WriteError(errno.ENOTTY)
        elif attr == "reset_method":
            self._set_reset_methods(bdf, data)
        elif attr == "remove":
            if not ulong_arg(data):
                return
            fn = self.state.fn(bdf)
            self.state.removed[bdf] = function_to_json(fn)
            if fn.sriov is not None and self.numvfs(bdf):
                self._disable_vfs(bdf)
            self._remove_device(bdf)
        elif attr == "rescan":
            if ulong_arg(data):
                self._rescan()
        else:
            raise WriteError(errno.EACCES)

    def _reset_methods(self, bdf: str) -> list[str]:
        text = (self.root / paths.dev(bdf, "reset_method")).read_text()
        return text.split()

    def _set_reset_methods(self, bdf: str, data: str) -> None:
        """reset_method_store: "" disables all, "default" re-probes, else supported names."""
        fn = self.state.fn(bdf)
        supported = fn.reset_methods if fn.reset_methods is not None else default_reset_methods(fn)
        text = sysfs_str(data).strip()
        if text == "default":
            chosen = list(supported)
        else:
            chosen = text.split()
            if any(name not in supported for name in chosen):
                raise WriteError(errno.EINVAL, "Invalid or unsupported reset method")
        path = self.root / paths.dev(bdf, "reset_method")
        path.write_text(" ".join(chosen) + "\n" if chosen else "")

    def _rescan(self) -> None:
        for bdf, data in sorted(self.state.removed.items()):
            fn = replace(function_from_json(data), driver=None)
            if fn.sriov is not None:
                fn = replace(fn, sriov=replace(fn.sriov, num_vfs=0))
            self.state.put(fn)
            self.tree.add_function(fn)
            self._udev_add(bdf)
        self.state.removed.clear()
