"""`--persist` on the single commands: the live change and the declared state's edit are
steps of one plan; a dry run shows both and writes nothing; a failed live change leaves
the declared state as it was."""

from __future__ import annotations

from helpers.cli import Cli
from helpers.sims import driver
from pcipass.model.declared import STATE_FILE
from pcipass.ops.persist_store import declare_vfs, load
from pcipass.sim.host import SimHost

PF, NIC = "0000:03:00.0", "0000:02:00.0"
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"


def test_assignable_add_and_remove_persist(sim: SimHost, cli: Cli) -> None:
    r = cli("--json", "assignable", "add", NIC, "--persist", "--dry-run", host=sim)
    assert r.code == 0, r.err
    steps = r.json()["steps"]
    assert steps[-1]["action"] == "put-file" and steps[-1]["path"] == STATE_FILE
    assert r.json()["command"] == f"assignable add {NIC} --persist"
    assert not sim.exists(STATE_FILE) and driver(sim, NIC) == "e1000e"
    r = cli("assignable", "add", NIC, "--persist", host=sim)
    assert r.code == 0, r.err
    assert driver(sim, NIC) == "vfio-pci"
    assert [(a.bdf, a.backend) for a in load(sim).assignable] == [(NIC, "vfio")]
    assert cli("plan", "--json", host=sim).json()["items"][0]["status"] == "holds"
    r = cli("assignable", "remove", "-r", NIC, "--persist", host=sim)
    assert r.code == 0, r.err
    assert driver(sim, NIC) == "e1000e" and load(sim).assignable == ()


def test_sriov_enable_and_disable_persist(sim: SimHost, cli: Cli) -> None:
    r = cli("sriov", "enable", PF, "--vfs", "2", "--persist", host=sim)
    assert r.code == 0, r.err
    assert sim.try_read_text(NUMVFS) == "2"
    assert [(v.pf, v.count) for v in load(sim).vfs] == [(PF, 2)]
    r = cli("sriov", "disable", PF, "--persist", host=sim)
    assert r.code == 0, r.err
    assert sim.try_read_text(NUMVFS) == "0" and [v.count for v in load(sim).vfs] == [0]


def test_a_failed_live_change_leaves_the_declared_state(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 1)
    before = (sim.root / STATE_FILE).read_text()
    # the PF's VFs cannot be removed while one of them is assignable: refused, nothing written
    assert cli("sriov", "enable", PF, "--vfs", "1", host=sim).code == 0
    assert cli("assignable", "add", "0000:03:10.0", host=sim).code == 0
    r = cli("sriov", "disable", PF, "--persist", host=sim)
    assert r.code != 0
    assert (sim.root / STATE_FILE).read_text() == before
    assert sim.try_read_text(NUMVFS) == "1"


def test_the_module_method_is_declared_and_apply_uses_it(sim: SimHost, cli: Cli) -> None:
    r = cli("sriov", "enable", PF, "--vfs", "2", "--method", "module", "--persist", host=sim)
    assert r.code == 0, r.err
    assert [(v.count, v.method, v.reload_others) for v in load(sim).vfs] == [(2, "module", False)]
    assert 'method = "module"' in (sim.root / STATE_FILE).read_text()
    assert "count=2 method=module" in cli("state", "show", host=sim).out
    # the VFs are lost (as at a reboot): apply creates them again the declared way
    assert cli("sriov", "disable", PF, host=sim).code == 0
    steps = [s["argv"] for p in cli("plan", "--json", host=sim).json()["plans"]
             for s in p["steps"] if s["action"] == "run"]
    assert steps[:2] == [["modprobe", "-r", "igb"], ["modprobe", "igb", "max_vfs=2"]]
    r = cli("--json", "apply", host=sim)
    assert r.code == 0, r.err
    assert r.json()["applied"][0]["steps"][:2] == ["modprobe -r igb", "modprobe igb max_vfs=2"]
    assert sim.try_read_text(NUMVFS) == "2"
    assert [driver(sim, v) for v in ("0000:03:10.0", "0000:03:10.2")] == ["igbvf"] * 2
    # a sysfs enable --persist declares the sysfs method again
    r = cli("sriov", "enable", PF, "--vfs", "1", "--persist", host=sim)
    assert r.code == 0, r.err
    assert [(v.count, v.method) for v in load(sim).vfs] == [(1, "sysfs")]
    assert "method" not in (sim.root / STATE_FILE).read_text()
