"""Host descriptions the model tests build with `pcipass.sim.tree` (no second generator).

`xen_host()` is a typical passthrough host: root ports with ACS, a dual-port
82599 with VFs on PF 0, a GPU with its HDMI audio function sharing a group, an
NVMe holding ``/``, a NIC carrying the default route, a pciback-held NIC, a
switch (upstream + downstream port), an unknown-ID device and a function with
no group. `PCI_IDS` is a small pci.ids that names some of them.
"""

from __future__ import annotations

from pathlib import Path

from pcipass.sim.layout import (
    Disk,
    Driver,
    HostSpec,
    MountSpec,
    NetIf,
    PciFunction,
    Route,
    SriovSpec,
    vf_function,
)
from pcipass.sim.tree import build_tree

PCI_IDS = """\
# test pci.ids
1b36  Red Hat, Inc.
\t000c  QEMU PCIe Root port
8086  Intel Corporation
\t10fb  82599ES 10-Gigabit SFI/SFP+ Network Connection
\t\t8086 000c  Ethernet Server Adapter X520-T2
\t10ed  82599 Ethernet Controller Virtual Function
\t10d3  82574L Gigabit Network Connection
\t8c10  8 Series/C220 Series Chipset Family PCI Express Root Port #1
# a comment inside a vendor block
\t1591  Ethernet Controller E810-C for backplane
10de  NVIDIA Corporation
\t1eb8  TU104GL [Tesla T4]
\t10f8  TU104 HD Audio Controller
144d  Samsung Electronics Co Ltd
\ta808  NVMe SSD Controller SM981/PM981/PM983
\t\t144d a801  SSD 970 EVO/PRO
10b5  Broadcom / PLX
\t8747  PEX 8747 48-Lane, 5-Port PCI Express Gen 3 (8.0 GT/s) Switch
C 01  Mass storage controller
\t08  Non-Volatile memory controller
\t\t02  NVM Express
C 02  Network controller
\t00  Ethernet controller
C 03  Display controller
\t02  3D controller
C 04  Multimedia controller
\t03  Audio device
C 06  Bridge
\t00  Host bridge
\t04  PCI bridge
\t\t00  Normal decode
C ff  Unassigned class
"""

RP1, RP2, RP3 = "0000:00:01.0", "0000:00:02.0", "0000:00:03.0"

PF0 = PciFunction(
    "0000:05:00.0",
    0x8086,
    0x10FB,
    0x020000,
    0x8086,
    0x000C,
    1,
    parent=RP1,
    driver="ixgbe",
    iommu_group=20,
    flr=True,
    msix_vectors=64,
    ari=True,
    sriov=SriovSpec(63, 0x10ED, offset=0x80, stride=2, num_vfs=3),
    net=(NetIf("enp5s0f0", "aa:bb:cc:00:00:01"),),
)
PF1 = PciFunction(
    "0000:05:00.1",
    0x8086,
    0x10FB,
    0x020000,
    0x8086,
    0x000C,
    1,
    parent=RP1,
    driver="ixgbe",
    iommu_group=21,
    flr=True,
    ari=True,
    sriov=SriovSpec(63, 0x10ED, offset=0x80, stride=2, num_vfs=0),
    net=(NetIf("enp5s0f1", "aa:bb:cc:00:00:02"),),
)


def _port(bdf: str, parent: str | None, group: int, kind: str, dev: int = 0x000C) -> PciFunction:
    vendor = 0x1B36 if dev == 0x000C else 0x10B5
    return PciFunction(
        bdf,
        vendor,
        dev,
        0x060400,
        vendor,
        0,
        parent=parent,
        pcie_type=kind,
        driver="pcieport",
        acs=True,
        iommu_group=group,
    )


def xen_host(num_vfs: int = 3) -> HostSpec:
    """The host described in the module docstring."""
    pf0 = (
        PF0
        if num_vfs == 3
        else PciFunction(
            **{
                **PF0.__dict__,
                "sriov": SriovSpec(63, 0x10ED, offset=0x80, stride=2, num_vfs=num_vfs),
            }
        )
    )
    vfs = tuple(vf_function(pf0, i, 30 + i) for i in range(num_vfs))
    fns = (
        PciFunction("0000:00:00.0", 0x8086, 0x29C0, 0x060000, pcie_type=None),
        _port(RP1, None, 1, "root_port"),
        _port(RP2, None, 2, "root_port"),
        _port(RP3, None, 3, "root_port"),
        pf0,
        PF1,
        *vfs,
        PciFunction(
            "0000:06:00.0",
            0x10DE,
            0x1EB8,
            0x030200,
            0x10DE,
            0x12A2,
            0xA1,
            parent=RP2,
            driver="nouveau",
            iommu_group=40,
            flr=False,
        ),
        PciFunction(
            "0000:06:00.1",
            0x10DE,
            0x10F8,
            0x040300,
            0x10DE,
            0x12A2,
            0xA1,
            parent=RP2,
            driver="snd_hda_intel",
            iommu_group=40,
        ),
        _port("0000:07:00.0", RP3, 50, "upstream_port", 0x8747),
        _port("0000:08:01.0", "0000:07:00.0", 51, "downstream_port", 0x8747),
        _port("0000:08:02.0", "0000:07:00.0", 52, "downstream_port", 0x8747),
        PciFunction(
            "0000:09:00.0",
            0x144D,
            0xA808,
            0x010802,
            0x144D,
            0xA801,
            0,
            parent="0000:08:01.0",
            driver="nvme",
            iommu_group=53,
            flr=True,
            nvme_controller="nvme0",
            disks=(Disk("nvme0n1", ("nvme0n1p1", "nvme0n1p2")),),
        ),
        PciFunction(
            "0000:0a:00.0",
            0x8086,
            0x10D3,
            0x020000,
            0x8086,
            0x0000,
            0,
            parent="0000:08:02.0",
            driver="e1000e",
            iommu_group=54,
            net=(NetIf("eno1", "aa:bb:cc:00:00:10"),),
        ),
        PciFunction(
            "0000:00:1c.0",
            0x8086,
            0x1591,
            0x020000,
            0x8086,
            0x0001,
            2,
            driver="pciback",
            iommu_group=60,
            flr=True,
        ),
        PciFunction(
            "0000:00:1d.0",
            0x1234,
            0xABCD,
            0xFF0000,
            0x1234,
            0x0001,
            3,
            iommu_group=61,
            pcie_type=None,
            pm=False,
        ),
        PciFunction(
            "0000:00:1e.0",
            0x8086,
            0x8C10,
            0x060400,
            0x8086,
            0x0000,
            0xD5,
            driver="vfio-pci",
            pcie_type="root_port",
        ),
    )
    return HostSpec(
        fns,
        drivers=(Driver("pcieport", None), Driver("pciback", "xen_pciback")),
        mounts=(MountSpec("/dev/nvme0n1p1", "/"), MountSpec("/dev/nvme0n1p2", "/var", "xfs")),
        routes=(
            Route("eno1", gateway="192.168.1.1"),
            Route("eno1", "192.168.1.0", mask="255.255.255.0"),
        ),
        extra_files=(("usr/share/misc/pci.ids", PCI_IDS),),
    )


def build(root: Path, spec: HostSpec | None = None) -> Path:
    build_tree(root, spec or xen_host())
    return root
