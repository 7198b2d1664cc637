"""The one table of PF drivers and the module parameter that makes them create VFs at load.

Measured (`modinfo -F parm`, Debian 6.1; /work/shared/notes/passthrough-facts.md §5.3, and
the kernel lab's igb): igb and ixgbe take `max_vfs` (deprecated by both in favour of
`sriov_numvfs`); i40e, ice and mlx5_core take none, and the kernel loads them anyway with
"unknown parameter 'max_vfs' ignored", so `modprobe i40e max_vfs=8` silently makes no VF.
A driver missing from the table is refused: pcipass does not guess a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VfParam:
    """How a PF driver takes a VF count at module load.

    `param` None: the driver takes none (`why` says what to do instead). `limit`: the largest
    count it accepts; `above` what it does with a larger one, as its own log line says.
    """

    driver: str
    param: str | None
    limit: int = 0
    above: str = ""
    why: str = ""


SYSFS_INSTEAD = "use `--method sysfs` (the kernel's sriov_numvfs)"

VF_PARAMS: dict[str, VfParam] = {p.driver: p for p in (
    VfParam("igb", "max_vfs", 7, "caps it at 7 (\"Maximum of 7 VFs per PF, using max\")"),
    VfParam("ixgbe", "max_vfs", 63, "makes no VF at all (\"max_vfs parameter out of range. "
            "Not assigning any SR-IOV VFs\"); ixgbe also calls max_vfs deprecated"),
    VfParam("i40e", None, why=SYSFS_INSTEAD),
    VfParam("ice", None, why=SYSFS_INSTEAD),
    VfParam("mlx5_core", None, why=f"{SYSFS_INSTEAD}; the most VFs a ConnectX offers is set in "
            "its firmware (`mlxconfig -d DEV set SRIOV_EN=1 NUM_OF_VFS=N`, then reboot)"),
)}


def vf_param(driver: str) -> VfParam | None:
    """The table's entry for a PF driver (None: pcipass does not know the driver)."""
    return VF_PARAMS.get(driver)
