"""`pcipass sriov enable --method module` on igb (`modprobe -r igb; modprobe igb max_vfs=3`),
its refusals, and SIGKILL between the `modprobe -r` and the `modprobe`: `pcipass recover`
and `recover --rollback` leave the PF on igb with a sane VF count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from lab_layout import IGB_PF, IGB_VFS, NVME_PF, dev
from waits import driver_of, wait_driver, wait_for

from helpers.cli import pcipass, where
from pcipass.host.base import Host
from pcipass.sim import profiles
from pcipass.sim.host import create_sim
from pcipass.sim.kernel.state import DriverDef, ModuleDef, pci_id
from pcipass.sim.layout import NetIf, PciFunction, SriovSpec

pytestmark = pytest.mark.targets("sim", "kernel-lab")
MODULE = ("sriov", "enable", IGB_PF, "--method", "module")
IGB_ALL = (*IGB_VFS, "0000:03:10.6")  # the first 4 VFs


def numvfs(host: Host, pf: str = IGB_PF) -> str | None:
    return host.try_read_text(dev(pf, "sriov_numvfs"))


def settled(host: Host, count: int) -> list[str | None]:
    """The drivers of the PF's first `count` VFs once udev has had time to bind them."""
    for vf in IGB_ALL[:count]:
        wait_driver(host, vf, "igbvf")
    return [driver_of(host, v) for v in IGB_ALL[:count]]


