"""`pcipass vf show/set/reset` on igb (82576): settings set through the PF, read back by
pcipass and (in the lab) by the kernel's own `ip -j link show`, restored by `vf reset`;
bad input and what igb refuses leave everything as it was; MAC and VLAN set on the PF
survive the VF's move to vfio-pci."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from lab_layout import IGB_PF, IGB_VFS, dev
from waits import driver_of, wait_driver, wait_for

from helpers.cli import pcipass
from pcipass.host.base import Host
from pcipass.run.state_dir import STATE_DIR

pytestmark = pytest.mark.targets("sim", "kernel-lab")
MAC = "02:11:22:33:44:55"


def enable_two(host: Host) -> str:
    """Two VFs on the igb PF; its interface's name."""
    r = pcipass("sriov", "enable", IGB_PF, "--vfs", "2", host=host)
    assert r.code == 0, r.err
    return host.listdir(dev(IGB_PF, "net"))[0]


def shown(host: Host) -> list[dict[str, Any]]:
    r = pcipass("vf", "show", IGB_PF, "--json", host=host)
    assert r.code == 0, r.err
    vfs: list[dict[str, Any]] = r.json()["vfs"]
    return vfs


def kernel_view(target: str, ifname: str) -> list[dict[str, Any]] | None:
    """`ip -j link show IFNAME`'s vfinfo_list in a lab (None on the simulated host)."""
    if target == "sim":
        return None
    out = subprocess.run(["ip", "-j", "link", "show", ifname], capture_output=True,
                         text=True, check=True).stdout
    vfs: list[dict[str, Any]] = json.loads(out)[0]["vfinfo_list"]
    return vfs


def settings(vf: dict[str, Any]) -> tuple[Any, ...]:
    return (vf["mac"], vf["vlan"], vf["qos"], vf["spoofchk"], vf["trust"], vf["link_state"],
            vf["min_tx_rate"], vf["max_tx_rate"])


IGB_NEW_VF = ("00:00:00:00:00:00", 0, 0, True, False, "auto", 0, 0)  # measured on 82576


def test_set_reads_back_and_reset_restores(host: Host, target: str) -> None:
    ifname = enable_two(host)
    before = shown(host)
    assert [(v["vf"], v["bdf"], settings(v), v["saved"]) for v in before] == \
        [(0, IGB_VFS[0], IGB_NEW_VF, False), (1, IGB_VFS[1], IGB_NEW_VF, False)]
    r = pcipass("vf", "set", IGB_PF, "1", "--mac", MAC, "--vlan", "100", "--qos", "3",
                "--trust", "on", "--spoofchk", "off", host=host)
    assert r.code == 0, r.err
    after = shown(host)
    assert settings(after[1]) == (MAC, 100, 3, False, True, "auto", 0, 0)
    assert after[1]["saved"] is True
    assert after[0] == before[0]
    kernel = kernel_view(target, ifname)
    if kernel is not None:
        assert (kernel[1]["address"], kernel[1]["vlan_list"], kernel[1]["spoofchk"],
                kernel[1]["trust"]) == (MAC, [{"vlan": 100, "qos": 3}], False, True)
        assert kernel[0]["address"] == "00:00:00:00:00:00" and kernel[0]["spoofchk"] is True
    r = pcipass("--json", "vf", "reset", ifname, "1", host=host)
    assert r.code == 0, r.err
    assert r.json()["steps"][-1] == f"forget the saved VF settings of {IGB_VFS[1]}"
    assert shown(host) == before
    kernel = kernel_view(target, ifname)
    if kernel is not None:
        assert (kernel[1]["address"], kernel[1]["vlan_list"], kernel[1]["spoofchk"],
                kernel[1]["trust"]) == ("00:00:00:00:00:00", [{}], True, False)
    r = pcipass("vf", "reset", IGB_PF, "1", host=host)
    assert r.code == 0
    assert "nothing to restore" in r.err


def test_a_second_set_keeps_the_first_originals(host: Host) -> None:
    enable_two(host)
    for args in (("--vlan", "7"), ("--mac", MAC)):
        assert pcipass("vf", "set", IGB_PF, "0", *args, host=host).code == 0
    assert settings(shown(host)[0])[:2] == (MAC, 7)
    assert pcipass("vf", "reset", IGB_PF, "0", host=host).code == 0
    assert settings(shown(host)[0]) == IGB_NEW_VF


@pytest.mark.parametrize(("args", "code", "said"), [
    (("1", "--mac", "01:00:5e:00:00:01"), 2, "is a multicast address"),
    (("1", "--mac", "00:00:00:00:00:00"), 2, "is no address"),
    (("1", "--mac", "02:11:22:33:44"), 2, "is not a MAC address"),
    (("1", "--vlan", "4095"), 2, "is not a number from 0 to 4094"),
    (("1", "--qos", "8"), 2, "is not a number from 0 to 7"),
    (("2", "--vlan", "5"), 2, "has no VF 2 (VFs 0-1)"),
    (("1", "--link-state", "enable"), 2, "has no VF --link-state setting"),
    (("1", "--min-rate", "10"), 2, "has no VF --min-rate setting"),
    (("1", "--mac", MAC, "--max-rate", "5000"), 1, "EINVAL"),  # over the link's 1000 Mb/s
])
def test_bad_input_and_refused_settings_change_nothing(host: Host, args: tuple[str, ...],
                                                       code: int, said: str) -> None:
    enable_two(host)
    before = shown(host)
    r = pcipass("vf", "set", IGB_PF, *args, host=host)
    assert r.code == code
    assert r.err.startswith("pcipass: error: ") and said in r.err and r.err.count("\n") == 1
    assert shown(host) == before  # nothing saved either (a vf-save taken was undone)
    assert host.try_read_text(f"{STATE_DIR}/vf-settings.json") in (None, "{}")


def test_mac_and_vlan_survive_the_move_to_vfio(host: Host, target: str) -> None:
    """Measured in the lab: the PF keeps a VF's MAC and VLAN while another driver (vfio-pci)
    holds it and after the VF is back on igbvf."""
    ifname = enable_two(host)
    assert pcipass("vf", "set", IGB_PF, "1", "--mac", MAC, "--vlan", "10", host=host).code == 0
    r = pcipass("assignable", "add", IGB_VFS[1], "--backend", "vfio", host=host)
    assert r.code == 0, r.err
    assert driver_of(host, IGB_VFS[1]) == "vfio-pci"
    assert settings(shown(host)[1])[:3] == (MAC, 10, 0)
    kernel = kernel_view(target, ifname)
    if kernel is not None:
        assert (kernel[1]["address"], kernel[1]["vlan_list"]) == (MAC, [{"vlan": 10}])
    assert pcipass("assignable", "remove", "-r", IGB_VFS[1], host=host).code == 0
    assert wait_driver(host, IGB_VFS[1], "igbvf") == "igbvf"
    assert settings(shown(host)[1])[:3] == (MAC, 10, 0)
    # With the PF down (as the lab boots), igbvf cannot fetch the MAC from the PF on its
    # return ("PF still in reset state ... Assigning random MAC address"): its netdev has
    # a random one while the PF still holds the one set (the simulated igbvf keeps its own).
    def addresses() -> list[str | None]:
        return [host.try_read_text(f"sys/class/net/{n}/address")
                for n in host.listdir(dev(IGB_VFS[1], "net"))]
    found = wait_for(addresses, lambda a: len(a) == 1)
    assert host.try_read_text(f"sys/class/net/{ifname}/operstate") == "down"
    assert len(found) == 1 and found != [MAC]
