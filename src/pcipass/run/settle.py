"""Waiting for new VFs to settle on their driver: re-reads through `Host` with a deadline."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable

from pcipass.host.base import CommandFailed, Host, NotThisMachine
from pcipass.host.paths import dev
from pcipass.ops.sriov import AUTOPROBE, NUMVFS

VF_SETTLE_SECONDS = 15.0
"""How long new VFs may take to get their driver (udev loads igbvf/ixgbevf on first use)."""

Progress = Callable[[int, int], None]
"""Told (VFs on a driver, VFs) after every re-read, e.g. to draw a progress bar."""


PROBE_FAILED = re.compile(r"(\S+): Removing after probe failure status")
"""nvme's `nvme nvme1: Removing after probe failure status: -19` (the kernel lab: an
offline secondary controller), named by controller or by the function's address."""
CONTROLLER = re.compile(r"(\S+): pci function (\S+)")
"""nvme's `nvme nvme1: pci function 0000:01:00.1`: a controller's name → its function."""
LOG_EVERY = 10
"""Read the kernel log on every LOG_EVERY-th re-read (not 20 times a second)."""


def probe_failed(host: Host) -> set[str]:
    """The functions whose driver gave up in probe, as the kernel log says (none when the
    log cannot be read: a host tree)."""
    try:
        result = host.run(["dmesg"])
    except (NotThisMachine, CommandFailed):
        return set()
    return failed_in(result.stdout)


def failed_in(log: str) -> set[str]:
    """The functions a kernel log says gave up in probe (controller names resolved)."""
    names = {m[1]: m[2] for m in CONTROLLER.finditer(log)}
    return {names.get(m[1], m[1]) for m in PROBE_FAILED.finditer(log)}


def vf_drivers(host: Host, pf: str) -> dict[str, str | None]:
    """The PF's VFs now (its `virtfnN` links, in index order) and their drivers."""
    count = int(host.try_read_text(dev(pf, NUMVFS)) or 0)
    vfs = [host.link_name(dev(pf, f"virtfn{i}")) for i in range(count)]
    return {vf: host.link_name(dev(vf, "driver")) for vf in vfs if vf}


def wait_settled(host: Host, pf: str, timeout: float = VF_SETTLE_SECONDS,
                 sleep: Callable[[float], None] = time.sleep,
                 progress: Progress | None = None) -> list[str]:
    """Re-read until every VF of `pf` has a driver (or autoprobe is off), or its driver's
    probe failed (the kernel log says so), at most `timeout` seconds; return a warning for
    each VF left without one."""
    if host.try_read_text(dev(pf, AUTOPROBE)) == "0":
        return []
    deadline = time.monotonic() + timeout
    failed: set[str] = set()
    for turn in itertools.count():
        found = vf_drivers(host, pf)
        bare = [vf for vf, drv in found.items() if drv is None]
        if progress is not None:
            progress(len(found) - len(bare), len(found))
        if bare and turn % LOG_EVERY == 0:
            failed = probe_failed(host)
        if set(bare) <= failed or time.monotonic() >= deadline:
            break
        sleep(0.05)
    return [f"VF {vf} has no driver: its driver's probe failed (see dmesg); `pcipass "
            "assignable add` can still take it" if vf in failed else
            f"VF {vf} has no driver {timeout:.0f} s after it was created (a driver refused "
            "it or none matches: see dmesg); `pcipass assignable add` can still take it"
            for vf in bare]
