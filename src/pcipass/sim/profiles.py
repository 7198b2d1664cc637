"""Bundled simulated hosts.

- ``xen-host``: the demo host of the README, a typical Xen dom0: dual-port Intel 82599ES
  (8086:10fb, ixgbe, 63 VFs 8086:10ed/ixgbevf each) at 05:00.0/05:00.1, a GPU with its HDMI
  audio function, an NVMe data disk, the NIC carrying the host's address and default route
  (eno1, igb) and the SATA disk holding the root filesystem; xen-pciback available.
- ``kernel-lab`` / ``xen-lab``: exactly the PCI layout of the project's QEMU labs
  (labs/common.sh): q35 built-ins (00:1f.x in one IOMMU group), virtio 9p shares and the root
  virtio disk, NVMe SR-IOV PF 01:00.0 (1b36:0010, 4 VFs), e1000e 02:00.0 (8086:10d3),
  igb 03:00.0 (8086:10c9, 7 VFs 8086:10ca/igbvf). ``xen-lab`` is the same machine as a Xen dom0:
  no IOMMU groups in Linux, xen-pciback loadable.
- ``xen-lab-iommu-amd`` / ``xen-lab-iommu-none`` / ``kernel-lab-iommu-none``: the same labs
  booted with `LAB_IOMMU=amd` (QEMU's amd-iommu: Xen uses AMD-Vi) or `LAB_IOMMU=none` (no
  IOMMU: Xen without hvm_directio/pv_directio; the kernel without VT-d, so no IOMMU groups and
  no intel_iommu=on on its command line), as `labs/run-variants` boots them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from pcipass.errors import InputError
from pcipass.sim.kernel.state import ANY, DriverDef, ModuleDef, pci_id
from pcipass.sim.layout import Disk, HostSpec, MountSpec, NetIf, PciFunction, Route, SriovSpec


@dataclass(frozen=True)
class Profile:
    """A simulated host: its devices, the kernel's drivers and modules, what loads at boot."""

    name: str
    description: str
    spec: HostSpec
    drivers: tuple[DriverDef, ...]
    modules: tuple[ModuleDef, ...]
    boot_modules: tuple[str, ...]
    xen_iommu: str = "intel"
    """Xen's IOMMU: ``intel`` (VT-d), ``amd`` (AMD-Vi) or ``none`` (no hvm_directio)."""


CLASS_EXACT = 0xFFFFFF

DRIVERS = (
    DriverDef("pcieport", None, (pci_id(ANY, ANY, 0x060400, CLASS_EXACT),), kind="port"),
    DriverDef("pci-stub", None, kind="stub"),
    DriverDef("virtio-pci", "virtio_pci", (pci_id(0x1AF4, ANY),), makes_children=True),
    DriverDef("lpc_ich", "lpc_ich", (pci_id(0x8086, 0x2918), pci_id(0x8086, 0xA1C1))),
    DriverDef("ahci", "ahci", (pci_id(ANY, ANY, 0x010601, CLASS_EXACT),), makes_children=True),
    DriverDef("i801_smbus", "i2c_i801", (pci_id(0x8086, 0x2930), pci_id(0x8086, 0xA1A3))),
    DriverDef(
        "nvme",
        "nvme",
        (pci_id(ANY, ANY, 0x010802, CLASS_EXACT),),
        sriov_configure=True,
        makes_children=True,
        vf_probe_fails=True,  # QEMU's secondary controllers are offline until virt-mgmt
    ),
    DriverDef("e1000e", "e1000e", (pci_id(0x8086, 0x10D3),), makes_children=True),
    DriverDef(
        "igb",
        "igb",
        (pci_id(0x8086, 0x10C9), pci_id(0x8086, 0x1533)),
        sriov_configure=True,
        makes_children=True,
    ),
    DriverDef("igbvf", "igbvf", (pci_id(0x8086, 0x10CA),), makes_children=True),
    DriverDef(
        "ixgbe", "ixgbe", (pci_id(0x8086, 0x10FB),), sriov_configure=True, makes_children=True
    ),
    DriverDef("ixgbevf", "ixgbevf", (pci_id(0x8086, 0x10ED),), makes_children=True),
    DriverDef("nouveau", "nouveau", (pci_id(0x10DE, ANY, 0x030000, 0xFF0000),)),
    DriverDef("snd_hda_intel", "snd_hda_intel", (pci_id(ANY, ANY, 0x040300, CLASS_EXACT),)),
    DriverDef(
        "vfio-pci", "vfio_pci", kind="vfio", sriov_configure=True, sriov_needs_param="enable_sriov"
    ),
    DriverDef("pciback", "xen_pciback", kind="pciback"),
)

