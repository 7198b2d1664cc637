"""What the simulated Xen has free: all of it (`xl info` free_memory) and the part below 4 GiB
(XEN_SYSCTL_availheap with 32 address bits, `Host.xen_free_below_4gib`).

The defaults are the xen lab's after boot (labs/evidence/swiotlb/README.md, run2-zones.txt:
Xen 4.17.5, 3072 MiB q35, dom0_mem=1024M): free_memory 2012 MiB, of it 15653 pages (61 MiB)
above 4 GiB in zone 21, so 1951 MiB below. A test starves the host by setting them
(`set_free`), as the lab's fillers and dom0's ballooning do; creating a simulated domain
takes nothing.
"""

from __future__ import annotations

from typing import Any

MIB = 1 << 20
#: What the lab's Xen and dom0 hold of its memory after boot (total_memory - free_memory).
USED_AFTER_BOOT_MB = 1059
#: The lab's free memory above 4 GiB after boot: zone 21's 15653 pages.
FREE_HIGH_AFTER_BOOT_MB = 61


def after_boot(memory_mb: int) -> dict[str, int]:
    """The free-memory keys of a Xen state right after boot (MiB)."""
    free = memory_mb - USED_AFTER_BOOT_MB
    return {"free_mb": free, "free_low_mb": max(free - FREE_HIGH_AFTER_BOOT_MB, 0)}


def free_mb(xen: dict[str, Any]) -> int:
    """`xl info` free_memory, in MiB."""
    return int(xen.get("free_mb", after_boot(xen["memory_mb"])["free_mb"]))


def free_below_4gib(xen: dict[str, Any]) -> int:
    """Bytes free below 4 GiB."""
    return int(xen.get("free_low_mb", after_boot(xen["memory_mb"])["free_low_mb"])) * MIB


def set_free(xen: dict[str, Any], total_mb: int, below_4gib_mb: int) -> None:
    """Let the host have `total_mb` free, `below_4gib_mb` of it below 4 GiB."""
    if not 0 <= below_4gib_mb <= total_mb:
        raise ValueError(f"{below_4gib_mb} MiB below 4 GiB of {total_mb} MiB free")
    xen["free_mb"], xen["free_low_mb"] = total_mb, below_4gib_mb
