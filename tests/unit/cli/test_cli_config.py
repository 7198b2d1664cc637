"""`pcipass config ...` through the host: files of the selected host (--root, --sim), only
regular files, `check --json` always an object, edits that change no other entry."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import sims
from helpers.cli import Result
from pcipass.host.real import RealHost
from pcipass.sim.host import SimHost

Cli = Callable[..., Result]
SLOT = b"name = 'g'\npci = [ '05:00.*@4', '01:00.0' ]\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sims.template(tmp_path_factory, "xen-host")


@pytest.fixture
def sim(template: Path, tmp_path: Path) -> SimHost:
    return sims.fresh(template, tmp_path)


def test_with_sim_the_editor_and_the_simulated_xl_see_the_same_file(
    cli: Cli, sim: SimHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (sim.root / str(work).lstrip("/")).mkdir(parents=True)
    (sim.root / str(work).lstrip("/") / "g.cfg").write_bytes(b"name = 'g'\n")
    monkeypatch.chdir(tmp_path)
    work.mkdir()
    monkeypatch.chdir(work)
    assert not (work / "g.cfg").exists()  # the file is the simulated host's, not this one's
    assert cli("config", "pci", "add", "g.cfg", "05:00.0", host=sim).code == 0
    assert not (work / "g.cfg").exists()
    assert sim.modprobe("xen-pciback").returncode == 0
    assert sim.run(["xl", "pci-assignable-add", "05:00.0"]).returncode == 0
    created = sim.run(["xl", "create", "g.cfg"])
    assert created.returncode == 0, created.stderr
    assert "0000:05:00.0" in sim.run(["xl", "pci-list", "g"]).stdout


def test_with_root_the_file_is_read_in_the_tree(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "sys/bus/pci").mkdir(parents=True)  # a host tree, as --root requires
    (tmp_path / "etc/xen").mkdir(parents=True)
    (tmp_path / "etc/xen/g.cfg").write_bytes(SLOT)
    res = cli("--json", "config", "check", "/etc/xen/g.cfg", host=RealHost(tmp_path))
    assert res.code == 0 and res.json()["pci"][0]["all_functions"] is True
    res = cli("config", "check", "/etc/xen/none.cfg", host=RealHost(tmp_path))
    assert res.code == 2 and f"({tmp_path}/etc/xen/none.cfg) does not exist" in res.err


@pytest.mark.parametrize("kind", ["missing", "fifo", "dev-zero", "directory", "binary", "huge"])
def test_check_json_always_prints_its_object(cli: Cli, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "f.cfg"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\x7fELF\0\0")
    elif kind == "huge":
        path.write_bytes(b"#" * (1 << 20) + b"\n")
    res = cli("--json", "config", "check", str(path))
    report = res.json()
    assert res.code == 2 and report["ok"] is False and report["pci"] == []
    assert res.err == f"pcipass: error: {report['error']}\n"
    plain = cli("config", "check", str(path))
    assert plain.code == 2 and plain.out == "" and plain.err == res.err


def test_an_empty_file_has_no_devices_and_a_warning(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.cfg"
    path.write_bytes(b"")
    res = cli("--json", "config", "check", str(path))
    assert res.code == 0 and res.err == ""
    assert res.json()["ok"] is True and res.json()["pci"] == []
    assert "no settings" in res.json()["warnings"][0]


def test_duplicates_warn_and_strict_refuses(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "g.cfg"
    path.write_bytes(b"pci = [ '05:00.*' ]\npci = [ '05:00.*', '05:00.1' ]\n")
    res = cli("--json", "config", "check", str(path))
    warnings = res.json()["warnings"]
    assert res.code == 0 and "pci is set again on line 2" in warnings[0]
    assert "same function" in warnings[1]
    strict = cli("--json", "config", "check", "--strict", str(path))
    assert strict.code == 2 and "refused in strict mode" in strict.json()["error"]


def test_add_refuses_a_function_a_slot_entry_names(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "g.cfg"
    path.write_bytes(SLOT)
    res = cli("config", "pci", "add", str(path), "05:00.1")
    assert res.code == 2 and "'05:00.*@4'" in res.err and path.read_bytes() == SLOT


def test_remove_one_function_of_a_slot(cli: Cli, sim: SimHost) -> None:
    cfg = sim.root / "etc/xen/g.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_bytes(SLOT)
    res = cli("config", "pci", "remove", "/etc/xen/g.cfg", "05:00.0", host=sim)
    assert res.code == 2 and "--split-slot" in res.err and res.err.count("\n") == 1
    assert cfg.read_bytes() == SLOT and not cfg.with_name("g.cfg.pcipass-bak").exists()
    res = cli("config", "pci", "remove", "--split-slot", "/etc/xen/g.cfg", "05:00.0", host=sim)
    assert res.code == 2 and "guest slot 4" in res.err  # @4 cannot be split
    cfg.write_bytes(SLOT.replace(b"@4", b",permissive=1"))
    res = cli("config", "pci", "remove", "--split-slot", "/etc/xen/g.cfg", "05:00.0", host=sim)
    assert res.code == 0, res.err
    assert cfg.read_bytes() == b"name = 'g'\npci = [ '0000:05:00.1,permissive=1', '01:00.0' ]\n"
    cfg.write_bytes(b"pci = [ '07:00.*' ]\n")  # no such slot on the host: functions unknown
    res = cli("config", "pci", "remove", "--split-slot", "/etc/xen/g.cfg", "07:00.0", host=sim)
    assert res.code == 2 and "unknown" in res.err


def test_edits_keep_owner_group_and_hard_links(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "g.cfg"
    path.write_bytes(SLOT)
    os.chown(path, 1234, 5678)
    path.chmod(0o640)
    os.link(path, tmp_path / "twin.cfg")
    res = cli("--json", "config", "pci", "add", str(path), "06:00.0")
    assert res.code == 0 and json.loads(res.out)["backup"] == f"{path}.pcipass-bak"
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777, st.st_nlink) == (1234, 5678, 0o640, 2)
    assert (tmp_path / "twin.cfg").read_bytes() == path.read_bytes() != SLOT
