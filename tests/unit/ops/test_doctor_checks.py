"""`doctor`'s checks on plain facts: the texts are the labs' own (kernel lab dmesg, Xen lab
`xl info` / `xl dmesg`), so each verdict is the one a real host of that kind gets."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pcipass.address import PciAddress
from pcipass.model.device import Device, HostModel
from pcipass.ops.doctor import devices
from pcipass.ops.doctor import host_checks as h
from pcipass.ops.doctor.facts import DoctorFacts, Output
from pcipass.ops.doctor.logs import GrubVar, grub_vars, hidden_bdfs, modprobe_options, said
from pcipass.ops.doctor.table import CHECKS, failed_any, run_checks
from pcipass.ops.doctor.verdict import Status

EMPTY = HostModel(devices={}, groups={}, iommu_enabled=False)

# kernel lab, 6.1.0-50 with `-device intel-iommu,intremap=on`
# (labs/evidence/doctor/kernel-intel.txt)
KERNEL_LOG = """\
[    0.000000] DMAR: IOMMU enabled
[    0.024000] DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0
[    0.044000] DMAR-IR: Enabled IRQ remapping in xapic mode
[    4.990801] DMAR: dmar0: Using Queued invalidation
"""
# xen lab, Xen 4.17.5 (labs/evidence/doctor/xen-intel.txt, xen-none.txt; XL_INFO_OFF's
# `iommu=0` command line is this test's own)
XL_INFO_ON = """\
virt_caps              : pv hvm hvm_directio pv_directio shadow gnttab-v1 gnttab-v2
xen_commandline        : dom0_mem=1024M,max:1024M dom0_max_vcpus=2 iommu=verbose conring_size=1m
"""
XL_INFO_OFF = """\
virt_caps              : pv hvm shadow gnttab-v1 gnttab-v2
xen_commandline        : dom0_max_vcpus=2 iommu=0
"""
XL_DMESG_VTD = """\
(XEN) Intel VT-d iommu 0 supported page sizes: 4kB, 2MB, 1GB
(XEN) Intel VT-d Snoop Control not enabled.
(XEN) Intel VT-d Dom0 DMA Passthrough not enabled.
(XEN) Intel VT-d Queued Invalidation enabled.
(XEN) Intel VT-d Interrupt Remapping enabled.
(XEN) I/O virtualisation enabled
(XEN)  - Dom0 mode: Relaxed
(XEN) Interrupt remapping enabled
"""


def xen(**kw: object) -> DoctorFacts:
    base = DoctorFacts(kind="xen", model=EMPTY, xen_capabilities="control_d",
                       xl_info=Output(XL_INFO_ON), xl_dmesg=Output(XL_DMESG_VTD),
                       xenstored=Output("Domain-0"), drivers=frozenset({"pciback"}),
                       modules=frozenset({"xen_pciback"}))
    return replace(base, **kw)  # type: ignore[arg-type]


def kvm(**kw: object) -> DoctorFacts:
    base = DoctorFacts(kind="kvm", model=EMPTY, class_iommu=("dmar0",), iommu_groups=11,
                       cmdline="root=/dev/vda intel_iommu=on iommu=pt",
                       kernel_log=Output(KERNEL_LOG), modules=frozenset({"vfio_pci", "vfio"}))
    return replace(base, **kw)  # type: ignore[arg-type]


def status(rows: list[object], check: str) -> Status:
    return next(r.status for r in rows if r.check == check)  # type: ignore[attr-defined]


def test_xen_lab_with_vtd_passes_every_iommu_check() -> None:
    rows = run_checks(xen())
    assert [r.check for r in rows] == [c.id for c in CHECKS if c.kind == "xen"]
    got = {r.check: r.status for r in rows}
    assert got["xen-iommu"] == got["io-virtualisation"] == got["interrupt-remapping"] == \
        got["queued-invalidation"] == got["dom0-mem"] == Status.PASS
    assert got["snoop-control"] == Status.WARN  # QEMU's VT-d has no snoop control
    assert not failed_any(rows)
    assert "I/O virtualisation enabled" in next(r.evidence for r in rows
                                                 if r.check == "io-virtualisation")


def test_xen_without_iommu_fails_with_the_fix() -> None:
    rows = run_checks(xen(xl_info=Output(XL_INFO_OFF), xl_dmesg=Output(
        "(XEN) I/O virtualisation disabled\n")))
    assert status(rows, "xen-iommu") == status(rows, "xen-cmdline-iommu") == Status.FAIL
    assert status(rows, "io-virtualisation") == Status.FAIL
    assert status(rows, "dom0-mem") == Status.WARN
    assert failed_any(rows)
    row = next(r for r in rows if r.check == "xen-iommu")
    assert "pv hvm shadow gnttab-v1 gnttab-v2" in row.evidence and "firmware" in row.fix
    for check in ("interrupt-remapping", "queued-invalidation", "snoop-control"):
        row = next(r for r in rows if r.check == check)
        assert row.status == Status.UNKNOWN and "without an IOMMU" in row.evidence


def test_a_rotated_ring_is_unknown_never_off() -> None:
    rows = run_checks(xen(xl_dmesg=Output("(XEN) HVM d1v0 save: CPU\n")))
    for check in ("io-virtualisation", "interrupt-remapping", "queued-invalidation"):
        row = next(r for r in rows if r.check == check)
        assert row.status == Status.UNKNOWN and "virt_caps" in row.evidence


def test_a_tree_cannot_be_asked_so_xen_checks_are_unknown_with_the_reason() -> None:
    refused = Output(None, "`xl info` runs only on the host itself, not on a tree", True)
    rows = run_checks(xen(xl_info=refused, xl_dmesg=refused, xenstored=refused))
    for check in ("toolstack", "xen-iommu", "dom0-mem", "io-virtualisation"):
        row = next(r for r in rows if r.check == check)
        assert row.status == Status.UNKNOWN and "not on a tree" in row.evidence


def test_a_domu_gets_only_the_dom0_check_and_fails_it() -> None:
    rows = run_checks(xen(kind="domu", xen_capabilities=""))
    assert [(r.check, r.status) for r in rows] == [("dom0", Status.FAIL)]


def test_amd_vi_queued_invalidation_is_unknown_not_warned() -> None:
    text = "(XEN) AMD-Vi: IOMMU 0 Enabled.\n(XEN) I/O virtualisation enabled\n" \
           "(XEN) Interrupt remapping enabled\n"
    facts = xen(xl_dmesg=Output(text))
    assert h.queued_invalidation(facts).status == Status.UNKNOWN
    assert h.interrupt_remapping_xen(facts).status == Status.PASS


def test_pciback_loaded_module_or_absent() -> None:
    assert h.pciback(xen()).status == Status.PASS
    assert h.pciback(xen(drivers=frozenset())).status == Status.WARN
    assert h.pciback(xen(drivers=frozenset(), modules=frozenset())).status == Status.FAIL
    assert h.pciback(xen(drivers=frozenset(), modules=None)).status == Status.UNKNOWN


def test_grub_hide_in_the_hypervisor_line_is_flagged_with_its_place() -> None:
    text = 'GRUB_CMDLINE_XEN_DEFAULT="dom0_mem=2G xen-pciback.hide=(0000:03:00.0)"\n'
    facts = xen(grub=tuple(grub_vars("/etc/default/grub.d/xen.cfg", text)),
                grub_files=("etc/default/grub.d/xen.cfg",))
    v = h.grub_hide(facts)
    assert v.status == Status.WARN
    assert "/etc/default/grub.d/xen.cfg:1" in v.evidence and "GRUB_CMDLINE_LINUX" in v.fix
    right = 'GRUB_CMDLINE_LINUX="xen-pciback.hide=(0000:03:00.0)"\n'
    assert h.grub_hide(xen(grub=tuple(grub_vars("/etc/default/grub", right)),
                           grub_files=("etc/default/grub",))).status == Status.PASS
    replaced = right + 'GRUB_CMDLINE_LINUX_XEN_REPLACE="quiet"\n'
    assert h.grub_hide(xen(grub=tuple(grub_vars("/etc/default/grub", replaced)),
                           grub_files=("etc/default/grub",))).status == Status.WARN
    assert h.grub_hide(xen()).status == Status.UNKNOWN


def test_permissive_devices_are_a_security_warning() -> None:
    assert h.permissive(xen(permissive=("0000:03:00.0",))).status == Status.WARN
    assert h.permissive(xen(params={"xen_pciback.permissive": "Y"})).status == Status.WARN
    assert h.permissive(xen()).status == Status.PASS


def test_kernel_lab_passes_and_no_iommu_fails() -> None:
    rows = run_checks(kvm())
    assert {r.check: r.status for r in rows} == {
        "iommu-sysfs": Status.PASS, "iommu-groups": Status.PASS, "kernel-cmdline": Status.PASS,
        "kernel-interrupt-remapping": Status.PASS, "vfio-pci": Status.PASS,
        "dev-vfio": Status.WARN}
    off = run_checks(kvm(class_iommu=(), iommu_groups=0, cmdline="intel_iommu=off",
                         kernel_log=Output("[0.0] DMAR: IOMMU disabled\n")))
    assert status(off, "iommu-sysfs") == status(off, "iommu-groups") == \
        status(off, "kernel-cmdline") == Status.FAIL
    assert status(off, "kernel-interrupt-remapping") == Status.UNKNOWN


def test_interrupt_remapping_off_fails_unless_unsafe_interrupts_allowed() -> None:
    log = Output("[0.04] DMAR-IR: Not enabling interrupt remapping\n")
    assert h.interrupt_remapping_kvm(kvm(kernel_log=log)).status == Status.FAIL
    unsafe = kvm(kernel_log=log, params={"vfio_iommu_type1.allow_unsafe_interrupts": "Y"})
    assert h.interrupt_remapping_kvm(unsafe).status == Status.WARN
    assert h.interrupt_remapping_kvm(kvm(kernel_log=Output(None, "dmesg: no"))).status == \
        Status.UNKNOWN


def test_dev_vfio_before_and_after_vfio_loads() -> None:
    assert h.dev_vfio(kvm()).status == Status.WARN
    assert h.dev_vfio(kvm(loaded=frozenset({"vfio"}), dev_vfio=True)).status == Status.PASS
    assert h.dev_vfio(kvm(loaded=frozenset({"vfio"}))).status == Status.FAIL


@pytest.mark.parametrize(("text", "want"), [
    ("a\nI/O virtualisation enabled\n", True),
    ("I/O virtualisation enabled\nI/O virtualisation disabled\n", False),
    ("nothing\n", None),
])
def test_said_takes_the_last_line(text: str, want: bool | None) -> None:
    assert said(text, ("I/O virtualisation enabled",), ("I/O virtualisation disabled",)) == want


def test_grub_modprobe_and_hide_parsing() -> None:
    assert grub_vars("f", 'export GRUB_CMDLINE_XEN="a b" # x\nother=1\n') == \
        [GrubVar("f", 1, "GRUB_CMDLINE_XEN", "a b")]
    assert modprobe_options("options xen_pciback hide=(03:00.0) # c\n", "xen-pciback") == \
        ["hide=(03:00.0)"]
    assert hidden_bdfs("(0000:03:00.0)(02:00.0)") == ["0000:03:00.0", "0000:02:00.0"]


def test_hidden_at_boot_yet_on_a_host_driver_is_a_warning() -> None:
    nic = Device(PciAddress.parse("0000:03:00.0"), 0x8086, 0x10C9, driver="igb")
    hidden = xen(cmdline="root=/dev/vda xen-pciback.hide=(03:00.0)")
    v = devices.boot(hidden, nic)
    assert v.status == Status.WARN and "xen-pciback.hide= on /proc/cmdline" in v.evidence
    assert devices.boot(hidden, replace(nic, driver="pciback")).status == Status.PASS
    by_param = xen(params={"xen_pciback.hide": "(0000:03:00.0)"})
    assert "parameters/hide" in devices.boot(by_param, replace(nic, driver=None)).evidence
    ids = kvm(modprobe={"/etc/modprobe.d/vfio.conf": "options vfio-pci ids=8086:10c9\n"})
    assert "vfio.conf" in devices.boot(ids, nic).evidence
    assert devices.boot(kvm(), nic).status == Status.PASS
