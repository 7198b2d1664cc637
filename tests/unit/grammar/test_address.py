"""PciAddress: strict parse, canonical and xenstore forms, order, hash."""

from __future__ import annotations

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError


def test_parse_and_format() -> None:
    a = PciAddress.parse("05:00.1")
    assert (a.domain, a.bus, a.dev, a.func) == (0, 5, 0, 1)
    assert str(a) == "0000:05:00.1"
    assert a.xenstore == "0000-05-00-1"
    assert a.slot == "0000:05:00"
    assert PciAddress.parse("FFFF:ff:1F.7") == PciAddress(0xFFFF, 0xFF, 0x1F, 7)


def test_xenstore_round_trip() -> None:
    a = PciAddress(1, 2, 3, 4)
    assert PciAddress.parse_xenstore(a.xenstore) == a
    with pytest.raises(InputError):
        PciAddress.parse_xenstore("0000:05:00.0")


def test_order_and_hash() -> None:
    addrs = [PciAddress.parse(t) for t in ("0001:00:00.0", "05:00.1", "05:00.0", "04:1f.7")]
    assert [str(a) for a in sorted(addrs)] == [
        "0000:04:1f.7", "0000:05:00.0", "0000:05:00.1", "0001:00:00.0",
    ]  # fmt: skip
    assert len({PciAddress.parse("05:00.0"), PciAddress.parse("0000:05:00.0")}) == 1


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("05:00", "not a PCI address: '05:00'"),
        ("05:20.0", "PCI device number 0x20 in '05:20.0' is over 0x1f"),
        ("05:00.8", "not a PCI address: '05:00.8'"),
        ("0x5:00.0", "not a PCI address: '0x5:00.0'"),
        (" 05:00.0", "not a PCI address: ' 05:00.0'"),
        ("05:00.0 ", "not a PCI address: '05:00.0 '"),
        ("10000:00:00.0", "not a PCI address: '10000:00:00.0'"),
        ("", "not a PCI address: ''"),
    ],
)
def test_rejects_non_strict_forms(text: str, what: str) -> None:
    with pytest.raises(InputError) as exc:
        PciAddress.parse(text)
    assert exc.value.line().startswith(what + " — ")


def test_constructor_checks_ranges() -> None:
    with pytest.raises(InputError):
        PciAddress(0, 0x100, 0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05:00.1", PciAddress(0, 5, 0, 1)),
        (" 0000:05:00.1\n", PciAddress(0, 5, 0, 1)),
        ("5:0.7", PciAddress(0, 5, 0, 7)),
        ("10000:e0:00.0", PciAddress(0x10000, 0xE0, 0, 0)),  # Intel VMD domain
        ("05:20.0", None),
        ("05:00", None),
        ("eth0", None),
    ],
)
def test_try_parse_reads_sysfs_names_and_user_addresses(
    text: str, expected: PciAddress | None
) -> None:
    assert PciAddress.try_parse(text) == expected
