"""The one table of `doctor`'s checks, and running it over a host's facts.

Each row: its id, the hosts it applies to (``xen`` a dom0, ``kvm`` Linux without Xen,
``device`` each named device), what it reads and how it decides; `pcipass doctor` prints
one row per check (and per device), `docs/json.md` documents the keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pcipass.model.device import Device
from pcipass.ops.doctor import devices as d
from pcipass.ops.doctor import host_checks as h
from pcipass.ops.doctor.facts import DoctorFacts
from pcipass.ops.doctor.verdict import Status, Verdict

HostFn = Callable[[DoctorFacts], Verdict]
DeviceFn = Callable[[DoctorFacts, Device], Verdict]


@dataclass(frozen=True)
class Check:
    id: str
    kind: str
    reads: str
    decides: str
    host: HostFn | None = None
    device: DeviceFn | None = None


CHECKS: tuple[Check, ...] = (
    Check("dom0", "xen", "/proc/xen/capabilities",
          "pass: control_d (dom0); fail: present without it (a Xen guest); unknown: absent "
          "(xenfs not mounted)", host=h.dom0),
    Check("toolstack", "xen", "`xl info`, `xenstore-read /local/domain/0/name`",
          "pass: both answer; fail: either does not", host=h.toolstack),
    Check("xen-iommu", "xen", "`xl info` virt_caps",
          "pass: hvm_directio or pv_directio (Xen's iommu_enabled); fail: neither",
          host=h.xen_iommu),
    Check("xen-cmdline-iommu", "xen", "`xl info` xen_commandline iommu=",
          "fail: iommu=0/off/no/false; warn: no-intremap; pass otherwise",
          host=h.xen_cmdline_iommu),
    Check("io-virtualisation", "xen", "`xl dmesg` \"I/O virtualisation enabled/disabled\"",
          "pass/fail as it says; unknown when the ring no longer holds it",
          host=h.io_virtualisation),
    Check("interrupt-remapping", "xen",
          "`xl dmesg` \"Intel VT-d Interrupt Remapping (not) enabled.\", "
          "\"Interrupt remapping enabled/disabled\"",
          "pass: enabled; warn: not; unknown: not in the ring", host=h.interrupt_remapping_xen),
    Check("queued-invalidation", "xen", "`xl dmesg` \"Intel VT-d Queued Invalidation (not) "
          "enabled.\"", "pass: enabled; warn: not; unknown: not in the ring or AMD-Vi",
          host=h.queued_invalidation),
    Check("snoop-control", "xen", "`xl dmesg` \"Intel VT-d Snoop Control (not) enabled.\"",
          "pass: enabled; warn: not; unknown: not in the ring or AMD-Vi",
          host=h.snoop_control),
    Check("pciback", "xen", "/sys/bus/pci/drivers/pciback, modules.dep, modules.builtin",
          "pass: loaded or built in; warn: a module not loaded; fail: absent",
          host=h.pciback),
    Check("dom0-mem", "xen", "`xl info` xen_commandline dom0_mem=",
          "pass: set; warn: not set (swiotlb failures of PV guests with PCI devices)",
          host=h.dom0_mem),
    Check("xen-free-memory", "xen", "`xl info` free_memory",
          "pass: at least 64 MiB free (a PV guest's swiotlb); warn: less",
          host=h.xen_free_memory),
    Check("xen-low-memory", "xen", "libxenctrl xc_availheap(max_width=32): Xen's free memory "
          "below 4 GiB (XEN_SYSCTL_availheap; labs/evidence/swiotlb/low-memory.txt)",
          "fail: less than 2 MiB (the smallest bounce buffer Linux 6.1 exchanges); warn: less "
          "than 64 MiB (a boot-time swiotlb); pass otherwise; unknown: Xen cannot be asked "
          "(not root, no libxenctrl, --root)", host=h.xen_low_memory),
    Check("grub-hide", "xen", "/etc/default/grub, /etc/default/grub.d/*.cfg",
          "warn: xen-pciback.hide in GRUB_CMDLINE_XEN[_DEFAULT] (the hypervisor's line) or "
          "replaced by GRUB_CMDLINE_LINUX_XEN_REPLACE; unknown: no GRUB defaults",
          host=h.grub_hide),
    Check("permissive", "xen",
          "/sys/bus/pci/drivers/pciback/permissive, /sys/module/xen_pciback/parameters",
          "warn: a device (or every device) is permissive; pass otherwise", host=h.permissive),
    Check("iommu-sysfs", "kvm", "/sys/class/iommu",
          "pass: an IOMMU is registered; fail: empty (in a dom0 Xen owns it: not checked)",
          host=h.iommu_sysfs),
    Check("iommu-groups", "kvm", "/sys/kernel/iommu_groups",
          "pass: groups exist; fail: none", host=h.iommu_groups),
    Check("kernel-cmdline", "kvm", "/proc/cmdline intel_iommu=, amd_iommu=, iommu=",
          "fail: an IOMMU turned off; warn: none given and no IOMMU on; pass otherwise",
          host=h.kernel_cmdline),
    Check("kernel-interrupt-remapping", "kvm",
          "`dmesg` (or the tree's var/log/kern.log) DMAR-IR / AMD-Vi lines, "
          "vfio_iommu_type1.allow_unsafe_interrupts",
          "pass: enabled; fail: disabled (warn with allow_unsafe_interrupts); unknown: "
          "not in the log", host=h.interrupt_remapping_kvm),
    Check("vfio-pci", "kvm", "/sys/bus/pci/drivers/vfio-pci, modules.dep, modules.builtin",
          "pass: loaded or available; fail: absent", host=h.vfio_pci),
    Check("dev-vfio", "kvm", "/dev/vfio/vfio, /sys/module/vfio",
          "pass: exists; warn: vfio not loaded yet; fail: loaded but absent", host=h.dev_vfio),
    Check("device-driver", "device", "the device's driver, interfaces, routes, disks, mounts",
          "the rules `assignable add` refuses (fail) or warns about", device=d.driver),
    Check("device-reset", "device", "reset_method, config space (FLR, PM)",
          "pass: FLR or a reset method; warn: bus reset only, no FLR, unknown", device=d.reset),
    Check("device-group", "device", "/sys/kernel/iommu_groups/N/devices, members' drivers",
          "fail: a member on a host driver (not viable for vfio); in a dom0: warn behind a "
          "PCIe-to-PCI bridge (co-assigned), unknown otherwise (phantom functions unchecked)",
          device=d.group),
    Check("device-sriov", "device", "sriov_numvfs, sriov_totalvfs, physfn",
          "warn: a PF with VFs enabled, a VF whose PF has no driver", device=d.sriov),
    Check("device-boot", "device", "/proc/cmdline xen-pciback.hide=, vfio-pci.ids=, "
          "modprobe.d options", "warn: hidden at boot yet on a host driver", device=d.boot),
    Check("device-domain", "device", "xenstore /libxl/pci/<BDF>/domid",
          "warn: a domain holds it", device=d.domain),
)
BY_ID: dict[str, Check] = {c.id: c for c in CHECKS}


@dataclass(frozen=True)
class Row:
    """One check's answer for the host or one device."""

    check: str
    subject: str
    status: Status
    evidence: str
    fix: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "subject": self.subject, "status": self.status.value,
                "evidence": self.evidence, "fix": self.fix or None}