MODULES = (
    ModuleDef("pcieportdrv", ("pcieport",), builtin=True),
    ModuleDef("pci_stub", ("pci-stub",), params=(("ids", ""),), builtin=True),
    ModuleDef("virtio_pci", ("virtio-pci",), params=(("force_legacy", "N"),)),
    ModuleDef("lpc_ich", ("lpc_ich",)),
    ModuleDef("ahci", ("ahci",), params=(("marvell_enable", "0"), ("mobile_lpm_policy", "-1"))),
    ModuleDef("i2c_i801", ("i801_smbus",), params=(("disable_features", "0"),)),
    ModuleDef("nvme", ("nvme",), params=(("use_threaded_interrupts", "0"),)),
    ModuleDef("e1000e", ("e1000e",), params=(("debug", "-1"),)),
    ModuleDef("igb", ("igb",), hidden_params=("max_vfs", "debug"), max_vfs_limit=7),
    ModuleDef("igbvf", ("igbvf",), params=(("debug", "-1"),)),
    ModuleDef("ixgbe", ("ixgbe",), hidden_params=("max_vfs", "debug"), max_vfs_limit=63),
    ModuleDef("ixgbevf", ("ixgbevf",), params=(("debug", "-1"),)),
    ModuleDef("nouveau", ("nouveau",), params=(("modeset", "-1"),)),
    ModuleDef("snd_hda_intel", ("snd_hda_intel",), params=(("enable_msi", "-1"),)),
    ModuleDef("vfio", params=(("enable_unsafe_noiommu_mode", "N"),), autoload=False),
    ModuleDef("vfio_iommu_type1", params=(("allow_unsafe_interrupts", "N"),), autoload=False),
    ModuleDef("vfio_pci_core", params=(("disable_idle_d3", "N"),), autoload=False, deps=("vfio",)),
    ModuleDef(
        "vfio_pci",
        ("vfio-pci",),
        params=(("ids", ""), ("disable_vga", "N"), ("enable_sriov", "N"), ("nointxmask", "N")),
        autoload=False,
        deps=("vfio", "vfio_iommu_type1", "vfio_pci_core"),
    ),
    ModuleDef(
        "xen_pciback",
        ("pciback",),
        params=(("hide", "(null)"), ("passthrough", "0"), ("permissive", "N")),
        autoload=False,
        xen_only=True,
    ),
)

QEMU_SUBSYS = (0x1AF4, 0x1100)


def _lab_functions() -> tuple[PciFunction, ...]:
    """The labs' PCI layout (labs/common.sh lab_pci_args + lab_share_args, q35, -nodefaults)."""
    sv, sd = QEMU_SUBSYS

    def root_port(bdf: str, group: int) -> PciFunction:
        return PciFunction(
            bdf, 0x1B36, 0x000C, 0x060400, 0x1B36, 0x0000,
            pcie_type="root_port", acs=True, iommu_group=group, msix_vectors=1,
        )  # fmt: skip

    return (  # bdf, vendor, device, class, subsystem vendor and device, then what differs
        PciFunction("0000:00:00.0", 0x8086, 0x29C0, 0x060000, sv, sd, pcie_type=None,
                    iommu_group=0),
        PciFunction("0000:00:02.0", 0x1AF4, 0x1009, 0x000200, 0x1AF4, 0x0009, pcie_type=None,
                    iommu_group=1, msix_vectors=2),
        PciFunction("0000:00:03.0", 0x1AF4, 0x1009, 0x000200, 0x1AF4, 0x0009, pcie_type=None,
                    iommu_group=2, msix_vectors=2),
        PciFunction("0000:00:04.0", 0x1AF4, 0x1001, 0x010000, 0x1AF4, 0x0002, pcie_type=None,
                    iommu_group=3, msix_vectors=2, disks=(Disk("vda", (), 6291456),)),
        root_port("0000:00:10.0", 4),
        root_port("0000:00:11.0", 5),
        root_port("0000:00:12.0", 6),
        PciFunction("0000:00:1f.0", 0x8086, 0x2918, 0x060100, sv, sd, revision=2,
                    pcie_type=None, iommu_group=7),
        PciFunction("0000:00:1f.2", 0x8086, 0x2922, 0x010601, sv, sd, revision=2,
                    pcie_type=None, iommu_group=7),
        PciFunction("0000:00:1f.3", 0x8086, 0x2930, 0x0C0500, sv, sd, revision=2,
                    pcie_type=None, iommu_group=7),
        PciFunction("0000:01:00.0", 0x1B36, 0x0010, 0x010802, sv, sd, revision=2,
                    parent="0000:00:10.0", iommu_group=8, msix_vectors=65, flr=True, ari=True,
                    sriov=SriovSpec(4, 0x0010, offset=1, stride=1), nvme_controller="nvme0",
                    disks=(Disk("nvme0n1", (), 524288),)),
        PciFunction("0000:02:00.0", 0x8086, 0x10D3, 0x020000, 0x8086, 0x0000,
                    parent="0000:00:11.0", iommu_group=9, msix_vectors=5, flr=False,
                    pm_no_soft_reset=False, net=(NetIf("enp2s0", "52:54:00:12:34:56", "down"),)),
        PciFunction("0000:03:00.0", 0x8086, 0x10C9, 0x020000, sv, sd, revision=1,
                    parent="0000:00:12.0", iommu_group=10, msix_vectors=10, flr=True,
                    pm_no_soft_reset=False, ari=True,
                    sriov=SriovSpec(7, 0x10CA, offset=0x80, stride=2),
                    net=(NetIf("enp3s0", "52:54:00:12:34:57", "down"),)),
    )  # fmt: skip


