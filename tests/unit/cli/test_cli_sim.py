"""`pcipass sim init/profiles`, `--sim DIR` selection and `pcipass snapshot` on the CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers.cli import pcipass
from pcipass.sim.host import SimHost, create_sim


def test_init_then_use_with_sim(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    code, out, err = pcipass("--json", "sim", "init", str(sim), "--profile", "kernel-lab")
    assert code == 0, err
    assert json.loads(out) == {
        "directory": str(sim),
        "profile": "kernel-lab",
        "functions": 13,
        "created": True,
    }
    code, out, err = pcipass("--sim", str(sim), "--json", "list")
    assert code == 0, err
    assert "0000:03:00.0" in out
    code, _, err = pcipass("sim", "init", str(sim))
    assert code == 2 and err.startswith("pcipass: error: ") and err.count("\n") == 1
    assert pcipass("sim", "init", str(sim), "--force", "--profile", "xen-host")[0] == 0
    assert json.loads((sim / "sim.json").read_text())["profile"] == "xen-host"


def test_init_dry_run_creates_nothing(tmp_path: Path) -> None:
    code, out, _ = pcipass("sim", "init", str(tmp_path / "d"), "--dry-run")
    assert code == 0 and "would create" in out
    assert not (tmp_path / "d").exists()


def test_init_dry_run_refuses_what_init_refuses(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    assert pcipass("sim", "init", str(sim))[0] == 0
    code, out, err = pcipass("sim", "init", str(sim), "--dry-run")
    assert code == 2 and out == "" and "already holds a simulated host" in err
    assert pcipass("sim", "init", str(sim), "--dry-run", "--force")[0] == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file").write_text("")
    code, out, err = pcipass("sim", "init", str(tmp_path / "other"), "--dry-run")
    assert code == 2 and out == "" and "is not empty" in err


def test_damaged_state_is_a_one_line_error(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    assert pcipass("sim", "init", str(sim))[0] == 0
    for junk in ("{", "[]", '{"kernel": 1}'):
        (sim / "sim.json").write_text(junk)
        code, out, err = pcipass("--sim", str(sim), "assignable", "add", "05:00.0")
        assert code == 2 and out == "", err
        assert err.startswith(f"pcipass: error: {sim}/sim.json is damaged")
        assert err.count("\n") == 1 and "--force" in err


def test_sim_on_a_directory_that_is_not_one(tmp_path: Path) -> None:
    code, out, err = pcipass("--sim", str(tmp_path), "list")
    assert code == 2 and out == ""
    assert err == (
        f"pcipass: error: {tmp_path} is not a simulated host — "
        "create one with `pcipass sim init DIR`\n"
    )


def test_profiles_json() -> None:
    code, out, _ = pcipass("--json", "sim", "profiles")
    assert code == 0
    assert [p["name"] for p in json.loads(out)] == [
        "xen-host", "kernel-lab", "xen-lab", "kernel-lab-iommu-none", "xen-lab-iommu-amd",
        "xen-lab-iommu-none"]


def test_snapshot_command(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    assert pcipass("sim", "init", str(sim), "--profile", "xen-lab")[0] == 0
    target = tmp_path / "snap.tar.gz"
    code, out, err = pcipass("--sim", str(sim), "--json", "snapshot", str(target), "--dry-run")
    assert code == 0, err
    assert json.loads(out)["written"] is False and not target.exists()
    code, out, err = pcipass("--sim", str(sim), "snapshot", str(target))
    assert code == 0, err
    assert target.is_file() and "replay:" in out
    code, _, err = pcipass("--root", str(tmp_path), "snapshot", str(tmp_path / "x.tgz"))
    assert code == 2 and "has no sys/bus/pci" in err


def test_bad_snapshot_targets_are_one_line_and_exit_2(tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "d").mkdir()
    (tmp_path / "file").write_text("x")
    cases = {
        "": "the snapshot file name is empty — give a path such as host.tgz",
        " ": "the snapshot file name is empty — give a path such as host.tgz",
        str(fifo): f"{fifo} is not a regular file — give the path of a new .tgz file",
        str(tmp_path / "no/s.tgz"): f"cannot write {tmp_path}/no/s.tgz: {tmp_path}/no is not "
        "a directory — create the directory first, or pick another path",
        str(tmp_path / "file/s.tgz"): f"cannot write {tmp_path}/file/s.tgz: {tmp_path}/file is "
        "not a directory — create the directory first, or pick another path",
        str(tmp_path / "d"): f"{tmp_path}/d is a directory — give the path of a new .tgz file",
    }
    before = sorted(tmp_path.rglob("*"))
    for target, message in cases.items():
        for dry in ([], ["--dry-run"]):
            res = pcipass("snapshot", target, *dry, host=sim)
            assert (res.code, res.out, res.err) == (2, "", f"pcipass: error: {message}\n")
    assert sorted(tmp_path.rglob("*")) == before and stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["kernel"].update(functions=5), "kernel.functions is not a dict"),
        (lambda d: d["kernel"].update(loaded={}), "kernel.loaded is not a list"),
        (lambda d: d["kernel"].update(bogus=1), "kernel got an unexpected keyword argument"),
        (lambda d: d["kernel"].pop("drivers"), "kernel missing 1 required positional argument"),
        (lambda d: d.update(xen=[]), "xen is not an object"),
    ],
)
def test_a_state_file_of_the_wrong_shape_is_one_line(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], why: str
) -> None:
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    state = sim.directory / "sim.json"
    data = json.loads(state.read_text())
    change(data)
    state.write_text(json.dumps(data))
    res = pcipass("assignable", "add", "01:00.0", host=sim)
    assert res.code != 0 and res.out == "" and res.err.count("\n") == 1
    assert res.err.startswith(f"pcipass: error: {state} is damaged ({why}")
    fix = f"recreate the host with `pcipass sim init {sim.directory} --force`"
    assert res.err.endswith(f" — {fix}\n")


def unwritable_by_a_directory(sim: SimHost) -> str:
    (sim.directory / ".sim.json.tmp").mkdir()
    return f"{sim.directory}/.sim.json.tmp"


def unwritable_by_immutable_file(sim: SimHost) -> str:
    state = sim.directory / "sim.json"
    if os.geteuid() != 0:
        state.chmod(0o444)
        return str(state)
    if subprocess.run(["chattr", "+i", str(state)], check=False).returncode != 0:
        pytest.skip("this file system cannot make a file immutable")
    return str(state)


@pytest.mark.parametrize("make", [unwritable_by_a_directory, unwritable_by_immutable_file])
def test_an_unwritable_state_file_is_one_line_and_nothing_changes(
    tmp_path: Path, make: Callable[[SimHost], str]
) -> None:
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    state = sim.directory / "sim.json"
    before = state.read_bytes()
    driver = sim.link_name("sys/bus/pci/devices/0000:01:00.0/driver")
    culprit = make(sim)
    try:
        res = pcipass("assignable", "add", "01:00.0", host=sim)
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=False, capture_output=True)
    assert res.code == 1 and res.out == "" and res.err.count("\n") == 1, res.err
    what = f"the simulated host's state {state} cannot be written"
    fix = f"make {sim.directory} and its files writable (chmod u+w, chattr -i)"
    assert res.err.startswith(f"pcipass: error: {what}") and res.err.endswith(f" — {fix}\n")
    assert culprit in res.err
    assert state.read_bytes() == before
    assert sim.link_name("sys/bus/pci/devices/0000:01:00.0/driver") == driver


def test_reads_and_dry_runs_leave_the_state_file_alone(tmp_path: Path) -> None:
    sim = create_sim(tmp_path / "sim", "xen-host")
    state = sim.directory / "sim.json"
    os.utime(state, (1_000_000, 1_000_000))
    before = state.read_bytes()
    for args in (("assignable", "add", "05:00.0", "--dry-run"), ("assignable", "list"),
                 ("sriov", "enable", "05:00.0", "--vfs", "2", "--dry-run")):
        res = pcipass(*args, host=sim)
        assert res.code == 0, res.err
    assert state.read_bytes() == before and state.stat().st_mtime == 1_000_000
    assert pcipass("assignable", "add", "05:00.0", host=sim).code == 0
    assert state.read_bytes() != before  # a change is still saved
