"""The host checks of `doctor`, one function each over `DoctorFacts` (pure).

The texts they look for are Xen 4.17's and Linux 6.1's own:
`xen/drivers/passthrough/iommu.c` (`iommu_setup`: "I/O virtualisation enabled/disabled",
"Interrupt remapping enabled/disabled"), `vtd/iommu.c` (`vtd_setup`, macro `P()`:
"Intel VT-d <feature> enabled." / "not enabled."), `tools/xl/xl_info.c` (`virt_caps`:
`hvm_directio`/`pv_directio` iff Xen's `iommu_enabled`, `xen/common/sysctl.c`), Linux
`drivers/iommu/intel/irq_remapping.c` ("DMAR-IR: Enabled IRQ remapping in %s mode") and
`drivers/iommu/amd/init.c` ("AMD-Vi: Interrupt remapping enabled"). The labs print the
same (tests/scenarios/test_doctor.py).
"""

from __future__ import annotations

from pcipass.ops.assign import XEN_IOMMU_FIX
from pcipass.ops.doctor.facts import DoctorFacts, Output
from pcipass.ops.doctor.logs import (
    IOMMU_OFF,
    evidence_line,
    options,
    said,
    xen_iommu_options,
    xl_info_field,
)
from pcipass.ops.doctor.verdict import Verdict, failed, passed, unknown, warned

FIRMWARE_FIX = XEN_IOMMU_FIX
RING_GONE = ("Xen's console ring no longer holds its boot lines (it keeps 16 KiB unless "
             "conring_size= is set); `xl info` virt_caps is the authoritative answer")
PCIBACK = "xen_pciback"
VFIO_PCI = "vfio_pci"


# -- Xen ---------------------------------------------------------------------------
def dom0(f: DoctorFacts) -> Verdict:
    caps = f.xen_capabilities
    if caps is None:
        return unknown("/proc/xen/capabilities is absent: xenfs not mounted?",
                       "`mount -t xenfs xenfs /proc/xen`")
    if f.kind == "xen":
        return passed(f"/proc/xen/capabilities: {caps.strip()}")
    said = repr(caps.strip()) if caps.strip() else "empty"
    return failed(f"a Xen guest: /proc/xen/capabilities is {said}, without control_d",
                  "run pcipass in dom0: only dom0 can hand devices to guests")


def toolstack(f: DoctorFacts) -> Verdict:
    if f.xl_info.refused or f.xenstored.refused:
        return unknown(f.xl_info.why or f.xenstored.why)
    broken = [o.why for o in (f.xl_info, f.xenstored) if o.text is None]
    if broken:
        return failed("; ".join(broken),
                      "start the Xen toolstack (Debian: /etc/init.d/xen start, which runs "
                      "xenstored) and install xen-utils")
    return passed(f"`xl info` answers; xenstored answers (dom0 is {f.xenstored.text})")


def _xl_field(f: DoctorFacts, key: str) -> tuple[str | None, Verdict | None]:
    """One `xl info` field, or the unknown verdict when xl cannot say."""
    if f.xl_info.text is None:
        return None, unknown(f.xl_info.why or "`xl info` did not answer")
    value = xl_info_field(f.xl_info.text, key)
    if value is None:
        return None, unknown(f"`xl info` has no {key} line")
    return value, None


def xen_iommu(f: DoctorFacts) -> Verdict:
    caps, none = _xl_field(f, "virt_caps")
    if caps is None:
        assert none is not None
        return none
    if {"hvm_directio", "pv_directio"} & set(caps.split()):
        return passed(f"virt_caps: {caps}")
    return failed(f"virt_caps: {caps} — no hvm_directio/pv_directio: Xen runs without an "
                  "IOMMU, so it cannot pass devices through", FIRMWARE_FIX)


def xen_cmdline_iommu(f: DoctorFacts) -> Verdict:
    line, none = _xl_field(f, "xen_commandline")
    if line is None:
        assert none is not None
        return none
    opts = xen_iommu_options(line)
    shown = f"iommu={','.join(opts)}" if opts else "no iommu= option (Xen's default: on)"
    if any(o in IOMMU_OFF for o in opts):
        return failed(f"xen_commandline: {shown} turns the IOMMU off",
                      "remove iommu=0/off from GRUB_CMDLINE_XEN in /etc/default/grub, "
                      "update-grub, reboot")
    if any(o in ("no-intremap", "intremap=0", "intremap=off", "intremap=false") for o in opts):
        return warned(f"xen_commandline: {shown} turns interrupt remapping off",
                      "drop no-intremap: without it a guest's device can inject interrupts")
    return passed(f"xen_commandline: {shown}")


