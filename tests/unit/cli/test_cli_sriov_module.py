"""`sriov enable --method module`, the progress bar while VFs settle, and `assignable add PF
--vf INDEXES`, through the CLI on the simulated kernel lab."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from helpers import sims
from helpers.cli import Cli
from pcipass.cli import output
from pcipass.sim.host import SimHost

PF = "0000:03:00.0"
VFS = ("0000:03:10.0", "0000:03:10.2", "0000:03:10.4")
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sims.template(tmp_path_factory, "kernel-lab")


@pytest.fixture
def sim(template: Path, tmp_path: Path) -> SimHost:
    return sims.fresh(template, tmp_path)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal (rich draws progress bars there)."""
    screen = io.StringIO()
    monkeypatch.setattr(output, "_err", Console(file=screen, force_terminal=True, width=120))
    return screen


def driver(sim: SimHost, bdf: str) -> str | None:
    return sim.link_name(f"sys/bus/pci/devices/{bdf}/driver")


def test_module_method_reloads_igb_with_max_vfs(sim: SimHost, cli: Cli) -> None:
    r = cli("--json", "sriov", "enable", PF, "--vfs", "3", "--method", "module", host=sim)
    assert r.code == 0, r.err
    assert r.json()["steps"] == ["modprobe -r igb", "modprobe igb max_vfs=3"]
    assert sim.try_read_text(NUMVFS) == "3"
    assert [driver(sim, v) for v in VFS] == ["igbvf"] * 3


def test_the_flag_for_other_devices_needs_the_module_method(sim: SimHost, cli: Cli) -> None:
    r = cli("sriov", "enable", PF, "--vfs", "2", "--reload-other-devices", host=sim)
    assert r.code == 2 and "applies to --method module only" in r.err
    assert sim.try_read_text(NUMVFS) == "0"


def test_a_progress_bar_on_a_terminal(sim: SimHost, cli: Cli, terminal: io.StringIO) -> None:
    r = cli("sriov", "enable", PF, "--vfs", "2", host=sim)
    assert r.code == 0, r.err
    assert f"VFs of {PF} settling on their driver" in terminal.getvalue()
    assert "2/2" in terminal.getvalue()


def test_no_progress_bar_with_json(sim: SimHost, cli: Cli, terminal: io.StringIO) -> None:
    r = cli("sriov", "enable", PF, "--vfs", "2", "--json", host=sim)
    assert r.code == 0, r.err
    assert json.loads(r.out)["state"] == "done"
    assert "settling" not in terminal.getvalue()


def test_no_progress_bar_off_a_terminal(sim: SimHost, cli: Cli) -> None:
    r = cli("sriov", "enable", PF, "--vfs", "2", host=sim)
    assert r.code == 0, r.err
    assert "settling" not in r.err


def test_assignable_add_by_vf_index(sim: SimHost, cli: Cli) -> None:
    assert cli("sriov", "enable", PF, "--vfs", "3", host=sim).code == 0
    r = cli("assignable", "add", "--backend", "vfio", PF, "--vf", "0,2", host=sim)
    assert r.code == 0, r.err
    assert [driver(sim, v) for v in VFS] == ["vfio-pci", "igbvf", "vfio-pci"]
    r = cli("assignable", "add", "--backend", "vfio", "enp3s0", "--vf", "3", host=sim)
    assert r.code == 2
    assert r.err == (f"pcipass: error: VF index 3 is past the 3 VFs enabled on {PF} (indexes "
                     f"0-2) — `pcipass sriov enable {PF} --vfs 4` first, or name enabled VFs\n")
    r = cli("assignable", "add", PF, VFS[1], "--vf", "1", host=sim)
    assert r.code == 2 and "--vf names VFs of one PF, and 2 devices were given" in r.err
    assert driver(sim, VFS[1]) == "igbvf"
