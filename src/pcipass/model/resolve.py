"""User input → devices: the one resolver of the loose ways users name a device.

Four cases, each recognised by its own function and tried in this fixed order:

1. `ADDRESS` — one function, read by `pcipass.spec` exactly as xl reads a
   PCI_SPEC_STRING (``0000:05:00.0``, ``05:00.0``, ``bdf=05:00.1``, any hex case;
   a guest slot and options ``@3,permissive=1`` are ignored or refused, as the
   command says);
2. `SLOT` — every function of a slot, ``[DDDD:]BB:DD.*``;
3. `NAME` written ``name=nic0`` — a device name given to pcipass or xl;
4. `INTERFACE` — a network interface name (``eth0``) of a PCI function;
5. `NAME` written bare (``nic0``).

Each command says which cases it accepts (`show`: address, interface; `assignable
add`: address, slot, interface; `assignable remove`: also names). An address
always beats a name, so a name can never hide a device's own address. Everything
that does not name existing functions is an `InputError` saying what was meant
and what exists instead.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping

from pcipass.address import PciAddress
from pcipass.errors import InputError, abbreviate
from pcipass.model.device import Device, HostModel
from pcipass.spec import check_spec


class Accept(enum.Flag):
    """The cases of user input a command accepts."""

    ADDRESS = enum.auto()
    SLOT = enum.auto()
    INTERFACE = enum.auto()
    NAME = enum.auto()


SHOW = Accept.ADDRESS | Accept.INTERFACE
ADD = Accept.ADDRESS | Accept.SLOT | Accept.INTERFACE
REMOVE = ADD | Accept.NAME

_ADDRESS_LIKE = re.compile(r"^(bdf=)?[0-9a-fA-F]+:[0-9a-fA-F:.*@,=a-zA-Z_]*$", re.I)
#: What xl's BDF parser takes as an address: `[DDDD:]BB:DD.F` or `.*`, anything after ignored.
LOOKS_LIKE_BDF = re.compile(r"^([0-9a-f]{1,4}:)?[0-9a-f]{1,2}:[0-9a-f]{1,2}\.[0-7*]", re.I)


def _key(bdf: PciAddress) -> int:
    return (bdf.domain << 16) | (bdf.bus << 8) | (bdf.dev << 3) | bdf.func


def nearest(model: HostModel, bdf: PciAddress, count: int = 3) -> list[PciAddress]:
    """The existing functions closest to `bdf` in address order."""
    target = _key(bdf)
    return sorted(model.devices, key=lambda b: (abs(_key(b) - target), _key(b)))[:count]


# -- the cases ----------------------------------------------------------------
def match_spec(text: str, options: bool = True) -> tuple[PciAddress, bool] | None:
    """Case 1 and 2: (address, names the whole slot) when `text` is an xl PCI spec, None when
    it is not address-like at all. `options=False` refuses guest-side parts (`@vslot`, ...)."""
    check = check_spec(text.strip(), strict=True)
    if check.spec is None or check.spec.address is None:
        if _ADDRESS_LIKE.match(text.strip()):
            raise InputError.about(
                f"{abbreviate(text)!r} is not a PCI address",
                check.error or "",
                "write it as DDDD:BB:DD.F or BB:DD.F, e.g. 0000:05:00.0",
            )
        return None
    extra = sorted(check.spec.explicit - {"bdf"})
    if extra and not options:
        raise InputError(
            f"{abbreviate(text)!r} sets {', '.join(extra)}, which a device made assignable "
            "does not keep",
            "give just the address here; put guest options in the domain's pci list "
            "(`pcipass config pci add`)",
        )
    return check.spec.address, check.spec.all_functions


def parse_address(text: str) -> PciAddress | None:
    """The one function an xl-style PCI spec names, or None when `text` is not a spec."""
    found = match_spec(text)
    if found is None:
        return None
    address, whole_slot = found
    if whole_slot:
        raise _not_accepted_slot(text, address)
    return address


def match_interface(model: HostModel, text: str) -> Device | None:
    """Case 4: the PCI function that carries network interface `text`."""
    for dev in model.devices.values():
        if any(nif.name == text for nif in dev.net):
            return dev
    return None


def match_name(names: Mapping[str, str], text: str) -> str | None:
    """Cases 3 and 5: the BDF of the device named `text` (``name=X`` or bare ``X``)."""
    return names.get(text.strip().removeprefix("name="))


# -- the resolver -------------------------------------------------------------
def is_slot(text: str) -> bool:
    """Whether `text` is written as a whole slot, `[DDDD:]BB:DD.*`."""
    return text.strip().endswith(".*")


def resolve_all(
    model: HostModel,
    text: str,
    accept: Accept = SHOW,
    names: Mapping[str, str] | None = None,
    options: bool = True,
) -> list[Device]:
    """The devices `text` names, trying the accepted cases in the fixed order.
    `names`: device name → BDF; `options=False` refuses a spec's guest-side parts."""
    spec = None if text.strip().startswith("name=") else match_spec(text, options)
    if spec is not None:
        address, whole_slot = spec
        if not whole_slot:
            if Accept.ADDRESS not in accept:
                raise InputError(f"{abbreviate(text)!r} is an address", "give a device name")
            return [_by_address(model, text, address)]
        if Accept.SLOT not in accept:
            raise _not_accepted_slot(text, address)
        return _by_slot(model, address)
    if Accept.NAME in accept and text.strip().startswith("name="):
        return [_by_name(model, text, match_name(names or {}, text))]
    if Accept.INTERFACE in accept:
        dev = match_interface(model, text)
        if dev is not None:
            return [dev]
    if Accept.NAME in accept:
        bdf = match_name(names or {}, text)
        if bdf is not None:
            return [_by_name(model, text, bdf)]
    raise _unknown(model, text, accept, names or {})


