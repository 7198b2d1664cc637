"""The executor: verify by re-reading, undo on failure, recover after a crash."""

from __future__ import annotations

import signal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from helpers.fakes import Crash, FaultyHost, TinyKernel, answer, crash_at
from helpers.sims import driver as bound_driver
from pcipass.errors import OperationError
from pcipass.host.base import RunResult
from pcipass.run.executor import Executor
from pcipass.run.faults import KILL_ENV, from_env, kill_at
from pcipass.run.journal import Journal
from pcipass.run.plan import Check, Plan, Step, probe, record, set_override, unbind
from pcipass.run.records import RecordStore

BDF = "0000:01:00.0"


def tiny(root: Path, **faults: Any) -> FaultyHost:
    """The tiny kernel with `BDF` on e1000e, behind the fake host."""
    return FaultyHost(TinyKernel(root, BDF), **faults)


def vfio_plan() -> Plan:
    return Plan("assignable add", (
        record(BDF, {"driver": "e1000e"}),
        unbind(BDF, "e1000e"),
        set_override(BDF, "vfio-pci", None),
        probe(BDF, "vfio-pci"),
    ))


driver = partial(bound_driver, bdf=BDF)


def test_runs_and_verifies(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    records = RecordStore(host)
    outcome = Executor(host, records, settle=0).run(vfio_plan())
    assert outcome.state == "done" and len(outcome.done) == 4
    assert driver(host) == "vfio-pci" and records.has(BDF)
    entry = Journal(host).load()
    assert entry is not None and entry.state == "done"


def test_failed_write_is_undone(tmp_path: Path) -> None:
    host = tiny(tmp_path, fail_on="drivers_probe")
    records = RecordStore(host)
    with pytest.raises(OperationError, match="undone"):
        Executor(host, records, settle=0).run(vfio_plan())
    assert driver(host) == "e1000e"
    assert host.try_read_text(f"sys/bus/pci/devices/{BDF}/driver_override") == "(null)"
    assert not records.has(BDF)
    entry = Journal(host).load()
    assert entry is not None and entry.state == "rolled-back"


def test_rollback_restores_the_previous_record(tmp_path: Path) -> None:
    host = tiny(tmp_path, fail_on="drivers_probe")
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
    host = tiny(tmp_path, ignore="drivers_probe")
    with pytest.raises(OperationError, match="did not take effect"):
        Executor(host, RecordStore(host), settle=0).run(vfio_plan())
    assert driver(host) == "e1000e"


def test_failed_command_is_undone(tmp_path: Path) -> None:
    host = tiny(tmp_path, programs={"xl": answer(1, err="libxl: error: failed to quarantine\n")})
    plan = Plan("x", (unbind(BDF, "e1000e"), Step("run", "xl", argv=("xl", "x"))))
    with pytest.raises(OperationError, match="failed to quarantine"):
        Executor(host, RecordStore(host), settle=0).run(plan)
    assert driver(host) == "e1000e"


def test_silent_failing_command_reports_its_exit_status(tmp_path: Path) -> None:
    host = tiny(tmp_path, programs={"xl": answer(3)})
    plan = Plan("x", (Step("run", "xl", argv=("xl", "x")),))
    with pytest.raises(OperationError, match=r"`xl x` failed: exit 3"):
        Executor(host, RecordStore(host), settle=0).run(plan)


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", range(1, 5))
@pytest.mark.parametrize("rollback", [False, True])
def test_recover_after_interruption(tmp_path: Path, when: str, at: int, rollback: bool) -> None:
    """Crash before/after each step (the injected fault raising instead of killing), recover."""
    host = tiny(tmp_path)
    crashing = Executor(host, RecordStore(host), settle=0, fault=crash_at(when, at))
    with pytest.raises(Crash):
        crashing.run(vfio_plan())
    executor = Executor(host, RecordStore(host), settle=0)
    assert executor.pending() is not None  # even after the last step: the end is not journalled
    executor.recover(rollback=rollback)
    assert executor.pending() is None
    if rollback:
        assert driver(host) == "e1000e" and not RecordStore(host).has(BDF)
    else:
        assert driver(host) == "vfio-pci" and RecordStore(host).has(BDF)
    assert executor.recover() is None


def test_the_executor_reads_no_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KILL_ENV, "before:1")
    host = tiny(tmp_path)
    assert Executor(host, RecordStore(host), settle=0).run(vfio_plan()).state == "done"