def _xen_line(f: DoctorFacts, on: tuple[str, ...], off: tuple[str, ...]) -> bool | None:
    return said(f.xl_dmesg.text, on, off)


def _ring(out: Output) -> Verdict:
    return unknown(out.why) if out.text is None else unknown(RING_GONE)


IO_VIRT_ON, IO_VIRT_OFF = ("I/O virtualisation enabled",), ("I/O virtualisation disabled",)


def io_virtualisation(f: DoctorFacts) -> Verdict:
    on, off = IO_VIRT_ON, IO_VIRT_OFF
    state = _xen_line(f, on, off)
    line = evidence_line(f.xl_dmesg.text, *on, *off)
    if state is None:
        return _ring(f.xl_dmesg)
    if state:
        return passed(f"xl dmesg: {line}")
    return failed(f"xl dmesg: {line}", FIRMWARE_FIX)


def _vtd_feature(f: DoctorFacts, feature: str, why: str, fix: str,
                 generic: tuple[str, str] | None = None) -> Verdict:
    """A VT-d summary line ("Intel VT-d <feature> enabled." / "not enabled."), or Xen's
    vendor-neutral line where it prints one (`generic`: its on and off texts)."""
    on = (f"Intel VT-d {feature} enabled.",) + ((generic[0],) if generic else ())
    off = (f"Intel VT-d {feature} not enabled.",) + ((generic[1],) if generic else ())
    state = _xen_line(f, on, off)
    line = evidence_line(f.xl_dmesg.text, *on, *off)
    if state is None and _xen_line(f, IO_VIRT_ON, IO_VIRT_OFF) is False:
        return unknown(f"xl dmesg: I/O virtualisation disabled — without an IOMMU Xen prints no "
                       f"{feature.lower()} line (see xen-iommu)", FIRMWARE_FIX)
    if state is None:
        if f.xl_dmesg.text is not None and "AMD-Vi" in f.xl_dmesg.text and generic is None:
            return unknown(f"AMD-Vi: Xen prints the {feature.lower()} state only for VT-d")
        return _ring(f.xl_dmesg)
    if state:
        return passed(f"xl dmesg: {line}")
    return warned(f"xl dmesg: {line} — {why}", fix)


def interrupt_remapping_xen(f: DoctorFacts) -> Verdict:
    return _vtd_feature(
        f, "Interrupt Remapping", "a guest's device can inject interrupts into the host",
        "enable interrupt remapping in the firmware (VT-d / AMD-Vi with IR, x2APIC) and keep "
        "no-intremap off Xen's command line",
        ("Interrupt remapping enabled", "Interrupt remapping disabled"))


def queued_invalidation(f: DoctorFacts) -> Verdict:
    return _vtd_feature(
        f, "Queued Invalidation", "Xen then also keeps interrupt remapping off",
        "use firmware/hardware with queued invalidation; do not pass iommu=no-qinval")


def snoop_control(f: DoctorFacts) -> Verdict:
    return _vtd_feature(
        f, "Snoop Control", "the IOMMU cannot force snooped DMA (QEMU's has none)",
        "nothing to change for most devices; guests keep their own cache attributes for DMA")


def pciback(f: DoctorFacts) -> Verdict:
    if "pciback" in f.drivers:
        how = "built in" if PCIBACK in f.builtin else "module loaded"
        return passed(f"/sys/bus/pci/drivers/pciback exists ({how})")
    if f.modules is None:
        return unknown("pciback is not loaded, and the kernel's module index "
                       "(lib/modules/<release>/modules.dep) cannot be read",
                       "modprobe xen-pciback")
    if PCIBACK in f.modules:
        return warned("xen-pciback is a module and not loaded: `xl pci-assignable-add` says "
                      "\"Looks like pciback driver is not loaded\"",
                      "modprobe xen-pciback (add xen-pciback to /etc/modules to load it at "
                      "boot); `pcipass assignable add` loads it itself")
    return failed("the kernel has no xen-pciback (not in modules.dep or modules.builtin)",
                  "boot a dom0 kernel built with CONFIG_XEN_PCIDEV_BACKEND (Debian's is)")


