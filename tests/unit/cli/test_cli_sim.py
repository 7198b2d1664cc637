"""`pcipass sim init/profiles`, `--sim DIR` selection and `pcipass snapshot` on the CLI."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from pcipass.cli.main import run


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return code, out.getvalue(), err.getvalue()


def test_init_then_use_with_sim(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    code, out, err = cli("--json", "sim", "init", str(sim), "--profile", "kernel-lab")
    assert code == 0, err
    assert json.loads(out) == {
        "directory": str(sim),
        "profile": "kernel-lab",
        "functions": 13,
        "created": True,
    }
    code, out, err = cli("--sim", str(sim), "--json", "list")
    assert code == 0, err
    assert "0000:03:00.0" in out
    code, _, err = cli("sim", "init", str(sim))
    assert code == 2 and err.startswith("pcipass: error: ") and err.count("\n") == 1
    assert cli("sim", "init", str(sim), "--force", "--profile", "xen-host")[0] == 0
    assert json.loads((sim / "sim.json").read_text())["profile"] == "xen-host"


def test_init_dry_run_creates_nothing(tmp_path: Path) -> None:
    code, out, _ = cli("sim", "init", str(tmp_path / "d"), "--dry-run")
    assert code == 0 and "would create" in out
    assert not (tmp_path / "d").exists()


def test_init_dry_run_refuses_what_init_refuses(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    assert cli("sim", "init", str(sim))[0] == 0
    code, out, err = cli("sim", "init", str(sim), "--dry-run")
    assert code == 2 and out == "" and "already holds a simulated host" in err
    assert cli("sim", "init", str(sim), "--dry-run", "--force")[0] == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file").write_text("")
    code, out, err = cli("sim", "init", str(tmp_path / "other"), "--dry-run")
    assert code == 2 and out == "" and "is not empty" in err


def test_damaged_state_is_a_one_line_error(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    assert cli("sim", "init", str(sim))[0] == 0
    for junk in ("{", "[]", '{"kernel": 1}'):
        (sim / "sim.json").write_text(junk)
        code, out, err = cli("--sim", str(sim), "assignable", "add", "05:00.0")
        assert code == 2 and out == "", err
        assert err.startswith(f"pcipass: error: {sim}/sim.json is damaged")
        assert err.count("\n") == 1 and "--force" in err


def test_sim_on_a_directory_that_is_not_one(tmp_path: Path) -> None:
    code, out, err = cli("--sim", str(tmp_path), "list")
    assert code == 2 and out == ""
    assert err == (
        f"pcipass: error: {tmp_path} is not a simulated host — "
        "create one with `pcipass sim init DIR`\n"
    )


def test_profiles_json() -> None:
    code, out, _ = cli("--json", "sim", "profiles")
    assert code == 0
    assert [p["name"] for p in json.loads(out)] == ["xen-host", "kernel-lab", "xen-lab"]


def test_snapshot_command(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    assert cli("sim", "init", str(sim), "--profile", "xen-lab")[0] == 0
    target = tmp_path / "snap.tar.gz"
    code, out, err = cli("--sim", str(sim), "--json", "snapshot", str(target), "--dry-run")
    assert code == 0, err
    assert json.loads(out)["written"] is False and not target.exists()
    code, out, err = cli("--sim", str(sim), "snapshot", str(target))
    assert code == 0, err
    assert target.is_file() and "replay:" in out
    code, _, err = cli("--root", str(tmp_path), "snapshot", str(tmp_path / "x.tgz"))
    assert code == 2 and "has no sys/bus/pci" in err
