"""User input → one device, or an InputError that says what exists instead."""

from __future__ import annotations

import pytest

from helpers.model_hosts import build
from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.real import RealHost
from pcipass.model.device import Device, HostModel
from pcipass.model.discovery import discover
from pcipass.model.resolve import (
    ADD,
    REMOVE,
    SHOW,
    Accept,
    match_interface,
    match_name,
    match_spec,
    nearest,
    parse_address,
    resolve,
    resolve_all,
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> HostModel:
    return discover(RealHost(build(tmp_path_factory.mktemp("host"))))


@pytest.mark.parametrize(
    "text",
    [
        "0000:05:00.0",
        "05:00.0",
        "0000:05:00.0@08",
        "05:00.0,permissive=1",
        "bdf=05:00.0",
        "bdf=0000:05:00.0,rdm_policy=strict",
        " 0000:05:00.0 ",
        "0:05:0.0",
        "0000:05:00.0@8,msitranslate=1",
    ],
)
def test_xl_forms(model: HostModel, text: str) -> None:
    assert str(resolve(model, text).bdf) == "0000:05:00.0"


def test_case_and_interface_names(model: HostModel) -> None:
    assert str(resolve(model, "0000:0A:00.0").bdf) == "0000:0a:00.0"
    assert str(resolve(model, "eno1").bdf) == "0000:0a:00.0"
    assert str(resolve(model, "enp5s0f1").bdf) == "0000:05:00.1"


def test_unknown_bdf_names_it_and_the_nearest(model: HostModel) -> None:
    with pytest.raises(InputError) as exc:
        resolve(model, "05:00.7")
    assert "0000:05:00.7" in exc.value.what
    assert exc.value.fix.startswith("nearest existing: 0000:05:00.1")
    assert nearest(model, PciAddress(0, 5, 0, 7))[0] == PciAddress(0, 5, 0, 1)


def test_other_domain(model: HostModel) -> None:
    with pytest.raises(InputError, match="domain 0001, but this host only has domain 0000"):
        resolve(model, "0001:05:00.0")


def test_bad_inputs(model: HostModel) -> None:
    with pytest.raises(InputError, match="not a PCI address"):
        resolve(model, "05:00.9")
    with pytest.raises(InputError, match="unknown PCI_SPEC_STRING option 'BDF'"):
        resolve(model, "BDF=05:00.0")  # xl's keys are case-sensitive
    with pytest.raises(InputError, match="every function of slot"):
        resolve(model, "05:00.*")
    with pytest.raises(InputError, match="network interface named 'wlan0'") as exc:
        resolve(model, "wlan0")
    assert "eno1" in exc.value.fix
    assert parse_address("eth0") is None
    with pytest.raises(InputError):
        PciAddress.parse("05:20.0")  # device number is 5 bits


# -- the cases, one by one ---------------------------------------------------------------
def test_case_address_and_slot() -> None:
    assert match_spec("05:00.1") == (PciAddress(0, 5, 0, 1), False)
    assert match_spec("0000:05:00.*") == (PciAddress(0, 5, 0, 0), True)
    assert match_spec("nic0") is None and match_spec("eno1") is None
    assert match_spec("05:00.0@3,permissive=1") == (PciAddress(0, 5, 0, 0), False)
    with pytest.raises(InputError, match="sets permissive, vslot"):
        match_spec("05:00.0@3,permissive=1", options=False)


def test_case_interface(model: HostModel) -> None:
    dev = match_interface(model, "enp5s0f1")
    assert dev is not None and str(dev.bdf) == "0000:05:00.1"
    assert match_interface(model, "nic0") is None


def test_case_name() -> None:
    names = {"nic0": "0000:05:00.1"}
    assert match_name(names, "nic0") == match_name(names, "name=nic0") == "0000:05:00.1"
    assert match_name(names, "eno1") is None


# -- what each command accepts ---------------------------------------------------------------
def bdfs(devices: list[Device]) -> list[str]:
    return [str(d.bdf) for d in devices]


def test_each_command_chooses_its_cases(model: HostModel) -> None:
    names = {"nic0": "0000:05:00.1"}
    assert bdfs(resolve_all(model, "05:00.*", ADD)) == ["0000:05:00.0", "0000:05:00.1"]
    with pytest.raises(InputError, match="every function of slot 0000:05:00"):
        resolve_all(model, "05:00.*", SHOW)
    assert bdfs(resolve_all(model, "eno1", ADD)) == ["0000:0a:00.0"]
    assert bdfs(resolve_all(model, "nic0", REMOVE, names)) == ["0000:05:00.1"]
    assert bdfs(resolve_all(model, "name=nic0", REMOVE, names)) == ["0000:05:00.1"]
    with pytest.raises(InputError, match="no PCI device has a network interface named 'nic0'"):
        resolve_all(model, "nic0", ADD, names)  # add takes no names
    with pytest.raises(InputError, match="neither a PCI address nor the name"):
        resolve_all(model, "nic9", REMOVE, names)
    with pytest.raises(InputError, match="no assignable device is named 'nic9'"):
        resolve_all(model, "name=nic9", REMOVE, names)
    with pytest.raises(InputError, match="no PCI device in slot 0000:0b:00"):
        resolve_all(model, "0b:00.*", ADD)


def test_an_address_beats_a_name(model: HostModel) -> None:
    """xl looks names up first; a name spelled like an address must not hide the address."""
    names = {"05:00.1": "0000:0a:00.0", "eno1": "0000:05:00.0"}
    assert bdfs(resolve_all(model, "05:00.1", REMOVE, names)) == ["0000:05:00.1"]
    assert bdfs(resolve_all(model, "eno1", REMOVE, names)) == ["0000:0a:00.0"]  # interface next
    assert bdfs(resolve_all(model, "name=eno1", REMOVE, names)) == ["0000:05:00.0"]


def test_long_input_is_abbreviated(model: HostModel) -> None:
    with pytest.raises(InputError) as exc:
        resolve(model, "x" * 10_000, Accept.ADDRESS | Accept.INTERFACE)
    assert len(exc.value.line()) < 300 and "(10000 characters)" in exc.value.what
