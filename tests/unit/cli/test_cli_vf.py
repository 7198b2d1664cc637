"""`pcipass vf show/set/reset` on the simulated hosts: the table and JSON, a driver without
igb's refusals (the demo host's ixgbe 82599), dry runs, another host's tree, the undo of a
setting the kernel refuses half-way, and a damaged snapshot file."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import Cli
from helpers.sims import fresh, template
from pcipass.run.vf_snapshots import VF_SETTINGS
from pcipass.sim.host import SimHost

X520, IGB = "0000:05:00.0", "0000:03:00.0"
MAC = "02:11:22:33:44:55"


@pytest.fixture(scope="module")
def xen_tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template(tmp_path_factory, "xen-host")


@pytest.fixture(scope="module")
def lab_tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template(tmp_path_factory, "kernel-lab")


@pytest.fixture
def x520(xen_tpl: Path, tmp_path: Path, cli: Cli) -> SimHost:
    sim = fresh(xen_tpl, tmp_path)
    assert cli("--sim", str(sim.directory), "sriov", "enable", X520, "--vfs", "2").code == 0
    return sim


@pytest.fixture
def igb(lab_tpl: Path, tmp_path: Path, cli: Cli) -> SimHost:
    sim = fresh(lab_tpl, tmp_path)
    assert cli("--sim", str(sim.directory), "sriov", "enable", IGB, "--vfs", "2").code == 0
    return sim


def test_show_table_and_json(x520: SimHost, cli: Cli) -> None:
    r = cli("--sim", str(x520.directory), "vf", "show", X520)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["VF", "BDF", "MAC", "VLAN", "QOS", "SPOOFCHK", "TRUST",
                                "LINK-STATE", "MIN-RATE", "MAX-RATE", "SAVED"]
    assert lines[1].split()[:3] == ["0", "0000:05:10.0", "00:00:00:00:00:00"]
    doc = cli("--sim", str(x520.directory), "--json", "vf", "show", X520).json()
    assert (doc["pf"], doc["driver"], len(doc["vfs"])) == (X520, "ixgbe", 2)


def test_a_driver_without_igbs_refusals_takes_every_setting(x520: SimHost, cli: Cli) -> None:
    sim = str(x520.directory)
    r = cli("--sim", sim, "vf", "set", X520, "1", "--link-state", "disable",
            "--max-rate", "500", "--vlan", "12")
    assert r.code == 0, r.err
    vf = cli("--sim", sim, "vf", "show", X520, "--json").json()["vfs"][1]
    assert (vf["link_state"], vf["min_tx_rate"], vf["max_tx_rate"], vf["vlan"], vf["saved"]) \
        == ("disable", 0, 500, 12, True)
    assert cli("--sim", sim, "vf", "reset", X520, "1").code == 0
    vf = cli("--sim", sim, "vf", "show", X520, "--json").json()["vfs"][1]
    assert (vf["link_state"], vf["max_tx_rate"], vf["saved"]) == ("auto", 0, False)


def test_dry_run_prints_the_plan_and_changes_nothing(igb: SimHost, cli: Cli) -> None:
    sim = str(igb.directory)
    r = cli("--sim", sim, "vf", "set", IGB, "0", "--mac", MAC, "--dry-run")
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["remember the VF settings of 0000:03:10.0",
                                  f"ip link set enp3s0 vf 0 mac {MAC}"]
    doc = cli("--sim", sim, "--json", "vf", "set", IGB, "0", "--trust", "on", "--dry-run").json()
    assert (doc["dry_run"], [s["action"] for s in doc["steps"]]) == (True, ["vf-save", "vf-set"])
    vf = cli("--sim", sim, "vf", "show", IGB, "--json").json()["vfs"][0]
    assert (vf["mac"], vf["trust"], vf["saved"]) == ("00:00:00:00:00:00", False, False)


def test_a_refusal_half_way_undoes_the_steps_taken(igb: SimHost, cli: Cli) -> None:
    """igb refuses a maximum rate while its PF is down (EINVAL, measured): the MAC sent
    before it is set back, and the snapshot taken first is forgotten."""
    sim = str(igb.directory)
    r = cli("--sim", sim, "vf", "set", IGB, "1", "--mac", MAC, "--max-rate", "100")
    assert r.code == 1
    assert "refused min_tx_rate 0 max_tx_rate 100 for VF 1: EINVAL" in r.err
    assert "the 2 step(s) done were undone" in r.err
    vf = cli("--sim", sim, "vf", "show", IGB, "--json").json()["vfs"][1]
    assert (vf["mac"], vf["max_tx_rate"], vf["saved"]) == ("00:00:00:00:00:00", 0, False)


def test_another_hosts_tree_shows_unknown_and_refuses_changes(igb: SimHost, cli: Cli) -> None:
    root = str(igb.root)
    doc = cli("--root", root, "vf", "show", IGB, "--json").json()
    assert [(v["bdf"], v["mac"], v["vlan"]) for v in doc["vfs"]] == \
        [("0000:03:10.0", None, None), ("0000:03:10.2", None, None)]
    r = cli("--root", root, "vf", "set", IGB, "0", "--vlan", "3")
    assert r.code == 1
    assert "cannot be read on a host tree (--root)" in r.err


def test_bad_vf_index_and_a_non_nic_pf(igb: SimHost, cli: Cli) -> None:
    sim = str(igb.directory)
    r = cli("--sim", sim, "vf", "set", IGB, "1.5", "--vlan", "3")
    assert (r.code, "is not a VF index" in r.err) == (2, True)
    r = cli("--sim", sim, "vf", "show", "0000:01:00.0")
    assert (r.code, "has no network interface" in r.err) == (2, True)


def test_a_damaged_snapshot_file_is_refused(igb: SimHost, cli: Cli) -> None:
    path = igb.root / VF_SETTINGS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[1, 2]")
    r = cli("--sim", str(igb.directory), "vf", "set", IGB, "0", "--vlan", "3")
    assert r.code == 1
    assert "are damaged" in r.err
    assert path.read_text() == "[1, 2]"
