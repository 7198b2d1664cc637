"""The declared host state in one boot: declare → plan → apply → the plan is empty →
state forget. VF counts on the igb PF and the e1000e assignable (vfio-pci under KVM,
pciback in a Xen dom0)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_layout import E1000E, IGB_PF, IGB_VFS, dev
from waits import driver_of

from helpers.cli import pcipass
from pcipass.host.base import Host
from pcipass.ops.boot import UNIT_FILE

pytestmark = pytest.mark.targets("sim", "kernel-lab", "xen-lab")
DECLARED_DIR = "etc/pcipass"
MAC = "02:00:00:00:13:00"


@pytest.fixture
def clean(host: Host) -> Iterator[Host]:
    """The host, with no declared state before or after (the labs keep their disk)."""
    host.remove_tree(DECLARED_DIR)
    yield host
    host.remove_tree(DECLARED_DIR)


def test_declare_plan_apply_converged_forget(clean: Host, target: str) -> None:
    host = clean
    assert pcipass("state", "set-vfs", IGB_PF, "2", host=host).code == 0
    r = pcipass("state", "set-vf", IGB_PF, "0", "--mac", MAC, host=host)
    assert r.code == 0, r.err
    r = pcipass("state", "add-assignable", E1000E, host=host)  # auto: xen in a dom0
    assert r.code == 0, r.err
    backend = pcipass("state", "show", "--json", host=host).json()["assignable"][0]["backend"]
    dom0 = target == "xen-lab" or (target == "sim" and host.exists("proc/xen"))
    assert backend == ("xen" if dom0 else "vfio")
    stub = {"xen": "pciback", "vfio": "vfio-pci"}[backend]
    before = pcipass("plan", "--json", host=host).json()
    assert [(i["bdf"], i["status"]) for i in before["items"]] == \
        [(IGB_PF, "differs"), (IGB_VFS[0], "waits"), (E1000E, "differs")]
    assert before["converged"] is False and before["refusals"] == []
    assert f"echo 2 > /{dev(IGB_PF, 'sriov_numvfs')}" in \
        [s["shell"] for s in before["plans"][0]["steps"]]
    r = pcipass("apply", host=host)
    assert r.code == 0, r.err
    assert host.try_read_text(dev(IGB_PF, "sriov_numvfs")) == "2"
    assert [driver_of(host, v) for v in IGB_VFS[:2]] == ["igbvf", "igbvf"]
    assert driver_of(host, E1000E) == stub
    vfs = pcipass("vf", "show", IGB_PF, "--json", host=host).json()["vfs"]
    assert [(v["vf"], v["mac"]) for v in vfs][:1] == [(0, MAC)]
    after = pcipass("plan", "--json", host=host).json()
    assert after["converged"] is True
    assert [p["steps"] for p in after["plans"]] == [[], [], [], []]  # VFs, VF settings,
    # devices, boot files
    assert [f["action"] for f in after["files"]] == ["keep", "keep", "keep"]
    assert pcipass("apply", host=host).out == \
        "# the host is in its declared state: nothing to apply\n"
    assert pcipass("vf", "reset", IGB_PF, "0", "--persist", host=host).code == 0
    for bdf in (E1000E, IGB_PF):
        assert pcipass("state", "forget", bdf, host=host).code == 0
    assert pcipass("state", "show", host=host).out == "nothing is declared\n"
    assert driver_of(host, E1000E) == stub  # forgetting changes no device
    r = pcipass("apply", host=host)  # nothing declared: the boot unit goes
    assert r.code == 0, r.err
    assert r.out == f"rm /{UNIT_FILE}\n"
    assert not host.exists(UNIT_FILE)
    r = pcipass("assignable", "remove", "-r", E1000E, host=host)
    assert r.code == 0, r.err
    assert driver_of(host, E1000E) == "e1000e"
