"""The journal survives the process: each state change is on disk before acting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import pcipass
from pcipass.errors import OperationError
from pcipass.host.real import RealHost
from pcipass.run.journal import JOURNAL, PROGRESS, Journal
from pcipass.run.plan import Plan, unbind
from pcipass.sim.host import create_sim


def test_progress_is_written_before_each_step(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    plan = Plan("c", (unbind("0000:01:00.0", "e1000e"),))
    journal = Journal(host)
    assert journal.load() is None
    journal.begin(plan)
    journal.at(0)
    on_disk = json.loads((tmp_path / JOURNAL).read_text())
    assert on_disk["state"] == "running" and on_disk["step"] == -1
    assert (tmp_path / PROGRESS).read_text() == f"{on_disk['id']} 0 running\n"
    entry = Journal(host).load()
    assert entry is not None and entry.interrupted and entry.plan == plan and entry.step == 0
    journal.at(0, "rolling-back")
    back = Journal(host).load()
    assert back is not None and (back.step, back.state) == (0, "rolling-back")
    journal.end("done")
    done = Journal(host).load()
    assert done is not None and not done.interrupted and done.state == "done"


@pytest.mark.parametrize("text", ["{not json", '{"plan": [], "state": "running", "step": 0}'])
def test_damaged_journal_is_one_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / JOURNAL).parent.mkdir(parents=True)
    (tmp_path / JOURNAL).write_text(text)
    with pytest.raises(OperationError, match="damaged"):
        Journal(RealHost(tmp_path)).load()


def test_progress_of_another_operation_is_ignored(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    journal = Journal(host)
    journal.begin(Plan("first", (unbind("0000:01:00.0", "e1000e"),)))
    journal.at(0)
    ident = json.loads((tmp_path / JOURNAL).read_text())["id"]
    with open(tmp_path / PROGRESS, "a") as f:
        f.write("someone-else 7 rolling-back\n")
        f.write(f"{ident} 1x rolling-back\n{ident} 9 rolling-back\n")  # damaged; no step 9
    entry = Journal(host).load()
    assert entry is not None and (entry.step, entry.state) == (0, "running")


def test_messages_name_the_state_file_really_read(tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    sim.write_state_file(JOURNAL, "{not json")
    for args in (["recover"], ["recover", "--dry-run"], ["assignable", "add", "01:00.0"]):
        res = pcipass(*args, host=sim)
        assert res.code == 1 and res.err.count("\n") == 1
        assert res.err.startswith(f"pcipass: error: the journal {sim.root}/{JOURNAL} is damaged")
    (sim.root / JOURNAL).unlink()
    (sim.root / PROGRESS).mkdir()
    res = pcipass("assignable", "add", "01:00.0", host=sim)
    assert res.code == 1 and res.err.count("\n") == 1
    assert res.err.startswith(f"pcipass: error: cannot write the journal {sim.root}/{PROGRESS}: ")


@pytest.mark.parametrize(("text", "why"), [
    ("{not json", "(not JSON: expecting property name enclosed in double quotes at line 1 "
                  "column 2)"),
    ('{"state": "running", "step": 0}', "(an entry has no 'plan')"),
    ('{"plan": {"command": "x", "steps": []}, "state": "lost", "step": 0}',
     "(unknown value: 'lost')"),
    ("[1, 2]", "(an entry has the wrong shape)"),
])
def test_damage_is_said_in_a_readers_words(tmp_path: Path, text: str, why: str) -> None:
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    sim.write_state_file(JOURNAL, text)
    res = pcipass("recover", host=sim)
    assert res.code == 1, res.err
    assert why in res.err, res.err
