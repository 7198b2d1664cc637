"""The labs booted with another IOMMU (`labs/run-variants`; on the simulated host the sim
profile of that boot): `doctor`'s verdict and fix for Xen without an IOMMU, Xen on QEMU's
AMD IOMMU (AMD-Vi) and the kernel lab without VT-d; without an IOMMU, `attach` and
`assignable add` refused by pcipass before xl is called, next to what xl itself does."""

from __future__ import annotations

from typing import Any

import pytest
from lab_layout import E1000E, IGB_PF, dev

from helpers.cli import pcipass
from pcipass.host.base import Host
from pcipass.ops.doctor.host_checks import FIRMWARE_FIX

XEN = pytest.mark.targets("sim", "xen-lab")
KERNEL = pytest.mark.targets("sim", "kernel-lab")
VFIO_REFUSAL = ("pcipass: error: vfio-pci needs an IOMMU and none is enabled on this host (no "
                "IOMMU groups) — enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on "
                "or amd_iommu=on")
NO_IOMMU = pytest.mark.lab_iommu("none")
AMD = pytest.mark.lab_iommu("amd")

NO_DIRECTIO = ("virt_caps: pv hvm shadow gnttab-v1 gnttab-v2 — no hvm_directio/pv_directio: "
               "Xen runs without an IOMMU, so it cannot pass devices through")
XEN_REFUSAL = ("pcipass: error: Xen reports no IOMMU (`xl info` virt_caps lacks directio): "
               f"passthrough is impossible — {FIRMWARE_FIX}")
GUEST = ('name = "{name}"\ntype = "pv"\nkernel = "/var/lib/lab/vmlinuz"\n'
         'ramdisk = "/var/lib/lab/domu-initrd.img"\nextra = "console=hvc0 quiet labsecs=600"\n'
         'memory = 256\nvcpus = 1\non_poweroff = "destroy"\non_crash = "destroy"\n{extra}')


