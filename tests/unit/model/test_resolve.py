"""User input → one device, or an InputError that says what exists instead."""

from __future__ import annotations

import pytest

from helpers.model_hosts import build
from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.real import RealHost
from pcipass.model.device import HostModel
from pcipass.model.discovery import discover
from pcipass.model.resolve import nearest, parse_address, resolve


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