def dom0_mem(f: DoctorFacts) -> Verdict:
    line, none = _xl_field(f, "xen_commandline")
    if line is None:
        assert none is not None
        return none
    given = options(line, "dom0_mem")
    if given:
        return passed(f"xen_commandline: dom0_mem={given[-1]}")
    return warned("xen_commandline has no dom0_mem=: dom0 takes the memory below 4 GiB, and "
                  "a PV guest with a PCI device then fails with \"Failed to get contiguous "
                  "memory for DMA from Xen\" (swiotlb)",
                  "add dom0_mem=<size>,max:<size> to GRUB_CMDLINE_XEN in /etc/default/grub "
                  "(and autoballoon=\"off\" in /etc/xen/xl.conf), update-grub, reboot")


#: The bounce buffer a PV guest with a PCI device asks Xen for, in MiB (Linux's default
#: swiotlb size, IO_TLB_DEFAULT_SIZE; swiotlb=N slabs of 2 KiB changes it).
SWIOTLB_MIB = 64


def xen_free_memory(f: DoctorFacts) -> Verdict:
    free, none = _xl_field(f, "free_memory")
    if free is None:
        assert none is not None
        return none
    if not free.isdigit():
        return unknown(f"`xl info` free_memory is {free!r}, not a number of MiB")
    if int(free) >= SWIOTLB_MIB:
        return passed(f"free_memory: {free} MiB (above and below 4 GiB: see xen-low-memory)")
    return warned(f"free_memory: {free} MiB, less than the {SWIOTLB_MIB} MiB bounce buffer "
                  "(swiotlb) a PV guest with a PCI device exchanges for memory below 4 GiB: "
                  "its pcifront fails with \"Could not setup SWIOTLB!\"",
                  "free Xen memory before starting the guest (destroy or shrink a domain: "
                  "`xl mem-set`); set dom0_mem=<size>,max:<size> in GRUB_CMDLINE_XEN so "
                  "dom0 leaves memory free; or give the guest extra=\"swiotlb=8192\" (16 MiB)")


#: The bounce buffer Linux 6.1's pcifront sets up in a PV guest (MiB):
#: `pcifront_connect_and_init_dma` → `pci_xen_swiotlb_init_late` →
#: `swiotlb_init_late(swiotlb_size_or_default(), GFP_KERNEL, xen_swiotlb_fixup)`
#: (kernel/dma/swiotlb.c): the guest's `__get_free_pages` gives at most
#: order MAX_ORDER-1 (4 MiB), and `xen_swiotlb_fixup` exchanges it 256 KiB at a time
#: (`xen_create_contiguous_region`, XENMEM_exchange with up to MAX_DMA_BITS = 32 address bits).
SWIOTLB_LATE_MIB = 4
#: When the exchange fails, swiotlb_init_late halves the buffer and retries; 2 MiB is the
#: last size it tries (its loop needs more than IO_TLB_MIN_SLABS, 1 MiB), then pcifront says
#: "Could not setup SWIOTLB!".
SWIOTLB_MIN_MIB = 2
#: (Linux 6.1.192 source, Debian's linux-source-6.1; the lab's guest runs 6.1.0-50. The lab
#: starved of memory below 4 GiB: labs/evidence/swiotlb/README.md, low-memory.txt.)
MIB, PAGE = 1 << 20, 4096
LOW_FIX = ("free memory below 4 GiB before starting the guest: set dom0_mem=<size>,max:<size> "
           "in GRUB_CMDLINE_XEN (dom0 otherwise takes the memory below 4 GiB), destroy or "
           "shrink a domain (`xl mem-set`; Xen hands out its highest free pages first, so "
           "what dom0 gives back may lie above 4 GiB), start PCI guests soon after boot; or use "
           "an HVM/PVH guest, which needs no bounce buffer from Xen")