LAB_BOOT = ("virtio_pci", "lpc_ich", "ahci", "i2c_i801", "nvme", "e1000e", "igb")
LAB_MOUNTS = (
    MountSpec("/dev/vda", "/", "ext4", "rw,relatime"),
    MountSpec("labctl", "/lab/ctl", "9p", "rw,relatime,trans=virtio"),
    MountSpec("share", "/mnt/share", "9p", "ro,relatime,trans=virtio"),
)


def _kernel_lab(vtd: bool = True) -> Profile:
    from dataclasses import replace  # noqa: PLC0415

    functions = _lab_functions() if vtd else tuple(
        replace(f, iommu_group=None) for f in _lab_functions())
    iommu_args = "intel_iommu=on iommu=pt " if vtd else ""
    return Profile(
        "kernel-lab" if vtd else "kernel-lab-iommu-none",
        "the project's kernel lab: Debian 6.1 under QEMU q35 with VT-d, NVMe/igb SR-IOV, e1000e"
        if vtd else "the kernel lab booted without VT-d (LAB_IOMMU=none): no IOMMU groups",
        HostSpec(
            functions,
            mounts=LAB_MOUNTS,
            cmdline=f"console=ttyS0 root=/dev/vda rw init=/lab/init {iommu_args}panic=-1",
            iommu=vtd,
        ),
        DRIVERS,
        MODULES,
        LAB_BOOT,
    )


XEN_LAB_IOMMUS = {
    "intel": ("xen-lab", "the project's Xen lab: Xen 4.17 dom0 under QEMU q35 with VT-d, same "
              "devices"),
    "amd": ("xen-lab-iommu-amd", "the Xen lab booted with QEMU's AMD IOMMU (LAB_IOMMU=amd): "
            "Xen uses AMD-Vi"),
    "none": ("xen-lab-iommu-none", "the Xen lab booted without an IOMMU (LAB_IOMMU=none): no "
             "passthrough"),
}


def _xen_lab(iommu: str = "intel") -> Profile:
    from dataclasses import replace  # noqa: PLC0415

    functions = tuple(replace(f, iommu_group=None) for f in _lab_functions())
    if iommu == "amd":  # QEMU's amd-iommu is a PCI function of its own (dom0's dmesg)
        sv, sd = QEMU_SUBSYS
        functions = (functions[0], PciFunction("0000:00:01.0", 0x1022, 0x1419, 0x080600, sv, sd,
                                               pcie_type=None), *functions[1:])
    name, description = XEN_LAB_IOMMUS[iommu]
    return Profile(
        name,
        description,
        HostSpec(
            functions,
            mounts=LAB_MOUNTS,
            cmdline="root=/dev/vda rw init=/lab/init console=hvc0 earlyprintk=xen quiet "
            "loglevel=4 panic=-1",
            iommu=False,
            hypervisor="xen",
        ),
        DRIVERS,
        MODULES,
        LAB_BOOT,
        xen_iommu=iommu,
    )


