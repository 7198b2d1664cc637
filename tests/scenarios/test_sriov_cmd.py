"""`pcipass sriov list/enable/disable` on igb and NVMe: 2 → 4 → disable, autoprobe off, the
kernel's own refusals caught before any write, and a VF on vfio-pci that blocks disable."""

from __future__ import annotations

import pytest
from lab_layout import E1000E, IGB_PF, IGB_TOTALVFS, IGB_VFS, NVME_PF, NVME_VFS, dev
from waits import driver_of, wait_driver

from helpers.cli import pcipass
from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "kernel-lab")
IGB_ALL = (*IGB_VFS, "0000:03:10.6")  # the first 4 VFs (offset 0x80, stride 2)


def numvfs(host: Host, pf: str) -> str | None:
    return host.try_read_text(dev(pf, "sriov_numvfs"))


def test_enable_two_then_four_then_disable(host: Host) -> None:
    r = pcipass("sriov", "enable", IGB_PF, "--vfs", "2", host=host)
    assert r.code == 0, r.err
    assert numvfs(host, IGB_PF) == "2"
    assert [driver_of(host, v) for v in IGB_ALL[:2]] == ["igbvf", "igbvf"]  # waited for them
    r = pcipass("--json", "sriov", "enable", IGB_PF, "--vfs", "4", host=host)
    assert r.code == 0, r.err
    assert r.json()["steps"] == [f"echo 0 > /{dev(IGB_PF, 'sriov_numvfs')}",
                                 f"echo 4 > /{dev(IGB_PF, 'sriov_numvfs')}"]
    assert [driver_of(host, v) for v in IGB_ALL] == ["igbvf"] * 4
    doc = pcipass("sriov", "list", IGB_PF, "--json", host=host).json()["sriov"]
    assert [(p["bdf"], p["driver"], p["total_vfs"], p["num_vfs"]) for p in doc] == \
        [(IGB_PF, "igb", IGB_TOTALVFS, 4)]
    assert [(v["bdf"], v["index"], v["driver"]) for v in doc[0]["vfs"]] == \
        [(b, i, "igbvf") for i, b in enumerate(IGB_ALL)]
    r = pcipass("sriov", "disable", IGB_PF, host=host)
    assert r.code == 0, r.err
    assert numvfs(host, IGB_PF) == "0"
    assert not any(host.exists(dev(v)) for v in IGB_ALL)


