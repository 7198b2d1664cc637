"""attach/detach read each fact once: the exact programs one command runs on the simulated
Xen host (so their number cannot creep back), and the wait for a guest's pcifront before and
after the hot-plug (a backend left reconfiguring, as the Xen lab's slow guest does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import pcipass
from helpers.fakes import FaultyHost, xenstore
from pcipass.host.base import RunResult
from pcipass.host.real import RealHost
from pcipass.host.xen import unsanitise, xenstore_tree
from pcipass.sim.host import SimHost, create_sim

NIC = "0000:02:00.0"
BACKEND = "/local/domain/0/backend/pci/1/0"
STATE = f"{BACKEND}/state"
FACTS = [["xl", "info"], ["xenstore-ls", "-f", "/libxl"]]
"""What every command's facts cost: Xen's IOMMU and dom0-ness, libxl's device keys."""


class Guest:
    """Every program the simulated host runs (`runs`), for the CLI's own `SimHost` too. With
    `slow`, the guest's pcifront takes `slow` re-reads of the backend's state to finish each
    hot-plug (state 7 until then), as the Xen lab's TCG guest does."""

    def __init__(self, sim: SimHost, slow: int) -> None:
        self.sim = sim
        self.runs: list[list[str]] = []
        self.slow = slow
        self.left = 0

    def run(self, host: SimHost, argv: list[str], timeout: float = 30.0) -> RunResult:
        self.runs.append(list(argv))
        if argv == ["xenstore-read", STATE] and self.left:
            self.left -= 1
            if not self.left:
                RUN(host, ["xenstore-write", STATE, "4"])
        result = RUN(host, argv, timeout)
        if argv[:2] in (["xl", "pci-attach"], ["xl", "pci-detach"]) and self.slow:
            self.reconfiguring()
        return result

    def reconfiguring(self) -> None:
        RUN(self.sim, ["xenstore-write", STATE, "7"])
        self.left = self.slow


RUN = SimHost.run


def _guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: int = 0) -> Guest:
    sim = create_sim(tmp_path / "sim", profile="xen-lab")
    cfg = sim.root / "etc/xen/g.cfg"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('name = "g"\ntype = "pv"\nmemory = 256\npassthrough = "enabled"\n')
    assert sim.run(["xl", "create", "/etc/xen/g.cfg"]).returncode == 0
    assert pcipass("assignable", "add", NIC, host=sim).code == 0
    guest = Guest(sim, slow)

    def run(host: SimHost, argv: list[str], timeout: float = 30.0) -> RunResult:
        return guest.run(host, argv, timeout)

    monkeypatch.setattr(SimHost, "run", run)
    return guest


def _domain(details: bool = True) -> list[list[str]]:
    """The one read of the target domain: `xl list`, its config, backend keys, devices."""
    return [["xl", "list"], *([["xl", "list", "-l", "1"]] if details else []),
            ["xenstore-ls", "-f", BACKEND], ["xl", "pci-list", "1"]]


def test_attach_then_detach_run_each_program_once(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch)
    r = pcipass("attach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    assert guest.runs == [*FACTS, *_domain(), ["xl", "pci-attach", "1", NIC],
                         ["xl", "pci-list", "1"], ["xenstore-read", STATE]]
    guest.runs.clear()
    r = pcipass("detach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    assert guest.runs == [*FACTS, *_domain(details=False), ["xl", "pci-detach", "1", NIC],
                         ["xl", "pci-list", "1"], ["xenstore-read", STATE]]


def test_persist_and_dry_run_add_no_second_read(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch)
    r = pcipass("attach", "g", NIC, "--persist", "/etc/xen/g.cfg", "--dry-run", host=guest.sim)
    assert r.code == 0, r.err
    assert f"+pci = [ '{NIC}' ]" in r.out
    assert guest.runs == [*FACTS, *_domain()]
    guest.runs.clear()
    r = pcipass("attach", "g", NIC, "--persist", "/etc/xen/g.cfg", host=guest.sim)
    assert r.code == 0, r.err
    assert guest.runs == [*FACTS, *_domain(), ["xl", "pci-attach", "1", NIC],
                         ["xl", "pci-list", "1"], ["xenstore-read", STATE]]


def test_attach_waits_for_the_guest_after_the_hot_plug(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch, slow=3)
    r = pcipass("attach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    after = guest.runs[guest.runs.index(["xl", "pci-attach", "1", NIC]) + 1:]
    assert after == [["xl", "pci-list", "1"], *[["xenstore-read", STATE]] * 3]
    assert RUN(guest.sim, ["xenstore-read", STATE]).stdout == "4\n" and "pcifront" not in r.err


def test_a_guest_still_reconfiguring_is_waited_for_then_read_again(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch, slow=2)
    assert pcipass("attach", "g", NIC, host=guest.sim).code == 0
    guest.reconfiguring()  # an earlier hot-plug (by xl itself) the guest has not finished
    guest.runs.clear()
    r = pcipass("detach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    waited = [["xenstore-read", STATE]] * 2
    assert guest.runs[:len(FACTS) + 8] == [*FACTS, *_domain(details=False), *waited,
                                         *_domain(details=False)]
    assert ["xl", "pci-detach", "1", NIC] in guest.runs


def test_xenstore_tree_asks_again_after_an_absent_path(tmp_path: Path) -> None:
    host = FaultyHost(RealHost(tmp_path), programs=xenstore({"/b/k": "v", "/c/k": "w"}))
    assert xenstore_tree(host, "/b", "/a", "/c") == {"/b/k": "v", "/c/k": "w"}
    assert xenstore_tree(host, "/a") == {}


def test_unsanitise_undoes_xenstore_ls_escapes() -> None:
    assert unsanitise(r"a\\b\tc\x7fd\001e") == "a\\b\tc\x7fd\x01e"
    assert unsanitise("/sys/bus/pci/drivers/e1000e") == "/sys/bus/pci/drivers/e1000e"
