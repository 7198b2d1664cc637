"""doctor's `device-group` in a dom0: never a blind pass; behind a PCIe-to-PCI bridge it
warns with the devices Xen co-assigns."""

from __future__ import annotations

from pcipass.address import PciAddress
from pcipass.model.device import Device, HostModel
from pcipass.ops.doctor import devices
from pcipass.ops.doctor.facts import DoctorFacts
from pcipass.ops.doctor.verdict import Status

A = PciAddress.parse


def facts(*devs: Device) -> DoctorFacts:
    return DoctorFacts(kind="xen", model=HostModel({d.bdf: d for d in devs}, {}, False))


PORT = Device(A("0000:00:1c.0"), 0x8086, 0x1, header_type=1, pcie_type="root-port")
BRIDGE = Device(A("0000:01:00.0"), 0x8086, 0x2, header_type=1, pcie_type="pcie-to-pci-bridge",
                parent=PORT.bdf)
OLD_A = Device(A("0000:02:00.0"), 0x10EC, 0x8139, parent=BRIDGE.bdf)
OLD_B = Device(A("0000:02:01.0"), 0x10EC, 0x8139, parent=BRIDGE.bdf)
NIC = Device(A("0000:03:00.0"), 0x8086, 0x10D3, parent=PORT.bdf, pcie_type="endpoint")


def test_behind_a_pcie_to_pci_bridge_it_warns_naming_the_others() -> None:
    v = devices.group(facts(PORT, BRIDGE, OLD_A, OLD_B, NIC), OLD_A)
    assert v.status == Status.WARN
    assert "0000:01:00.0" in v.evidence and "0000:02:01.0" in v.evidence
    assert "0000:03:00.0" not in v.evidence


def test_elsewhere_it_is_unknown_saying_what_is_not_checked() -> None:
    v = devices.group(facts(PORT, BRIDGE, OLD_A, OLD_B, NIC), NIC)
    assert (v.status, "phantom functions" in v.evidence) == (Status.UNKNOWN, True)
    assert "no PCIe-to-PCI bridge above it" in v.evidence