def _xen_host() -> Profile:
    intel_port = (0x8086, 0x2030)

    def port(bdf: str, device: int = intel_port[1]) -> PciFunction:
        return PciFunction(bdf, 0x8086, device, 0x060400, 0x8086, 0x0000,
                           pcie_type="root_port", acs=True, msix_vectors=1)  # fmt: skip

    def x520(fn: int, ifname: str, mac: str) -> PciFunction:
        return PciFunction(
            f"0000:05:00.{fn}", 0x8086, 0x10FB, 0x020000, 0x8086, 0x000C, revision=1,
            parent="0000:00:03.0", numa_node=0, local_cpulist="0-15", msix_vectors=64,
            flr=True, ari=True, sriov=SriovSpec(63, 0x10ED, offset=0x80, stride=2),
            net=(NetIf(ifname, mac, "up"),),
        )  # fmt: skip

    functions = (
        PciFunction("0000:00:00.0", 0x8086, 0x2020, 0x060000, 0x8086, 0x0000, revision=4),
        port("0000:00:01.0"),
        port("0000:00:02.0", 0x2031),
        port("0000:00:03.0", 0x2032),
        port("0000:00:1c.0", 0xA190),
        PciFunction("0000:00:17.0", 0x8086, 0xA182, 0x010601, 0x15D9, 0x095D, revision=9,
                    pcie_type=None, msix_vectors=0,
                    disks=(Disk("sda", ("sda1", "sda2", "sda3"), 937703088),)),
        PciFunction("0000:00:1f.0", 0x8086, 0xA1C1, 0x060100, 0x15D9, 0x095D, revision=9,
                    pcie_type=None),
        PciFunction("0000:00:1f.4", 0x8086, 0xA1A3, 0x0C0500, 0x15D9, 0x095D, revision=9,
                    pcie_type=None),
        PciFunction("0000:01:00.0", 0x10DE, 0x1C82, 0x030000, 0x1458, 0x3763, revision=0xA1,
                    parent="0000:00:01.0", msix_vectors=0, irq=16),
        PciFunction("0000:01:00.1", 0x10DE, 0x0FB9, 0x040300, 0x1458, 0x3763, revision=0xA1,
                    parent="0000:00:01.0", msix_vectors=0, irq=17),
        PciFunction("0000:02:00.0", 0x144D, 0xA808, 0x010802, 0x144D, 0xA801,
                    parent="0000:00:02.0", msix_vectors=33, flr=True, nvme_controller="nvme0",
                    disks=(Disk("nvme0n1", ("nvme0n1p1",), 976773168),)),
        PciFunction("0000:03:00.0", 0x8086, 0x1533, 0x020000, 0x15D9, 0x1533, revision=3,
                    parent="0000:00:1c.0", msix_vectors=5, flr=True,
                    net=(NetIf("eno1", "ac:1f:6b:01:02:03", "up"),)),
        x520(0, "enp5s0f0", "90:e2:ba:10:20:30"),
        x520(1, "enp5s0f1", "90:e2:ba:10:20:31"),
    )  # fmt: skip
    return Profile(
        "xen-host",
        "a typical Xen dom0: dual-port 82599ES (SR-IOV, 63 VFs per port), GPU + HDMI audio, "
        "NVMe, the host's NIC eno1 and root disk sda",
        HostSpec(
            functions,
            mounts=(
                MountSpec("/dev/sda2", "/", "ext4", "rw,relatime,errors=remount-ro"),
                MountSpec("/dev/sda1", "/boot/efi", "vfat", "rw,relatime"),
                MountSpec("/dev/nvme0n1p1", "/srv/images", "xfs", "rw,relatime"),
            ),
            swaps=("/dev/sda3",),
            routes=(
                Route("eno1", gateway="192.168.10.1"),
                Route("eno1", destination="192.168.10.0", mask="255.255.255.0"),
            ),
            cmdline="placeholder root=/dev/sda2 ro quiet",
            iommu=False,
            hypervisor="xen",
        ),
        DRIVERS,
        MODULES,
        ("ahci", "lpc_ich", "i2c_i801", "nvme", "igb", "ixgbe", "nouveau", "snd_hda_intel"),
    )


PROFILES: dict[str, Callable[[], Profile]] = {
    "xen-host": _xen_host,
    "kernel-lab": _kernel_lab,
    "xen-lab": _xen_lab,
    "kernel-lab-iommu-none": partial(_kernel_lab, vtd=False),
    "xen-lab-iommu-amd": partial(_xen_lab, "amd"),
    "xen-lab-iommu-none": partial(_xen_lab, "none"),
}


def get_profile(name: str) -> Profile:
    """The named profile, or an InputError listing the known ones."""
    factory = PROFILES.get(name)
    if factory is None:
        raise InputError(
            f"unknown simulated-host profile {name!r}",
            f"choose one of: {', '.join(PROFILES)}",
        )
    return factory()
