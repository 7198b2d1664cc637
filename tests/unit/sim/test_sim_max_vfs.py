"""The simulated PF drivers' `max_vfs`, as the kernel lab measured igb (Debian 6.1): the
VFs its probe creates, the cap at 7 and the log lines; ixgbe out of range makes none; a
module without the parameter loads with "unknown parameter 'max_vfs' ignored"."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import sims
from pcipass.sim.host import SimHost

IGB, E1000E = "0000:03:00.0", "0000:02:00.0"
X520 = ("0000:05:00.0", "0000:05:00.1")
DEPRECATED = ("Enabling SR-IOV VFs using the module parameter is deprecated - please use "
              "the pci sysfs interface.")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sims.template(tmp_path_factory, "kernel-lab")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sims.template(tmp_path_factory, "xen-host")


def numvfs(host: SimHost, bdf: str) -> str | None:
    return host.try_read_text(f"sys/bus/pci/devices/{bdf}/sriov_numvfs")


def dmesg(host: SimHost) -> list[str]:
    return host.run(["dmesg"]).stdout.splitlines()


def reload(host: SimHost, module: str, value: str) -> int:
    assert host.rmmod(module).returncode == 0
    return host.modprobe(module, {"max_vfs": value}).returncode


def test_igb_creates_its_vfs_at_probe_and_logs_it(lab: Path, tmp_path: Path) -> None:
    host = sims.fresh(lab, tmp_path)
    assert reload(host, "igb", "3") == 0
    assert numvfs(host, IGB) == "3"
    assert dmesg(host)[-2:] == [f"igb {IGB}: {DEPRECATED}", f"igb {IGB}: 3 VFs allocated"]
    assert host.link_name(f"sys/bus/pci/devices/{IGB}/virtfn2") == "0000:03:10.4"


def test_igb_caps_max_vfs_at_7(lab: Path, tmp_path: Path) -> None:
    host = sims.fresh(lab, tmp_path)
    assert reload(host, "igb", "9") == 0
    assert numvfs(host, IGB) == "7"
    assert dmesg(host)[-3:] == [f"igb {IGB}: Maximum of 7 VFs per PF, using max",
                                f"igb {IGB}: {DEPRECATED}", f"igb {IGB}: 7 VFs allocated"]


def test_unloading_igb_removes_its_vfs(lab: Path, tmp_path: Path) -> None:
    host = sims.fresh(lab, tmp_path)
    assert reload(host, "igb", "2") == 0
    assert host.rmmod("igb").returncode == 0
    assert numvfs(host, IGB) == "0"
    assert not host.exists("sys/bus/pci/devices/0000:03:10.0")
    assert host.modprobe("igb").returncode == 0 and numvfs(host, IGB) == "0"


def test_ixgbe_out_of_range_makes_no_vf(demo: Path, tmp_path: Path) -> None:
    host = sims.fresh(demo, tmp_path)
    assert reload(host, "ixgbe", "64") == 0
    assert [numvfs(host, b) for b in X520] == ["0", "0"]
    assert dmesg(host)[-1] == (f"ixgbe {X520[1]}: max_vfs parameter out of range. Not "
                               "assigning any SR-IOV VFs")
    assert reload(host, "ixgbe", "4") == 0
    assert [numvfs(host, b) for b in X520] == ["4", "4"]  # every PF of the module


def test_a_module_without_the_parameter_ignores_it(lab: Path, tmp_path: Path) -> None:
    host = sims.fresh(lab, tmp_path)
    assert reload(host, "e1000e", "2") == 0
    assert dmesg(host)[-1] == "e1000e: unknown parameter 'max_vfs' ignored"
    assert host.link_name(f"sys/bus/pci/devices/{E1000E}/driver") == "e1000e"


def test_a_value_that_is_not_a_number_fails_the_load(lab: Path, tmp_path: Path) -> None:
    host = sims.fresh(lab, tmp_path)
    assert host.rmmod("igb").returncode == 0
    bad = host.modprobe("igb", {"max_vfs": "abc"})
    assert (bad.returncode, bad.stderr) == (
        1, "modprobe: ERROR: could not insert 'igb': Invalid argument\n")
    assert dmesg(host)[-1] == "igb: `abc' invalid for parameter `max_vfs'"
    assert not host.exists("sys/bus/pci/drivers/igb")
