"""The `xen-low-memory` check: Xen's free memory below 4 GiB (xc_availheap, 32 address bits)
against the bounce buffer a PV guest with a PCI device exchanges for it (Linux 6.1: 4 MiB,
2 MiB at least; 64 MiB when set up at boot), and how its fact is gathered: `--root` and a
host that cannot say are unknown, never a pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcipass.host.base import (
    DEFAULT_RUN_TIMEOUT,
    CommandFailed,
    Host,
    NotThisMachine,
    RunResult,
)
from pcipass.model.device import HostModel
from pcipass.model.failures import SIGNATURES
from pcipass.ops.doctor import host_checks as h
from pcipass.ops.doctor.facts import Amount, DoctorFacts, gather
from pcipass.ops.doctor.table import confirm
from pcipass.ops.doctor.verdict import Status
from pcipass.sim.host import create_sim
from pcipass.sim.xen.memory import set_free

EMPTY = HostModel(devices={}, groups={}, iommu_enabled=False)
MIB = 1 << 20


def facts(low: Amount) -> DoctorFacts:
    return DoctorFacts(kind="xen", model=EMPTY, xen_capabilities="control_d",
                       xen_free_below_4gib=low)


def verdict(free: int) -> tuple[Status, str, str]:
    v = h.xen_low_memory(facts(Amount(free)))
    return v.status, v.evidence, v.fix


def test_after_boot_the_lab_has_room() -> None:
    # xen lab after boot: zones 15-19 hold 499441 free pages (labs/evidence/swiotlb)
    status, evidence, fix = verdict(499441 * 4096)
    assert status is Status.PASS and fix == ""
    assert evidence.startswith("xc_availheap (XEN_SYSCTL_availheap, 32 address bits): "
                               "1950.9 MiB (499441 pages of 4 KiB) free below 4 GiB")


@pytest.mark.parametrize("free", [0, 4096, 2 * MIB - 4096])
def test_less_than_the_smallest_bounce_buffer_fails_with_the_fix(free: int) -> None:
    status, evidence, fix = verdict(free)
    assert status is Status.FAIL
    assert f"({free // 4096} pages of 4 KiB)" in evidence
    assert "Could not setup SWIOTLB!" in evidence and "less than the 2 MiB" in evidence
    assert "dom0_mem=" in fix and "xl mem-set" in fix


@pytest.mark.parametrize(("free", "says"), [
    (2 * MIB, "room for only a 2 MiB one"),
    (4 * MIB - 4096, "room for only a 2 MiB one"),
    (4 * MIB, "room for a 4 MiB one as Linux 6.1's pcifront sets up"),
    (64 * MIB - 4096, "room for a 4 MiB one"),
])
def test_less_than_a_boot_time_bounce_buffer_warns(free: int, says: str) -> None:
    status, evidence, fix = verdict(free)
    assert status is Status.WARN and says in evidence and "64 MiB" in evidence
    assert "dom0_mem=" in fix


def test_64_mib_passes() -> None:
    assert verdict(64 * MIB)[0] is Status.PASS


def test_unknown_says_why_and_what_to_do() -> None:
    v = h.xen_low_memory(facts(Amount(None, "xc_interface_open failed: Permission denied",
                                      "run pcipass as root in dom0")))
    assert (v.status, v.evidence, v.fix) == (
        Status.UNKNOWN, "xc_interface_open failed: Permission denied",
        "run pcipass as root in dom0")


def test_the_pcifront_signatures_are_confirmed_by_it() -> None:
    by_id = {s.id: s for s in SIGNATURES}
    assert by_id["pcifront-swiotlb"].check == by_id["pcifront-setup-enomem"].check == \
        "xen-low-memory"
    [row] = confirm("xen-low-memory", facts(Amount(4096)))
    assert (row.check, row.status) == ("xen-low-memory", Status.FAIL)


class Refuses(Host):
    """A dom0 whose Xen cannot be asked: `error` is what xen_free_below_4gib raises."""

    def __init__(self, root: Path, error: CommandFailed) -> None:
        super().__init__(root)
        self.error = error

    def xen_free_below_4gib(self) -> int:
        raise self.error

    def run(self, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        raise NotThisMachine(argv, self.root)


def _gathered(host: Host) -> Amount:
    return gather(host, EMPTY).xen_free_below_4gib


def test_gathered_from_the_host_and_unknown_when_it_cannot_say(tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", profile="xen-lab")
    assert _gathered(sim) == Amount(1951 * MIB)
    state = json.loads((sim.directory / "sim.json").read_text())
    set_free(state["xen"], 96, 0)
    (sim.directory / "sim.json").write_text(json.dumps(state))
    assert _gathered(sim) == Amount(0)

    tree = sim.root  # a dom0's tree: proc/xen/capabilities says control_d
    refused = _gathered(Refuses(tree, NotThisMachine(["xc_availheap"], tree)))
    assert refused.value is None and refused.refused
    assert "only on the host itself" in refused.why
    failed = _gathered(Refuses(tree, CommandFailed("no libxenctrl", "install it")))
    assert failed == Amount(None, "no libxenctrl", "install it")


def test_not_gathered_on_linux_without_xen(tmp_path: Path) -> None:
    kvm = create_sim(tmp_path / "kvm", profile="kernel-lab")
    assert _gathered(kvm) == Amount(None)
    with pytest.raises(CommandFailed, match="no Xen on this simulated host"):
        kvm.xen_free_below_4gib()


def test_the_simulated_free_memory_is_what_xl_info_says_and_consistent(tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", profile="xen-lab")
    assert "free_memory            : 2012\n" in sim.run(["xl", "info"]).stdout
    state = json.loads((sim.directory / "sim.json").read_text())
    set_free(state["xen"], 96, 0)
    (sim.directory / "sim.json").write_text(json.dumps(state))
    assert "free_memory            : 96\n" in sim.run(["xl", "info"]).stdout
    with pytest.raises(ValueError, match="97 MiB below 4 GiB of 96 MiB free"):
        set_free(state["xen"], 96, 97)
