"""`pcipass assignable add/list/remove --backend vfio`: e1000e and igb VFs to vfio-pci and
back, a q35 00:1f.x group that is not viable (LPC, SMBus), guards on the root disk and the
NIC, and bad input that changes nothing."""

from __future__ import annotations

import json

import pytest
from lab_layout import E1000E, IGB_PF, IGB_VFS, LPC_GROUP, NO_DEVICE, dev
from waits import driver_of, wait_for

from helpers.cli import pcipass
from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "kernel-lab")
ROOT_DISK = "0000:00:04.0"  # virtio-blk holding the lab's /



def state(host: Host, *bdfs: str) -> list[tuple[str | None, str | None]]:
    return [(driver_of(host, b), host.try_read_text(dev(b, "driver_override"))) for b in bdfs]


def test_e1000e_add_list_remove_rebind(host: Host) -> None:
    code, out, err = pcipass("assignable", "add", "--backend", "vfio", E1000E, host=host)
    assert code == 0, err
    assert state(host, E1000E) == [("vfio-pci", "vfio-pci")]
    code, out, _ = pcipass("--json", "assignable", "list", host=host)
    rows = json.loads(out)["assignable"]
    assert {"bdf": E1000E, "backend": "vfio", "original_driver": "e1000e"}.items() <= next(
        r for r in rows if r["bdf"] == E1000E).items()
    code, _, err = pcipass("assignable", "remove", "-r", E1000E, host=host)
    assert code == 0, err
    assert state(host, E1000E) == [("e1000e", "(null)")]
    assert E1000E not in pcipass("assignable", "list", host=host)[1]


def test_igb_vfs_by_bdf_and_xl_spellings(host: Host) -> None:
    host.write(dev(IGB_PF, "sriov_numvfs"), "2")
    vfs = IGB_VFS[:2]
    wait_for(lambda: state(host, *vfs), lambda s: all(d == "igbvf" for d, _ in s))
    code, _, err = pcipass("pci-assignable-add", "--backend", "vfio", *vfs, host=host)
    assert code == 0, err
    assert state(host, *vfs) == [("vfio-pci", "vfio-pci")] * 2
    code, _, err = pcipass("pci-assignable-remove", "-r", *vfs, host=host)
    assert code == 0, err
    assert state(host, *vfs) == [("igbvf", "(null)")] * 2


def test_group_with_platform_functions_is_not_viable(host: Host) -> None:
    """q35's 00:1f.x group holds the LPC bridge and the SMBus: not even --group moves it,
    and the refusal names the member that cannot move."""
    before = state(host, *LPC_GROUP)
    for group in ((), ("--group",)):
        code, _, err = pcipass("assignable", "add", "--backend", "vfio", *group,
                               "--dry-run", LPC_GROUP[1], host=host)
        assert code == 1
        assert f"{LPC_GROUP[0]}: it is a platform function (ISA/LPC bridge)" in err
        assert "shares IOMMU group" in err and "cannot be overridden" in err
    assert state(host, *LPC_GROUP) == before


def test_guard_root_disk(host: Host) -> None:
    code, _, err = pcipass("assignable", "add", "--backend", "vfio", ROOT_DISK, host=host)
    assert code == 1
    assert "root filesystem" in err and "--force-storage" in err
    assert driver_of(host, ROOT_DISK) == "virtio-pci"


def test_dry_run_prints_exact_writes_and_changes_nothing(host: Host) -> None:
    code, out, _ = pcipass("--json", "assignable", "add", "--backend", "vfio",
                           "--dry-run", E1000E, host=host)
    assert code == 0
    shell = [s["shell"] for s in json.loads(out)["steps"]]
    assert f"echo {E1000E} > /sys/bus/pci/drivers/e1000e/unbind" in shell
    assert state(host, E1000E) == [("e1000e", "(null)")]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("assignable", "add", "--backend", "vfio", NO_DEVICE), 2, "no PCI device"),
        (("assignable", "add", "--backend", "vfio", "05:00"), 2, "not a PCI address"),
        (("assignable", "add", "--backend", "vfio", E1000E, NO_DEVICE), 2, "no PCI device"),
        (("assignable", "remove", "-r", E1000E), 1, "not assignable"),
        (("assignable", "remove", "nosuchname"), 2, "neither a PCI address"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    host: Host, args: tuple[str, ...], code: int, words: str
) -> None:
    got, out, err = pcipass(*args, host=host)
    assert got == code
    assert words in err and err.count("\n") == 1 and err.startswith("pcipass: error: ")
    assert state(host, E1000E) == [("e1000e", "(null)")]


@pytest.mark.targets("kernel-lab", why="needs `ip` to give the NIC an address; the sim models "
                     "no `ip` (the rule itself is unit-tested on models in tests/unit/ops)")
def test_guard_nic_with_an_address(host: Host) -> None:
    ifname = wait_for(lambda: host.listdir(dev(E1000E, "net")), bool)[0]
    was_down = host.try_read_text(dev(E1000E, f"net/{ifname}/operstate")) != "up"
    host.run(["ip", "link", "set", ifname, "up"])
    try:
        added = host.run(["ip", "addr", "add", "192.0.2.2/24", "dev", ifname])
        assert added.returncode == 0, added.stderr
        code, _, err = pcipass("assignable", "add", "--backend", "vfio", E1000E, host=host)
        assert code == 1
        assert ifname in err and "--force-net" in err
        assert driver_of(host, E1000E) == "e1000e"
    finally:
        host.run(["ip", "addr", "del", "192.0.2.2/24", "dev", ifname])
        if was_down:  # an interface left up may get DHCP and a default route
            host.run(["ip", "link", "set", ifname, "down"])


def test_reset_an_assigned_device(host: Host) -> None:
    assert pcipass("assignable", "add", "--backend", "vfio", E1000E, host=host)[0] == 0
    methods = host.try_read_text(dev(E1000E, "reset_method"))
    try:
        code, out, err = pcipass("reset", "--dry-run", E1000E, host=host)
        assert code == 0, err
        assert f"echo 1 > /sys/bus/pci/devices/{E1000E}/reset" in out
        code, _, err = pcipass("reset", E1000E, host=host)
        assert code == 0, err
        assert driver_of(host, E1000E) == "vfio-pci"
        assert host.try_read_text(dev(E1000E, "reset_method")) == methods  # put back
    finally:
        removed = pcipass("assignable", "remove", "-r", E1000E, host=host)[0]
    assert removed == 0
