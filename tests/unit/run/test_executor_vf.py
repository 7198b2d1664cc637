"""The executor's VF steps on the simulated igb: an interrupted `vf set` is finished or
rolled back by recovery, and the saved originals follow."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.fakes import Crash, crash_at
from helpers.sims import fresh, template
from pcipass.ops import vf as ops_vf
from pcipass.ops.facts import gather_facts
from pcipass.run.executor import Executor
from pcipass.run.plan import Plan
from pcipass.run.records import RecordStore
from pcipass.run.vf_snapshots import VfSnapshots
from pcipass.sim.host import SimHost

PF, VF1, MAC = "0000:03:00.0", "0000:03:10.2", "02:11:22:33:44:55"


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template(tmp_path_factory, "kernel-lab")


def set_plan(host: SimHost) -> Plan:
    t = ops_vf.target(gather_facts(host).model, PF, 1)
    request = ops_vf.SetRequest(PF, 1, {"mac": MAC, "vlan": "9", "trust": "on"})
    return ops_vf.set_plan(t, request, host.vf_states(t.ifname), VfSnapshots(host).get(VF1))


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", range(1, 5))
@pytest.mark.parametrize("rollback", [False, True])
def test_an_interrupted_set_is_finished_or_undone(tpl: Path, tmp_path: Path, when: str,
                                                 at: int, rollback: bool) -> None:
    host = fresh(tpl, tmp_path)
    host.write(f"sys/bus/pci/devices/{PF}/sriov_numvfs", "2")
    plan = set_plan(host)
    assert len(plan.steps) == 4  # save, mac, vlan, trust
    with pytest.raises(Crash):
        Executor(host, RecordStore(host), settle=0, fault=crash_at(when, at)).run(plan)
    executor = Executor(host, RecordStore(host), settle=0)
    executor.recover(rollback=rollback)
    assert executor.pending() is None
    vf1 = (host.vf_states("enp3s0") or [])[1]
    if rollback:
        assert (vf1.mac, vf1.vlan, vf1.trust, VfSnapshots(host).has(VF1)) == \
            ("00:00:00:00:00:00", 0, False, False)
    else:
        assert (vf1.mac, vf1.vlan, vf1.trust) == (MAC, 9, True)
        assert VfSnapshots(host).get(VF1)["settings"]["mac"] == "00:00:00:00:00:00"
