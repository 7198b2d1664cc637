"""Reset planning: FLR → PM → bus, never a bus reset that hits devices in use."""

from __future__ import annotations

import pytest

from pcipass.address import PciAddress
from pcipass.errors import OperationError
from pcipass.model.device import Device, HostModel, Reset
from pcipass.ops.reset import reset_plan

PORT = PciAddress.parse("0000:00:1c.0")
A, B = "0000:02:00.0", "0000:02:00.1"


def host(reset: Reset, neighbour_driver: str | None = "igb") -> HostModel:
    devs = [
        Device(PciAddress.parse(A), 1, 2, driver="vfio-pci", parent=PORT, reset=reset),
        Device(PciAddress.parse(B), 1, 3, driver=neighbour_driver, parent=PORT),
    ]
    return HostModel({d.bdf: d for d in devs}, {}, True)


def test_flr_first_and_original_methods_restored() -> None:
    plan = reset_plan(host(Reset(flr=True, reset_file=True, methods=("flr", "pm", "bus"))), A)
    assert plan.render() == [
        f"echo 'flr pm' > /sys/bus/pci/devices/{A}/reset_method",
        f"echo 1 > /sys/bus/pci/devices/{A}/reset",
        f"echo 'flr pm bus' > /sys/bus/pci/devices/{A}/reset_method",
    ]


def test_bus_reset_refused_when_neighbour_in_use() -> None:
    only_bus = Reset(reset_file=True, methods=("bus",))
    with pytest.raises(OperationError, match=r"would also reset 0000:02:00.1 \(on igb\)"):
        reset_plan(host(only_bus), A)
    plan = reset_plan(host(only_bus, neighbour_driver=None), A)
    assert plan.render() == [f"echo 1 > /sys/bus/pci/devices/{A}/reset"]


def test_no_reset_file_and_domain() -> None:
    with pytest.raises(OperationError, match="no sysfs `reset` file"):
        reset_plan(host(Reset(reset_file=False)), A)
    with pytest.raises(OperationError, match="domain 2"):
        reset_plan(host(Reset(reset_file=True, flr=True)), A, domid=2)
