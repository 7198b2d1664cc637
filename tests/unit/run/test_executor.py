"""The executor: verify by re-reading, undo on failure, recover after a crash."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pcipass.errors import OperationError
from pcipass.host.base import RunResult, WriteFailed
from pcipass.host.real import RealHost
from pcipass.run.executor import Executor
from pcipass.run.journal import Journal
from pcipass.run.plan import Plan, Step, probe, record, set_override, unbind
from pcipass.run.records import RecordStore

BDF = "0000:01:00.0"


class TinyKernel(RealHost):
    """bind/unbind/driver_override/drivers_probe on a tmp tree (just enough for the executor)."""

    def __init__(self, root: Path, drivers: tuple[str, ...] = ("e1000e", "vfio-pci")) -> None:
        super().__init__(root)
        self.writes: list[tuple[str, str]] = []
        self.fail_on: str | None = None
        self.ignore: str | None = None
        dev = self._path(f"sys/bus/pci/devices/{BDF}")
        dev.mkdir(parents=True)
        (dev / "driver_override").write_text("(null)\n")
        for drv in drivers:
            self._path(f"sys/bus/pci/drivers/{drv}").mkdir(parents=True)
        self._link(BDF, "e1000e")

    def _link(self, bdf: str, drv: str | None) -> None:
        link = self._path(f"sys/bus/pci/devices/{bdf}/driver")
        if os.path.lexists(link):
            link.unlink()
        if drv:
            link.symlink_to(f"../../drivers/{drv}")

    def write(self, rel: str, data: str, timeout: float = 1.0) -> None:
        self.writes.append((rel, data))
        if self.fail_on and rel.endswith(self.fail_on):
            raise WriteFailed(rel, data, errno.ENODEV)
        if self.ignore and rel.endswith(self.ignore):
            return
        parts = rel.split("/")
        bdf = data.strip()
        if rel.endswith("driver_override"):
            value = data.strip() or "(null)"
            self._path(rel).write_text(value + "\n")
        elif parts[-1] == "unbind":
            self._link(bdf, None)
        elif parts[-1] == "bind":
            self._link(bdf, parts[-2])
        elif parts[-1] == "drivers_probe":
            over = self.try_read_text(f"sys/bus/pci/devices/{bdf}/driver_override")
            self._link(bdf, over if over and over != "(null)" else "e1000e")

    def run(self, argv: list[str], timeout: float = 1.0) -> RunResult:
        self.writes.append(("run", " ".join(argv)))
        return RunResult(tuple(argv), 0, "", "")


def vfio_plan() -> Plan:
    return Plan("assignable add", (
        record(BDF, {"driver": "e1000e"}),
        unbind(BDF, "e1000e"),
        set_override(BDF, "vfio-pci", None),
        probe(BDF, "vfio-pci"),
    ))


def driver(host: RealHost) -> str | None:
    return host.link_name(f"sys/bus/pci/devices/{BDF}/driver")


def test_runs_and_verifies(tmp_path: Path) -> None:
    host = TinyKernel(tmp_path)
    records = RecordStore(host)
    outcome = Executor(host, records, settle=0).run(vfio_plan())
    assert outcome.state == "done" and len(outcome.done) == 4
    assert driver(host) == "vfio-pci" and records.has(BDF)
    entry = Journal(host).load()
    assert entry is not None and entry.state == "done"


def test_failed_write_is_undone(tmp_path: Path) -> None:
    host = TinyKernel(tmp_path)
    host.fail_on = "drivers_probe"
    records = RecordStore(host)
    with pytest.raises(OperationError, match="undone"):
        Executor(host, records, settle=0).run(vfio_plan())
    assert driver(host) == "e1000e"
    assert host.try_read_text(f"sys/bus/pci/devices/{BDF}/driver_override") == "(null)"
    assert not records.has(BDF)
    entry = Journal(host).load()
    assert entry is not None and entry.state == "rolled-back"


def test_rollback_restores_the_previous_record(tmp_path: Path) -> None:
    host = TinyKernel(tmp_path)
    host.fail_on = "drivers_probe"
    records = RecordStore(host)
    before = {"driver": "e1000e", "name": "old", "bdf": BDF}
    records.save(BDF, before)
    plan = Plan("assignable add", (record(BDF, {"driver": "e1000e", "name": "new"}, before),
                                   *vfio_plan().steps[1:]))
    with pytest.raises(OperationError, match="undone"):
        Executor(host, records, settle=0).run(plan)
    assert RecordStore(host).get(BDF) == records.get(BDF)
    assert RecordStore(host).all()[BDF].name == "old"


def test_write_that_does_nothing_is_caught_and_undone(tmp_path: Path) -> None:
    host = TinyKernel(tmp_path)
    host.ignore = "drivers_probe"
    with pytest.raises(OperationError, match="did not take effect"):
        Executor(host, RecordStore(host), settle=0).run(vfio_plan())
    assert driver(host) == "e1000e"


def test_failed_command_is_undone(tmp_path: Path) -> None:
    class Failing(TinyKernel):
        def run(self, argv: list[str], timeout: float = 1.0) -> RunResult:
            return RunResult(tuple(argv), 1, "", "libxl: error: failed to quarantine\n")

    host = Failing(tmp_path)
    plan = Plan("x", (unbind(BDF, "e1000e"), Step("run", "xl", argv=("xl", "x"))))
    with pytest.raises(OperationError, match="failed to quarantine"):
        Executor(host, RecordStore(host), settle=0).run(plan)
    assert driver(host) == "e1000e"


def test_silent_failing_command_reports_its_exit_status(tmp_path: Path) -> None:
    class Silent(TinyKernel):
        def run(self, argv: list[str], timeout: float = 1.0) -> RunResult:
            return RunResult(tuple(argv), 3, "", "")

    host = Silent(tmp_path)
    plan = Plan("x", (Step("run", "xl", argv=("xl", "x")),))
    with pytest.raises(OperationError, match=r"`xl x` failed: exit 3"):
        Executor(host, RecordStore(host), settle=0).run(plan)


class Crash(BaseException):
    """Stands for SIGKILL: nothing in pcipass catches it."""


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", range(1, 5))
@pytest.mark.parametrize("rollback", [False, True])
def test_recover_after_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str, at: int, rollback: bool
) -> None:
    """Crash before/after each step (the kill hook raising instead of killing), then recover."""
    host = TinyKernel(tmp_path)
    monkeypatch.setenv("PCIPASS_TEST_KILL", f"{when}:{at}")
    crashing = Executor(host, RecordStore(host), settle=0)
    monkeypatch.setattr("os.kill", lambda pid, sig: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        crashing.run(vfio_plan())
    monkeypatch.delenv("PCIPASS_TEST_KILL")
    executor = Executor(host, RecordStore(host), settle=0)
    assert executor.pending() is not None  # even after the last step: the end is not journalled
    executor.recover(rollback=rollback)
    assert executor.pending() is None
    if rollback:
        assert driver(host) == "e1000e" and not RecordStore(host).has(BDF)
    else:
        assert driver(host) == "vfio-pci" and RecordStore(host).has(BDF)
    assert executor.recover() is None


def test_kill_hook_parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PCIPASS_TEST_KILL", "after:2")
    host = TinyKernel(tmp_path)
    assert Executor(host, RecordStore(host))._kill == ("after", 2)
    monkeypatch.setenv("PCIPASS_TEST_KILL", "bogus")
    assert Executor(host, RecordStore(host))._kill is None


def test_missing_module_is_one_clear_error_before_any_change(tmp_path: Path) -> None:
    class NoModule(TinyKernel):
        def run(self, argv: list[str], timeout: float = 1.0) -> RunResult:
            return RunResult(tuple(argv), 1, "", "modprobe: FATAL: Module vfio-pci not found.\n")

    host = NoModule(tmp_path)
    plan = Plan("x", (Step("modprobe", "load", data="vfio-pci"), unbind(BDF, "e1000e")))
    with pytest.raises(OperationError, match="cannot load kernel module vfio-pci") as err:
        Executor(host, RecordStore(host), settle=0).run(plan)
    assert "install" in err.value.fix
    assert driver(host) == "e1000e" and host.writes == []
