"""`sriov enable/disable` remove the VFs, and with them the settings pcipass saved for them."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import pcipass
from pcipass.sim.host import create_sim

PF, MAC = "0000:05:00.0", "02:11:22:33:44:55"


def saved(host: object) -> list[bool]:
    return [v["saved"] for v in pcipass("vf", "show", PF, "--json", host=host).json()["vfs"]]


def test_disable_forgets_saved_vf_settings(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    assert pcipass("sriov", "enable", PF, "--vfs", "2", host=host).code == 0
    assert pcipass("vf", "set", PF, "1", "--mac", MAC, host=host).code == 0
    r = pcipass("sriov", "disable", PF, host=host)
    assert r.code == 0 and "lost with the VFs" in r.out + r.err
    assert pcipass("sriov", "enable", PF, "--vfs", "2", host=host).code == 0
    # the kernel forgot VF 1's settings with the VFs; a snapshot kept from before is stale
    assert saved(host) == [False, False]


def test_a_count_change_forgets_them_and_says_so(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    assert pcipass("sriov", "enable", PF, "--vfs", "2", host=host).code == 0
    assert pcipass("vf", "set", PF, "0", "--mac", MAC, host=host).code == 0
    dry = pcipass("sriov", "enable", PF, "--vfs", "3", "--dry-run", host=host)
    assert "forget the saved VF settings of" in dry.out and "lost with the VFs" in dry.out + dry.err
    assert pcipass("sriov", "enable", PF, "--vfs", "3", host=host).code == 0
    assert saved(host) == [False, False, False]
    # a fresh `vf set` saves the new VF's (blank) settings again
    assert pcipass("vf", "set", PF, "0", "--mac", MAC, host=host).code == 0
    assert saved(host) == [True, False, False]