def doctor(host: Host, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    """doctor --json: its exit code and its host rows by check name."""
    r = pcipass("doctor", "--json", *args, host=host)
    assert r.err == "", r.err
    return r.code, {c["check"]: c for c in r.json()["checks"] if c["subject"] == "host"}


def verdict(row: dict[str, Any]) -> tuple[str, str]:
    return row["status"], row["evidence"]


def xl(host: Host, *argv: str) -> tuple[int, str, str]:
    r = host.run(["xl", *argv], timeout=300)
    return r.returncode, r.stdout, r.stderr


# -- Xen, LAB_IOMMU=none ---------------------------------------------------------------
@XEN
@NO_IOMMU
def test_xen_without_an_iommu_fails_with_the_fix(host: Host) -> None:
    code, got = doctor(host)
    assert verdict(got["xen-iommu"]) == ("fail", NO_DIRECTIO)
    assert got["xen-iommu"]["fix"] == FIRMWARE_FIX
    assert verdict(got["io-virtualisation"]) == ("fail", "xl dmesg: I/O virtualisation disabled")
    assert got["io-virtualisation"]["fix"] == FIRMWARE_FIX
    for check in ("interrupt-remapping", "queued-invalidation", "snoop-control"):
        status, evidence = verdict(got[check])
        assert status == "unknown" and evidence.startswith(
            "xl dmesg: I/O virtualisation disabled — without an IOMMU Xen prints no "), got[check]
    for check in ("dom0", "toolstack", "xen-cmdline-iommu", "dom0-mem"):
        assert got[check]["status"] == "pass", got[check]
    assert code == 1


@XEN
@NO_IOMMU
def test_xl_assignable_add_without_an_iommu_fails_but_keeps_the_device_on_pciback(
        host: Host) -> None:
    """What xl itself does (libxl_pci.c:848): it binds the device to pciback, then fails to
    quarantine it and exits 1, leaving it bound and listed; pcipass refuses before xl."""
    host.modprobe("xen_pciback")
    r = pcipass("assignable", "add", IGB_PF, host=host)
    assert (r.code, r.err.splitlines()[0]) == (1, XEN_REFUSAL)
    assert host.link_name(dev(IGB_PF, "driver")) == "igb"  # pcipass changed nothing
    code, _, err = xl(host, "pci-assignable-add", E1000E)
    assert code == 1
    assert f"failed to quarantine {E1000E}" in err
    assert host.link_name(dev(E1000E, "driver")) == "pciback"
    assert xl(host, "pci-assignable-list")[1].split() == [E1000E]


@XEN
@NO_IOMMU
def test_attach_without_an_iommu_is_refused_before_xl(host: Host) -> None:
    """A PV guest asking for passthrough cannot even be created; one without it runs, and
    `pcipass attach` to it is refused by pcipass itself: xl's pci backend for the guest is
    never created and the guest holds nothing."""
    host.write_state_file("tmp/np.cfg", GUEST.format(name="np", extra='passthrough = "enabled"\n'))
    code, _, err = xl(host, "create", "/tmp/np.cfg")
    assert code != 0 and "passthrough not supported on this platform" in err
    host.write_state_file("tmp/pt.cfg", GUEST.format(name="pt", extra=""))
    code, _, err = xl(host, "create", "/tmp/pt.cfg")
    assert code == 0, err
    domid = next(line.split()[1] for line in xl(host, "list")[1].splitlines()[1:]
                 if line.split()[0] == "pt")
    host.modprobe("xen_pciback")
    xl(host, "pci-assignable-add", E1000E)  # leaves it on pciback, listed (see above)
    r = pcipass("attach", "pt", E1000E, host=host)
    assert (r.code, r.err.splitlines()[0]) == (1, XEN_REFUSAL)
    assert xl(host, "pci-list", "pt")[1].splitlines()[1:] == []
    backend = host.run(["xenstore-ls", f"/local/domain/0/backend/pci/{domid}"])
    assert backend.returncode != 0 and backend.stdout == ""  # xl never wrote a pci backend


# -- Xen, LAB_IOMMU=amd ------------------------------------------------------------------
@XEN
@AMD
def test_xen_on_amd_vi_passes(host: Host) -> None:
    code, got = doctor(host)
    assert verdict(got["xen-iommu"]) == (
        "pass", "virt_caps: pv hvm hvm_directio pv_directio shadow gnttab-v1 gnttab-v2")
    assert verdict(got["io-virtualisation"]) == ("pass", "xl dmesg: I/O virtualisation enabled")
    assert verdict(got["interrupt-remapping"]) == ("pass", "xl dmesg: Interrupt remapping enabled")
    for check in ("queued-invalidation", "snoop-control"):
        status, evidence = verdict(got[check])
        assert status == "unknown" and evidence.startswith("AMD-Vi: Xen prints the "), got[check]
    assert code == 0
    ring = xl(host, "dmesg")[1]
    assert "(XEN) AMD-Vi: IOMMU 0 Enabled." in ring and "VT-d" not in ring


@XEN
@AMD
def test_amd_vi_quarantines_an_assignable_device(host: Host) -> None:
    """The pass is real: Xen assigns the device to its quarantine (DOMID_IO) through AMD-Vi,
    which it cannot do without an IOMMU (test_xl_assignable_add_without_an_iommu_...)."""
    functions = host.listdir("sys/bus/pci/devices")
    amd_iommu = "0000:00:01.0"  # QEMU's amd-iommu is a PCI function: 1022:1419, class 0806
    assert amd_iommu in functions
    assert (host.try_read_text(dev(amd_iommu, "vendor")), host.try_read_text(
        dev(amd_iommu, "device")), host.try_read_text(dev(amd_iommu, "class"))) == \
        ("0x1022", "0x1419", "0x080600")
    r = pcipass("assignable", "add", E1000E, host=host)
    assert r.code == 0, r.err
    assert host.link_name(dev(E1000E, "driver")) == "pciback"
    assert E1000E in xl(host, "pci-assignable-list")[1].split()


# -- kernel lab, LAB_IOMMU=none ------------------------------------------------------------
@KERNEL
@NO_IOMMU
def test_kernel_without_vtd_fails_the_iommu_rows_with_their_fixes(host: Host) -> None:
    code, got = doctor(host)
    assert verdict(got["iommu-sysfs"]) == (
        "fail", "/sys/class/iommu is empty: the kernel runs without an IOMMU")
    assert "intel_iommu=on" in got["iommu-sysfs"]["fix"]
    assert got["iommu-groups"]["status"] == "fail"
    assert got["iommu-groups"]["fix"] == "turn the IOMMU on (see iommu-sysfs)"
    assert verdict(got["kernel-cmdline"]) == (
        "warn", "/proc/cmdline has no IOMMU option, and no IOMMU is on")
    assert "intel_iommu=on" in got["kernel-cmdline"]["fix"]
    assert verdict(got["kernel-interrupt-remapping"]) == (
        "unknown", "the kernel log has no interrupt remapping line, and the kernel runs without "
        "an IOMMU (see iommu-sysfs)")
    log = host.run(["dmesg"]).stdout  # no DMAR table: the kernel prints no DMAR line at all
    assert "DMAR" not in log and "iommu: Default domain type: Translated" in log
    assert got["vfio-pci"]["status"] == "pass"  # the module is there; the IOMMU is not
    assert code == 1


@KERNEL
@NO_IOMMU
def test_vfio_assign_without_an_iommu_is_refused(host: Host) -> None:
    r = pcipass("assignable", "add", "--backend", "vfio", E1000E, host=host)
    assert (r.code, r.err.splitlines()[0]) == (1, VFIO_REFUSAL)
    assert host.link_name(dev(E1000E, "driver")) == "e1000e"
