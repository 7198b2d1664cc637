"""The PCI layout both labs share (labs/common.sh `lab_pci_args`), and the simulated
host reproduces: scenarios use these addresses on every target."""

from __future__ import annotations

NVME_PF = "0000:01:00.0"  # QEMU NVMe 1b36:0010 on rp1, SR-IOV
NVME_ID = ("0x1b36", "0x0010")
NVME_TOTALVFS = 4
E1000E = "0000:02:00.0"  # 82574L 8086:10d3 on rp2, no SR-IOV
E1000E_ID = ("0x8086", "0x10d3")
IGB_PF = "0000:03:00.0"  # 82576 8086:10c9 on rp3, 7 VFs 8086:10ca (igbvf)
IGB_ID = ("0x8086", "0x10c9")
IGB_VF_ID = ("0x8086", "0x10ca")
IGB_TOTALVFS = 7
IGB_VFS = ("0000:03:10.0", "0000:03:10.2", "0000:03:10.4")  # VF offset 0x80, stride 2
NVME_VFS = ("0000:01:00.1", "0000:01:00.2", "0000:01:00.3", "0000:01:00.4")
LPC_GROUP = ("0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3")  # q35 built-ins, one group
NO_DEVICE = "0000:09:1f.7"

DEVICES = "sys/bus/pci/devices"
DRIVERS = "sys/bus/pci/drivers"


def dev(bdf: str, attr: str = "") -> str:
    """Host path of a device (attribute)."""
    return f"{DEVICES}/{bdf}/{attr}" if attr else f"{DEVICES}/{bdf}"


def drv(name: str, attr: str = "") -> str:
    """Host path of a driver (attribute)."""
    return f"{DRIVERS}/{name}/{attr}" if attr else f"{DRIVERS}/{name}"


def xs_key(bdf: str) -> str:
    """libxl's xenstore node for an assignable device: /libxl/pci/DDDD-BB-DD-F."""
    return "/libxl/pci/" + bdf.replace(":", "-").replace(".", "-")