def killed_at(host: Host, when: str, step: int, args: tuple[str, ...]) -> None:
    """Run pcipass in a child that SIGKILLs itself at `when:step` (run/faults.py)."""
    env = dict(os.environ, PCIPASS_TEST_KILL=f"{when}:{step}")
    proc = subprocess.run([sys.executable, "-m", "pcipass", *where(host), *args],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_igb_max_vfs_3_end_to_end(host: Host) -> None:
    r = pcipass("--json", *MODULE, "--vfs", "3", host=host)
    assert r.code == 0, r.err
    assert r.json()["steps"] == ["modprobe -r igb", "modprobe igb max_vfs=3"]
    assert driver_of(host, IGB_PF) == "igb" and numvfs(host) == "3"
    assert settled(host, 3) == ["igbvf"] * 3
    assert not host.exists(dev(IGB_ALL[3]))
    dmesg = host.run(["dmesg"]).stdout
    assert f"igb {IGB_PF}: 3 VFs allocated" in dmesg
    assert (f"igb {IGB_PF}: Enabling SR-IOV VFs using the module parameter is deprecated - "
            "please use the pci sysfs interface.") in dmesg
    # sriov_numvfs stays the way to change it: EBUSY for 3 → 4 is avoided by writing 0 first
    r = pcipass("sriov", "enable", IGB_PF, "--vfs", "4", host=host)
    assert r.code == 0, r.err
    assert numvfs(host) == "4" and settled(host, 4) == ["igbvf"] * 4
    # and the module method again, from 4 VFs: undo would write 4 back
    r = pcipass(*MODULE, "--vfs", "2", host=host)
    assert r.code == 0, r.err
    assert numvfs(host) == "2" and not host.exists(dev(IGB_ALL[2]))
    assert pcipass("sriov", "disable", IGB_PF, host=host).code == 0


def test_a_driver_pcipass_does_not_know_is_refused(host: Host) -> None:
    r = pcipass("sriov", "enable", NVME_PF, "--vfs", "2", "--method", "module", host=host)
    assert r.code == 2
    assert r.err.startswith("pcipass: error: pcipass does not know whether nvme takes a VF "
                            "count as a module parameter")
    assert "--method sysfs" in r.err and r.err.count("\n") == 1
    assert driver_of(host, NVME_PF) == "nvme" and numvfs(host, NVME_PF) == "0"


def test_a_vf_in_use_blocks_the_reload(host: Host) -> None:
    assert pcipass("sriov", "enable", IGB_PF, "--vfs", "2", host=host).code == 0
    settled(host, 2)
    r = pcipass("assignable", "add", "--backend", "vfio", IGB_PF, "--vf", "1", host=host)
    assert r.code == 0, r.err
    r = pcipass(*MODULE, "--vfs", "3", host=host)
    assert r.code == 1
    assert "refusing to reload igb" in r.err
    assert f"{IGB_VFS[1]} (assignable on vfio-pci, recorded by pcipass)" in r.err
    assert driver_of(host, IGB_PF) == "igb" and numvfs(host) == "2"
    assert driver_of(host, IGB_VFS[1]) == "vfio-pci"
    assert pcipass("assignable", "remove", "-r", IGB_VFS[1], host=host).code == 0


# -- kill -9 between `modprobe -r igb` and `modprobe igb max_vfs=N` ----------------------------
def test_recover_finishes_the_reload(host: Host) -> None:
    killed_at(host, "after", 1, (*MODULE, "--vfs", "3"))
    assert driver_of(host, IGB_PF) is None and not host.exists("sys/bus/pci/drivers/igb")
    r = pcipass("recover", host=host)
    assert r.code == 0, r.err
    assert "done" in r.out and "modprobe igb max_vfs=3" in r.out
    assert driver_of(host, IGB_PF) == "igb" and numvfs(host) == "3"
    assert settled(host, 3) == ["igbvf"] * 3


def test_rollback_restores_the_previous_count(host: Host) -> None:
    assert pcipass("sriov", "enable", IGB_PF, "--vfs", "2", host=host).code == 0
    settled(host, 2)
    killed_at(host, "before", 2, (*MODULE, "--vfs", "4"))
    assert driver_of(host, IGB_PF) is None and numvfs(host) == "0"
    r = pcipass("recover", "--rollback", host=host)
    assert r.code == 0, r.err
    assert "rolled-back" in r.out
    assert driver_of(host, IGB_PF) == "igb"
    assert wait_for(lambda: numvfs(host), "2".__eq__) == "2"
    assert settled(host, 2) == ["igbvf"] * 2
    assert not host.exists(dev(IGB_ALL[2]))


def test_a_kill_after_the_reload_leaves_nothing_to_do(host: Host) -> None:
    killed_at(host, "after", 2, (*MODULE, "--vfs", "1"))
    r = pcipass("recover", host=host)
    assert r.code == 0, r.err
    assert driver_of(host, IGB_PF) == "igb" and numvfs(host) == "1"
    assert pcipass("recover", host=host).out == "nothing to recover\n"


# -- on simulated hosts only: devices the lab does not have --------------------------------
X710 = "0000:00:05.0"


def _i40e_lab() -> profiles.Profile:
    """The kernel lab plus an X710 PF on i40e, a driver that takes no `max_vfs`."""
    lab = profiles.get_profile("kernel-lab")
    x710 = PciFunction(X710, 0x8086, 0x1572, 0x020000, 0x8086, 0x0000, pcie_type=None,
                       iommu_group=11, msix_vectors=129, flr=True, ari=True,
                       sriov=SriovSpec(64, 0x154C, offset=0x10, stride=1),
                       net=(NetIf("enp0s5f0", "3c:fd:fe:00:00:01", "up"),))
    return replace(
        lab, name="i40e-lab", spec=replace(lab.spec, functions=(*lab.spec.functions, x710)),
        drivers=(*lab.drivers, DriverDef("i40e", "i40e", (pci_id(0x8086, 0x1572),),
                                         sriov_configure=True, makes_children=True)),
        modules=(*lab.modules, ModuleDef("i40e", ("i40e",), params=(("debug", "-1"),))),
        boot_modules=(*lab.boot_modules, "i40e"))


@pytest.mark.targets("sim", why="the labs have no i40e NIC")
def test_a_driver_that_ignores_max_vfs_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(profiles.PROFILES, "i40e-lab", _i40e_lab)
    host = create_sim(tmp_path / "i40e", profile="i40e-lab")
    r = pcipass("sriov", "enable", X710, "--vfs", "4", "--method", "module", host=host)
    assert r.code == 2
    assert "i40e takes no max_vfs parameter: the kernel would load it with \"i40e: unknown " \
           "parameter 'max_vfs' ignored\" and make no VF — use `--method sysfs`" in r.err
    assert driver_of(host, X710) == "i40e" and numvfs(host, X710) == "0"
    # what the refusal spares the user: the module loads, and no VF comes
    assert host.rmmod("i40e").returncode == 0
    assert host.modprobe("i40e", {"max_vfs": "4"}).returncode == 0
    assert numvfs(host, X710) == "0" and driver_of(host, X710) == "i40e"
    assert host.run(["dmesg"]).stdout.splitlines()[-1] == \
        "i40e: unknown parameter 'max_vfs' ignored"
    r = pcipass("sriov", "enable", X710, "--vfs", "4", host=host)  # the sysfs way works
    assert r.code == 0, r.err
    assert numvfs(host, X710) == "4"


@pytest.mark.targets("sim", why="the labs have one igb NIC; the demo host has a dual 82599")
def test_other_devices_on_the_module_need_the_flag(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "demo", profile="xen-host")
    ports = ("0000:05:00.0", "0000:05:00.1")
    r = pcipass("sriov", "enable", ports[0], "--vfs", "4", "--method", "module", host=host)
    assert r.code == 1
    assert f"`modprobe -r ixgbe` also takes down {ports[1]} (on ixgbe, interface enp5s0f1)" \
        in r.err
    assert "pass --reload-other-devices to reload them too" in r.err
    assert [numvfs(host, p) for p in ports] == ["0", "0"]
    r = pcipass("sriov", "enable", ports[0], "--vfs", "4", "--method", "module",
                "--reload-other-devices", host=host)
    assert r.code == 0, r.err
    assert f"max_vfs=4 applies to every PF ixgbe drives: {ports[1]} will have VFs too" in r.err
    assert [driver_of(host, p) for p in ports] == ["ixgbe", "ixgbe"]
    assert [numvfs(host, p) for p in ports] == ["4", "4"]