def test_kill_hook_parses() -> None:
    assert kill_at("bogus") is None and kill_at("after:x") is None
    assert from_env({}) is None
    fault = kill_at("after:2")
    assert fault is not None
    fault("before", 2)  # not the point: returns
    fault("after", 1)


def test_kill_hook_kills_at_its_point(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr("os.kill", lambda pid, sig: killed.append(sig))
    fault = from_env({KILL_ENV: "before:3"})
    assert fault is not None
    fault("before", 3)
    assert killed == [signal.SIGKILL]


class Xl:
    """An xl on the tiny kernel whose `pci-assignable-remove -r` fails until `fixed`."""

    fixed = False
    quarantine_fails = False

    def __init__(self, kernel: TinyKernel) -> None:
        self.kernel = kernel

    def __call__(self, argv: list[str]) -> RunResult:
        if argv[:2] == ["xl", "pci-assignable-add"] and self.quarantine_fails:
            return RunResult(tuple(argv), 1, "", "libxl: error: failed to quarantine\n")
        if argv[:2] == ["xl", "pci-assignable-remove"]:
            if not self.fixed:
                return RunResult(tuple(argv), 1, "", "libxl: error: failed to de-quarantine\n")
            self.kernel.link(BDF, "e1000e")
        if argv[:2] == ["xl", "pci-assignable-add"]:
            self.kernel.link(BDF, "pciback")
        return RunResult(tuple(argv), 0, "", "")


def xen(root: Path) -> tuple[FaultyHost, Xl]:
    """The tiny kernel with that xl."""
    xl = Xl(TinyKernel(root, BDF))
    return FaultyHost(xl.kernel, programs={"xl": xl}), xl


def xl_plan() -> Plan:
    back = Step("run", "give back", bdf=BDF, argv=("xl", "pci-assignable-remove", "-r", BDF),
                expect=(Check("driver", BDF, value="e1000e"),))
    finish = Step("run", "let xl finish", bdf=BDF, argv=("xl", "pci-assignable-add", BDF),
                  expect=(Check("driver", BDF, value="pciback"),),
                  unless=(Check("driver", BDF, value="e1000e"),))
    add = Step("run", "add", bdf=BDF, argv=("xl", "pci-assignable-add", BDF),
               expect=(Check("driver", BDF, value="pciback"),), unless=(), undo=(finish, back))
    return Plan(f"assignable add {BDF}", (record(BDF, {"driver": "e1000e"}), add))


def test_a_step_that_must_be_redone_runs_again_on_recovery(tmp_path: Path) -> None:
    host, xl = xen(tmp_path)
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at("after", 2)).run(xl_plan())
    assert driver(host) == "pciback"  # its expected state holds: before, recovery skipped it
    host.writes.clear()
    host.ran.clear()
    Executor(host, RecordStore(host), settle=0).recover()
    assert host.writes == [] and host.ran == [f"xl pci-assignable-add {BDF}"]


def test_a_failed_recovery_names_the_device_and_where_it_is(tmp_path: Path) -> None:
    host, xl = xen(tmp_path)
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at("after", 1)).run(xl_plan())
    xl.quarantine_fails = True
    with pytest.raises(OperationError) as err:
        Executor(host, RecordStore(host), settle=0).recover()
    assert "failed to quarantine" in err.value.what
    assert f"found {BDF} on e1000e" in err.value.what and "originally on e1000e" in err.value.what
    assert not RecordStore(host).has(BDF)