def xen_low_memory(f: DoctorFacts) -> Verdict:
    low = f.xen_free_below_4gib
    if low.value is None:
        return unknown(low.why, low.fix)
    mib = low.value / MIB
    said = (f"xc_availheap (XEN_SYSCTL_availheap, 32 address bits): {mib:.1f} MiB "
            f"({low.value // PAGE} pages of 4 KiB) free below 4 GiB")
    if mib < SWIOTLB_MIN_MIB:
        return failed(f"{said}, less than the {SWIOTLB_MIN_MIB} MiB at least that a PV guest "
                      "with a PCI device exchanges for its bounce buffer (swiotlb): its "
                      "pcifront fails with \"Could not setup SWIOTLB!\"", LOW_FIX)
    if mib < SWIOTLB_MIB:
        fits = (f"a {SWIOTLB_LATE_MIB} MiB one as Linux 6.1's pcifront sets up"
                if mib >= SWIOTLB_LATE_MIB else f"only a {SWIOTLB_MIN_MIB} MiB one")
        return warned(f"{said}: room for {fits}, not for the {SWIOTLB_MIB} MiB a PV guest "
                      "sets up at boot (with more than 4 GiB of memory, or iommu=soft); "
                      "each guest needs its own, in 256 KiB extents", LOW_FIX)
    return passed(f"{said} (in total: Xen does not say whether it lies in the 256 KiB "
                  "extents a bounce buffer is exchanged for)")


HIDE_WORDS = ("xen-pciback.hide=", "xen_pciback.hide=", "pciback.hide=")


def grub_hide(f: DoctorFacts) -> Verdict:
    if not f.grub_files:
        return unknown("no /etc/default/grub on this host (another boot loader?)")
    replace = {v.name: v for v in f.grub if v.name.startswith("GRUB_CMDLINE_LINUX_XEN_REPLACE")}
    wrong = []
    for v in f.grub:
        if not any(w in v.value for w in HIDE_WORDS):
            continue
        if v.name in ("GRUB_CMDLINE_XEN", "GRUB_CMDLINE_XEN_DEFAULT"):
            wrong.append(f"{v.file}:{v.line} puts xen-pciback.hide in {v.name}, which GRUB "
                         "hands to the hypervisor, not to dom0's kernel")
        elif v.name in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT") and \
                replace.get(f"GRUB_CMDLINE_LINUX_XEN_REPLACE{v.name[18:]}"):
            r = replace[f"GRUB_CMDLINE_LINUX_XEN_REPLACE{v.name[18:]}"]
            if not any(w in r.value for w in HIDE_WORDS):
                wrong.append(f"{v.file}:{v.line} {v.name} has xen-pciback.hide, but "
                             f"{r.file}:{r.line} {r.name} replaces it in Xen entries")
    if wrong:
        return warned("; ".join(wrong),
                      "put xen-pciback.hide=(BDF)... in GRUB_CMDLINE_LINUX (or in "
                      "GRUB_CMDLINE_LINUX_XEN_REPLACE when that is set), then update-grub")
    read = ", ".join(f"/{p}" for p in f.grub_files)
    return passed(f"no xen-pciback.hide in the wrong GRUB variable ({read})")


def permissive(f: DoctorFacts) -> Verdict:
    if "pciback" not in f.drivers:
        return passed("pciback is not loaded: no device is permissive")
    every = f.params.get(f"{PCIBACK}.permissive")
    if every in ("Y", "1"):
        return warned("xen_pciback.permissive=Y: every device on pciback lets its PV guest "
                      "write any config-space field",
                      "set it back (echo N > /sys/module/xen_pciback/parameters/permissive) "
                      "unless every guest is trusted")
    if f.permissive:
        return warned(f"pciback's permissive list: {', '.join(f.permissive)} — their PV guests "
                      "may write any config-space field (xl pci_permissive / permissive=1)",
                      "give permissive only to trusted guests; it ends when the device leaves "
                      "pciback")
    return passed("pciback's permissive list is empty")


# -- Linux / KVM ---------------------------------------------------------------------
def iommu_sysfs(f: DoctorFacts) -> Verdict:
    if f.class_iommu:
        return passed(f"/sys/class/iommu: {', '.join(f.class_iommu)}")
    return failed("/sys/class/iommu is empty: the kernel runs without an IOMMU",
                  "enable VT-d / AMD-Vi in the firmware setup; on Intel add intel_iommu=on "
                  "to GRUB_CMDLINE_LINUX, update-grub, reboot")


