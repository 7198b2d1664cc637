"""The sysfs tree builder writes what the kernel shows, and lspci reads it the same way."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pcipass.sim.config_bytes import encode_config_space
from pcipass.sim.layout import (
    Disk,
    Driver,
    HostSpec,
    Module,
    MountSpec,
    NetIf,
    PciFunction,
    Route,
    SriovSpec,
    vf_bdf,
    vf_function,
)
from pcipass.sim.tree import build_tree

PF = PciFunction(
    "0000:05:00.0",
    0x8086,
    0x10FB,
    0x020000,
    0x8086,
    0x000C,
    1,
    parent="0000:00:01.0",
    driver="ixgbe",
    iommu_group=3,
    flr=True,
    msix_vectors=64,
    ari=True,
    sriov=SriovSpec(63, 0x10ED, offset=0x80, stride=2, num_vfs=2),
    net=(NetIf("eth0", "aa:bb:cc:dd:ee:ff"),),
)


def spec() -> HostSpec:
    fns = (
        PciFunction("0000:00:00.0", 0x8086, 0x29C0, 0x060000, pcie_type=None),
        PciFunction(
            "0000:00:01.0",
            0x1B36,
            0x000C,
            0x060400,
            0x1B36,
            0,
            parent=None,
            pcie_type="root_port",
            driver="pcieport",
            acs=True,
            iommu_group=1,
        ),
        PF,
        vf_function(PF, 0, 10),
        vf_function(PF, 1, 11),
        PciFunction("0000:05:00.1", 0x8086, 0x10FB, 0x020000, parent="0000:00:01.0", iommu_group=3),
        PciFunction(
            "0000:00:1f.0",
            0x8086,
            0x2918,
            0x060100,
            revision=2,
            driver="lpc_ich",
            pcie_type=None,
            iommu_group=7,
        ),
        PciFunction(
            "0000:00:1f.3",
            0x8086,
            0x2930,
            0x0C0500,
            revision=2,
            driver="i801_smbus",
            pcie_type=None,
            iommu_group=7,
        ),
        PciFunction(
            "0000:00:03.0",
            0x1234,
            0xABCD,
            0xFF0000,
            pcie_type=None,
            driver="nvme",
            nvme_controller="nvme0",
            disks=(Disk("nvme0n1", ("nvme0n1p1",)),),
        ),
    )
    return HostSpec(
        fns,
        drivers=(Driver("pcieport", None), Driver("i801_smbus", "i2c_i801")),
        modules=(Module("ixgbe", (("max_vfs", "0"),)),),
        mounts=(MountSpec("/dev/nvme0n1p1", "/"),),
        routes=(Route("eth0", gateway="192.168.1.1"),),
        hypervisor="xen",
    )


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    build_tree(tmp_path, spec())
    return tmp_path


def rd(root: Path, rel: str) -> str:
    return (root / rel).read_text().strip()


def test_hierarchy_and_bus_links(root: Path) -> None:
    dev = root / "sys/bus/pci/devices/0000:05:00.0"
    assert os.path.realpath(dev) == str(root / "sys/devices/pci0000:00/0000:00:01.0/0000:05:00.0")
    assert not os.readlink(dev).startswith("/")  # relative like the kernel's
    assert rd(root, "sys/bus/pci/devices/0000:05:00.0/vendor") == "0x8086"
    assert rd(root, "sys/bus/pci/devices/0000:05:00.0/class") == "0x020000"
    assert rd(root, "sys/bus/pci/devices/0000:05:00.0/driver_override") == "(null)"
    assert rd(root, "sys/bus/pci/devices/0000:05:00.0/reset_method") == "flr bus"
    assert not (root / "sys/bus/pci/devices/0000:00:00.0/reset_method").exists()
    assert rd(root, "sys/bus/pci/devices/0000:05:00.0/modalias") == (
        "pci:v00008086d000010FBsv00008086sd0000000Cbc02sc00i00"
    )
    assert rd(root, "sys/bus/pci/devices/0000:00:01.0/secondary_bus_number") == "5"


def test_drivers_modules_groups(root: Path) -> None:
    dev = root / "sys/bus/pci/devices/0000:05:00.0"
    assert os.path.basename(os.readlink(dev / "driver")) == "ixgbe"
    drv = root / "sys/bus/pci/drivers/ixgbe"
    assert os.path.realpath(drv / "0000:05:00.0") == os.path.realpath(dev)
    assert os.path.basename(os.readlink(drv / "module")) == "ixgbe"
    assert not (root / "sys/bus/pci/drivers/pcieport/module").exists()
    assert rd(root, "sys/module/ixgbe/parameters/max_vfs") == "0"
    assert (
        os.path.basename(os.readlink(root / "sys/bus/pci/drivers/i801_smbus/module")) == "i2c_i801"
    )
    assert "ixgbe 16384" in rd(root, "proc/modules")
    assert sorted(os.listdir(root / "sys/kernel/iommu_groups/7/devices")) == [
        "0000:00:1f.0",
        "0000:00:1f.3",
    ]
    assert os.path.basename(os.readlink(dev / "iommu_group")) == "3"
    assert rd(root, "sys/hypervisor/type") == "xen"


def test_sriov_links_and_attrs(root: Path) -> None:
    dev = root / "sys/bus/pci/devices/0000:05:00.0"
    assert vf_bdf(PF, 1) == "0000:05:10.2"
    assert rd(root, "sys/bus/pci/devices/0000:05:00.0/sriov_vf_device") == "10ed"
    assert rd(root, "sys/bus/pci/devices/0000:05:00.0/sriov_numvfs") == "2"
    assert os.path.basename(os.readlink(dev / "virtfn1")) == "0000:05:10.2"
    vf = root / "sys/bus/pci/devices/0000:05:10.2"
    assert os.path.basename(os.readlink(vf / "physfn")) == "0000:05:00.0"
    assert os.path.dirname(os.path.realpath(vf)) == os.path.dirname(os.path.realpath(dev))
    assert rd(root, "sys/bus/pci/devices/0000:05:10.2/reset_method") == "flr"


def test_net_block_proc(root: Path) -> None:
    net = os.path.realpath(root / "sys/class/net/eth0")
    assert net.startswith(os.path.realpath(root / "sys/bus/pci/devices/0000:05:00.0"))
    assert rd(root, "sys/class/net/eth0/address") == "aa:bb:cc:dd:ee:ff"
    disk = os.path.realpath(root / "sys/block/nvme0n1")
    assert disk.endswith("0000:00:03.0/nvme/nvme0/nvme0n1")
    assert (root / "sys/class/block/nvme0n1p1/partition").exists()
    assert rd(root, "proc/mounts") == "/dev/nvme0n1p1 / ext4 rw,relatime 0 0"
    assert "eth0\t00000000\t0101A8C0\t0003" in rd(root, "proc/net/route")


def test_config_space_layout() -> None:
    cfg = encode_config_space(PF)
    assert len(cfg) == 4096
    assert struct.unpack_from("<HH", cfg, 0) == (0x8086, 0x10FB)
    cap = cfg[0x34]
    found = {}
    while cap:
        found[cfg[cap]] = cap
        cap = cfg[cap + 1]
    assert set(found) == {0x01, 0x10, 0x11}
    devcap = struct.unpack_from("<I", cfg, found[0x10] + 4)[0]
    assert devcap & (1 << 28)  # FLR
    ext, pos = {}, 0x100
    while pos:
        header = struct.unpack_from("<I", cfg, pos)[0]
        ext[header & 0xFFFF] = pos
        pos = header >> 20
    assert set(ext) == {0x000E, 0x0010}
    sriov = ext[0x0010]
    total, num = struct.unpack_from("<HH", cfg, sriov + 0x0E)
    offset, stride = struct.unpack_from("<HH", cfg, sriov + 0x14)
    vfdev = struct.unpack_from("<H", cfg, sriov + 0x1A)[0]
    assert (total, num, offset, stride, vfdev) == (63, 2, 0x80, 2, 0x10ED)
    vf = encode_config_space(vf_function(PF, 0))
    assert struct.unpack_from("<HH", vf, 0) == (0xFFFF, 0xFFFF)  # VFs read as 0xffff


def test_multifunction_bit(root: Path) -> None:
    cfg = (root / "sys/bus/pci/devices/0000:05:00.0/config").read_bytes()
    assert cfg[0x0E] & 0x80
    bridge = (root / "sys/bus/pci/devices/0000:00:01.0/config").read_bytes()
    assert bridge[0x0E] == 0x01 and bridge[0x19] == 5 and bridge[0x1A] == 5
    assert not (root / "sys/bus/pci/devices/0000:00:03.0/config").read_bytes()[0x0E] & 0x80


def test_remove_function_cleans_links(root: Path) -> None:
    from pcipass.sim.tree import SysfsTree

    tree = SysfsTree(root)
    tree.remove_function("0000:05:10.0")
    assert not (root / "sys/bus/pci/devices/0000:05:10.0").exists()
    assert not (root / "sys/kernel/iommu_groups/10").exists()
    tree.remove_function("0000:00:03.0")
    assert not os.path.lexists(root / "sys/block/nvme0n1")
    assert not os.path.lexists(root / "sys/bus/pci/drivers/nvme/0000:00:03.0")


LSPCI_LINE = re.compile(
    r"^(\S+) (.+?) \[([0-9a-f]{4})\]: .* \[([0-9a-f]{4}):([0-9a-f]{4})\]( \(rev ([0-9a-f]{2})\))?"
)


@pytest.mark.skipif(shutil.which("lspci") is None, reason="pciutils not installed")
def test_lspci_reads_the_tree(root: Path) -> None:
    out = subprocess.run(
        ["lspci", "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-Dnnk"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen: dict[str, tuple[str, str, str, str, str | None]] = {}
    current = ""
    for line in out.splitlines():
        m = LSPCI_LINE.match(line)
        if m:
            current = m.group(1)
            seen[current] = (m.group(3), m.group(4), m.group(5), m.group(7) or "00", None)
        elif line.startswith("\tKernel driver in use: "):
            seen[current] = seen[current][:4] + (line.split(": ", 1)[1],)
    expected = {
        f.bdf: (
            f"{f.class_code >> 8:04x}",
            f"{f.vendor:04x}",
            f"{f.device:04x}",
            f"{f.revision:02x}",
            f.driver,
        )
        for f in spec().functions
    }
    assert seen == expected
