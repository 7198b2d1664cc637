"""What the labs print at boot about their IOMMU: Xen's console ring (`xl dmesg`) and the
kernel's log (`dmesg`), as measured in the labs (labs/evidence/doctor/: Xen 4.17 with
QEMU's intel-iommu,intremap=on (`LAB_IOMMU=intel`, xen-intel.txt), amd-iommu,intremap=on
(`amd`, xen-amd.txt) and without an IOMMU (`none`, xen-none.txt); Debian 6.1 with
intel_iommu=on iommu=pt (kernel-intel.txt), and without VT-d (kernel-none.txt)). The
simulated host starts its logs with these lines."""

from __future__ import annotations

XEN_VERSION = ("(XEN) Xen version 4.17.5 (Debian 4.17.5+72-g01140da4e8-1) "
               "(pkg-xen-devel@lists.alioth.debian.org) (x86_64-linux-gnu-gcc (Debian "
               "12.2.0-14+deb12u1) 12.2.0) debug=n Sat Nov 29 13:52:25 UTC 2025")
XEN_COMMANDLINE = ("dom0_mem=1024M,max:1024M dom0_max_vcpus=2 console=com1 com1=115200,8n1 "
                   "loglvl=all guest_loglvl=all iommu=verbose conring_size=1m ")

XEN_VTD = (
    "(XEN) [VT-D]Host address width 48",
    "(XEN) [VT-D]found ACPI_DMAR_DRHD:",
    "(XEN) [VT-D]  dmaru->address = fed90000",
    "(XEN) Intel VT-d iommu 0 supported page sizes: 4kB, 2MB, 1GB",
    "(XEN) Intel VT-d Snoop Control not enabled.",
    "(XEN) Intel VT-d Dom0 DMA Passthrough not enabled.",
    "(XEN) Intel VT-d Queued Invalidation enabled.",
    "(XEN) Intel VT-d Interrupt Remapping enabled.",
    "(XEN) Intel VT-d Posted Interrupt not enabled.",
    "(XEN) Intel VT-d Shared EPT tables enabled.",
    "(XEN) I/O virtualisation enabled",
    "(XEN)  - Dom0 mode: Relaxed",
    "(XEN) Interrupt remapping enabled",
)
XEN_AMD_VI = (
    "(XEN) ACPI: IVRS 7FFE2B09, 0108 (r1 BOCHS  BXPC            1 BXPC        1)",
    "(XEN) AMD-Vi: IOMMU Extended Features:",
    "(XEN) AMD-Vi: Disabled HAP memory map sharing with IOMMU",
    "(XEN) AMD-Vi: IOMMU 0 Enabled.",
    "(XEN) I/O virtualisation enabled",
    "(XEN) Interrupt remapping enabled",
)
XEN_NO_IOMMU = ("(XEN) I/O virtualisation disabled",)
XEN_IOMMU_LINES = {"intel": XEN_VTD, "amd": XEN_AMD_VI, "none": XEN_NO_IOMMU}


def xen_console(iommu: str) -> list[str]:
    """Xen's boot lines in the ring with its IOMMU: ``intel`` (VT-d), ``amd`` (AMD-Vi) or
    ``none``."""
    return [XEN_VERSION, f"(XEN) Command line: {XEN_COMMANDLINE}", *XEN_IOMMU_LINES[iommu]]


KERNEL_VTD = (
    "[    0.000000] DMAR: IOMMU enabled",
    "[    0.016000] DMAR: Host address width 48",
    "[    0.024000] DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0",
    "[    0.028000] DMAR-IR: dmar0 does not support EIM",
    "[    0.044000] DMAR-IR: Enabled IRQ remapping in xapic mode",
    "[    3.449962] iommu: Default domain type: Passthrough (set via kernel command line)",
    "[    4.990801] DMAR: dmar0: Using Queued invalidation",
    "[    5.341633] DMAR: Intel(R) Virtualization Technology for Directed I/O",
)
KERNEL_DOM0 = (
    "[    1.698440] iommu: Default domain type: Translated ",
    "[    4.670301] PCI-DMA: Using software bounce buffering for IO (SWIOTLB)",
)


KERNEL_NO_IOMMU = (  # no DMAR table at all: no DMAR or DMAR-IR line
    "[    0.008000] x2apic: IRQ remapping doesn't support X2APIC mode",
    "[    3.165420] iommu: Default domain type: Translated ",
    "[    3.165946] iommu: DMA domain TLB invalidation policy: lazy mode ",
)


def kernel_log(iommu: bool, xen: bool) -> list[str]:
    """The kernel's IOMMU lines at boot: a dom0 (Xen owns the IOMMU), VT-d on, or none."""
    if xen:
        return list(KERNEL_DOM0)
    return list(KERNEL_VTD if iommu else KERNEL_NO_IOMMU)
