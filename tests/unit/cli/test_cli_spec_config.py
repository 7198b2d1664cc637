"""`pcipass spec check` and `pcipass config ...`: output contract, exit codes, bad input."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from helpers.cli import pcipass

GUEST = b"name = 'g'\npci_permissive = 1\npci = [ '05:00.0', '06:00.0,permissive=0' ]\n"


def test_spec_check_json_lines() -> None:
    code, out, err = pcipass("--json", "spec", "check", "05:00.0@3", "05:00.0,permissive=yes")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and err == ""
    assert lines[0]["vslot"] == 3 and lines[0]["rdm_policy"] is None and lines[0]["ok"] is True
    assert lines[1]["permissive"] == 0 and lines[1]["warnings"]


def test_spec_check_strict_and_invalid_exit_2() -> None:
    code, out, _ = pcipass("--json", "spec", "check", "--strict", "05:00.0,permissive=yes")
    assert code == 2 and json.loads(out)["ok"] is False
    code, out, _ = pcipass("spec", "check", "05:00")
    assert code == 2 and "05:00.0" in out


def test_spec_check_bdf_and_stdin(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = pcipass("--json", "spec", "check", "--bdf", "0000:05:00.1")
    assert code == 0 and json.loads(out)["func"] == 1
    fake = io.TextIOWrapper(io.BytesIO(b"05:00.0\n\xff\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    code, out, _ = pcipass("--json", "spec", "check", "-")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 2 and [r["ok"] for r in rows] == [True, False] and "UTF-8" in rows[1]["error"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, out, err = pcipass("spec", "check", "-")
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("pcipass: error:")


def test_config_check(tmp_path: Path) -> None:
    path = tmp_path / "g.cfg"
    path.write_bytes(GUEST)
    code, out, _ = pcipass("--json", "config", "check", str(path))
    report = json.loads(out)
    assert code == 0 and list(report) == ["ok", "error", "globals", "pci", "warnings"]
    assert [d["permissive"] for d in report["pci"]] == [1, 0]
    code, out, _ = pcipass("config", "check", str(path))
    assert code == 0 and "2 pci device(s)" in out
    path.write_bytes(b"pci = [ 05:00.0 ]\n")
    code, out, _ = pcipass("--json", "config", "check", str(path))
    assert code == 2 and json.loads(out)["ok"] is False


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "huge", "latin1"])
def test_config_bad_files(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "f.cfg"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\x7fELF\0\0")
    elif kind == "huge":
        path.write_bytes(b"x = 1\n" * 200_000)
    elif kind == "latin1":
        path.write_bytes(b"name = '\xe9'\n")
    for argv in (["config", "check", str(path)], ["config", "pci", "add", str(path), "05:00.0"]):
        code, out, err = pcipass(*argv)
        assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if kind == "missing" else ["f.cfg"])


def test_config_edits_dry_run_and_write(tmp_path: Path) -> None:
    path = tmp_path / "g.cfg"
    path.write_bytes(GUEST)
    code, out, _ = pcipass("config", "pci", "add", "--dry-run", str(path), "07:00.0")
    assert code == 0 and "+pci = [ '05:00.0', '06:00.0,permissive=0', '0000:07:00.0' ]" in out
    assert path.read_bytes() == GUEST and len(list(tmp_path.iterdir())) == 1
    code, out, _ = pcipass("--json", "config", "pci", "add", str(path), "07:00.0")
    assert code == 0 and json.loads(out)["changed"] is True
    assert (tmp_path / "g.cfg.pcipass-bak").read_bytes() == GUEST
    code, _, _ = pcipass("config", "pci", "remove", str(path), "05:00.0")
    assert code == 0 and b"'05:00.0'" not in path.read_bytes()
    code, _, _ = pcipass("config", "set", str(path), "pci_seize", "1")
    assert code == 0 and path.read_bytes().endswith(b"pci_seize = 1\n")


@pytest.mark.parametrize(
    "argv",
    [["config", "set", "{f}", "pci_seize", "yes"], ["config", "set", "{f}", "memory", "1"],
     ["config", "pci", "add", "{f}", "Permissive=1,05:00.0"],
     ["config", "pci", "add", "{f}", "05:00.0"], ["config", "pci", "remove", "{f}", "09:00.0"],
     ["config", "pci", "add", "{f}", "05:00"]],
)  # fmt: skip
def test_config_edit_bad_input(
    tmp_path: Path, argv: list[str]
) -> None:
    path = tmp_path / "g.cfg"
    path.write_bytes(GUEST)
    code, out, err = pcipass(*[a.format(f=path) for a in argv])
    assert code == 2 and err.startswith("pcipass: error:") and err.count("\n") == 1
    assert path.read_bytes() == GUEST and len(list(tmp_path.iterdir())) == 1
