"""attach/detach read each fact once: the exact programs one command runs on the simulated
Xen host and the xenstore reads it makes in-process (`Host.xenstore`, libxenstore on a real
dom0), so that their number cannot creep back and every guard's read is seen; and the wait
for a guest's pcifront before and after the hot-plug (a backend left reconfiguring, as the
Xen lab's slow guest does)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from helpers.cli import pcipass
from helpers.fakes import FaultyHost, xenstore
from pcipass.host.base import RunResult
from pcipass.host.real import RealHost
from pcipass.host.xen import unsanitise, xenstore_tree
from pcipass.host.xenstore import XenstoreReader
from pcipass.sim.host import SimHost, create_sim

NIC = "0000:02:00.0"
BACKEND = "/local/domain/0/backend/pci/1/0"
STATE = f"{BACKEND}/state"
Call = tuple[str, ...]
FACTS: list[Call] = [("xl", "info"), ("xs-tree", "/libxl")]
"""What every command's facts cost: Xen's IOMMU and dom0-ness (one program), libxl's device
keys (read in-process)."""


class Guest:
    """Every program the simulated host runs and every in-process xenstore read (`calls`),
    for the CLI's own `SimHost` too. With `slow`, the guest's pcifront takes `slow` re-reads of
    the backend's state to finish each hot-plug (state 7 until then), as the Xen lab's TCG
    guest does."""

    def __init__(self, sim: SimHost, slow: int) -> None:
        self.sim = sim
        self.calls: list[Call] = []
        self.slow = slow
        self.left = 0

    def run(self, host: SimHost, argv: list[str], timeout: float = 30.0) -> RunResult:
        self.calls.append(tuple(argv))
        result = RUN(host, argv, timeout)
        if argv[:2] in (["xl", "pci-attach"], ["xl", "pci-detach"]) and self.slow:
            self.reconfiguring()
        return result

    def read(self, host: SimHost, path: str) -> str | None:
        self.calls.append(("xs-read", path))
        if path == STATE and self.left:
            self.left -= 1
            if not self.left:
                RUN(host, ["xenstore-write", STATE, "4"])
        return XENSTORE(host).read(path)

    def tree(self, host: SimHost, paths: Sequence[str]) -> dict[str, str]:
        self.calls.append(("xs-tree", *paths))
        return XENSTORE(host).tree(paths)

    def programs(self) -> list[Call]:
        return [c for c in self.calls if not c[0].startswith("xs-")]

    def reconfiguring(self) -> None:
        RUN(self.sim, ["xenstore-write", STATE, "7"])
        self.left = self.slow


RUN = SimHost.run
XENSTORE = SimHost.xenstore


class Logged:
    """The simulated store's reader, each read logged by the `Guest`."""

    def __init__(self, guest: Guest, host: SimHost) -> None:
        self.guest, self.host = guest, host

    def read(self, path: str) -> str | None:
        return self.guest.read(self.host, path)

    def tree(self, paths: Sequence[str]) -> dict[str, str]:
        return self.guest.tree(self.host, paths)


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

    def reader(host: SimHost) -> XenstoreReader:
        return Logged(guest, host)

    monkeypatch.setattr(SimHost, "run", run)
    monkeypatch.setattr(SimHost, "xenstore", reader)
    return guest


def _domain(details: bool = True) -> list[Call]:
    """The one read of the target domain: `xl list` (exists, running, not dom0), its config
    (type, passthrough: attach only), its backend keys (the devices it holds, as xl pci-list
    lists them, their options, the backend's state)."""
    return [("xl", "list"), *([("xl", "list", "-l", "1")] if details else []),
            ("xs-tree", BACKEND)]


VERIFIED: list[Call] = [("xs-tree", BACKEND), ("xs-read", STATE)]
"""After the hot-plug: the device listed (or no longer) in the backend, then the guest's
pcifront done (its backend state)."""