#: The JSON keys of a row, in order (docs/json.md: doctor).
ROW_KEYS = ("check", "subject", "status", "evidence", "fix")


def host_checks(kind: str) -> list[Check]:
    """The host checks for a host of `kind` (a Xen guest gets only the dom0 check)."""
    if kind == "domu":
        return [BY_ID["dom0"]]
    return [c for c in CHECKS if c.kind == kind]


def run_check(check: Check, facts: DoctorFacts, dev: Device | None = None) -> Row:
    """One row: `check` on the host, or on `dev`."""
    if check.device is not None:
        assert dev is not None, "a device check needs its device"
        v = check.device(facts, dev)
        subject = str(dev.bdf)
    else:
        assert check.host is not None
        v = check.host(facts)
        subject = "host"
    return Row(check.id, subject, v.status, v.evidence, v.fix)


def confirm(check_id: str, facts: DoctorFacts) -> list[Row]:
    """The rows of check `check_id` on this host (a device check: on each named device; a
    check of another kind of host: one unknown row saying so)."""
    check = BY_ID[check_id]
    if check.device is not None:
        return [run_check(check, facts, dev) for dev in facts.devices]
    if check.kind != facts.kind:
        host = {"xen": "a Xen dom0", "kvm": "Linux without Xen"}[check.kind]
        return [Row(check.id, "host", Status.UNKNOWN, f"this host is not {host}", "")]
    return [run_check(check, facts)]


def run_checks(facts: DoctorFacts) -> list[Row]:
    """Every row for the host, then for each named device, in table order."""
    rows = [run_check(c, facts) for c in host_checks(facts.kind)]
    rows += [run_check(c, facts, dev) for dev in facts.devices
             for c in CHECKS if c.kind == "device"]
    return rows


def failed_any(rows: list[Row]) -> bool:
    return any(r.status is Status.FAIL for r in rows)
