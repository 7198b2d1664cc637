"""The PCI driver core: matching, probing, binding, unbinding, dynamic ids and udev's add.

drivers/base/bus.c and drivers/pci/pci-driver.c: ``bind``/``unbind``/``new_id``/``remove_id``
of a driver, ``drivers_probe``, and what happens when a device or a driver appears.
"""

from __future__ import annotations

import errno
from abc import ABC, abstractmethod

from pcipass.sim.kernel.kstr import parse_hex_fields, sysfs_str
from pcipass.sim.kernel.pciback import Pciback
from pcipass.sim.kernel.state import ANY, DriverDef, PciId, WriteError
from pcipass.sim.layout import PciFunction


def _match_one(pid: PciId | list[int], fn: PciFunction) -> bool:
    vendor, device, subv, subd, cls, mask = pid
    return (
        vendor in (ANY, fn.vendor)
        and device in (ANY, fn.device)
        and subv in (ANY, fn.subsystem_vendor)
        and subd in (ANY, fn.subsystem_device)
        and not ((cls ^ fn.class_code) & mask)
    )


class DriverCore(Pciback, ABC):
    """Drivers and devices meeting: the match, the probe and the driver link."""

    @abstractmethod
    def _enable_vfs(self, pf_bdf: str, count: int) -> None:
        """A PF driver's probe enabling VFs (`max_vfs=`): `sriov.Sriov`."""

    @abstractmethod
    def _probe_vfs(self, drv: DriverDef, pf: PciFunction) -> None:
        """A PF driver's probe creating the VFs its `max_vfs=` asks for: `sriov.Sriov`."""

    @abstractmethod
    def _disable_vfs(self, pf_bdf: str) -> None:
        """A PF driver's remove() disabling its VFs: `sriov.Sriov`."""

    @abstractmethod
    def load_module(self, name: str, params: dict[str, str]) -> tuple[int, str]:
        """udev loading the module a new device's modalias names: `modules.Modules`."""

    def _matches(self, drv: DriverDef, fn: PciFunction, override: str | None) -> bool:
        """pci_match_device: override first, then dynamic ids, then the static table."""
        if override is not None and override != drv.name:
            return False
        if any(_match_one(pid, fn) for pid in self.state.dynids.get(drv.name, [])):
            return True
        if drv.kind in ("native", "port") and any(_match_one(pid, fn) for pid in drv.ids):
            return True
        if drv.kind == "pciback":
            return True  # pcistub_ids is PCI_ANY_ID; the probe decides
        return override is not None

    def _probe(self, drv: DriverDef, fn: PciFunction, override: str | None) -> int:
        """pci_device_probe + the driver's probe: 0 or a positive errno."""
        if fn.physfn is not None and not self.autoprobe(fn.physfn) and override is None:
            return errno.ENODEV  # pci_device_can_probe
        if drv.kind == "pciback" and not (self._slot_listed(fn.bdf) or override == "pciback"):
            return errno.ENODEV
        return 0

    def _attach(self, drv: DriverDef, fn: PciFunction) -> None:
        self.tree.bind(fn.bdf, drv.name)
        self.tree.set_attr(fn.bdf, "enable", "1")
        if drv.vf_probe_fails and fn.physfn is not None:
            self.log.append(f"{drv.name} {fn.bdf}: Removing after probe failure status: -19")
            self.tree.unbind(fn.bdf)
            self.tree.set_attr(fn.bdf, "enable", "0")
            return
        if drv.makes_children:
            self.tree.add_children(fn)
        if fn.sriov is not None:
            self._probe_vfs(drv, fn)

    def _detach(self, bdf: str) -> None:
        """device_release_driver: the driver's remove() runs, then the link goes."""
        drv = self.driver_of(bdf)
        if drv is None:
            return
        if bdf in self.state.functions and self.state.fn(bdf).sriov and self.numvfs(bdf):
            self._disable_vfs(bdf)
        self.tree.remove_children(bdf)
        self.tree.unbind(bdf)
        self.tree.set_attr(bdf, "enable", "0")
        if bdf in self.state.pciback_permissive:
            self.state.pciback_permissive.remove(bdf)

    def device_attach(self, bdf: str) -> None:
        """__device_attach: try registered drivers in order; the first probe that succeeds wins."""
        if self.driver_of(bdf) is not None:
            return
        fn = self.state.fn(bdf)
        override = self.override_of(bdf)
        for name in self.state.registered:
            drv = self.state.driver(name)
            if self._matches(drv, fn, override) and self._probe(drv, fn, override) == 0:
                self._attach(drv, fn)
                return

    def driver_attach(self, name: str) -> None:
        """driver_attach: a new driver (or new id) probes every unbound device."""
        drv = self.state.driver(name)
        for bdf in sorted(self.state.functions):
            if not self.exists(bdf) or self.driver_of(bdf) is not None:
                continue
            fn = self.state.fn(bdf)
            override = self.override_of(bdf)
            if self._matches(drv, fn, override) and self._probe(drv, fn, override) == 0:
                self._attach(drv, fn)

    def _udev_add(self, bdf: str) -> None:
        """A device appeared: the bus probes it; udev loads a module its modalias names."""
        fn = self.state.fn(bdf)
        if fn.physfn is not None and not self.autoprobe(fn.physfn):
            self._autoload_for(fn)  # udev still loads the module; nothing binds
            return
        self.device_attach(bdf)
        if self.driver_of(bdf) is None:
            self._autoload_for(fn)

    def _autoload_for(self, fn: PciFunction) -> None:
        for name in self.state.modules:
            mod = self.state.module(name)
            if not mod.autoload or name in self.state.loaded or mod.builtin:
                continue
            if mod.xen_only and not self.state.xen:
                continue
            for dname in mod.drivers:
                drv = self.state.driver(dname)
                if drv.kind == "native" and any(_match_one(pid, fn) for pid in drv.ids):
                    self.load_module(name, {})
                    return

    def _driver_write(self, name: str, attr: str, data: str) -> None:
        drv = self.state.driver(name)
        if attr == "bind":
            bdf = sysfs_str(data)
            if not self.exists(bdf):
                raise WriteError(errno.ENODEV)
            fn = self.state.fn(bdf)
            override = self.override_of(bdf)
            if not self._matches(drv, fn, override):
                raise WriteError(errno.ENODEV)
            if self.driver_of(bdf) is not None:
                raise WriteError(errno.EBUSY)
            err = self._probe(drv, fn, override)
            if err:
                raise WriteError(err)
            self._attach(drv, fn)
        elif attr == "unbind":
            bdf = sysfs_str(data)
            if not self.exists(bdf) or self.driver_of(bdf) != name:
                raise WriteError(errno.ENODEV)
            self._detach(bdf)
        elif attr == "new_id":
            self._new_id(drv, data)
        elif attr == "remove_id":
            self._remove_id(drv, data)
        elif drv.kind == "pciback" and attr in ("new_slot", "remove_slot", "permissive"):
            self._pciback_write(attr, data)
        else:
            raise WriteError(errno.EACCES)

    def _new_id(self, drv: DriverDef, data: str) -> None:
        fields = parse_hex_fields(data, 7)
        if len(fields) < 2:
            raise WriteError(errno.EINVAL)
        full = fields + [ANY, ANY, 0, 0, 0][len(fields) - 2 :]
        pid = full[:6]
        if len(fields) != 7:
            probe = PciFunction("0000:00:00.0", pid[0], pid[1], pid[4], pid[2], pid[3])
            if self._matches(drv, probe, None):
                raise WriteError(errno.EEXIST)
        self.state.dynids.setdefault(drv.name, []).append(pid)
        self.driver_attach(drv.name)

    def _remove_id(self, drv: DriverDef, data: str) -> None:
        fields = parse_hex_fields(data, 6)
        if len(fields) < 2:
            raise WriteError(errno.EINVAL)
        pid = (fields + [ANY, ANY, 0, 0][len(fields) - 2 :])[:6]
        ids = self.state.dynids.get(drv.name, [])
        if pid not in ids:
            raise WriteError(errno.ENODEV)
        ids.remove(pid)
