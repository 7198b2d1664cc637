"""A file a `put-file` step owns, edited by an administrator while the operation was
interrupted: neither recovery nor rollback overwrites the edit; each stops with one line that
says what to do (keep it: `recover --abandon`), and a rollback undoes every other step."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.fakes import Crash, FaultyHost, TinyKernel, crash_at
from pcipass.errors import OperationError
from pcipass.host.base import Host
from pcipass.host.real import RealHost
from pcipass.run.executor import Executor
from pcipass.run.journal import Journal
from pcipass.run.plan import Plan, file_step
from pcipass.run.records import RecordStore

BDF = "0000:01:00.0"
A, B = "etc/pcipass/a.conf", "etc/pcipass/b.conf"
CFG = "/etc/xen/g.cfg"


def tiny(root: Path) -> FaultyHost:
    return FaultyHost(TinyKernel(root, BDF))


def text(host: Host, path: str) -> str | None:
    data = host.try_read_bytes(path)
    return None if data is None else data.decode()


def executor(host: Host) -> Executor:
    return Executor(host, RecordStore(host), settle=0)


def crashed(host: Host, plan: Plan, when: str, at: int) -> None:
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at(when, at)).run(plan)


def two_files(host: Host) -> Plan:
    return Plan("files", (file_step(host, A, "new a\n", "write a"),
                          file_step(host, B, "new b\n", "write b")))


def test_recovery_keeps_a_file_edited_before_its_step_and_says_what_to_do(
        tmp_path: Path) -> None:
    host = tiny(tmp_path)
    crashed(host, two_files(host), "before", 2)
    host.write_state_file(B, "the admin's b\n")
    with pytest.raises(OperationError) as caught:
        executor(host).recover()
    line = caught.value.line()
    assert f"{B} was edited after `files` was interrupted" in line
    assert "keep your edit: `pcipass recover --abandon`" in line
    assert "\n" not in line
    assert (text(host, A), text(host, B)) == ("new a\n", "the admin's b\n")
    assert executor(host).pending() is not None  # nothing decided for the admin


def test_recovery_finishes_once_the_file_is_as_it_was(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    crashed(host, two_files(host), "before", 2)
    host.write_state_file(B, "the admin's b\n")
    with pytest.raises(OperationError):
        executor(host).recover()
    host.remove_state_file(B)  # b did not exist before `files`
    outcome = executor(host).recover()
    assert outcome is not None and outcome.state == "done"
    assert text(host, B) == "new b\n"


def test_abandon_keeps_the_edit(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    crashed(host, two_files(host), "before", 2)
    host.write_state_file(B, "the admin's b\n")
    left = executor(host).abandon()
    assert [e.plan.command for e in left] == ["files"]
    assert executor(host).pending() is None and executor(host).recover() is None
    assert text(host, B) == "the admin's b\n"


def test_a_users_file_edited_before_its_step_is_kept_by_recovery(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    cfg = tmp_path / CFG.lstrip("/")
    cfg.parent.mkdir(parents=True)
    cfg.write_text('name = "g"\n')
    plan = Plan("edit g", (file_step(host, A, "new a\n", "write a"),
                           file_step(host, CFG, 'name = "g"\npci = []\n', "edit g", user=True)))
    crashed(host, plan, "before", 2)
    cfg.write_text('name = "g"\nmemory = 512\n')
    with pytest.raises(OperationError) as caught:
        executor(host).recover()
    assert "keep your edit: `pcipass recover --abandon`" in caught.value.line()
    assert cfg.read_text() == 'name = "g"\nmemory = 512\n'
    assert not Path(f"{cfg}.pcipass-bak").exists()
    assert executor(host).pending() is not None


def test_rollback_keeps_an_edited_file_and_undoes_every_other_step(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    host.write_state_file(A, "old a\n")
    crashed(host, two_files(host), "after", 2)
    host.write_state_file(A, "the admin's a\n")
    with pytest.raises(OperationError) as caught:
        executor(host).recover(rollback=True)
    line = caught.value.line()
    assert line.startswith("cannot undo `files`: ")
    assert f"{A} was edited after pcipass wrote it" in line
    assert "every other step was undone" in line
    assert "keep it as it is: `pcipass recover --abandon`" in line
    assert (text(host, A), text(host, B)) == ("the admin's a\n", None)
    assert [e.plan.command for e in Journal(host).stuck()] == ["files"]
    executor(host).abandon()
    assert Journal(host).stuck() == [] and text(host, A) == "the admin's a\n"


def test_undo_of_an_edited_users_file_leaves_it_and_no_temporary_file(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    cfg = tmp_path / CFG.lstrip("/")
    cfg.parent.mkdir(parents=True)
    cfg.write_text('name = "g"\n')
    plan = Plan("edit g", (file_step(host, CFG, 'name = "g"\npci = []\n', "edit g", user=True),
                           file_step(host, A, "new a\n", "write a")))
    crashed(host, plan, "after", 2)
    cfg.write_text('name = "g"\npci = []\nmemory = 512\n')
    with pytest.raises(OperationError) as caught:
        executor(host).recover(rollback=True)
    assert f"{CFG.lstrip('/')} was edited after pcipass wrote it" in caught.value.what
    assert "`pcipass recover --abandon`" in caught.value.fix
    assert "run it again" not in caught.value.line()
    assert cfg.read_text() == 'name = "g"\npci = []\nmemory = 512\n'
    assert text(host, A) is None
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["g.cfg", "g.cfg.pcipass-bak"]


def test_a_file_changed_between_plan_and_step_is_kept_and_the_plan_undone(
        tmp_path: Path) -> None:
    host = tiny(tmp_path)
    plan = two_files(host)
    host.write_state_file(B, "written meanwhile\n")
    with pytest.raises(OperationError) as caught:
        executor(host).run(plan)
    assert caught.value.line().endswith(
        "changed since pcipass read it; the 1 step(s) done were undone — run the command again")
    assert (text(host, A), text(host, B)) == (None, "written meanwhile\n")
    entry = Journal(host).load()
    assert entry is not None and entry.state == "rolled-back"
