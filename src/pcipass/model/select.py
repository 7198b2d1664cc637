"""`list`'s filters: which functions pass `--class`, `--driver`, `--sriov`, `--vendor`,
`--device` (a filter not given passes every function)."""

from __future__ import annotations

from pcipass.errors import InputError
from pcipass.model.device import Device, HostModel

#: ``--class`` words → class-code prefixes (hex of base class, or base+subclass).
CLASS_WORDS: dict[str, tuple[str, ...]] = {
    "storage": ("01",),
    "net": ("02",),
    "gpu": ("03",),
    "display": ("03",),
    "multimedia": ("04",),
    "audio": ("0401", "0403"),
    "memory": ("05",),
    "bridge": ("06",),
    "comm": ("07",),
    "system": ("08",),
    "input": ("09",),
    "serial": ("0c",),
    "usb": ("0c03",),
    "wireless": ("0d",),
    "crypto": ("10",),
    "signal": ("11",),
    "accel": ("12",),
}



def _class_prefixes(word: str) -> tuple[str, ...]:
    word = word.lower()
    if word in CLASS_WORDS:
        return CLASS_WORDS[word]
    if all(c in "0123456789abcdef" for c in word) and len(word) in (2, 4, 6):
        return (word,)
    raise InputError(
        f"unknown device class {word!r}",
        f"use one of {', '.join(sorted(CLASS_WORDS))} or a hex class like 0200",
    )


def _id_matches(value: int | None, name: str | None, want: str) -> bool:
    want = want.lower().removeprefix("0x")
    is_hex = 0 < len(want) <= 4 and all(c in "0123456789abcdef" for c in want)
    if value is not None and is_hex and int(want, 16) == value:
        return True
    return name is not None and want in name.lower()


def select(
    model: HostModel,
    classes: tuple[str, ...],
    driver: str | None,
    sriov: bool,
    vendor: str | None,
    device: str | None,
) -> list[Device]:
    """The devices that pass every filter given (a filter not given passes all)."""
    prefixes = tuple(p for word in classes for p in _class_prefixes(word))
    out = []
    for dev in model.devices.values():
        if prefixes and not (
            dev.class_code is not None and f"{dev.class_code:06x}".startswith(prefixes)
        ):
            continue
        if driver is not None and (dev.driver or "none") != driver:
            continue
        if sriov and not (dev.is_pf or dev.is_vf):
            continue
        if vendor is not None and not _id_matches(dev.vendor_id, dev.names.vendor, vendor):
            continue
        if device is not None and not _id_matches(dev.device_id, dev.names.device, device):
            continue
        out.append(dev)
    return out
