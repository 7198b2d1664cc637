"""Output scripts can trust (issue 9): names usable in a pci=[…] entry, xl's exact
`pci-assignable-list`, idempotent add, every refusal named, multi-device errors that
say what was left alone, long inputs abbreviated, tables never truncated when piped."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import Result
from pcipass.host.real import RealHost
from pcipass.sim.host import SimHost, create_sim

GPU, AUDIO, NIC, SATA = "0000:01:00.0", "0000:01:00.1", "0000:03:00.0", "0000:00:17.0"
Cli = Callable[..., Result]


@pytest.fixture
def sim(tmp_path: Path) -> SimHost:
    return create_sim(tmp_path / "sim", profile="xen-host")


def driver(sim: SimHost, bdf: str) -> str | None:
    return sim.link_name(f"sys/bus/pci/devices/{bdf}/driver")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("05:00.1", "reads as a PCI address"),
        ("0000:01:00.1", "reads as a PCI address"),
        ("01:00.*", "reads as a PCI address"),
        ("a,b", ", cannot appear"),
        ("a=b", "= cannot appear"),
        ("gpu@2", "@ cannot appear"),
        ('"gpu"', '" cannot appear'),
        ("eno1", "is a network interface on this host"),
        ("two words", "printable characters without spaces"),
        ("n" * 65, "1-64 printable"),
    ],
)
def test_names_a_pci_entry_cannot_use_are_refused(
    cli: Cli, sim: SimHost, name: str, words: str
) -> None:
    got = cli("assignable", "add", GPU, "--name", name, host=sim)
    assert got.code == 2 and words in got.err and got.out == ""
    assert got.err.startswith("pcipass: error: ") and got.err.count("\n") == 1
    assert driver(sim, GPU) == "nouveau"  # nothing written
    assert not sim.exists("var/lib/pcipass/records.json")


def test_a_64_character_name_is_fine(cli: Cli, sim: SimHost) -> None:
    got = cli("assignable", "add", GPU, "--name", "n" * 64, host=sim)
    assert got.code == 0, got.err
    assert cli("pci-assignable-list", "-n", host=sim).out == f"{GPU} {'n' * 64}\n"


def test_xl_spelled_list_is_byte_for_byte_xl(cli: Cli, sim: SimHost) -> None:
    assert cli("pci-assignable-list", host=sim).out == ""
    assert cli("assignable", "add", "01:00.*", host=sim).code == 0
    nvme = cli("pci-assignable-add", "--force-storage", "-n", "nvme0", "02:00.0", host=sim)
    assert nvme.code == 0, nvme.err
    for flags in ([], ["-n"]):
        xl = sim.run(["xl", "pci-assignable-list", *flags])
        ours = cli("pci-assignable-list", *flags, host=sim)
        assert (ours.code, ours.out) == (0, xl.stdout)
    assert cli("pci-assignable-list", host=sim).out == f"{GPU} \n{AUDIO} \n0000:02:00.0 \n"
    assert cli("pci-assignable-list", "-n", host=sim).out.splitlines()[2] == "0000:02:00.0 nvme0"


def test_already_assignable_is_a_warning(cli: Cli, sim: SimHost) -> None:
    assert cli("assignable", "add", GPU, host=sim).code == 0
    again = cli("assignable", "add", GPU, AUDIO, host=sim)
    assert again.code == 0, again.err
    assert again.err == f"pcipass: warning: {GPU} already assigned to pciback\n"
    assert driver(sim, AUDIO) == "pciback"


def test_remove_a_b_with_b_bad_says_a_was_left_alone(cli: Cli, sim: SimHost) -> None:
    assert cli("assignable", "add", GPU, host=sim).code == 0
    got = cli("assignable", "remove", "-r", GPU, "09:00.0", host=sim)
    assert got.code == 2
    assert f"nothing was changed: {GPU}, 09:00.0 left as they were" in got.err
    assert driver(sim, GPU) == "pciback"


def test_every_refusal_is_named(cli: Cli, sim: SimHost) -> None:
    got = cli("assignable", "add", SATA, host=sim)
    assert got.code == 1 and "more refusal" not in got.err
    assert "holds the root filesystem" in got.err and "backs swap" in got.err


def test_a_long_input_is_abbreviated(cli: Cli, sim: SimHost) -> None:
    for args in (["assignable", "add"], ["show"], ["assignable", "remove"], ["reset"]):
        got = cli(*args, "9" * 10_000, host=sim)
        assert got.code == 2 and "(10000 characters)" in got.err and len(got.err) < 400


def test_a_piped_narrow_table_keeps_whole_bdfs_and_every_column(
    cli: Cli, sim: SimHost
) -> None:
    assert cli("assignable", "add", "--name", "a-rather-long-device-name", GPU, host=sim).code == 0
    env = dict(os.environ, COLUMNS="40")
    argv = [sys.executable, "-m", "pcipass", "--sim", str(sim.directory), "assignable", "list",
            "--names"]
    piped = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    head, row = piped.splitlines()
    assert head.split() == ["BDF", "NAME", "BACKEND", "FROM", "DRIVER", "RECORDED", "BY"]
    assert row.split() == [GPU, "a-rather-long-device-name", "xen", "nouveau", "pcipass"]


def test_root_on_a_raw_sysfs_capture_is_named_from_this_machine(
    cli: Cli, tmp_path: Path
) -> None:
    from dataclasses import replace

    from helpers.model_hosts import build, xen_host

    root = build(tmp_path / "raw", replace(xen_host(), extra_files=()))  # no pci.ids in it
    doc = cli("list", "--json", host=RealHost(root)).json()
    machine = Path("/usr/share/misc/pci.ids")
    assert machine.is_file(), "this check needs the machine's pci.ids (pciutils installs it)"
    assert (doc["pci_ids"], doc["pci_ids_from"]) == (str(machine), "machine")
    carried = replace(xen_host(), extra_files=(("usr/share/misc/pci.ids", machine.read_text()),))
    same = cli("list", "--json", host=RealHost(build(tmp_path / "carried", carried))).json()
    assert doc["devices"] == same["devices"]  # named as if the tree carried this machine's file
    assert doc["devices"][0]["vendor_name"] == "Intel Corporation"
    shown = cli("show", "--json", "0000:05:00.0", host=RealHost(root)).json()
    assert shown["pci_ids_from"] == "machine" and shown["device_name"]
    own = cli("list", "--json", host=RealHost(build(tmp_path / "own"))).json()
    assert own["pci_ids_from"] == "tree"


def test_an_address_is_never_taken_for_a_name(cli: Cli, sim: SimHost) -> None:
    """xl itself accepts `-n 05:00.1`; pcipass still reads 05:00.1 as the address."""
    assert sim.run(["modprobe", "xen-pciback"]).returncode == 0
    assert sim.run(["xl", "pci-assignable-add", "-n", "05:00.1", GPU]).returncode == 0
    got = cli("assignable", "remove", "-r", "05:00.1", host=sim)
    assert got.code == 1 and "0000:05:00.1 is not assignable" in got.err
    assert driver(sim, GPU) == "pciback"
    assert cli("assignable", "remove", "-r", "name=05:00.1", host=sim).code == 0
    assert driver(sim, GPU) == "nouveau"


def test_group_is_not_offered_when_a_member_cannot_move(cli: Cli, tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    res = cli("assignable", "add", "00:1f.2", "--backend", "vfio", host=sim)
    assert res.code == 1 and res.err.count("\n") == 1, res.err
    assert "0000:00:1f.2: it is in IOMMU group 7, which is not viable" in res.err
    fix = res.err.split(" — ")[-1]
    assert "--group" not in fix and "cannot be made viable" in fix, fix
