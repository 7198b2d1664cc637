"""User input → device: a PCI address in any form xl accepts, or a network interface name.

Accepted: ``0000:05:00.0``, ``05:00.0`` (domain 0), any hex case, and xl's
decorations around them — ``bdf=`` prefix, ``@VSLOT`` suffix, ``,key=value``
options — which are ignored here. Everything that does not name exactly one
existing function is an `InputError` saying what was meant and what exists.
"""

from __future__ import annotations

import re

from pcipass.errors import InputError
from pcipass.model.device import BDF, Device, HostModel

_XL_DECOR = re.compile(r"^(?:bdf=)?(?P<addr>[^@,]*)(?:@[^,]*)?(?:,.*)?$", re.I)


def _key(bdf: BDF) -> int:
    return (bdf.domain << 16) | (bdf.bus << 8) | (bdf.dev << 3) | bdf.fn


def nearest(model: HostModel, bdf: BDF, count: int = 3) -> list[BDF]:
    """The existing functions closest to `bdf` in address order."""
    target = _key(bdf)
    return sorted(model.devices, key=lambda b: (abs(_key(b) - target), _key(b)))[:count]


def parse_address(text: str) -> BDF | None:
    """The BDF inside an xl-style PCI spec, or None when `text` is not one."""
    m = _XL_DECOR.match(text.strip())
    addr = m["addr"] if m else text
    if addr.endswith(".*"):
        raise InputError(
            f"{text!r} names every function of slot {addr[:-2]}",
            "give one function, e.g. " + addr[:-1] + "0",
        )
    return BDF.try_parse(addr)


def resolve(model: HostModel, text: str) -> Device:
    """The one device `text` names; `InputError` naming the input and what exists instead."""
    bdf = parse_address(text)
    if bdf is not None:
        return _by_address(model, text, bdf)
    for dev in model.devices.values():
        if any(nif.name == text for nif in dev.net):
            return dev
    if re.fullmatch(r"[0-9a-fA-F:.]+", text.strip()):
        raise InputError(
            f"{text!r} is not a PCI address",
            "write it as DDDD:BB:DD.F or BB:DD.F, e.g. 0000:05:00.0",
        )
    known = sorted(nif.name for d in model.devices.values() for nif in d.net)
    hint = ", ".join(known[:8]) if known else "none on a PCI device"
    raise InputError(
        f"no PCI device has a network interface named {text!r}",
        f"give a PCI address or one of these interfaces: {hint}",
    )


def _by_address(model: HostModel, text: str, bdf: BDF) -> Device:
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
