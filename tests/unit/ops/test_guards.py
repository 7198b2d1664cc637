"""Guards: each refusal names the reason and its override flag."""

from __future__ import annotations

from pcipass.address import PciAddress
from pcipass.model.device import BlockDevice, Device, HostModel, Mount, NetInterface, SriovPF
from pcipass.ops.guards import FORCE_NET, FORCE_STORAGE, FORCE_VFS, blocking, refusals

B = PciAddress.parse("0000:03:00.0")


def dev(**kw: object) -> Device:
    return Device(B, 0x8086, 0x1234, driver="x", **kw)  # type: ignore[arg-type]


def reasons(d: Device, domid: int | None = None) -> list[tuple[str, str | None]]:
    return [(r.reason, r.flag) for r in refusals(HostModel({B: d}, {}, True), d, domid)]


def test_root_disk_mounts_swap_and_lvm() -> None:
    disk = BlockDevice("nvme0n1", ("nvme0n1p1",), mounts=(Mount("/dev/nvme0n1p1", "/", "ext4"),),
                       swap=("/dev/nvme0n1p2",), holders=("dm-0",))
    found = reasons(dev(block=(disk,)))
    assert found == [
        ("holds the root filesystem (/dev/nvme0n1)", FORCE_STORAGE),
        ("backs swap (/dev/nvme0n1p2)", FORCE_STORAGE),
        ("is a member of dm-0 (LVM/MD/dm)", FORCE_STORAGE),
    ]
    other = BlockDevice("sdb", mounts=(Mount("/dev/sdb1", "/srv", "xfs"),))
    assert reasons(dev(block=(other,))) == [
        ("backs mounted filesystems (/dev/sdb1 on /srv)", FORCE_STORAGE)
    ]
    assert reasons(dev(block=(BlockDevice("sdc"),))) == []


def test_nics() -> None:
    assert reasons(dev(net=(NetInterface("eth0", default_route=True),))) == [
        ("carries the default route (eth0)", FORCE_NET)
    ]
    bonded = NetInterface("eth1", master="bond0", master_default_route=True)
    assert "member of bond0" in reasons(dev(net=(bonded,)))[0][0]
    addressed = NetInterface("eth2", ipv4_routes=("10.0.0.0/24",))
    assert reasons(dev(net=(addressed,))) == [("has addresses on eth2 (10.0.0.0/24)", FORCE_NET)]
    assert reasons(dev(net=(NetInterface("eth3", ipv6_addresses=("fe80::1",)),))) == []


def test_pf_with_vfs_lists_them_and_domain_and_bridge_cannot_be_forced() -> None:
    vfs = (PciAddress.parse("0000:03:10.0"), PciAddress.parse("0000:03:10.2"))
    found = refusals(HostModel({B: dev()}, {}, True),
                     dev(sriov=SriovPF(7, 2, 128, 2, 0x10CA, True, vfs)))
    assert found[0].flag == FORCE_VFS and "0000:03:10.0, 0000:03:10.2" in found[0].reason
    assert reasons(dev(sriov=SriovPF(7, 0, 128, 2, 0x10CA, True))) == []
    held = refusals(HostModel({B: dev()}, {}, True), dev(), domid=4)
    assert held[0].flag is None and "`pcipass detach 4 " in held[0].reason
    bridge = refusals(HostModel({B: dev()}, {}, True), dev(header_type=1))
    assert blocking(bridge, frozenset({FORCE_NET, FORCE_STORAGE, FORCE_VFS})) == bridge
    assert blocking(found, frozenset({FORCE_VFS})) == []


def test_platform_functions_cannot_be_taken_or_reset() -> None:
    from pcipass.ops.guards import reset_refusals

    for cls, what in ((0x060000, "host bridge"), (0x060100, "ISA/LPC bridge"),
                      (0x0C0500, "SMBus controller"), (0x080300, "RTC"), (0x080600, "IOMMU")):
        found = refusals(HostModel({B: dev()}, {}, True), dev(class_code=cls))
        assert [r.flag for r in found] == [None] and what in found[0].reason
        assert [r.code for r in reset_refusals(dev(class_code=cls))] == [found[0].code]
    for cls in (0x068000, 0x088000, 0x080500, 0x020000):  # other bridge/peripheral, SD host
        assert refusals(HostModel({B: dev()}, {}, True), dev(class_code=cls)) == []
    # a PCI-PCI bridge is a bridge, and reset words that its own way
    assert [r.code for r in refusals(HostModel({B: dev()}, {}, True),
                                     dev(class_code=0x060400, header_type=1))] == ["bridge"]
    assert reset_refusals(dev(class_code=0x060400, header_type=1)) == []


def test_group_refusals_name_the_members_and_what_keeps_them() -> None:
    from pcipass.ops.guards import GROUP, group_refusals

    lpc = Device(PciAddress.parse("0000:00:1f.0"), 0x8086, 0x2918, class_code=0x060100,
                 driver="lpc_ich", iommu_group=7)
    sata = Device(PciAddress.parse("0000:00:1f.2"), 0x8086, 0x2922, class_code=0x010601,
                  driver="ahci", iommu_group=7)
    smbus = Device(PciAddress.parse("0000:00:1f.3"), 0x8086, 0x2930, class_code=0x0C0500,
                   iommu_group=7)  # unbound: the group stays viable without moving it
    model = HostModel({d.bdf: d for d in (lpc, sata, smbus)},
                      {7: (lpc.bdf, sata.bdf, smbus.bdf)}, True)
    members, found = group_refusals(model, [sata])
    assert members == [lpc]
    assert [(r.bdf, r.code, r.flag) for r in found] == [
        ("0000:00:1f.2", "group-shared", GROUP), ("0000:00:1f.0", "platform", None)]
    assert "shares IOMMU group 7 with 0000:00:1f.2" in found[1].reason
    # what nothing lifts comes first
    assert [r.flag for r in blocking(found, frozenset())] == [None, GROUP]
    assert group_refusals(model, [smbus])[0] == [lpc, sata]
