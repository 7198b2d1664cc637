"""SR-IOV: ``sriov_numvfs`` and the VFs a PF creates and removes (drivers/pci/iov.c), and
the VFs a PF driver's probe creates for its ``max_vfs`` module parameter."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, replace

from pcipass.host import paths
from pcipass.sim.kernel.driver_core import DriverCore
from pcipass.sim.kernel.kstr import kstrtoul, sysfs_str
from pcipass.sim.kernel.state import DriverDef, WriteError
from pcipass.sim.layout import NetIf, PciFunction, vf_function


@dataclass(frozen=True)
class MaxVfs:
    """What a PF driver's probe does with ``max_vfs=N`` (its `ModuleDef.max_vfs_limit` is the
    most it takes): above the limit it caps N (`caps`) or makes no VF; its log lines."""

    caps: bool
    over: str
    deprecated: str
    allocated: str = ""  # "{n}": the count


MAX_VFS = {
    # igb_probe_vfs / igb_enable_sriov, as the kernel lab logged them (`modprobe igb max_vfs=9`)
    "igb": MaxVfs(True, "Maximum of 7 VFs per PF, using max",
                  "Enabling SR-IOV VFs using the module parameter is deprecated - please use "
                  "the pci sysfs interface.", "{n} VFs allocated"),
    # ixgbe_sw_init (the module's strings, Debian 6.1): out of range means no VF at all
    "ixgbe": MaxVfs(False, "max_vfs parameter out of range. Not assigning any SR-IOV VFs",
                    "Enabling SR-IOV VFs using the max_vfs module parameter is deprecated - "
                    "please use the pci sysfs interface instead."),
}


def _ifname(bdf: str) -> str:
    """udev's predictable name for a PCI NIC: enp<bus>s<slot>[f<function>]."""
    bus, slot, fn = int(bdf[5:7], 16), int(bdf[8:10], 16), int(bdf[11])
    return f"enp{bus}s{slot}" + (f"f{fn}" if fn else "")


def _vf_mac(bdf: str) -> str:
    """A stable locally administered MAC for a VF (igbvf/ixgbevf pick random ones)."""
    bus, devfn = int(bdf[5:7], 16), int(bdf[8:10], 16) << 3 | int(bdf[11])
    return f"02:00:00:00:{bus:02x}:{devfn:02x}"


class Sriov(DriverCore):
    """Enabling and disabling VFs."""

    def _next_group(self) -> int:
        groups = self.root / paths.IOMMU_GROUPS
        used = {int(g) for g in os.listdir(groups)} if groups.exists() else set()
        n = 0
        while n in used:
            n += 1
        return n

    def _enable_vfs(self, pf_bdf: str, count: int) -> None:
        pf = self.state.fn(pf_bdf)
        assert pf.sriov is not None
        pf = replace(pf, sriov=replace(pf.sriov, num_vfs=count))
        self.state.put(pf)
        self.tree.write_config(pf)
        self.tree.set_attr(pf_bdf, "sriov_numvfs", str(count))
        created = []
        for i in range(count):
            vf = vf_function(pf, i, self._next_group() if self.state.iommu else None)
            if pf.class_code >> 16 == 0x02:  # a NIC's VF gets a netdev from its VF driver
                vf = replace(vf, net=(NetIf(_ifname(vf.bdf), _vf_mac(vf.bdf), "down"),))
            self.state.put(vf)
            self.tree.add_function(vf)
            created.append(vf.bdf)
        self.tree.set_virtfn_links(pf_bdf, created)
        for bdf in created:
            self._udev_add(bdf)

    def _probe_vfs(self, drv: DriverDef, pf: PciFunction) -> None:
        mod = self._module_of_driver(drv.name)
        behaviour = MAX_VFS.get(mod.name) if mod is not None else None
        want = kstrtoul(self._param(mod.name, "max_vfs") or "0") if mod is not None else None
        if mod is None or behaviour is None or not want or pf.sriov is None:
            return
        say = f"{drv.name} {pf.bdf}: "
        if want > mod.max_vfs_limit and behaviour.caps:
            self.log.append(say + behaviour.over)
        self.log.append(say + behaviour.deprecated)
        if want > mod.max_vfs_limit and not behaviour.caps:
            self.log.append(say + behaviour.over)
            return
        count = min(want, mod.max_vfs_limit, pf.sriov.total_vfs)
        self._enable_vfs(pf.bdf, count)
        if behaviour.allocated:
            self.log.append(say + behaviour.allocated.format(n=count))

    def _disable_vfs(self, pf_bdf: str) -> None:
        for bdf in reversed(self.vfs_of(pf_bdf)):
            self._remove_device(bdf)
        pf = self.state.fn(pf_bdf)
        assert pf.sriov is not None
        pf = replace(pf, sriov=replace(pf.sriov, num_vfs=0))
        self.state.put(pf)
        self.tree.write_config(pf)
        self.tree.set_attr(pf_bdf, "sriov_numvfs", "0")
        self.tree.set_virtfn_links(pf_bdf, [])

    def _remove_device(self, bdf: str) -> None:
        self._detach(bdf)
        self.tree.remove_function(bdf)
        del self.state.functions[bdf]

    def _sriov_numvfs(self, bdf: str, data: str) -> None:
        num = kstrtoul(sysfs_str(data))
        if num is None or num > 0xFFFF:
            raise WriteError(errno.EINVAL)
        fn = self.state.fn(bdf)
        assert fn.sriov is not None
        if num > fn.sriov.total_vfs:
            raise WriteError(errno.ERANGE)
        current = self.numvfs(bdf)
        if num == current:
            return
        drv = self.driver_of(bdf)
        if drv is None:
            raise WriteError(errno.ENOENT, "no driver bound to device; cannot configure SR-IOV")
        pf_driver = self.state.driver(drv)
        if not pf_driver.sriov_configure:
            raise WriteError(errno.ENOENT, "driver does not support SR-IOV configuration via sysfs")
        gate = pf_driver.sriov_needs_param
        enabled = gate is None or self._param(pf_driver.module or "", gate) in ("Y", "y", "1")
        if num and not enabled:
            raise WriteError(errno.ENOENT)
        if num == 0:
            self._disable_vfs(bdf)
            return
        if current:
            raise WriteError(
                errno.EBUSY, f"{current} VFs already enabled. Disable before enabling {num} VFs"
            )
        self._enable_vfs(bdf, num)
