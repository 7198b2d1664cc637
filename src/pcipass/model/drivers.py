"""The passthrough drivers: the one table of the stub drivers pcipass knows.

A function bound to one of these is held for passthrough, not used by the host.
`backend` is the pcipass backend that binds it (None: pcipass never binds it);
`assignable` means a device on it is listed by `assignable list` (as by
`xl pci-assignable-list`); `group_safe` means vfio accepts it in a viable
IOMMU group (the kernel's vfio allows vfio-pci, pci-stub and unbound members).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StubDriver:
    """One passthrough driver: its sysfs name, the module that provides it, its role."""

    name: str
    module: str
    backend: str | None
    assignable: bool
    group_safe: bool


PCIBACK = StubDriver("pciback", "xen-pciback", "xen", assignable=True, group_safe=False)
VFIO_PCI = StubDriver("vfio-pci", "vfio-pci", "vfio", assignable=True, group_safe=True)
PCI_STUB = StubDriver("pci-stub", "pci-stub", None, assignable=False, group_safe=True)

DRIVERS: tuple[StubDriver, ...] = (PCIBACK, VFIO_PCI, PCI_STUB)
BY_NAME: dict[str, StubDriver] = {d.name: d for d in DRIVERS}
BY_BACKEND: dict[str, StubDriver] = {d.backend: d for d in DRIVERS if d.backend}

#: Drivers a device is "assignable" on (`assignable list`, `xl pci-assignable-list`).
ASSIGNABLE: frozenset[str] = frozenset(d.name for d in DRIVERS if d.assignable)


def is_stub(driver: str | None) -> bool:
    """Whether `driver` holds a device for passthrough (None: unbound, not a stub)."""
    return driver in BY_NAME


def idle(driver: str | None) -> bool:
    """Unbound or on a passthrough driver: the host does not use the function."""
    return driver is None or driver in BY_NAME


def group_safe(driver: str | None) -> bool:
    """Whether a group member on `driver` keeps a vfio IOMMU group viable."""
    return driver is None or (driver in BY_NAME and BY_NAME[driver].group_safe)
