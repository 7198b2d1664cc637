"""The declared state against the simulated host: each item's status, a replaced or gone
device reported and never configured, the two phases of `apply` (and what a failure of the
second leaves), the state edits, and bad input that writes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.cli import Cli
from helpers.sims import driver
from pcipass.model.declared import STATE_FILE
from pcipass.ops.facts import gather_facts
from pcipass.ops.persist import Status, states
from pcipass.ops.persist_store import declare_assignable, declare_vfs, load
from pcipass.run.journal import Journal
from pcipass.sim.host import SimHost

PF, NIC, NVME = "0000:03:00.0", "0000:02:00.0", "0000:01:00.0"
VF0, VF1 = "0000:03:10.0", "0000:03:10.2"
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"


def edit(host: SimHost, old: str, new: str) -> None:
    """Edit the declared state's file as a person would."""
    path = host.root / STATE_FILE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def status(host: SimHost) -> dict[str, tuple[Status, str]]:
    return {f"{s.kind} {s.bdf}": (s.status, s.detail)
            for s in states(gather_facts(host), load(host))}


def test_declaring_changes_no_device_and_keys_it_by_its_ids(sim: SimHost) -> None:
    declare_vfs(sim, PF, 2, autoprobe=True)
    declare_assignable(sim, NIC, "vfio", claim_at_boot=True)
    assert sim.try_read_text(NUMVFS) == "0" and driver(sim, NIC) == "e1000e"
    text = (sim.root / STATE_FILE).read_text()
    assert 'id = "8086:10d3"' in text and 'id = "8086:10c9"' in text
    assert status(sim) == {
        f"vfs {PF}": (Status.DIFFERS, "0 VFs, declared 2"),
        f"assignable {NIC}": (Status.DIFFERS, "on e1000e, declared vfio-pci"),
    }


def test_auto_backend_is_vfio_outside_a_dom0(sim: SimHost) -> None:
    assert declare_assignable(sim, NIC).backend == "vfio"


