"""The simulator's boot lines are the labs' own: each one is in the capture its module cites
(labs/evidence/doctor/), the kernel's without its timestamp where the capture is another boot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pcipass.sim import boot_log

EVIDENCE = Path(__file__).resolve().parents[3] / "labs" / "evidence" / "doctor"
STAMP = re.compile(r"^\[ *\d+\.\d+\] ")

CITED = [
    ("xen-intel.txt", (boot_log.XEN_VERSION, *boot_log.XEN_VTD, *boot_log.KERNEL_DOM0)),
    ("xen-amd.txt", boot_log.XEN_AMD_VI),
    ("xen-none.txt", boot_log.XEN_NO_IOMMU),
    ("kernel-intel.txt", boot_log.KERNEL_VTD),
]


def lab_lines(name: str) -> set[str]:
    return {line.rstrip("\n") for line in (EVIDENCE / name).read_text().splitlines()}


@pytest.mark.parametrize(("capture", "lines"), CITED, ids=[c for c, _ in CITED])
def test_every_simulated_line_is_in_its_capture(capture: str, lines: tuple[str, ...]) -> None:
    assert [line for line in lines if line not in lab_lines(capture)] == []


def test_xen_command_line_is_the_labs() -> None:
    assert f"xen_commandline        : {boot_log.XEN_COMMANDLINE}" in lab_lines("xen-intel.txt")


def test_kernel_without_iommu_prints_the_labs_lines_and_no_dmar() -> None:
    lab = {STAMP.sub("", line) for line in lab_lines("kernel-none.txt") if STAMP.match(line)}
    assert [line for line in boot_log.KERNEL_NO_IOMMU if STAMP.sub("", line) not in lab] == []
    assert not any("DMAR" in line for line in lab)
