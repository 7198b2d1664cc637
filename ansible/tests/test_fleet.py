"""The README's example play (ansible/examples/sriov-fleet.yml) with `ansible-playbook -c
local` against a fleet of simulated Xen hosts, each its own `pcipass sim` directory, with
the collection built by `ansible-galaxy collection build` and installed from its tarball.

One host's inventory entry also declares its root disk's controller assignable. Proved:
check mode changes no host's bytes; apply converges the others; a second apply is ok on
them; the guard fails that one host only, with pcipass's one-line reason, in every run.

Run by scripts/test (`python3 -m pytest ansible/tests`), not by the fast suite.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers.cli import pcipass
from helpers.fleet import (
    JSON_CALLBACK,
    build_and_install,
    make_sims,
    play_env,
    run_play,
    tree_digest,
    write_inventory,
)
from pcipass.sim.host import SimHost, create_sim

PFS = ("0000:05:00.0", "0000:05:00.1")
GUEST_VFS = ("0000:05:10.0", "0000:05:10.2", "0000:05:10.4", "0000:05:10.6",
             "0000:05:10.1", "0000:05:10.3", "0000:05:10.5", "0000:05:10.7")
ROOT_DISK = "0000:00:17.0"
GOOD, GUARDED = ("xen00", "xen01"), "xen02"
STATE_TASK = "Each 8086:10fb PF gets 7 VFs, VFs 0-3 assignable"
EXTRA_TASK = "The host's own extra devices"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("fleet")
    create_sim(work / "template", "xen-host")
    sims = make_sims(work / "template", work, len(GOOD) + 1)
    hosts: dict[str, dict[str, Any]] = {
        name: {"pcipass_sim": str(sim)} for name, sim in zip((*GOOD, GUARDED), sims,
                                                                strict=True)}
    hosts[GUARDED]["extra_assignable"] = [{"device": ROOT_DISK, "backend": "xen"}]
    inventory = write_inventory(work / "inventory.json", hosts)
    env = play_env(build_and_install(work), work, callback=JSON_CALLBACK)
    return {"inventory": inventory, "env": env,
            "sims": {name: SimHost(path) for name, path in zip(hosts, sims, strict=True)}}


def _play(fleet: dict[str, Any], *args: str) -> dict[str, Any]:
    proc = run_play(fleet["inventory"], fleet["env"], *args)
    assert proc.returncode == 2, proc.stdout[-4000:] + proc.stderr[-4000:]  # the guarded host
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _results(doc: dict[str, Any], task: str) -> dict[str, Any]:
    tasks = {t["name"]: t["hosts"] for t in doc["tasks"]}
    return tasks[task]


def _guard_line(sim: SimHost) -> str:
    """`assignable add`'s refusal, with the fix `apply` gives (it takes no override flag)."""
    cli = pcipass("assignable", "add", ROOT_DISK, "--backend", "xen", "--dry-run", host=sim)
    assert cli.code == 1
    what = cli.err.removeprefix("pcipass: error: ").partition(" — ")[0]
    return (f"{what} — the declared state never overrides a guard (--force-storage is for "
            f"`pcipass assignable add` by hand): leave {ROOT_DISK} out of it (`pcipass state "
            f"forget {ROOT_DISK}`)")


def _assert_guarded(doc: dict[str, Any], fleet: dict[str, Any]) -> None:
    """The guarded host fails at its extra device, with pcipass's own line, alone."""
    extra = _results(doc, EXTRA_TASK)
    assert extra[GUARDED]["failed"] is True
    assert extra[GUARDED]["msg"] == _guard_line(fleet["sims"][GUARDED])
    assert "holds the root filesystem" in extra[GUARDED]["msg"]
    assert {h: s["failures"] for h, s in doc["stats"].items()} == \
        {GOOD[0]: 0, GOOD[1]: 0, GUARDED: 1}


def test_check_apply_apply_again(fleet: dict[str, Any]) -> None:
    sims: dict[str, SimHost] = fleet["sims"]
    before = {name: tree_digest(sim.directory) for name, sim in sims.items()}

    check = _play(fleet, "--check", "--diff")
    assert {name: tree_digest(sim.directory) for name, sim in sims.items()} == before
    planned = _results(check, STATE_TASK)
    for host in (*GOOD, GUARDED):
        items = planned[host]["results"]
        assert [r["item"]["bdf"] for r in items] == list(PFS)
        assert all(r["changed"] and not r["converged"] for r in items)
        assert [len(r["plan"]["pending"]) for r in items] == [4, 4]
    _assert_guarded(check, fleet)

    applied = _play(fleet)
    for host in (*GOOD, GUARDED):
        sim = sims[host]
        assert all(r["changed"] and r["converged"] for r in _results(applied, STATE_TASK)[host]
                   ["results"])
        assert [sim.try_read_text(f"sys/bus/pci/devices/{pf}/sriov_numvfs") for pf in PFS] == \
            ["7", "7"]
        assert [sim.link_name(f"sys/bus/pci/devices/{vf}/driver") for vf in GUEST_VFS] == \
            ["pciback"] * 8
        assert pcipass("plan", "--json", host=sim).json()["converged"] is True
        for port, pf in enumerate(PFS):
            vfs = pcipass("sriov", "list", pf, "--json", host=sim).json()["sriov"][0]["vfs"]
            assert [v["admin_mac"] for v in vfs] == \
                [f"02:00:00:00:{port:02x}:{i:02x}" for i in range(7)]
    assert sims[GUARDED].link_name(f"sys/bus/pci/devices/{ROOT_DISK}/driver") == "ahci"
    declared = pcipass("state", "show", "--json", host=sims[GUARDED]).json()
    assert ROOT_DISK not in [a["bdf"] for a in declared["assignable"]]
    _assert_guarded(applied, fleet)

    after = {name: tree_digest(sim.directory) for name, sim in sims.items()}
    again = _play(fleet)
    assert {h: s["changed"] for h, s in again["stats"].items()} == \
        {GOOD[0]: 0, GOOD[1]: 0, GUARDED: 0}
    assert {h: s["ok"] for h, s in again["stats"].items()} == {GOOD[0]: 2, GOOD[1]: 2,
                                                               GUARDED: 2}
    assert {name: tree_digest(sims[name].directory) for name in GOOD} == \
        {name: after[name] for name in GOOD}
    _assert_guarded(again, fleet)