def test_list_shows_every_pf_and_whole_bdfs_when_piped(host: Host) -> None:
    assert pcipass("sriov", "enable", IGB_PF, "--vfs", "1", host=host).code == 0
    r = pcipass("sriov", "list", host=host)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["BDF", "VF", "DRIVER", "STATUS", "VFS", "AUTOPROBE", "NETDEV",
                                "MAC", "ADMIN-MAC", "VLAN", "SPOOFCHK", "TRUST"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[NVME_PF][:5] == [NVME_PF, "PF", "nvme", "host-driver", "0/4"]
    assert rows[IGB_PF][:6] == [IGB_PF, "PF", "igb", "host-driver", f"1/{IGB_TOTALVFS}", "yes"]
    assert rows[IGB_VFS[0]][:3] == [IGB_VFS[0], "0", "igbvf"]
    assert rows[IGB_VFS[0]][-4:] == ["-", "0", "on", "off"]  # a fresh VF, from the PF's netlink
    assert E1000E not in rows


def test_autoprobe_off_leaves_the_vfs_driverless(host: Host) -> None:
    r = pcipass("sriov", "enable", NVME_PF, "--vfs", "2", "--no-autoprobe", host=host)
    assert r.code == 0, r.err
    assert host.try_read_text(dev(NVME_PF, "sriov_drivers_autoprobe")) == "0"
    assert [driver_of(host, v) for v in NVME_VFS[:2]] == [None, None]
    assert pcipass("sriov", "disable", NVME_PF, host=host).code == 0
    assert not host.exists(dev(NVME_VFS[0]))


@pytest.mark.parametrize(("args", "said"), [
    (("--vfs", "8"), "is more than 0000:03:00.0 supports (sriov_totalvfs 7)"),  # ERANGE
    (("--vfs", "0"), "enables no VF"),
    (("--vfs", "-1"), "enables no VF"),
    (("--vfs", "x"), "'x' is not a valid integer"),
])
def test_bad_counts_write_nothing(host: Host, args: tuple[str, ...], said: str) -> None:
    r = pcipass("sriov", "enable", IGB_PF, *args, host=host)
    assert r.code == 2
    assert r.err.startswith("pcipass: error: ") and said in r.err and r.err.count("\n") == 1
    assert numvfs(host, IGB_PF) == "0"


def test_not_a_pf_and_a_vf_are_input_errors(host: Host) -> None:
    r = pcipass("sriov", "enable", E1000E, "--vfs", "1", host=host)
    assert (r.code, "is not an SR-IOV PF" in r.err) == (2, True)
    assert pcipass("sriov", "enable", IGB_PF, "--vfs", "1", host=host).code == 0
    r = pcipass("sriov", "disable", IGB_VFS[0], host=host)
    assert (r.code, f"give its PF, {IGB_PF}" in r.err) == (2, True)


def test_a_pf_without_driver_is_refused(host: Host) -> None:
    """The kernel's ENOENT ("no driver bound to device; cannot configure SR-IOV"), refused
    first; the PF gets its driver back afterwards."""
    host.write(dev(NVME_PF, "driver/unbind"), NVME_PF)
    try:
        r = pcipass("sriov", "enable", NVME_PF, "--vfs", "1", host=host)
        assert r.code == 1
        assert "has no driver bound" in r.err
        assert numvfs(host, NVME_PF) == "0"
    finally:
        host.write("sys/bus/pci/drivers_probe", NVME_PF)
        wait_driver(host, NVME_PF, "nvme")


def test_a_vf_on_vfio_blocks_disable_and_a_count_change(host: Host) -> None:
    assert pcipass("sriov", "enable", IGB_PF, "--vfs", "2", host=host).code == 0
    r = pcipass("assignable", "add", "--backend", "vfio", IGB_VFS[1], host=host)
    assert r.code == 0, r.err
    for args in (("disable", IGB_PF), ("enable", IGB_PF, "--vfs", "3")):
        r = pcipass("sriov", *args, host=host)
        assert r.code == 1
        assert f"{IGB_VFS[1]} (assignable on vfio-pci, recorded by pcipass)" in r.err
        assert numvfs(host, IGB_PF) == "2"
    assert driver_of(host, IGB_VFS[1]) == "vfio-pci"
    assert pcipass("assignable", "remove", "-r", IGB_VFS[1], host=host).code == 0
    assert pcipass("sriov", "disable", IGB_PF, host=host).code == 0


def test_dry_run_prints_the_writes_and_changes_nothing(host: Host) -> None:
    assert pcipass("sriov", "enable", IGB_PF, "--vfs", "2", host=host).code == 0
    r = pcipass("sriov", "enable", "--dry-run", IGB_PF, "--vfs", "3", "--no-autoprobe",
                host=host)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"echo 0 > /{dev(IGB_PF, 'sriov_numvfs')}",
        f"echo 0 > /{dev(IGB_PF, 'sriov_drivers_autoprobe')}",
        f"echo 3 > /{dev(IGB_PF, 'sriov_numvfs')}",
    ]
    doc = pcipass("sriov", "disable", IGB_PF, "--dry-run", "--json", host=host).json()
    assert doc["dry_run"] is True and [s["data"] for s in doc["steps"]] == ["0"]
    assert numvfs(host, IGB_PF) == "2"
    assert host.try_read_text(dev(IGB_PF, "sriov_drivers_autoprobe")) == "1"
