"""`pcipass assignable add PF --vf N` in a Xen dom0: an igb VF made assignable (pciback,
`xl pci-assignable-list`) by its index, and a PV domU that is given it sees it."""

from __future__ import annotations

import re

import pytest
from lab_layout import IGB_PF, IGB_VF_ID, IGB_VFS
from test_xen_domu import _config
from waits import driver_of, wait_driver, wait_for

from helpers.cli import pcipass
from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "xen-lab")
VF = IGB_VFS[0]


def assignable(host: Host) -> list[str]:
    listed = host.run(["xl", "pci-assignable-list"])
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


@pytest.fixture
def vf_assignable(host: Host) -> Host:
    """One igb VF (in the Xen lab under TCG, enabling 2 outlasted pcipass's 10 s write
    timeout), made assignable through `--vf 0`."""
    r = pcipass("sriov", "enable", IGB_PF, "--vfs", "1", host=host)
    assert r.code == 0, r.err
    assert wait_driver(host, VF, "igbvf") == "igbvf"
    r = pcipass("--json", "assignable", "add", IGB_PF, "--vf", "0", host=host)
    assert r.code == 0, r.err
    assert r.json()["command"] == f"assignable add {VF}"
    return host


def test_a_vf_by_index_is_assignable_through_xl(vf_assignable: Host) -> None:
    host = vf_assignable
    assert driver_of(host, VF) == "pciback"
    assert assignable(host) == [VF]
    r = pcipass("assignable", "add", IGB_PF, "--vf", "1", host=host)
    assert r.code == 2 and f"VF index 1 is past the 1 VFs enabled on {IGB_PF}" in r.err
    r = pcipass("assignable", "remove", "-r", VF, host=host)
    assert r.code == 0, r.err
    assert wait_driver(host, VF, "igbvf") == "igbvf"
    assert assignable(host) == []


@pytest.mark.targets("xen-lab", why="booting a PV domU needs the real hypervisor")
def test_a_pv_domu_sees_the_vf(vf_assignable: Host) -> None:
    host = vf_assignable
    host.write_state_file("tmp/vfindex.cfg", _config("vfindex", [VF.removeprefix("0000:")]))
    created = host.run(["xl", "create", "/tmp/vfindex.cfg"], timeout=300)
    assert created.returncode == 0, created.stderr
    assert VF in host.run(["xl", "pci-list", "vfindex"]).stdout
    log_path = "var/log/xen/console/guest-vfindex.log"
    log = wait_for(lambda: host.try_read_text(log_path) or "", lambda t: "DOMU: done" in t, 300)
    assert "DOMU: done" in log, log[-2000:]
    seen = set(re.findall(r"^DOMU-PCI: \S+ ([0-9a-f]{4}:[0-9a-f]{4})", log, re.MULTILINE))
    assert seen == {f"{IGB_VF_ID[0][2:]}:{IGB_VF_ID[1][2:]}"}, log[-2000:]
    gone = wait_for(lambda: host.run(["xl", "list"]).stdout, lambda out: "vfindex" not in out, 60)
    assert "vfindex" not in gone
    r = pcipass("assignable", "remove", "-r", VF, host=host)
    assert r.code == 0, r.err
    assert wait_driver(host, VF, "igbvf") == "igbvf"