def test_a_rollback_that_cannot_finish_is_stuck_and_blocks_only_its_devices(tmp_path: Path) -> None:
    host, xl = xen(tmp_path)
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at("after", 2)).run(xl_plan())
    executor = Executor(host, RecordStore(host), settle=0)
    with pytest.raises(OperationError) as err:
        executor.recover(rollback=True)
    assert BDF in err.value.what and "failed to de-quarantine" in err.value.what
    assert "found 0000:01:00.0 on pciback" in err.value.what
    assert "recover --abandon" in err.value.fix and "fix what" not in err.value.fix
    assert executor.pending() is None and [e.plan.command for e in executor.stuck()] == [
        f"assignable add {BDF}"]
    assert executor.recover() is None  # a mutating command does not retry it ...
    with pytest.raises(OperationError, match="half-done"):  # ... is refused on its device ...
        executor.run(Plan("x", (unbind(BDF, "pciback"),)))
    other = "0000:01:00.1"  # ... and runs on another one, keeping the stuck operation
    host._path(f"sys/bus/pci/devices/{other}").mkdir()
    executor.run(Plan("y", (Step("write", "w", bdf=other, path="sys/bus/pci/drivers_probe",
                                 data=other),)))
    assert len(executor.stuck()) == 1
    xl.fixed = True
    assert executor.recover(rollback=True) is None  # only `pcipass recover` retries it
    outcome = executor.recover(stuck=True)
    assert outcome is not None and outcome.state == "rolled-back"
    assert driver(host) == "e1000e" and executor.stuck() == []
    assert not RecordStore(host).has(BDF)


def test_abandon_closes_the_journal_and_touches_nothing(tmp_path: Path) -> None:
    host, xl = xen(tmp_path)
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at("after", 2)).run(xl_plan())
    executor = Executor(host, RecordStore(host), settle=0)
    with pytest.raises(OperationError):
        executor.recover(rollback=True)
    with pytest.raises(OperationError, match="de-quarantine"):
        executor.recover(stuck=True)  # still stuck, still kept once
    assert len(executor.stuck()) == 1
    host.writes.clear()
    host.ran.clear()
    abandoned = executor.abandon()
    assert [e.plan.command for e in abandoned] == [f"assignable add {BDF}"]
    assert host.writes == host.ran == [] and executor.stuck() == [] and executor.pending() is None
    assert executor.abandon() == []


def test_missing_module_is_one_clear_error_before_any_change(tmp_path: Path) -> None:
    missing = answer(1, err="modprobe: FATAL: Module vfio-pci not found.\n")
    host = tiny(tmp_path, programs={"modprobe": missing})
    plan = Plan("x", (Step("modprobe", "load", data="vfio-pci"), unbind(BDF, "e1000e")))
    with pytest.raises(OperationError, match="cannot load kernel module vfio-pci") as err:
        Executor(host, RecordStore(host), settle=0).run(plan)
    assert "install" in err.value.fix
    assert driver(host) == "e1000e" and host.writes == []


def test_sriov_count_writes_get_the_long_bound(tmp_path: Path) -> None:
    from pcipass.host.base import DEFAULT_WRITE_TIMEOUT  # noqa: PLC0415
    from pcipass.run.plan import Action  # noqa: PLC0415
    from pcipass.sim.host import SimHost, create_sim  # noqa: PLC0415

    bounds: list[tuple[str, float]] = []

    class Timed(SimHost):
        def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
            bounds.append((rel.rpartition("/")[2], timeout))
            super().write(rel, data, timeout)

    create_sim(tmp_path / "sim", "kernel-lab")
    host = Timed(tmp_path / "sim")
    pf = "sys/bus/pci/devices/0000:03:00.0"
    plan = Plan("t", (Step(Action.WRITE, "two VFs", path=f"{pf}/sriov_numvfs", data="2"),
                      Step(Action.WRITE, "autoprobe", path=f"{pf}/sriov_drivers_autoprobe",
                           data="1")))
    Executor(host, RecordStore(host)).run(plan)
    assert bounds == [("sriov_numvfs", 120.0), ("sriov_drivers_autoprobe", DEFAULT_WRITE_TIMEOUT)]
