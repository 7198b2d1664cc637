"""`sriov disable` forgets the VFs' saved settings; an interrupted one is finished or undone
(VFs and saved originals back)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.fakes import Crash, crash_at
from helpers.sims import fresh, template
from pcipass.ops.facts import gather_facts
from pcipass.ops.sriov import disable_plan
from pcipass.run.executor import Executor
from pcipass.run.records import RecordStore
from pcipass.run.vf_snapshots import VfSnapshots

PF, VF1 = "0000:03:00.0", "0000:03:10.2"
SNAP = {"pf": PF, "ifname": "enp3s0", "vf": 1, "settings": {"mac": "00:00:00:00:00:00"}}


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template(tmp_path_factory, "kernel-lab")


@pytest.mark.parametrize(("when", "at"), [("after", 1), ("before", 2)])
@pytest.mark.parametrize("rollback", [False, True])
def test_an_interrupted_disable_is_finished_or_undone(tpl: Path, tmp_path: Path, when: str,
                                                     at: int, rollback: bool) -> None:
    host = fresh(tpl, tmp_path)
    host.write(f"sys/bus/pci/devices/{PF}/sriov_numvfs", "2")
    VfSnapshots(host).save(VF1, SNAP)
    plan = disable_plan(gather_facts(host), PF, VfSnapshots(host).all())
    assert [s.action for s in plan.steps] == ["vf-forget", "write"]
    assert any(VF1 in n for n in plan.notes)
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at(when, at)).run(plan)
    executor = Executor(host, RecordStore(host), settle=0)
    executor.recover(rollback=rollback)
    assert executor.pending() is None
    numvfs = (host.try_read_text(f"sys/bus/pci/devices/{PF}/sriov_numvfs") or "").strip()
    assert (numvfs, VfSnapshots(host).get(VF1)) == (("2", SNAP) if rollback else ("0", None))
