"""Discovery builds the model from a kernel-like tree, this machine's /sys, and bad roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.fakes import FaultyHost
from helpers.machine import pci_functions, sysfs_hex
from helpers.model_hosts import build
from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.real import RealHost
from pcipass.model.device import Status
from pcipass.model.discovery import ModuleIndex, discover


def B(text: str) -> PciAddress:
    return PciAddress.parse(text)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("host"))


def test_ids_names_driver_status(root: Path) -> None:
    model = discover(RealHost(root))
    pf = model.devices[B("05:00.0")]
    assert (pf.vendor_id, pf.device_id, pf.class_code, pf.revision) == (0x8086, 0x10FB, 0x020000, 1)
    assert (pf.subsystem_vendor_id, pf.subsystem_device_id) == (0x8086, 0x000C)
    assert pf.names.vendor == "Intel Corporation"
    assert pf.names.subsystem_device == "Ethernet Server Adapter X520-T2"
    assert pf.names.subclass == "Ethernet controller"
    assert pf.driver == "ixgbe" and pf.status is Status.HOST
    assert model.devices[B("00:1c.0")].status is Status.PCIBACK
    assert model.devices[B("00:1e.0")].status is Status.VFIO
    assert model.devices[B("05:10.0")].status is Status.UNBOUND
    unknown = model.devices[B("00:1d.0")]
    assert unknown.names.vendor is None and unknown.names.device is None
    assert model.pci_ids_source == "/usr/share/misc/pci.ids"


def test_topology_groups_pcie(root: Path) -> None:
    model = discover(RealHost(root))
    nvme = model.devices[B("09:00.0")]
    assert nvme.parent == B("08:01.0")
    assert model.devices[B("08:01.0")].parent == B("07:00.0")
    assert model.devices[B("07:00.0")].parent == B("00:03.0")
    assert model.devices[B("00:03.0")].parent is None
    assert model.devices[B("07:00.0")].pcie_type == "switch-upstream"
    assert model.devices[B("08:01.0")].pcie_type == "switch-downstream"
    assert model.devices[B("00:01.0")].pcie_type == "root-port"
    assert model.devices[B("00:01.0")].is_bridge
    assert model.groups[40] == (B("06:00.0"), B("06:00.1"))
    gpu = model.devices[B("06:00.0")]
    assert model.group_members(gpu) == (B("06:00.1"),)
    assert model.iommu_enabled
    assert model.devices[B("00:1e.0")].iommu_group is None


def test_sriov_pf_and_vfs(root: Path) -> None:
    model = discover(RealHost(root))
    pf = model.devices[B("05:00.0")]
    assert pf.sriov is not None
    s = pf.sriov
    assert (s.total_vfs, s.num_vfs, s.vf_offset, s.vf_stride) == (63, 3, 0x80, 2)
    assert s.vf_device_id == 0x10ED and s.drivers_autoprobe is True
    assert s.vfs == (B("05:10.0"), B("05:10.2"), B("05:10.4"))
    vf = model.devices[B("05:10.2")]
    assert vf.physfn == B("05:00.0") and vf.is_vf and not vf.is_pf
    assert vf.device_id == 0x10ED and vf.reset.flr is True
    assert [d.bdf for d in model.vfs_of(pf)] == list(s.vfs)
    assert model.devices[B("05:00.1")].sriov is not None
    assert model.devices[B("05:00.1")].sriov.num_vfs == 0  # type: ignore[union-attr]


def test_reset_acs_ari(root: Path) -> None:
    model = discover(RealHost(root))
    pf = model.devices[B("05:00.0")]
    assert pf.reset.flr is True and pf.reset.methods == ("flr", "bus") and pf.ari is True
    gpu = model.devices[B("06:00.0")]
    assert gpu.reset.flr is False
    port = model.devices[B("00:01.0")]
    assert port.acs is not None and port.acs.capable


def test_net_and_block_usage(root: Path) -> None:
    model = discover(RealHost(root))
    nic = model.devices[B("0a:00.0")]
    assert [n.name for n in nic.net] == ["eno1"]
    assert nic.net[0].default_route and nic.net[0].ipv4_routes == ("0.0.0.0/0", "192.168.1.0/24")
    assert model.devices[B("05:00.0")].net[0].name == "enp5s0f0"
    assert not model.devices[B("05:00.0")].net[0].carries_traffic
    nvme = model.devices[B("09:00.0")]
    disk = nvme.block[0]
    assert disk.name == "nvme0n1" and disk.partitions == ("nvme0n1p1", "nvme0n1p2")
    assert disk.holds_root and {m.target for m in disk.mounts} == {"/", "/var"}


def test_nvme_multipath_disk_is_on_its_controller(tmp_path: Path) -> None:
    """Debian's kernels put nvme0n1 under virtual/nvme-subsystem (seen in the kernel lab);
    only the hidden path nvme0c0n1 sits under the PCI function."""
    root = build(tmp_path)
    ctrl = Path(os.path.realpath(root / "sys/class/nvme/nvme0"))
    blk = root / "sys/class/block"
    (ctrl / "nvme0n1").rename(ctrl / "nvme0c0n1")
    head = root / "sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1"
    (head / "nvme0n1p1").mkdir(parents=True)
    (head / "nvme0n1p1/partition").write_text("1\n")
    for link, target in (
        ("nvme0n1", head),
        ("nvme0n1p1", head / "nvme0n1p1"),
        ("nvme0c0n1", ctrl / "nvme0c0n1"),
    ):
        (blk / link).unlink(missing_ok=True)
        os.symlink(os.path.relpath(target, blk), blk / link)
    (blk / "nvme0n1p2").unlink()
    model = discover(RealHost(root))
    disk = model.devices[B("09:00.0")].block[0]
    assert disk.name == "nvme0n1" and disk.partitions == ("nvme0n1p1",)
    assert disk.holds_root


def test_listing_reads_less(root: Path) -> None:
    light = discover(RealHost(root), detail=False, usage_facts=False)
    pf = light.devices[B("05:00.0")]
    assert pf.driver == "ixgbe" and pf.iommu_group == 20 and pf.sriov is not None
    assert pf.pcie_type is None and pf.reset.flr is None and pf.net == ()
    focused = discover(RealHost(root), only={B("06:00.0")})
    assert focused.devices[B("06:00.0")].pcie_type == "endpoint"
    assert focused.devices[B("06:00.1")].pcie_type is None


@pytest.mark.parametrize("unlink", [True, False], ids=["gone", "dangling-link"])
def test_device_vanishing_mid_read_is_left_out(tmp_path: Path, unlink: bool) -> None:
    build(tmp_path)
    host = FaultyHost(RealHost(tmp_path), vanish="sys/bus/pci/devices/0000:06:00.1",
                      vanish_link=unlink)
    model = discover(host)
    assert B("06:00.1") not in model.devices
    assert model.groups[40] == (B("06:00.0"),)


def test_unreadable_attributes_are_unknown(root: Path) -> None:
    blocked = ("06:00.1/class", "06:00.1/vendor", "06:00.1/uevent", "/config")
    model = discover(FaultyHost(RealHost(root), unreadable=blocked))
    audio = model.devices[B("06:00.1")]
    assert audio.vendor_id is None and audio.class_code is None
    assert set(audio.unknown) >= {"vendor", "class", "config"}
    assert audio.status is Status.UNKNOWN
    assert audio.reset.flr is None and audio.pcie_type is None


def test_not_a_host_tree(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a host tree"):
        discover(RealHost(tmp_path))


def test_modules_from_modules_alias(tmp_path: Path) -> None:
    build(tmp_path)
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text("6.1.0-test\n")
    alias = tmp_path / "lib/modules/6.1.0-test/modules.alias"
    alias.parent.mkdir(parents=True)
    alias.write_text(
        "alias pci:v00008086d000010FBsv*sd*bc*sc*i* ixgbe\n"
        "alias pci:v*d*sv*sd*bc02sc00i* some_generic_nic\n"
        "alias usb:v1234* not_pci\n"
        "alias pci:v000010DEd*sv*sd*bc03sc*i* nvidia\n"
    )
    model = discover(RealHost(tmp_path), modules=True)
    assert model.devices[B("05:00.0")].modules == ("ixgbe", "some_generic_nic")
    assert model.devices[B("06:00.0")].modules == ("nvidia",)
    assert model.devices[B("06:00.1")].modules == ()
    assert ModuleIndex(None).match("pci:v00008086") is None


def test_module_index_buckets_match_as_fnmatch_does() -> None:
    index = ModuleIndex(
        "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\n"
        "alias pci:v00008086d000010D*sv*sd*bc*sc*i* partial_device\n"
        "alias pci:v00008086d*sv*sd*bc02sc*i* intel_nic\n"
        "alias pci:v0000808*d*sv*sd*bc*sc*i* partial_vendor\n"
        "alias pci:v00008086d000010C9sv*sd*bc*sc*i* igb\n"
        "alias pci:v*d*sv*sd*bc02sc00i* generic\n"
    )
    nic = "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
    assert index.match(nic) == ("e1000e", "partial_device", "intel_nic", "partial_vendor",
                                "generic")
    assert index.match(nic.replace("10D3", "10C9")) == ("intel_nic", "igb", "partial_vendor",
                                                          "generic")
    assert index.match("pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02") == ()


def test_this_machine() -> None:
    names = pci_functions()
    model = discover(RealHost("/"))
    assert [str(b) for b in model.devices] == names
    for dev in model.devices.values():
        assert dev.vendor_id == sysfs_hex(str(dev.bdf), "vendor")
        assert dev.class_code == sysfs_hex(str(dev.bdf), "class")