def test_attach_then_detach_run_each_program_once(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch)
    r = pcipass("attach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    assert guest.calls == [*FACTS, *_domain(), ("xl", "pci-attach", "1", NIC), *VERIFIED]
    assert guest.programs() == [("xl", "info"), ("xl", "list"), ("xl", "list", "-l", "1"),
                                ("xl", "pci-attach", "1", NIC)]
    guest.calls.clear()
    r = pcipass("detach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    assert guest.calls == [*FACTS, *_domain(details=False), ("xl", "pci-detach", "1", NIC),
                           *VERIFIED]
    assert len(guest.programs()) == 3


def test_persist_and_dry_run_add_no_second_read(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch)
    r = pcipass("attach", "g", NIC, "--persist", "/etc/xen/g.cfg", "--dry-run", host=guest.sim)
    assert r.code == 0, r.err
    assert f"+pci = [ '{NIC}' ]" in r.out
    assert guest.calls == [*FACTS, *_domain()]
    guest.calls.clear()
    r = pcipass("attach", "g", NIC, "--persist", "/etc/xen/g.cfg", host=guest.sim)
    assert r.code == 0, r.err
    assert guest.calls == [*FACTS, *_domain(), ("xl", "pci-attach", "1", NIC), *VERIFIED]


def test_the_guards_refuse_on_what_they_read(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch)
    assert pcipass("attach", "g", NIC, host=guest.sim).code == 0
    guest.calls.clear()
    r = pcipass("attach", "0", NIC, host=guest.sim)  # dom0: from `xl list`
    assert r.code == 2 and "is the host itself" in r.err
    cfg = guest.sim.root / "etc/xen/h.cfg"
    cfg.write_text('name = "h"\ntype = "pv"\nmemory = 256\npassthrough = "enabled"\n')
    assert RUN(guest.sim, ["xl", "create", "/etc/xen/h.cfg"]).returncode == 0
    guest.calls.clear()
    r = pcipass("attach", "h", NIC, host=guest.sim)  # held by g: libxl's /libxl/pci/<bdf>/domid
    assert r.code == 1 and "attached to domain 1" in r.err, r.err
    assert ("xs-tree", "/libxl") in guest.calls and ("xl", "list") in guest.calls
    assert not any(c[:2] == ("xl", "pci-attach") for c in guest.calls)


def test_attach_waits_for_the_guest_after_the_hot_plug(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch, slow=3)
    r = pcipass("attach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    after = guest.calls[guest.calls.index(("xl", "pci-attach", "1", NIC)) + 1:]
    assert after == [("xs-tree", BACKEND), *[("xs-read", STATE)] * 3]
    assert RUN(guest.sim, ["xenstore-read", STATE]).stdout == "4\n" and "pcifront" not in r.err


def test_a_guest_still_reconfiguring_is_waited_for_then_read_again(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch, slow=2)
    assert pcipass("attach", "g", NIC, host=guest.sim).code == 0
    guest.reconfiguring()  # an earlier hot-plug (by xl itself) the guest has not finished
    guest.calls.clear()
    r = pcipass("detach", "g", NIC, host=guest.sim)
    assert r.code == 0, r.err
    waited = [("xs-read", STATE)] * 2
    assert guest.calls[:len(FACTS) + 6] == [*FACTS, *_domain(details=False), *waited,
                                           *_domain(details=False)]
    assert ("xl", "pci-detach", "1", NIC) in guest.calls


def test_a_detach_libxl_left_closing_says_so(tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _guest(tmp_path, monkeypatch)
    assert pcipass("attach", "g", NIC, host=guest.sim).code == 0
    detach = guest.run

    def gave_up(host: SimHost, argv: list[str], timeout: float = 30.0) -> RunResult:
        """xl pci-detach as the Xen lab's slow guest made it: exit 0, the keys left Closing."""
        if argv[:2] != ["xl", "pci-detach"]:
            return detach(host, argv, timeout)
        RUN(host, ["xenstore-write", f"{BACKEND}/state-0", "5"])
        return RunResult(tuple(argv), 0, "", "libxl: error: libxl_device.c:1470:"
                         f"libxl__wait_for_backend: Backend {BACKEND} not ready\n")

    monkeypatch.setattr(SimHost, "run", gave_up)
    guest.calls.clear()
    r = pcipass("detach", "g", NIC, host=guest.sim)
    assert r.code == 1 and "was accepted but did not take effect" in r.err, r.err
    assert f"leaves {NIC} in its pci backend as Closing" in r.err and "xl destroy" in r.err
    assert RUN(guest.sim, ["xl", "pci-list", "1"]).stdout.split()[-1] == NIC
    assert ("xs-tree", BACKEND) in guest.calls  # re-read, still listed: the undo is skipped
    assert not any(c[:2] == ("xl", "pci-attach") for c in guest.calls)


def test_xenstore_tree_asks_again_after_an_absent_path(tmp_path: Path) -> None:
    host = FaultyHost(RealHost(tmp_path), programs=xenstore({"/b/k": "v", "/c/k": "w"}))
    assert xenstore_tree(host, "/b", "/a", "/c") == {"/b/k": "v", "/c/k": "w"}
    assert xenstore_tree(host, "/a") == {}


def test_unsanitise_undoes_xenstore_ls_escapes() -> None:
    assert unsanitise(r"a\\b\tc\x7fd\001e") == "a\\b\tc\x7fd\x01e"
    assert unsanitise("/sys/bus/pci/drivers/e1000e") == "/sys/bus/pci/drivers/e1000e"
