"""The one table of known passthrough failure messages (`pcipass doctor --explain`).

Each signature: the pattern (a regular expression over one line of xl, libxl, kernel or
guest output), its cause, the `doctor` check that confirms it on this host, the fix, and the
evidence that the text means what it says (a lab reproduction, or the source line that
prints it). Specific patterns come before general ones; a line matches at most one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Longest text `--explain` reads (a pasted log, not a disk image).
MAX_TEXT = 4 * 1024 * 1024


@dataclass(frozen=True)
class Signature:
    id: str
    pattern: str
    cause: str
    check: str
    """The `doctor` check (pcipass.ops.doctor.table) that confirms the cause on this host."""
    fix: str
    evidence: str

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


SWIOTLB_CAUSE = (
    "a PV guest with PCI devices asked Xen for machine-contiguous memory below 4 GiB for its "
    "bounce buffer (swiotlb, 64 MiB by default) and Xen had none: rc -12 is -ENOMEM for any "
    "failure of XENMEM_exchange. Usually dom0 took the low memory because dom0_mem= is not "
    "set; else fragmentation after uptime, or a too large swiotlb=. pci_permissive=1 has "
    "nothing to do with it. (Linux 6.1 sets the buffer up when pcifront connects, 4 MiB "
    "at most, halved to 2 MiB on failure; each 256 KiB piece needs a free "
    "machine-contiguous 256 KiB extent below 4 GiB, so free memory above 4 GiB does not "
    "help: in the lab 96 MiB free, all above 4 GiB, was not enough)")
SWIOTLB_FIX = (
    "set dom0_mem=<size>,max:<size> in GRUB_CMDLINE_XEN (with autoballoon=\"off\" in "
    "/etc/xen/xl.conf), update-grub and reboot; start PCI guests early; give a guest that "
    "sets its bounce buffer up at boot (more than 4 GiB of memory, or iommu=soft) a smaller "
    "one (extra=\"swiotlb=8192\", 16 MiB; pcifront's, set up later, is 4 MiB at most "
    "anyway); or use an HVM/PVH guest, which uses the IOMMU instead")

SWIOTLB_LAB = (
    "lab: xen lab (Xen 4.17.5, Debian 12 6.1 PV domU with pci=['02:00.0'], "
    "labs/evidence/swiotlb/README.md, tests/scenarios/test_swiotlb.py): dom0 and a filler "
    "domain held every page below 4 GiB, 96 MiB were free above it; `xl unpause` → the "
    "guest's console: \"pcifront pci-0: Could not setup SWIOTLB!\", then \"pcifront pci-0: "
    "12 Error setting up PCI Frontend\"")

SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "swiotlb-contiguous",
        r"Failed to get contiguous memory for DMA from Xen",
        SWIOTLB_CAUSE, "dom0-mem", SWIOTLB_FIX,
        "Linux drivers/xen/swiotlb-xen.c xen_swiotlb_error() case XEN_SWIOTLB_EFIXUP, printed "
        "by xen_swiotlb_init() as pr_err(\"%s (rc:%d)\") (kernels before 5.19; Debian 12's "
        "6.1 no longer has the text); rc from arch/x86/xen/mmu_pv.c "
        "xen_create_contiguous_region() (-ENOMEM on any failure)"),
    Signature(
        "pcifront-swiotlb",
        r"pcifront \S+: Could not setup SWIOTLB",
        SWIOTLB_CAUSE, "xen-low-memory", SWIOTLB_FIX,
        "Linux 6.1 drivers/pci/xen-pcifront.c pcifront_connect_and_init_dma() when "
        "pci_xen_swiotlb_init_late() → swiotlb_init_late(…, xen_swiotlb_fixup) fails (it "
        f"prints nothing itself); {SWIOTLB_LAB}"),
    Signature(
        "pcifront-setup-enomem",
        r"pcifront \S+: 12 Error setting up PCI Frontend",
        SWIOTLB_CAUSE, "xen-low-memory", SWIOTLB_FIX,
        "Linux 6.1 drivers/pci/xen-pcifront.c pcifront_try_connect(), right after \"Could "
        "not setup SWIOTLB!\": xenbus_dev_fatal(…, err, \"Error setting up PCI Frontend\"), "
        f"which prints -err (12: ENOMEM); {SWIOTLB_LAB}"),
    Signature(
        "iommu-map-enomem",
        r"IOMMU (un)?mapping dfn \S+ (to mfn \S+ )?failed: -12",
        "Xen had no free memory left for the IOMMU page tables of a guest with a PCI device "
        "(a page changing type splits an IOMMU superpage, which needs a new table): Xen "
        "crashes that guest; in the lab Xen 4.17.5 then hit BUG() in _put_page_type and "
        "rebooted the whole host",
        "xen-free-memory",
        "keep memory free in Xen: set dom0_mem=<size>,max:<size> in GRUB_CMDLINE_XEN and do "
        "not hand all free memory to domains (or to dom0 by ballooning up)",
        "lab: xen lab, PV domU with pci=['02:00.0'] created paused, a filler domain and dom0 "
        "ballooning up took every free page (Dom heap: 0kB free), `xl unpause` → \"(XEN) "
        "d6: IOMMU unmapping dfn 10cc4d failed: -12\", \"domain_crash called from "
        "drivers/passthrough/iommu.c:427\", \"Xen BUG at arch/x86/mm.c:2802\" "
        "(labs/evidence/swiotlb/README.md, Nothing free)"),
    Signature(
        "no-iommu-create",
        r"passthrough not supported on this platform",
        "Xen runs without an IOMMU (virt_caps lacks hvm_directio/pv_directio), so libxl "
        "refuses a domain with pci=[...] or passthrough=",
        "xen-iommu",
        "enable VT-d / AMD-Vi in the firmware and drop iommu=0/off from GRUB_CMDLINE_XEN",
        "lab: xen lab with LAB_IOMMU=none, `xl create` with pci=[] → libxl_create.c:1160 "
        "libxl__domain_config_setdefault (labs-reference/xen-dom0/PROOF.md)"),
    Signature(
        "no-iommu-quarantine",
        r"failed to (de-)?quarantine",
        "Xen could not move the device to or from its quarantine domain (DOMID_IO): without "
        "an IOMMU every pci-assignable-add/-remove says so (yet leaves the device on "
        "pciback); with one, `-remove` of a device that is not assignable says the same",
        "xen-iommu",
        "enable the IOMMU; `pcipass assignable remove -r BDF` gives the device back",
        "lab: xen lab with LAB_IOMMU=none, `xl pci-assignable-add` → libxl_pci.c:848 "
        "libxl__device_pci_assignable_add, `-remove -r` → libxl_pci.c:906"),
    Signature(
        "assign-not-supported",
        r"xc_assign_device failed: Operation not supported",
        "the domain's config: it was created without passthrough=\"enabled\" and without "
        "pci=[...] (Xen ≥ 4.13 decides at creation whether a domain may get devices, and no "
        "check reads a running domain's config); the only other cause is Xen without an "
        "IOMMU, which `xen-iommu: pass` below rules out",
        "xen-iommu",
        "put passthrough = \"enabled\" (or the device in pci=[...]) in the domain's config and "
        "recreate the domain",
        "lab: xen lab, `xl pci-attach` to a PV domU created without pci=[] → libxl_pci.c:1529 "
        "pci_add_dm_done (labs-reference/xen-dom0/PROOF.md §4)"),
    Signature(
        "assign-invalid",
        r"xc_assign_device failed: Invalid argument",
        "Xen refused the assignment: the target is dom0, or the device is not assignable "
        "(not quarantined, or already held by another domain)",
        "device-domain",
        "attach to a guest's domid, after `pcipass assignable add BDF`",
        "lab: xen lab, `xl pci-attach 0 BDF` → libxl_pci.c:1529 pci_add_dm_done "
        "(labs-reference/xen-dom0/README.md item 12)"),
    Signature(
        "assign-failed",
        r"xc_assign_device failed",
        "Xen's XEN_DOMCTL_assign_device failed: no IOMMU, the device is in use by another "
        "domain, or its phantom functions/bridge cannot be assigned (the errno after the colon "
        "says which)",
        "xen-iommu",
        "check `pcipass doctor BDF`: IOMMU, the device's holder and its group",
        "libxl libxl_pci.c pci_add_dm_done: LOGED(ERROR, domid, \"xc_assign_device failed\")"),
    Signature(
        "pciback-not-loaded",
        r"Looks like pciback driver (is )?not loaded",
        "xen-pciback is not loaded: libxl looked for /sys/bus/pci/drivers/pciback",
        "pciback",
        "modprobe xen-pciback (and add it to /etc/modules); `pcipass assignable add` loads it",
        "libxl libxl_pci.c pciback_dev_is_assigned(): LOG(ERROR, \"Looks like pciback driver "
        "is not loaded\"); libxl_device_pci_assignable_list(): \"… not loaded\""),
    Signature(
        "read-only-config-field",
        r"Driver tried to write to a read-only configuration space field",
        "the guest's driver wrote a config-space field pciback does not let PV guests write; "
        "the write was dropped (the symptom permissive mode is for)",
        "permissive",
        "if the device misbehaves, and only for a trusted guest: permissive=1 on that device "
        "in pci=[...]",
        "Linux drivers/xen/xen-pciback/conf_space.c xen_pcibk_config_write()"),
    Signature(
        "group-not-viable",
        r"group \d+ is not viable",
        "another function in the device's IOMMU group is bound to a host driver, so vfio "
        "will not hand the group to a guest",
        "device-group",
        "`pcipass assignable add --group BDF` binds the whole group to vfio-pci (bridges "
        "need not move)",
        "QEMU hw/vfio/common.c vfio_get_group(): error_setg(errp, \"group %d is not viable\") "
        "with the hint \"Please ensure all devices within the iommu_group are bound to their "
        "vfio bus driver.\""),
    Signature(
        "no-interrupt-remapping",
        r"No interrupt remapping support",
        "the IOMMU has no interrupt remapping, and vfio refuses to attach a group (EPERM) "
        "unless allow_unsafe_interrupts is set",
        "kernel-interrupt-remapping",
        "enable interrupt remapping in the firmware; vfio_iommu_type1.allow_unsafe_interrupts=1 "
        "overrides it, insecurely",
        "Linux drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_attach_group(): pr_warn(\"%s: "
        "No interrupt remapping support.  Use the module param …\")"),
    Signature(
        "vfio-not-supported",
        r"VFIO device assignment is currently not supported on this system",
        "libvirt found no IOMMU groups (or no /dev/vfio/vfio): the IOMMU is off in the "
        "firmware or on the kernel command line",
        "iommu-groups",
        "enable VT-d / AMD-Vi in the firmware; on Intel add intel_iommu=on to "
        "GRUB_CMDLINE_LINUX, update-grub, reboot",
        "libvirt's hostdev code (virsh nodedev-detach / VM start); user report "
        "bryansteiner/gpu-passthrough-tutorial#30 with the IOMMU off (the libvirt source "
        "line was not read)"),
)
BY_ID: dict[str, Signature] = {s.id: s for s in SIGNATURES}


@dataclass(frozen=True)
class Match:
    """One line of the text that a signature explains."""

    signature: Signature
    line_number: int
    line: str

    def to_json(self) -> dict[str, Any]:
        s = self.signature
        return {"signature": s.id, "line_number": self.line_number, "line": self.line,
                "cause": s.cause, "check": s.check, "fix": s.fix, "evidence": s.evidence}


#: The JSON keys of a match, in order (docs/json.md: doctor --explain).
MATCH_KEYS = ("signature", "line_number", "line", "cause", "check", "fix", "evidence")


def explain(text: str) -> list[Match]:
    """Every line of `text` a signature matches (the first signature that does), in order."""
    compiled = [(s, s.regex) for s in SIGNATURES]
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        for sig, regex in compiled:
            if regex.search(line):
                out.append(Match(sig, number, line.strip()))
                break
    return out
