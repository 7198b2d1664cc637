"""Guards: pure refusals to take a device the host needs, each with its override flag.

The refusals are the blocker rows of `pcipass.model.rules` (the table `show`
reads too). A `Refusal` names the device, why it may not move, the flag that
overrides it (None when nothing may override it, e.g. a platform function or a
device held by a running domain) and the row's code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pcipass.errors import OperationError
from pcipass.model.device import Device, HostModel
from pcipass.model.rules import (
    ATTACHED_RULE,
    FORCE_NET,
    FORCE_STORAGE,
    FORCE_VFS,
    GROUP,
    GROUP_RULE,
    Code,
    Violation,
    group_busy,
    member_violations,
    violations,
)

__all__ = ["FORCE_NET", "FORCE_STORAGE", "FORCE_VFS", "GROUP", "Refusal", "Refused"]


@dataclass(frozen=True)
class Refusal:
    """Why `bdf` may not be taken, and the flag that says "take it anyway"."""

    bdf: str
    reason: str
    flag: str | None
    code: Code

    def line(self) -> str:
        return f"{self.bdf}: it {self.reason}"

    def fix(self) -> str:
        return f"pass {self.flag} to take it anyway" if self.flag else "it cannot be overridden"


class Refused(OperationError):
    """An operation refused: the message names the first refusal, `refusals` holds all."""

    def __init__(self, what: str, fix: str, refusals: Iterable[Refusal]) -> None:
        super().__init__(what, fix)
        self.refusals = tuple(refusals)


def _refusals(found: Iterable[Violation]) -> list[Refusal]:
    return [Refusal(v.bdf, v.hit.refusal, v.rule.flag, v.rule.code)
            for v in found if v.rule.refuses]


def _scoped(dev: Device, scope: str) -> list[Refusal]:
    return _refusals(v for v in violations(dev) if v.rule.scope == scope)


def storage_refusals(dev: Device) -> list[Refusal]:
    """Disks on `dev` that hold `/`, a mounted filesystem, swap, or an LVM/MD/dm member."""
    return _scoped(dev, "block")


def net_refusals(dev: Device) -> list[Refusal]:
    """Interfaces on `dev` that carry the default route or an address, directly or via a master."""
    return _scoped(dev, "net")


def vf_refusals(dev: Device) -> list[Refusal]:
    """A PF with enabled VFs: unbinding it destroys them."""
    return _scoped(dev, "sriov")


def kind_refusals(dev: Device) -> list[Refusal]:
    """Bridges and ports, the host bridge, and the other platform functions."""
    return _scoped(dev, "kind")


def detach_hint(domid: int, bdf: str) -> str:
    """The fix for a device a running domain holds."""
    return f"detach it first: `pcipass detach {domid} {bdf}` (xl pci-detach {domid} {bdf})"


def domain_refusal(bdf: str, domid: int | None) -> list[Refusal]:
    """A device held by a running domain."""
    if domid is None:
        return []
    return [Refusal(bdf, f"is attached to domain {domid}; {detach_hint(domid, bdf)}",
                    ATTACHED_RULE.flag, ATTACHED_RULE.code)]


def refusals(model: HostModel, dev: Device, domid: int | None = None) -> list[Refusal]:
    """Every reason not to make `dev` assignable (its group aside: `group_refusals`)."""
    del model  # the device's own rows need only the device
    return (
        kind_refusals(dev)
        + domain_refusal(str(dev.bdf), domid)
        + net_refusals(dev)
        + storage_refusals(dev)
        + vf_refusals(dev)
    )


def reset_refusals(dev: Device) -> list[Refusal]:
    """What `reset` refuses: the rows marked `reset` (the host uses it, or it is the platform's)."""
    return _refusals(violations(dev, only_reset=True))


def group_refusals(model: HostModel, devices: list[Device]) -> tuple[list[Device], list[Refusal]]:
    """For vfio: the group members `--group` would move (a host driver holds them),
    the refusal that names them (lifted by `--group`), and each member's own refusals."""
    busy = group_busy(model, devices)
    if not busy:
        return [], []
    names = ", ".join(f"{b} (on {d.driver})" for b, d in busy.items())
    grp = devices[0].iommu_group
    found = [Refusal(str(devices[0].bdf),
                     f"is in IOMMU group {grp}, which is not viable: it also holds {names}",
                     GROUP_RULE.flag, GROUP_RULE.code)]
    for member in busy.values():
        targets = [d for d in devices if d.iommu_group == member.iommu_group]
        target = str(targets[0].bdf) if targets else str(devices[0].bdf)
        found += _refusals(member_violations(member.iommu_group, target, member))
    return list(busy.values()), found


def blocking(found: list[Refusal], overrides: frozenset[str]) -> list[Refusal]:
    """The refusals the given override flags do not lift, the ones nothing lifts first."""
    left = [r for r in found if r.flag is None or r.flag not in overrides]
    return sorted(left, key=lambda r: r.flag is not None)