def iommu_groups(f: DoctorFacts) -> Verdict:
    if f.iommu_groups:
        return passed(f"/sys/kernel/iommu_groups: {f.iommu_groups} groups")
    return failed("/sys/kernel/iommu_groups is empty: vfio has nothing to assign (libvirt: "
                  "\"VFIO device assignment is currently not supported on this system\")",
                  "turn the IOMMU on (see iommu-sysfs)")


KERNEL_IOMMU_OFF = ("intel_iommu=off", "amd_iommu=off", "iommu=off")


def kernel_cmdline(f: DoctorFacts) -> Verdict:
    if f.cmdline is None:
        return unknown("/proc/cmdline cannot be read")
    words = [w for w in f.cmdline.split() if w.split("=", 1)[0] in
             ("intel_iommu", "amd_iommu", "iommu")]
    off = [w for w in words if w in KERNEL_IOMMU_OFF]
    if off:
        return failed(f"/proc/cmdline: {' '.join(off)} turns the IOMMU off",
                      "remove it from GRUB_CMDLINE_LINUX in /etc/default/grub, update-grub, "
                      "reboot")
    if words:
        return passed(f"/proc/cmdline: {' '.join(words)}")
    if f.class_iommu:
        return passed("/proc/cmdline has no IOMMU option (the kernel's default is on)")
    return warned("/proc/cmdline has no IOMMU option, and no IOMMU is on",
                  "on Intel add intel_iommu=on to GRUB_CMDLINE_LINUX, update-grub, reboot")


IR_ON = ("DMAR-IR: Enabled IRQ remapping", "AMD-Vi: Interrupt remapping enabled")
IR_OFF = ("DMAR-IR: Failed to enable irq remapping", "DMAR-IR: Not enabling interrupt remapping",
          "AMD-Vi: Disabling interrupt remapping")


def interrupt_remapping_kvm(f: DoctorFacts) -> Verdict:
    log = f.kernel_log
    if log.text is None:
        return unknown(log.why, "run as root (reading the kernel log needs it)")
    state = said(log.text, IR_ON, IR_OFF)
    line = evidence_line(log.text, *IR_ON, *IR_OFF)
    src = "kernel log" + (f" ({log.why})" if log.why else "")
    if state is None and not f.class_iommu:
        return unknown(f"the {src} has no interrupt remapping line, and the kernel runs without "
                       "an IOMMU (see iommu-sysfs)", "turn the IOMMU on (see iommu-sysfs)")
    if state is None:
        return unknown(f"the {src} no longer holds the IOMMU's boot lines")
    if state:
        return passed(f"{src}: {line}")
    unsafe = f.params.get("vfio_iommu_type1.allow_unsafe_interrupts") in ("Y", "1")
    if unsafe:
        return warned(f"{src}: {line}; vfio_iommu_type1.allow_unsafe_interrupts=Y lets vfio "
                      "assign anyway, and a guest's device can inject interrupts",
                      "enable interrupt remapping in the firmware (x2APIC, VT-d IR)")
    return failed(f"{src}: {line} — vfio refuses to attach groups (\"No interrupt remapping "
                  "support\", EPERM)", "enable interrupt remapping in the firmware; "
                  "vfio_iommu_type1.allow_unsafe_interrupts=1 overrides it, insecurely")


def vfio_pci(f: DoctorFacts) -> Verdict:
    if "vfio-pci" in f.drivers:
        return passed("/sys/bus/pci/drivers/vfio-pci exists (loaded)")
    if f.modules is None:
        return unknown("vfio-pci is not loaded, and the kernel's module index cannot be read")
    if VFIO_PCI in f.modules:
        return passed("vfio-pci is a module of this kernel (loaded on first use)")
    return failed("the kernel has no vfio-pci (not in modules.dep or modules.builtin)",
                  "boot a kernel built with CONFIG_VFIO_PCI")


def dev_vfio(f: DoctorFacts) -> Verdict:
    if f.dev_vfio:
        return passed("/dev/vfio/vfio exists")
    if "vfio" not in f.loaded:
        return warned("/dev/vfio/vfio is absent: the vfio module is not loaded yet",
                      "modprobe vfio-pci (creates it); `pcipass assignable add` loads it")
    return failed("vfio is loaded but /dev/vfio/vfio is absent",
                  "check devtmpfs and udev: the misc device vfio (10:196) should appear")
