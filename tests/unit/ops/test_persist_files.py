"""The declared state's file and the boot files are written by `put-file` steps: journalled,
so a kill -9 between steps is finished or undone by recovery; a dry run writes nothing."""

from __future__ import annotations

import pytest

from helpers.cli import Cli
from helpers.fakes import Crash, crash_at
from pcipass.model.declared import STATE_FILE
from pcipass.ops.boot import UDEV_FILE, UNIT_FILE
from pcipass.ops.boot_files import boot_plan, changes
from pcipass.ops.persist_apply import boot_facts
from pcipass.ops.persist_store import declare_assignable, declare_vfs, edit, load, vfs_item
from pcipass.run.executor import Executor
from pcipass.run.journal import Journal
from pcipass.run.records import RecordStore
from pcipass.sim.host import SimHost

PF, NIC = "0000:03:00.0", "0000:02:00.0"
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"


def test_a_state_edit_is_one_journalled_put_file_step(sim: SimHost) -> None:
    declare_vfs(sim, PF, 2)
    entry = Journal(sim).load()
    assert entry is not None and entry.state == "done"
    assert [(s.action, s.path) for s in entry.plan.steps] == [("put-file", STATE_FILE)]
    assert [v.count for v in load(sim).vfs] == [2]


def test_an_edit_that_changes_nothing_writes_nothing(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    path = sim.root / STATE_FILE
    path.write_text(path.read_text() + "# a person's comment\n")
    r = cli("state", "set-vfs", PF, "2", host=sim)
    assert r.code == 0 and "declares that already" in r.err
    assert path.read_text().endswith("# a person's comment\n")


def test_state_dry_run_prints_the_diff_and_writes_nothing(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    before = (sim.root / STATE_FILE).read_text()
    r = cli("state", "set-vfs", PF, "3", "--dry-run", host=sim)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"write /{STATE_FILE} (9 lines)"
    assert "-count = 2" in r.out.splitlines() and "+count = 3" in r.out.splitlines()
    r = cli("state", "forget", PF, "--dry-run", host=sim)
    assert r.code == 0 and "-count = 2" in r.out.splitlines()
    assert (sim.root / STATE_FILE).read_text() == before


@pytest.mark.parametrize("rollback", [False, True])
def test_an_interrupted_state_edit_is_finished_or_undone(sim: SimHost, rollback: bool) -> None:
    declare_vfs(sim, PF, 2)
    with pytest.raises(Crash):
        edit(sim, "state set-vfs", lambda facts, d: d.with_vfs(vfs_item(facts, PF, 3)),
             fault=crash_at("after", 1))
    executor = Executor(sim, RecordStore(sim), settle=0)
    executor.recover(rollback=rollback)
    assert executor.pending() is None
    assert [v.count for v in load(sim).vfs] == [2 if rollback else 3]


@pytest.mark.parametrize("rollback", [False, True])
def test_a_kill_between_boot_files_is_finished_or_undone(sim: SimHost, rollback: bool) -> None:
    declare_assignable(sim, NIC, "vfio", claim_at_boot=True)
    plan = boot_plan(sim, changes(sim, boot_facts(sim), load(sim)))
    assert [(s.action, s.path) for s in plan.steps] == [("put-file", UDEV_FILE),
                                                        ("put-file", UNIT_FILE)]
    with pytest.raises(Crash):
        Executor(sim, RecordStore(sim), settle=0, fault=crash_at("before", 2)).run(plan)
    assert (sim.exists(UDEV_FILE), sim.exists(UNIT_FILE)) == (True, False)
    executor = Executor(sim, RecordStore(sim), settle=0)
    executor.recover(rollback=rollback)
    assert executor.pending() is None
    assert (sim.exists(UDEV_FILE), sim.exists(UNIT_FILE)) == (not rollback, not rollback)


def test_apply_dry_run_writes_no_file(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    r = cli("apply", "--dry-run", host=sim)
    assert r.code == 0 and f"+++ b/{UNIT_FILE}" in r.out.splitlines()
    assert not sim.exists(UNIT_FILE) and sim.try_read_text(NUMVFS) == "0"
