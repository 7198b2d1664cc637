"""User input → device: a PCI address in any form xl accepts, or a network interface name.

Addresses are read by `pcipass.spec` exactly as xl reads a PCI_SPEC_STRING
(``0000:05:00.0``, ``05:00.0``, ``05:00.0@3,permissive=1``, ``bdf=05:00.1,seize=1``,
any hex case); the guest slot and options are ignored here. Anything else is
taken as a network interface name. Everything that does not name exactly one
existing function is an `InputError` saying what was meant and what exists.
"""

from __future__ import annotations

import re

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.model.device import Device, HostModel
from pcipass.spec import check_spec

_ADDRESS_LIKE = re.compile(r"^(bdf=)?[0-9a-fA-F]+:[0-9a-fA-F:.*@,=a-zA-Z_]*$", re.I)


def _key(bdf: PciAddress) -> int:
    return (bdf.domain << 16) | (bdf.bus << 8) | (bdf.dev << 3) | bdf.func


def nearest(model: HostModel, bdf: PciAddress, count: int = 3) -> list[PciAddress]:
    """The existing functions closest to `bdf` in address order."""
    target = _key(bdf)
    return sorted(model.devices, key=lambda b: (abs(_key(b) - target), _key(b)))[:count]


def parse_address(text: str) -> PciAddress | None:
    """The one function an xl-style PCI spec names, or None when `text` is not a spec."""
    check = check_spec(text.strip(), strict=True)
    if check.spec is None or check.spec.address is None:
        if _ADDRESS_LIKE.match(text.strip()):
            raise InputError.about(
                f"{text!r} is not a PCI address",
                check.error or "",
                "write it as DDDD:BB:DD.F or BB:DD.F, e.g. 0000:05:00.0",
            )
        return None
    a = check.spec.address
    if check.spec.all_functions:
        raise InputError(
            f"{text!r} names every function of slot {a.slot}",
            f"give one function, e.g. {a.slot}.0",
        )
    return a


def resolve(model: HostModel, text: str) -> Device:
    """The one device `text` names; `InputError` naming the input and what exists instead."""
    bdf = parse_address(text)
    if bdf is not None:
        return _by_address(model, text, bdf)
    for dev in model.devices.values():
        if any(nif.name == text for nif in dev.net):
            return dev
    known = sorted(nif.name for d in model.devices.values() for nif in d.net)
    hint = ", ".join(known[:8]) if known else "none on a PCI device"
    raise InputError(
        f"no PCI device has a network interface named {text!r}",
        f"give a PCI address or one of these interfaces: {hint}",
    )


def _by_address(model: HostModel, text: str, bdf: PciAddress) -> Device:
    dev = model.devices.get(bdf)
    if dev is not None:
        return dev
    domains = sorted({b.domain for b in model.devices})
    if domains and bdf.domain not in domains:
        have = ", ".join(f"{d:04x}" for d in domains)
        raise InputError(
            f"{bdf} is on PCI domain {bdf.domain:04x}, but this host only has domain {have}",
            "check the domain part of the address (`pcipass list`)",
        )
    close = ", ".join(str(b) for b in nearest(model, bdf))
    raise InputError(
        f"no PCI device {bdf} (from {text.strip()!r}) on this host",
        f"nearest existing: {close}" if close else "this host shows no PCI devices",
    )
