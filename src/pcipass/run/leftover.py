"""What a device looks like after an operation that did not finish, and how to give it back.

Used by recovery's messages and by `recover --abandon`: the device's driver and
`driver_override` from sysfs and, on Xen, what xl and libxl hold (listed by
`xl pci-assignable-list`, libxl's `driver_path` in xenstore); `hand_back` is
the exact commands that put the device on its original driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pcipass.address import PciAddress
from pcipass.host import paths
from pcipass.host.base import CommandFailed, Host
from pcipass.host.xen import xenstore_read
from pcipass.run.plan import EMPTY_OVERRIDE

STUBS = ("pciback", "vfio-pci")


def driver_path_key(bdf: str) -> str:
    """libxl's xenstore key for the driver to rebind a device to."""
    parsed = PciAddress.try_parse(bdf)
    return f"/libxl/pci/{parsed.xenstore if parsed else bdf}/driver_path"


def xl_listed(host: Host, bdf: str) -> bool | None:
    """Whether `xl pci-assignable-list` lists `bdf` (None: no working xl)."""
    try:
        result = host.run(["xl", "pci-assignable-list"])
    except CommandFailed:
        return None
    return bdf in result.stdout.split() if result.returncode == 0 else None


@dataclass(frozen=True)
class DeviceState:
    """One device as found, and what it had before (`original`: driver, override)."""

    bdf: str
    driver: str | None
    override: str | None
    listed: bool | None
    driver_path: str | None
    original: str | None
    original_override: str | None
    original_loaded: bool = True

    def obstacle(self) -> str:
        """What keeps the device from going back to its original driver, with the fix ("")."""
        path = f"/{paths.dev(self.bdf, 'driver_override')}"
        if self.override and self.override not in (self.original, self.original_override):
            return (f"its driver_override {self.override} keeps {self.original or 'any driver'} "
                    f"from binding: `echo > {path}`")
        if self.original and not self.original_loaded:
            return f"{self.original} is not loaded: `modprobe {self.original}`"
        return ""

    def describe(self) -> str:
        """One line: where the device is, in the backend's own terms."""
        parts = [f"on {self.driver}" if self.driver else "without driver"]
        if self.override:
            parts.append(f"driver_override {self.override}")
        if self.listed is not None:
            parts.append("listed by xl" if self.listed else "not listed by xl")
            parts.append(f"driver_path {self.driver_path}" if self.driver_path
                         else "no driver_path in xenstore")
        parts.append(f"originally on {self.original or 'no driver'}")
        return ", ".join(parts)

    def hand_back(self) -> list[str]:
        """Shell commands that give the device back to its original driver (empty: nothing)."""
        bdf = self.bdf
        cmds: list[str] = []
        if self.override != self.original_override:
            value = f"{self.original_override} " if self.original_override else ""
            cmds.append(f"echo {value}> /{paths.dev(bdf, 'driver_override')}")
        if self.driver == self.original:
            return cmds
        if self.driver == "pciback" and self.listed is not None:
            cmds.append(f"xl pci-assignable-add {bdf}   # finishes xl's quarantine; "
                        "'already assigned to pciback' is expected")
            want = f"/{paths.drv(self.original)}" if self.original else None
            if want and self.driver_path != want:
                cmds.append(f"xenstore-write {driver_path_key(bdf)} {want}")
            cmds.append(f"xl pci-assignable-remove {'-r ' if want else ''}{bdf}")
            return cmds
        if self.driver:
            cmds.append(f"echo {bdf} > /{paths.drv(self.driver, 'unbind')}")
        if self.original:
            cmds.append(f"echo {bdf} > /{paths.drv(self.original, 'bind')}")
        return cmds


def observe(host: Host, bdf: str, payload: dict[str, Any] | None) -> DeviceState:
    """Read one device's state; `payload` is pcipass's record of where it came from."""
    text = host.try_read_text(paths.dev(bdf, "driver_override"))
    override = None if text in (None, "", EMPTY_OVERRIDE) else text
    listed = xl_listed(host, bdf)
    rec = payload or {}
    path = xenstore_read(host, driver_path_key(bdf)) if listed is not None else None
    original = rec.get("driver") if payload else (
        path.rstrip("/").rpartition("/")[2] or None if path else None)
    return DeviceState(
        bdf=bdf,
        driver=host.link_name(paths.dev(bdf, "driver")),
        override=override,
        listed=listed,
        driver_path=path,
        original=original,
        original_override=rec.get("driver_override"),
        original_loaded=not original or host.exists(paths.drv(original)),
    )