def test_a_replaced_device_is_reported_and_apply_changes_nothing(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    declare_assignable(sim, NIC, "vfio")
    edit(sim, 'id = "8086:10d3"', 'id = "8086:1533"')
    assert status(sim)[f"assignable {NIC}"] == (
        Status.CHANGED, f"{NIC} is now 8086:10d3 (subsystem 8086:0000), declared 8086:1533 "
        "(subsystem 8086:0000)")
    r = cli("apply", host=sim)
    assert r.code == 1
    assert r.err.startswith("pcipass: error: the declared state does not fit the host, "
                            "nothing was applied: assignable 0000:02:00.0: changed")
    assert "pcipass state forget BDF" in r.err and r.err.count("\n") == 1
    assert sim.try_read_text(NUMVFS) == "0" and driver(sim, NIC) == "e1000e"


def test_at_boot_the_rest_is_applied_and_the_replaced_device_named(sim: SimHost,
                                                                   cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    declare_assignable(sim, NIC, "vfio")
    edit(sim, 'subsystem = "8086:0000"', 'subsystem = "8086:a01f"')
    r = cli("apply", "--boot", host=sim)
    assert r.code == 1
    assert "pcipass: warning: not applied: assignable 0000:02:00.0: changed" in r.err
    assert "pcipass: error: applied the rest of the declared state, but not: assignable " \
           "0000:02:00.0: changed" in r.err
    assert f"echo 2 > /{NUMVFS}" in r.out
    assert sim.try_read_text(NUMVFS) == "2" and driver(sim, NIC) == "e1000e"


def test_a_pf_with_fewer_vfs_than_declared_is_unfit_and_left_alone(sim: SimHost,
                                                                   cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    declare_assignable(sim, NIC, "vfio")
    edit(sim, "count = 2", "count = 9")  # as after a firmware change to 7 VFs (the sim's)
    assert status(sim)[f"vfs {PF}"] == (
        Status.UNFIT, f"{PF} supports 7 VFs (sriov_totalvfs), declared 9")
    r = cli("apply", host=sim)
    assert r.code == 1 and r.err.count("\n") == 1
    assert r.err.startswith("pcipass: error: the declared state does not fit the host, "
                            f"nothing was applied: vfs {PF}: unfit")
    assert "`pcipass state set-vfs PF N` for a PF that has fewer VFs" in r.err
    assert driver(sim, NIC) == "e1000e"
    row = cli("boot", "status", "--json", host=sim).json()["boot"][0]
    assert (row["verdict"], row["next_boot"]) == (
        "differs", f"not applied ({PF} supports 7 VFs (sriov_totalvfs), declared 9)")
    r = cli("apply", "--boot", host=sim)  # the rest is applied; the PF is named
    assert r.code == 1 and f"but not: vfs {PF}: unfit" in r.err
    assert sim.try_read_text(NUMVFS) == "0" and driver(sim, NIC) == "vfio-pci"


def test_a_gone_device_is_reported(sim: SimHost) -> None:
    declare_assignable(sim, NIC, "vfio")
    edit(sim, f'bdf = "{NIC}"', 'bdf = "0000:09:00.0"')
    assert status(sim)["assignable 0000:09:00.0"] == (
        Status.GONE, "no device at 0000:09:00.0; declared 8086:10d3 (subsystem 8086:0000)")


def test_a_vf_waits_for_its_pf_then_both_phases_apply(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    assert cli("apply", host=sim).code == 0
    declare_assignable(sim, VF1, "vfio", name="vf1")
    assert cli("state", "set-vfs", PF, "0", host=sim).code == 0
    assert cli("apply", host=sim).code == 0  # VFs gone: the VF waits
    assert status(sim)[f"assignable {VF1}"][0] is Status.GONE  # no VFs declared now
    assert cli("state", "set-vfs", PF, "2", host=sim).code == 0
    assert status(sim)[f"assignable {VF1}"][0] is Status.WAITS
    preview = cli("plan", "--json", host=sim).json()
    assert [p["command"] for p in preview["plans"]] == [
        f"apply vfs: sriov enable {PF} --vfs 2", "apply vf", "apply assignable", "apply boot"]
    r = cli("--json", "apply", host=sim)
    assert r.code == 0, r.err
    applied = r.json()["applied"]
    assert [a["command"] for a in applied] == [f"apply vfs: sriov enable {PF} --vfs 2",
                                               "apply vf",
                                               f"apply assignable: assignable add {VF1}",
                                               "apply boot"]
    assert applied[3]["steps"] == []  # no initramfs on the simulated host
    assert driver(sim, VF1) == "vfio-pci" and driver(sim, VF0) == "igbvf"
    assert cli("plan", "--json", host=sim).json()["converged"] is True
    assert Journal(sim).load() is not None  # journalled like every change


def test_a_failing_second_phase_keeps_the_first_and_says_so(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    declare_assignable(sim, NIC, "vfio")
    edit(sim, 'backend = "vfio"', 'backend = "vfio"\nname = "bad name"')
    r = cli("apply", host=sim)
    assert r.code == 2
    assert r.err.startswith("pcipass: error: bad device name 'bad name' (the assignable phase "
                            f"changed nothing; already applied and kept: apply vfs: sriov "
                            f"enable {PF} --vfs 2)")
    assert sim.try_read_text(NUMVFS) == "2" and driver(sim, NIC) == "e1000e"


def test_dry_run_and_plan_write_nothing(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 3, autoprobe=False)
    r = cli("apply", "--dry-run", host=sim)
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[:6] == [
        f"# vfs {PF}: differs (0 VFs, declared 3)",
        f"echo 0 > /sys/bus/pci/devices/{PF}/sriov_drivers_autoprobe",
        f"echo 3 > /{NUMVFS}",
        "write /etc/systemd/system/pcipass-apply.service (15 lines)",
        "--- /dev/null",
        "+++ b/etc/systemd/system/pcipass-apply.service",
    ]
    assert "+ExecStart=/usr/bin/pcipass apply --boot" in lines
    assert cli("plan", host=sim).out == r.out
    assert sim.try_read_text(NUMVFS) == "0"
    assert not (sim.root / "etc/systemd").exists()


def test_an_autoprobe_difference_is_a_difference(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 1)
    assert cli("apply", host=sim).code == 0
    declare_vfs(sim, PF, 1, autoprobe=False)
    assert status(sim)[f"vfs {PF}"] == (Status.DIFFERS, "autoprobe on, declared off")


def test_show_and_forget(sim: SimHost, cli: Cli) -> None:
    assert cli("state", "show", host=sim).out == "nothing is declared\n"
    declare_vfs(sim, PF, 2)
    declare_assignable(sim, NIC, "vfio", name="nic0", claim_at_boot=True)
    assert cli("state", "show", host=sim).out.splitlines() == [
        f"assignable {NIC} 8086:10d3 (subsystem 8086:0000) backend=vfio name=nic0 "
        "claim-at-boot",
        f"vfs {PF} 8086:10c9 (subsystem 1af4:1100) count=2",
    ]
    r = cli("state", "forget", "02:00.0", "--json", host=sim)
    assert r.json() == {"forgotten": [f"assignable {NIC}"]}
    assert [a["pf"] for a in cli("state", "show", "--json", host=sim).json()["vfs"]] == [PF]


@pytest.mark.parametrize(("args", "said"), [
    (("state", "forget", NVME), f"nothing is declared for '{NVME}'"),
    (("state", "set-vfs", NIC, "2"), "0000:02:00.0 is not an SR-IOV PF"),
    (("state", "set-vfs", PF, "8"), "8 VFs is not possible on 0000:03:00.0 (sriov_totalvfs 7)"),
    (("state", "set-vfs", PF, "x"), "'x' is not a valid integer"),
    (("state", "add-assignable", "0000:09:00.0"), "no PCI device 0000:09:00.0"),
    (("state", "add-assignable", NIC, "--backend", "kvm"), "'kvm' is not one of"),
    (("state", "add-assignable", NIC, "--name", "05:00.1"),
     "bad device name '05:00.1': it reads as a PCI address"),  # as `assignable add -n` says
    (("state", "add-assignable", NIC, "--name", "a b"), "bad device name 'a b'"),
])
def test_bad_input_is_one_line_and_writes_nothing(sim: SimHost, cli: Cli, args: tuple[str, ...],
                                                  said: str) -> None:
    r = cli(*args, host=sim)
    assert r.code == 2
    assert r.err.startswith("pcipass: error: ") and said in r.err and r.err.count("\n") == 1
    assert not (sim.root / STATE_FILE).exists()


def test_a_bad_file_is_refused_by_every_command_with_line_and_key(sim: SimHost,
                                                                  cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    edit(sim, "count = 2", "count = 2\nmode = \"sysfs\"")
    for args in (("plan",), ("apply",), ("state", "show"), ("state", "set-vfs", PF, "1")):
        r = cli(*args, host=sim)
        assert (r.code, r.err.count("\n")) == (2, 1), args
        assert "host.toml line 10: [[vfs]] #1 unknown key 'mode'" in r.err
    assert sim.try_read_text(NUMVFS) == "0"


DOC = Path(__file__).resolve().parents[3] / "docs" / "json.md"


def documented(table: int) -> set[str]:
    """The keys in the first column of table `table` of the declared state's section."""
    body = DOC.read_text().split("## `pcipass plan`", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"((?:^\|.*\n)+)", body, re.M)[table].splitlines()[2:]
    return {key for row in rows for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


def test_docs_list_every_key_of_state_show_and_plan(sim: SimHost, cli: Cli) -> None:
    declare_vfs(sim, PF, 2)
    declare_assignable(sim, NIC, "vfio")
    shown = cli("state", "show", "--json", host=sim).json()
    assert documented(0) == set(shown["assignable"][0])
    assert documented(1) == set(shown["vfs"][0])
    assert documented(2) == set(cli("plan", "--json", host=sim).json())


def test_the_vfs_of_an_unfit_pf_do_not_wait_for_it(sim: SimHost, cli: Cli) -> None:
    assert cli("sriov", "enable", PF, "--vfs", "2", "--persist", host=sim).code == 0
    assert cli("state", "set-vf", PF, "1", "--vlan", "5", host=sim).code == 0
    assert cli("state", "add-assignable", VF0, host=sim).code == 0
    assert cli("sriov", "disable", PF, host=sim).code == 0  # as after a reboot
    edit(sim, "count = 2", "count = 9")
    unfit = f"{PF}, whose declared VF count cannot be made: {PF} supports 7 VFs " \
            "(sriov_totalvfs), declared 9"
    assert status(sim)[f"assignable {VF0}"] == (Status.UNFIT, f"a VF of {unfit}")
    r = cli("plan", host=sim)
    assert f"# vf {VF1}: unfit (VF 1 of {unfit})\n" in r.out
    r = cli("apply", "--boot", host=sim)
    assert r.code == 1 and "nothing to apply" not in r.out
    assert f"but not: vfs {PF}: unfit" in r.err and f"assignable {VF0}: unfit" in r.err


def test_a_guard_apply_meets_names_a_fix_apply_has(sim: SimHost, cli: Cli) -> None:
    assert cli("sriov", "enable", PF, "--vfs", "2", host=sim).code == 0
    assert cli("state", "add-assignable", PF, "--backend", "vfio", host=sim).code == 0
    r = cli("apply", host=sim)
    assert r.code == 1
    assert r.err.startswith(f"pcipass: error: refusing to take {PF}: it is an SR-IOV PF")
    assert "pass --force-vfs" not in r.err  # apply has no such flag
    assert r.err.endswith(" — the declared state never overrides a guard (--force-vfs is for "
                          f"`pcipass assignable add` by hand): leave {PF} out of it (`pcipass "
                          f"state forget {PF}`)\n")
    assert driver(sim, PF) == "igb"
