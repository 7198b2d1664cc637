"""`put-file` steps: a whole file written (or removed) atomically, journalled like every
other step; an interrupted plan is finished or undone by recovery; a dry run writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers.fakes import Crash, FaultyHost, TinyKernel, crash_at
from pcipass.errors import OperationError
from pcipass.host.base import Host
from pcipass.host.real import RealHost
from pcipass.run.executor import Executor, holds
from pcipass.run.journal import Journal
from pcipass.run.plan import Check, CheckKind, Plan, digest, file_step, put_file, unbind
from pcipass.run.records import RecordStore

BDF = "0000:01:00.0"
A, B = "etc/pcipass/a.conf", "etc/pcipass/b.conf"


def tiny(root: Path, **faults: Any) -> FaultyHost:
    return FaultyHost(TinyKernel(root, BDF), **faults)


def text(host: Host, path: str) -> str | None:
    data = host.try_read_bytes(path)
    return None if data is None else data.decode()


def two_files(host: Host) -> Plan:
    """A replaced and a created file."""
    return Plan("files", (file_step(host, A, "new a\n", "write a"),
                          file_step(host, B, "new b\n", "write b")))


def test_the_step_writes_and_verifies_the_whole_file(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    host.write_state_file(A, "old a\n")
    plan = two_files(host)
    assert plan.steps[0].payload == {"new": "new a\n", "old": "old a\n", "user": False}
    assert plan.steps[1].payload == {"new": "new b\n", "old": None, "user": False}
    outcome = Executor(host, RecordStore(host), settle=0).run(plan)
    assert outcome.state == "done"
    assert (text(host, A), text(host, B)) == ("new a\n", "new b\n")
    assert [s.render() for s in outcome.done] == [f"write /{A} (1 line)", f"write /{B} (1 line)"]


def test_the_plan_renders_a_unified_diff_and_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    host.write_state_file(A, "old a\nkept\n")
    plan = Plan("files", (file_step(host, A, "new a\nkept\n", "write a"),
                          file_step(host, B, None, "remove b")))
    assert plan.render() == [f"write /{A} (2 lines)", f"--- a/{A}", f"+++ b/{A}", "@@ -1,2 +1,2 @@",
                             "-old a", "+new a", " kept", f"rm /{B}"]
    assert text(host, A) == "old a\nkept\n"


def test_the_journal_keeps_the_texts_and_the_check(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    plan = Plan("files", (file_step(host, A, "x\n", "write a"),))
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    step = plan.steps[0]
    assert step.expect == (Check(CheckKind.FILE, path=A, value=digest(b"x\n")),)
    assert step.undo[0].expect == (Check(CheckKind.FILE, path=A, value=None),)


@pytest.mark.parametrize(("when", "at"), [("after", 1), ("before", 2), ("after", 2)])
@pytest.mark.parametrize("rollback", [False, True])
def test_an_interrupted_plan_is_finished_or_undone(tmp_path: Path, when: str, at: int,
                                                  rollback: bool) -> None:
    host = tiny(tmp_path)
    host.write_state_file(A, "old a\n")
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at(when, at)).run(two_files(host))
    executor = Executor(host, RecordStore(host), settle=0)
    assert executor.pending() is not None
    outcome = executor.recover(rollback=rollback)
    assert outcome is not None and executor.pending() is None
    want = ("old a\n", None) if rollback else ("new a\n", "new b\n")
    assert (text(host, A), text(host, B)) == want


def test_a_failing_later_step_puts_the_file_back(tmp_path: Path) -> None:
    host = tiny(tmp_path, fail_on="unbind")
    host.write_state_file(A, "old a\n")
    plan = Plan("files", (*two_files(host).steps, unbind(BDF, "e1000e")))
    with pytest.raises(OperationError, match="undone"):
        Executor(host, RecordStore(host), settle=0).run(plan)
    assert (text(host, A), text(host, B)) == ("old a\n", None)
    entry = Journal(host).load()
    assert entry is not None and entry.state == "rolled-back"


def test_an_unwritable_directory_is_a_failed_step(tmp_path: Path) -> None:
    host = tiny(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "pcipass").write_text("a file, not a directory")
    with pytest.raises(OperationError, match=r"cannot write .*a\.conf"):
        Executor(host, RecordStore(host), settle=0).run(two_files(host))


def test_a_users_file_is_replaced_by_its_one_writer_with_a_backup(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    cfg = tmp_path / "etc" / "xen" / "g.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('name = "g"\n')
    cfg.chmod(0o640)
    step = file_step(host, "/etc/xen/g.cfg", 'name = "g"\npci = []\n', "edit g", user=True)
    Executor(host, RecordStore(host), settle=0).run(Plan("edit", (step,)))
    assert cfg.read_text() == 'name = "g"\npci = []\n'
    assert (cfg.stat().st_mode & 0o777, Path(f"{cfg}.pcipass-bak").read_text()) == \
        (0o640, 'name = "g"\n')
    assert holds(host, RecordStore(host), step.undo[0].expect[0]) is False


def test_a_users_file_is_never_created() -> None:
    with pytest.raises(ValueError, match="never created"):
        put_file("etc/xen/g.cfg", "x", None, "create", user=True)
