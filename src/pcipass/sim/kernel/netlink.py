"""VF settings through the PF over rtnetlink, as the kernel lab measured them.

Measured on igb (82576 under QEMU, Linux 6.1.176, pyroute2 0.7.2): a new VF reads MAC
00:00:00:00:00:00, VLAN 0, QoS 0, spoof checking on, trust off, link-state auto, rates 0/0.
Refused with EINVAL: a multicast or broadcast MAC, QoS over 7, a VLAN over 4095 (4095 itself
is taken), any minimum rate, a maximum rate while the PF is down or over its link speed
(1000 Mb/s), any VF index past the enabled count; with EOPNOTSUPP: every link-state. The
zero MAC is taken (it removes the administratively set one). The kernel applies a message's
settings in turn and stops at the first it refuses (the ones before stay). Removing the VFs
(`sriov_numvfs` 0) forgets every setting; a VF moving between drivers keeps them.

ixgbe (not measured: read in Linux's ixgbe_ndo_set_vf_bw, drivers/net/ethernet/intel/ixgbe/
ixgbe_sriov.c, the checks before "store values") answers EINVAL to any rate while the link is
down or not at 10 Gb/s, to any minimum rate, and to a maximum rate of 1-10 Mb/s or over the
link speed. Other PF drivers take every setting within netlink's ranges.
The state lives in the sim's ``sim.json`` under ``netlink``: PF BDF → VF index → settings.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from pcipass.host import paths
from pcipass.host.netlink import LINK_STATE_CODES, NoSuchLink, VfSetFailed, VfState, describe
from pcipass.sim.kernel import SimKernel

DEFAULTS: dict[str, Any] = {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoofchk": True,
                            "trust": False, "link_state": "auto", "min_tx_rate": 0,
                            "max_tx_rate": 0}
LINK_SPEED = {"igb": 1000, "ixgbe": 10000}
"""Mb/s of the simulated PFs' links, by PF driver (a maximum rate may not exceed it)."""
ORDER = (("mac",), ("vlan", "qos"), ("min_tx_rate", "max_tx_rate"), ("spoofchk",),
         ("link_state",), ("trust",))
"""The attributes in the order rtnetlink's do_setvfinfo applies them (a pair is one)."""


class SimNetlink:
    """The VF settings of the simulated host's PFs (in `data`, the sim's state)."""

    def __init__(self, kernel: SimKernel, data: dict[str, Any]) -> None:
        self.kernel = kernel
        self.links: dict[str, dict[str, dict[str, Any]]] = data.setdefault("netlink", {})

    def _pf_of(self, ifname: str) -> str:
        """The PCI function behind interface `ifname` (`NoSuchLink` if there is none)."""
        link = self.kernel.root / paths.net(ifname, "device")
        if "/" in ifname or not link.exists():
            raise NoSuchLink(ifname)
        return os.path.basename(os.path.realpath(link))

    def _count(self, pf: str) -> int:
        sriov = self.kernel.root / paths.dev(pf, "sriov_numvfs")
        return self.kernel.numvfs(pf) if sriov.exists() else 0

    def states(self, ifname: str) -> list[VfState]:
        pf = self._pf_of(ifname)
        saved = self.links.get(pf, {})
        return [VfState(vf=i, **(DEFAULTS | saved.get(str(i), {})))
                for i in range(self._count(pf))]

    def set(self, ifname: str, vf: int, settings: dict[str, Any]) -> None:
        """Apply `settings` in the kernel's order, stopping at the first refusal."""
        pf = self._pf_of(ifname)
        driver = self.kernel.driver_of(pf)
        if vf < 0 or vf >= self._count(pf):
            raise VfSetFailed(ifname, vf, describe(settings), errno.EINVAL)
        up = (self.kernel.root / paths.net(ifname, "operstate")).read_text().strip() == "up"
        current = self.links.setdefault(pf, {}).setdefault(str(vf), {})
        for group in ORDER:
            given = {k: settings[k] for k in group if k in settings}
            err = next((e for k, v in given.items() if (e := refusal(driver, k, v, up))), 0)
            if err:
                raise VfSetFailed(ifname, vf, describe(settings), err)
            current.update(given)

    def prune(self) -> None:
        """Forget the settings of PFs whose VFs are gone (igb frees them with the VFs)."""
        for pf in list(self.links):
            if not self.kernel.exists(pf) or self._count(pf) == 0:
                del self.links[pf]


def refusal(driver: str | None, key: str, value: Any, pf_up: bool) -> int:
    """The errno the kernel answers one setting with (0: taken)."""
    if key == "mac" and int(str(value)[:2], 16) & 1:
        return errno.EINVAL
    if (key == "vlan" and int(value) > 4095) or (key == "qos" and int(value) > 7):
        return errno.EINVAL
    if key == "link_state" and value not in LINK_STATE_CODES:
        return errno.EINVAL
    if driver == "igb":
        return _igb(key, value, pf_up)
    if driver == "ixgbe":
        return _ixgbe(key, value, pf_up)
    return 0


def _igb(key: str, value: Any, pf_up: bool) -> int:
    """igb, as measured (igb_ndo_set_vf_bw; no ndo_set_vf_link_state)."""
    if key == "link_state":
        return errno.EOPNOTSUPP
    if key == "min_tx_rate" and value:
        return errno.EINVAL
    if key == "max_tx_rate" and value and (not pf_up or int(value) > LINK_SPEED["igb"]):
        return errno.EINVAL
    return 0


def _ixgbe(key: str, value: Any, pf_up: bool) -> int:
    """ixgbe_ndo_set_vf_bw: link up (the sim's ixgbe links at 10G, the only speed it takes
    rates at), no minimum, a maximum of 0 or 11 to the link speed."""
    if key not in ("min_tx_rate", "max_tx_rate"):
        return 0
    speed = LINK_SPEED["ixgbe"]
    if not pf_up or (key == "min_tx_rate" and value):
        return errno.EINVAL
    if key == "max_tx_rate" and value and (int(value) <= 10 or int(value) > speed):
        return errno.EINVAL
    return 0
