"""`doctor` on a kernel without an IOMMU (the kernel lab with LAB_IOMMU=none): a log without
interrupt remapping lines is not called rotated."""

from __future__ import annotations

from pcipass.model.device import HostModel
from pcipass.ops.doctor import host_checks as h
from pcipass.ops.doctor.facts import DoctorFacts, Output
from pcipass.ops.doctor.verdict import Status

EMPTY = HostModel(devices={}, groups={}, iommu_enabled=False)
LOG = "[    0.000000] Linux version 6.1.0-50-amd64\n"


def test_no_iommu_and_no_remapping_line_says_so_with_the_fix() -> None:
    facts = DoctorFacts(kind="kvm", model=EMPTY, kernel_log=Output(LOG))
    v = h.interrupt_remapping_kvm(facts)
    assert v.status == Status.UNKNOWN
    assert v.evidence == ("the kernel log has no interrupt remapping line, and the kernel runs "
                          "without an IOMMU (see iommu-sysfs)")
    assert v.fix == "turn the IOMMU on (see iommu-sysfs)"


def test_with_an_iommu_a_missing_line_is_a_rotated_log() -> None:
    facts = DoctorFacts(kind="kvm", model=EMPTY, class_iommu=("dmar0",), kernel_log=Output(LOG))
    v = h.interrupt_remapping_kvm(facts)
    assert (v.status, v.evidence) == (Status.UNKNOWN,
                                      "the kernel log no longer holds the IOMMU's boot lines")
