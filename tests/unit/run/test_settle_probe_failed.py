"""Waiting for new VFs stops for those whose driver's probe failed (the kernel log says so),
instead of the full settle time (NVMe's offline secondary controllers)."""

from __future__ import annotations

from pathlib import Path

from pcipass.run.settle import failed_in, wait_settled
from pcipass.sim.host import create_sim

PF = "0000:01:00.0"


def test_nvme_vfs_whose_probe_failed_are_not_waited_for(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="kernel-lab")
    host.write(f"sys/bus/pci/devices/{PF}/sriov_numvfs", "2")
    sleeps: list[float] = []
    warnings = wait_settled(host, PF, timeout=30, sleep=sleeps.append)
    assert len(sleeps) < 5, "it waited for VFs whose probe had already failed"
    assert len(warnings) == 2 and all("probe failed" in w for w in warnings)


def test_the_lab_lines_name_the_controller_then_its_failure() -> None:
    log = ("[   23.946228] nvme nvme1: pci function 0000:01:00.1\n"
           "[   24.462895] nvme nvme1: Removing after probe failure status: -19\n")
    assert failed_in(log) == {"0000:01:00.1"}
    assert failed_in("nvme 0000:01:00.2: Removing after probe failure status: -19") == \
        {"0000:01:00.2"}
    assert failed_in("[   23.946228] nvme nvme1: pci function 0000:01:00.1\n") == set()
