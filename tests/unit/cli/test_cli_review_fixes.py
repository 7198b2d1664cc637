"""Defects a hostile review found after the trust work: names with ':', both host variables
set, long or multi-line inputs, file names the file system cannot hold, dry runs under --root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.cli import pcipass
from pcipass.sim.host import SimHost, create_sim

LONG = "A" * 10_000


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> SimHost:
    return create_sim(tmp_path_factory.mktemp("s") / "sim", profile="xen-host")


@pytest.mark.parametrize("name", ["05:00.8", "05:00", "0000:05:00", "5:0", "05:00.a"])
def test_a_name_with_a_colon_is_refused(sim: SimHost, name: str) -> None:
    res = pcipass("assignable", "add", "01:00.0", "--name", name, "--dry-run", host=sim)
    assert res.code == 2 and "reads as a PCI address" in res.err, res.err


def test_both_host_variables_set_is_a_usage_error(sim: SimHost, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCIPASS_ROOT", str(tmp_path / "typo"))
    monkeypatch.setenv("PCIPASS_SIM", str(sim.directory))
    res = pcipass("list")
    assert res.code == 2 and "PCIPASS_ROOT and PCIPASS_SIM are both set" in res.err
    assert not (tmp_path / "typo").exists()
    assert pcipass("--sim", str(sim.directory), "--json", "list").code == 0  # an option decides


@pytest.mark.parametrize("args", [
    ("assignable", "add", "05:00.0", "--backend", LONG),
    ("tree", LONG),
    ("show", "05:00.9\nsecond line"),
])
def test_every_error_is_one_short_line(sim: SimHost, args: tuple[str, ...]) -> None:
    res = pcipass(*args, host=sim)
    assert res.code == 2 and res.err.count("\n") == 1 and len(res.err) < 600, res.err


@pytest.mark.parametrize("command", ["snapshot", "sim-init"])
def test_a_name_too_long_for_the_file_system_is_one_line(sim: SimHost, tmp_path: Path,
                                                         command: str) -> None:
    target = str(tmp_path / LONG)
    args = ("snapshot", target) if command == "snapshot" else ("sim", "init", target)
    res = pcipass(*args, host=sim)
    assert res.code == 2 and "is too long" in res.err and "internal error" not in res.err
    assert res.err.count("\n") == 1 and len(res.err) < 400
    assert os.listdir(tmp_path) == []


def test_a_dry_run_under_root_says_the_run_would_be_refused(tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", profile="xen-host")
    root = str(sim.directory / "root")  # the simulated dom0's tree, read as another host's
    res = pcipass("--root", root, "assignable", "add", "05:00.0", "--dry-run")
    assert res.code == 0 and "xl pci-assignable-add 0000:05:00.0" in res.out
    assert "pcipass: warning: only on that host: `" in res.err
    assert "runs on this machine, not on the tree under --root" in res.err
    run = pcipass("--root", root, "assignable", "add", "05:00.0")
    assert run.code == 1 and "runs on this machine" in run.err


def test_abandon_with_nothing_pending_writes_nothing(tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", profile="xen-host")
    res = pcipass("recover", "--abandon", host=sim)
    assert res.code == 0, res.err
    assert not (sim.directory / "root/var/lib/pcipass/journal.stuck.json").exists()
