"""Waiting for new VFs to settle on their driver: re-reads through `Host` with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

from pcipass.host.base import Host
from pcipass.host.paths import dev
from pcipass.ops.sriov import AUTOPROBE, NUMVFS

VF_SETTLE_SECONDS = 15.0
"""How long new VFs may take to get their driver (udev loads igbvf/ixgbevf on first use)."""

Progress = Callable[[int, int], None]
"""Told (VFs on a driver, VFs) after every re-read, e.g. to draw a progress bar."""


def vf_drivers(host: Host, pf: str) -> dict[str, str | None]:
    """The PF's VFs now (its `virtfnN` links, in index order) and their drivers."""
    count = int(host.try_read_text(dev(pf, NUMVFS)) or 0)
    vfs = [host.link_name(dev(pf, f"virtfn{i}")) for i in range(count)]
    return {vf: host.link_name(dev(vf, "driver")) for vf in vfs if vf}


def wait_settled(host: Host, pf: str, timeout: float = VF_SETTLE_SECONDS,
                 sleep: Callable[[float], None] = time.sleep,
                 progress: Progress | None = None) -> list[str]:
    """Re-read until every VF of `pf` has a driver (or autoprobe is off), at most `timeout`
    seconds; return a warning for each VF left without one."""
    if host.try_read_text(dev(pf, AUTOPROBE)) == "0":
        return []
    deadline = time.monotonic() + timeout
    while True:
        found = vf_drivers(host, pf)
        bare = [vf for vf, drv in found.items() if drv is None]
        if progress is not None:
            progress(len(found) - len(bare), len(found))
        if not bare or time.monotonic() >= deadline:
            break
        sleep(0.05)
    return [f"VF {vf} has no driver {timeout:.0f} s after it was created (a driver refused "
            "it or none matches: see dmesg); `pcipass assignable add` can still take it"
            for vf in bare]
