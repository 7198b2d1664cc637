"""Readiness: blockers for what the host uses, warnings for what passthrough costs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.model_hosts import build
from pcipass.address import PciAddress
from pcipass.host.real import RealHost
from pcipass.model.device import HostModel
from pcipass.model.discovery import discover
from pcipass.model.readiness import BLOCKER, WARNING, assess


def add_stacking(root: Path) -> None:
    """What the tree builder does not write: a bond master, dm holders, swap, IPv6."""
    net = root / "sys/class/net"
    bond = root / "sys/devices/virtual/net/bond0"
    bond.mkdir(parents=True)
    (bond / "operstate").write_text("up\n")
    os.symlink(os.path.relpath(bond, net), net / "bond0")
    os.symlink(os.path.relpath(bond, net / "enp5s0f1"), net / "enp5s0f1" / "master")
    with open(root / "proc/net/route", "a") as f:
        f.write("bond0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
    (root / "proc/net/if_inet6").write_text(
        "fe80000000000000a8bbccfffe000001 02 40 20 80 enp5s0f0\n"
    )
    blk = root / "sys/class/block"
    dm = root / "sys/devices/virtual/block/dm-0"
    (dm / "dm").mkdir(parents=True)
    (dm / "dm/name").write_text("vg-data\n")
    os.symlink(os.path.relpath(dm, blk), blk / "dm-0")
    holders = Path(os.path.realpath(blk / "nvme0n1p2")) / "holders"
    holders.mkdir()
    os.symlink(os.path.relpath(dm, holders), holders / "dm-0")
    (root / "proc/mounts").write_text("/dev/mapper/vg-data /srv ext4 rw 0 0\n")
    (root / "proc/swaps").write_text(
        "Filename\tType\tSize\tUsed\tPriority\n/dev/nvme0n1p1 partition 1 0 -2\n"
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> HostModel:
    root = build(tmp_path_factory.mktemp("host"))
    add_stacking(root)
    return discover(RealHost(root))


def codes(model: HostModel, bdf: str, severity: str | None = None) -> set[str]:
    verdict = assess(model, model.devices[PciAddress.parse(bdf)])
    return {f.code for f in verdict.findings if severity in (None, f.severity)}


def test_free_vf_is_ready(model: HostModel) -> None:
    verdict = assess(model, model.devices[PciAddress.parse("05:10.0")])
    assert verdict.ready and not verdict.blockers
    assert "reset-flr" in {f.code for f in verdict.findings}


def test_nic_with_default_route_blocks(model: HostModel) -> None:
    assert "net-default-route" in codes(model, "0a:00.0", BLOCKER)
    assert not assess(model, model.devices[PciAddress.parse("0a:00.0")]).ready


def test_bond_member_carrying_the_route_blocks(model: HostModel) -> None:
    nif = model.devices[PciAddress.parse("05:00.1")].net[0]
    assert nif.master == "bond0" and nif.master_default_route
    assert "net-default-route" in codes(model, "05:00.1", BLOCKER)


def test_pf_with_vfs_blocks_with_its_flag_and_link_local_is_not_traffic(
    model: HostModel,
) -> None:
    assert codes(model, "05:00.0", BLOCKER) == {"pf-has-vfs"}
    verdict = assess(model, model.devices[PciAddress.parse("05:00.0")])
    assert [(f.code, f.flag) for f in verdict.blockers] == [("pf-has-vfs", "--force-vfs")]
    nif = model.devices[PciAddress.parse("05:00.0")].net[0]
    assert nif.ipv6_addresses == ("fe80::a8bb:ccff:fe00:1/64",) and not nif.carries_traffic


def test_disk_swap_and_dm_holders_block(model: HostModel) -> None:
    disk = model.devices[PciAddress.parse("09:00.0")].block[0]
    assert disk.swap == ("/dev/nvme0n1p1",) and disk.holders == ("dm-0",)
    assert [m.target for m in disk.mounts] == ["/srv"]
    assert {"block-swap", "block-mounted"} <= codes(model, "09:00.0", BLOCKER)


def test_shared_group_bridges_and_resets(model: HostModel) -> None:
    assert "group-shared" in codes(model, "06:00.0", BLOCKER)
    assert "reset-bus-only" in codes(model, "06:00.0", WARNING)
    assert "no-flr" in codes(model, "00:1d.0", WARNING)
    assert "bridge" in codes(model, "00:01.0", BLOCKER)
    assert "host-bridge" in codes(model, "00:00.0", BLOCKER)
    assert "assignable" in codes(model, "00:1c.0")


def test_no_iommu_groups_is_info_only(tmp_path: Path) -> None:
    from dataclasses import replace

    from helpers.model_hosts import xen_host

    spec = xen_host()
    fns = tuple(replace(f, iommu_group=None) for f in spec.functions)
    root = build(tmp_path, replace(spec, functions=fns, iommu=False))
    model = discover(RealHost(root))
    assert not model.iommu_enabled
    assert "no-iommu-groups" in codes(model, "05:10.0")
    assert assess(model, model.devices[PciAddress.parse("05:10.0")]).ready
