"""VF rates: ixgbe's refusals (ixgbe_ndo_set_vf_bw) in the driver table, a minimum over the
maximum, and numbers in ASCII digits only."""

from __future__ import annotations

from typing import Any

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.netlink import VfState
from pcipass.model.device import Device, HostModel, NetInterface, SriovPF, Status
from pcipass.ops import vf as ops_vf

PF, VFS = "0000:05:00.0", ("0000:05:10.0", "0000:05:10.2")
NEW = VfState(0, "00:00:00:00:00:00", 0, 0, True, False, "auto", 0, 0)


def plan_for(driver: str, values: dict[str, str], **now: Any) -> Any:
    sriov = SriovPF(63, 2, 0x80, 2, 0x10ED, True, tuple(PciAddress.parse(v) for v in VFS))
    pf = Device(PciAddress.parse(PF), 0x8086, 0x10FB, driver=driver, sriov=sriov,
                net=(NetInterface("enp5s0f0", "up", "52:54:00:12:34:58"),), status=Status.HOST)
    vfs = [Device(PciAddress.parse(b), 0x8086, 0x10ED, driver="ixgbevf",
                  physfn=pf.bdf, status=Status.HOST) for b in VFS]
    model = HostModel({d.bdf: d for d in (pf, *vfs)}, {}, True)
    t = ops_vf.target(model, PF, 1)
    states = [NEW, VfState(**(NEW.settings() | {"vf": 1} | now))]
    return ops_vf.set_plan(t, ops_vf.SetRequest(PF, 1, values), states, None)


@pytest.mark.parametrize(("values", "said"), [
    ({"min_tx_rate": "100", "max_tx_rate": "500"}, "no VF --min-rate setting"),
    ({"max_tx_rate": "10"}, "refuses --max-rate 1-10"),
    ({"max_tx_rate": "1"}, "refuses --max-rate 1-10"),
])
def test_ixgbe_refusals_are_input_errors(values: dict[str, str], said: str) -> None:
    with pytest.raises(InputError, match=said) as exc:
        plan_for("ixgbe", values)
    assert "EINVAL" in exc.value.what


def test_ixgbe_takes_an_unlimited_or_11_and_more_maximum() -> None:
    assert plan_for("ixgbe", {"max_tx_rate": "11"}).render()[-1].endswith("max_tx_rate 11")
    assert plan_for("ixgbe", {"max_tx_rate": "0"}, max_tx_rate=500).render()[-1] \
        .endswith("min_tx_rate 0 max_tx_rate 0")


@pytest.mark.parametrize(("values", "now"), [
    ({"min_tx_rate": "600", "max_tx_rate": "500"}, {}),
    ({"min_tx_rate": "600"}, {"max_tx_rate": 500}),
    ({"max_tx_rate": "100"}, {"min_tx_rate": 200}),
])
def test_a_minimum_over_the_maximum_is_bad_input(values: dict[str, str],
                                                 now: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="is over --max-rate"):
        plan_for("mlx5_core", values, **now)


def test_a_minimum_with_an_unlimited_maximum_is_taken() -> None:
    assert plan_for("mlx5_core", {"min_tx_rate": "600"}).render()[-1] \
        .endswith("min_tx_rate 600 max_tx_rate 0")


@pytest.mark.parametrize("text", ["1_0", "\u0661\u0660", " 10", "+10", "10 ", "\u00b2"])
def test_numbers_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(InputError, match="is not a number"):
        ops_vf.parse_values({"vlan": text})
