"""`attach/detach --persist CONFIG`: the config edit is the plan's last step (`put-file`),
shown by --dry-run with its diff, journalled before it runs, finished or undone by recovery,
and a failure to write it undoes the hot-plug."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import pcipass
from helpers.fakes import Crash, crash_at
from pcipass.run import faults
from pcipass.run.executor import Fault
from pcipass.sim.host import SimHost, create_sim

NIC = "0000:02:00.0"
CONFIG = "/etc/xen/g.cfg"
TEXT = 'name = "g"\ntype = "pv"\nmemory = 256\npassthrough = "enabled"\n'


def _guest(tmp_path: Path) -> SimHost:
    host = create_sim(tmp_path / "sim", profile="xen-lab")
    cfg = host.root / CONFIG[1:]
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(TEXT)
    assert host.run(["xl", "create", CONFIG]).returncode == 0
    assert pcipass("assignable", "add", NIC, host=host).code == 0
    return host


def _config(host: SimHost) -> str:
    return (host.root / CONFIG[1:]).read_text()


def _attached(host: SimHost) -> bool:
    return NIC in host.run(["xl", "pci-list", "g"]).stdout


def _fault(monkeypatch: pytest.MonkeyPatch, fault: Fault) -> None:
    monkeypatch.setattr(faults, "from_env", lambda: fault)


def test_dry_run_shows_the_config_write_as_a_step_of_the_plan(tmp_path: Path) -> None:
    host = _guest(tmp_path)
    r = pcipass("attach", "g", NIC, "--persist", CONFIG, "--dry-run", host=host)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[:2] == [f"xl pci-attach 1 {NIC}", f"write {CONFIG} (5 lines)"]
    assert f"+pci = [ '{NIC}' ]" in lines
    doc = pcipass("--json", "attach", "g", NIC, "--persist", CONFIG, "--dry-run",
                  host=host).json()
    step = doc["steps"][-1]
    assert (step["action"], step["path"], step["payload"]["old"]) == \
        ("put-file", CONFIG[1:], TEXT)
    assert doc["persist"]["changed"] is True and doc["persist"]["backup"] is None
    assert _config(host) == TEXT and not _attached(host)


def test_a_kill_before_the_config_write_is_finished_by_recover(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = _guest(tmp_path)
    _fault(monkeypatch, crash_at("before", 2))
    with pytest.raises(Crash):
        pcipass("attach", "g", NIC, "--persist", CONFIG, host=host)
    assert _attached(host) and _config(host) == TEXT  # killed between the two steps
    monkeypatch.undo()
    r = pcipass("recover", host=host)
    assert r.code == 0, r.err
    assert f"pci = [ '{NIC}' ]" in _config(host) and _attached(host)


def test_a_kill_before_the_config_write_is_undone_by_recover_rollback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = _guest(tmp_path)
    assert pcipass("attach", "g", NIC, "--persist", CONFIG, host=host).code == 0
    edited = _config(host)
    _fault(monkeypatch, crash_at("after", 2))
    with pytest.raises(Crash):
        pcipass("detach", "g", NIC, "--persist", CONFIG, host=host)
    assert not _attached(host) and NIC not in _config(host)
    monkeypatch.undo()
    r = pcipass("recover", "--rollback", host=host)
    assert r.code == 0, r.err
    assert _config(host) == edited and _attached(host)


def test_a_config_that_cannot_be_written_undoes_the_attach(tmp_path: Path) -> None:
    host = _guest(tmp_path)
    (host.root / f"{CONFIG[1:]}.pcipass-bak").mkdir()  # its backup cannot be written
    r = pcipass("attach", "g", NIC, "--persist", CONFIG, host=host)
    assert r.code == 1 and "cannot write" in r.err, r.err
    assert "the 1 step(s) done were undone" in r.err and not _attached(host)
    assert _config(host) == TEXT


def test_persist_of_a_config_that_already_lists_the_device_adds_no_step(
        tmp_path: Path) -> None:
    host = _guest(tmp_path)
    assert pcipass("attach", "g", NIC, "--persist", CONFIG, host=host).code == 0
    r = pcipass("--json", "detach", "g", NIC, host=host)
    assert r.code == 0, r.err
    r = pcipass("--json", "attach", "g", NIC, "--persist", CONFIG, host=host)
    assert r.code == 0, r.err
    assert r.json()["steps"] == [f"xl pci-attach 1 {NIC}"]
    assert r.json()["persist"]["changed"] is False
