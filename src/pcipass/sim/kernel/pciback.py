"""xen-pciback's sysfs interface: ``new_slot``, ``remove_slot``, ``permissive``, ``slots``.

drivers/xen/xen-pciback/pci_stub.c: the slot list decides which devices pciback's probe takes.
"""

from __future__ import annotations

import errno

from pcipass.host import paths
from pcipass.sim.kernel.base import KernelBase
from pcipass.sim.kernel.kstr import parse_slot
from pcipass.sim.kernel.state import WriteError


class Pciback(KernelBase):
    """pciback's slot list and permissive list."""

    def _slot_listed(self, bdf: str) -> bool:
        return bdf in self.state.pciback_slots

    def _pciback_write(self, attr: str, data: str) -> None:
        slot = parse_slot(data)
        if slot is None:
            raise WriteError(errno.EINVAL)
        dom, bus, dev, func = slot
        if attr == "permissive":
            bdf = f"{dom:04x}:{bus:02x}:{dev:02x}.{func}"
            seized = min(slot) >= 0 and self.exists(bdf) and self.driver_of(bdf) == "pciback"
            if not seized:
                raise WriteError(errno.ENODEV)
            if bdf not in self.state.pciback_permissive:
                self.state.pciback_permissive.append(bdf)
                self.log.append(f"pciback {bdf}: enabling permissive mode configuration space")
            self._write_pciback_files()
        elif attr == "new_slot":
            self.add_slots(slot)
        else:
            kept = [
                s
                for s in self.state.pciback_slots
                if not (
                    int(s[:4], 16) == dom
                    and int(s[5:7], 16) == bus
                    and dev in (-1, int(s[8:10], 16))
                    and func in (-1, int(s[11]))
                )
            ]
            if len(kept) == len(self.state.pciback_slots):
                raise WriteError(errno.ENOENT)
            self.state.pciback_slots = kept
            self._write_pciback_files()

    def add_slots(self, slot: tuple[int, int, int, int]) -> None:
        """pcistub_device_id_add: wildcards expand to every slot/function; EINVAL out of range."""
        dom, bus, dev, func = slot
        devs = range(32) if dev < 0 else [dev]
        funcs = range(8) if func < 0 else [func]
        if not (0 <= dom <= 0xFFFF and 0 <= bus <= 0xFF and max(devs) < 32 and max(funcs) < 8):
            raise WriteError(errno.EINVAL)
        self.state.pciback_slots.extend(
            f"{dom:04x}:{bus:02x}:{d:02x}.{f}" for d in devs for f in funcs
        )
        self._write_pciback_files()

    def _write_pciback_files(self) -> None:
        ddir = self.root / paths.drv("pciback")
        if not ddir.exists():
            return
        (ddir / "slots").write_text("".join(s + "\n" for s in self.state.pciback_slots))
        (ddir / "permissive").write_text("".join(s + "\n" for s in self.state.pciback_permissive))