def resolve(
    model: HostModel,
    text: str,
    accept: Accept = SHOW,
    names: Mapping[str, str] | None = None,
    options: bool = True,
) -> Device:
    """The one device `text` names (`accept` must not include `SLOT`)."""
    found = resolve_all(model, text, accept & ~Accept.SLOT, names, options)
    return found[0]


def _not_accepted_slot(text: str, address: PciAddress) -> InputError:
    return InputError(
        f"{abbreviate(text)!r} names every function of slot {address.slot}",
        f"give one function, e.g. {address.slot}.0",
    )


def _by_slot(model: HostModel, address: PciAddress) -> list[Device]:
    key = (address.domain, address.bus, address.dev)
    found = [d for b, d in model.devices.items() if (b.domain, b.bus, b.dev) == key]
    if not found:
        raise InputError(f"no PCI device in slot {address.slot}", "see `pcipass list`")
    return found


def _by_name(model: HostModel, text: str, bdf: str | None) -> Device:
    parsed = PciAddress.try_parse(bdf) if bdf else None
    dev = model.devices.get(parsed) if parsed else None
    if dev is None:
        raise InputError(
            f"no assignable device is named {abbreviate(text.strip().removeprefix('name='))!r}",
            "see `pcipass assignable list --names`",
        )
    return dev


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
        f"no PCI device {bdf} (from {abbreviate(text.strip())!r}) on this host",
        f"nearest existing: {close}" if close else "this host shows no PCI devices",
    )


def _unknown(model: HostModel, text: str, accept: Accept, names: Mapping[str, str]) -> InputError:
    """What `text` is not, and what the host has instead."""
    interfaces = sorted(nif.name for d in model.devices.values() for nif in d.net)
    if Accept.NAME not in accept:
        hint = ", ".join(interfaces[:8]) if interfaces else "none on a PCI device"
        return InputError(
            f"no PCI device has a network interface named {abbreviate(text)!r}",
            f"give a PCI address or one of these interfaces: {hint}",
        )
    have = sorted(names)
    nif = " nor a network interface of a PCI device" if Accept.INTERFACE in accept else ""
    return InputError(
        f"{abbreviate(text)!r} is neither a PCI address nor the name of an assignable "
        f"device{nif}",
        "see `pcipass assignable list --names`"
        + (f" (names: {', '.join(have[:8])})" if have else ""),
    )

