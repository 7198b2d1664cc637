"""`pcipass doctor` on the labs: the verdict for each lab's IOMMU (Xen: VT-d through `xl info`
and `xl dmesg`; kernel: emulated VT-d in sysfs and the kernel log), the rows of 02:00.0 and
03:00.0, a group that is not viable, and `--explain` on the swiotlb failure. The labs booted
with another IOMMU (Xen without one or on AMD-Vi, the kernel without VT-d) are in
test_iommu_variants.py."""

from __future__ import annotations

from typing import Any

import pytest
from lab_layout import E1000E, IGB_PF, IGB_TOTALVFS, LPC_GROUP

from helpers.cli import pcipass
from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "kernel-lab", "xen-lab")

SWIOTLB = ("[    1.081937] xen:swiotlb_xen: Warning: only able to allocate 4 MB for software IO "
           "TLB\n[    1.094112] xen:swiotlb_xen: Failed to get contiguous memory for DMA from "
           "Xen!\n You either: don't have the permissions, do not have enough free memory "
           "under 4GB, or the hypervisor memory is too fragmented! (rc:-12)\n")


def doctor(host: Host, *args: str) -> tuple[int, dict[str, Any]]:
    r = pcipass("doctor", "--json", *args, host=host)
    assert r.err == "", r.err
    return r.code, r.json()


def rows(doc: dict[str, Any], subject: str = "host") -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in doc["checks"] if c["subject"] == subject}


def is_xen(host: Host) -> bool:
    return host.exists("proc/xen/capabilities")


@pytest.mark.targets("sim", "xen-lab")
def test_the_xen_labs_iommu_passes(host: Host) -> None:
    code, doc = doctor(host)
    got = rows(doc)
    assert doc["host"] == "xen"
    for check in ("dom0", "toolstack", "xen-iommu", "xen-cmdline-iommu", "io-virtualisation",
                      "interrupt-remapping", "queued-invalidation", "dom0-mem"):
        assert got[check]["status"] == "pass", got[check]
    assert "hvm_directio" in got["xen-iommu"]["evidence"]
    assert got["io-virtualisation"]["evidence"] == "xl dmesg: I/O virtualisation enabled"
    assert got["snoop-control"]["status"] == "warn"  # QEMU's VT-d has no snoop control
    assert "iommu-sysfs" not in got  # empty in a dom0: Xen owns the IOMMU
    assert code == 0


@pytest.mark.targets("sim", "kernel-lab")
def test_the_kernel_labs_iommu_passes(host: Host) -> None:
    code, doc = doctor(host)
    got = rows(doc)
    assert doc["host"] == "kvm"
    for check in ("iommu-sysfs", "iommu-groups", "kernel-cmdline",
                  "kernel-interrupt-remapping", "vfio-pci"):
        assert got[check]["status"] == "pass", got[check]
    assert got["iommu-sysfs"]["evidence"] == "/sys/class/iommu: dmar0"
    assert "DMAR-IR: Enabled IRQ remapping in xapic mode" in \
        got["kernel-interrupt-remapping"]["evidence"]
    assert code == 0


def test_the_rows_of_the_two_nics(host: Host) -> None:
    code, doc = doctor(host, E1000E, IGB_PF)
    e1000e, igb = rows(doc, E1000E), rows(doc, IGB_PF)
    assert e1000e["device-driver"]["status"] == igb["device-driver"]["status"] == "pass"
    assert e1000e["device-driver"]["evidence"].startswith("driver e1000e")
    assert igb["device-driver"]["evidence"].startswith("driver igb")
    assert "function-level reset" in igb["device-reset"]["evidence"]
    assert e1000e["device-reset"]["evidence"] == "kernel reset methods: pm, bus"
    assert igb["device-sriov"]["evidence"] == f"SR-IOV PF: 0/{IGB_TOTALVFS} VFs enabled"
    assert e1000e["device-sriov"]["evidence"] == "not an SR-IOV PF"
    if is_xen(host):
        assert e1000e["device-group"]["status"] == "unknown"
        assert e1000e["device-group"]["evidence"].startswith(
            "dom0: Xen's co-assignment rules are not checked")
        assert e1000e["device-domain"]["evidence"] == "no domain holds it"
    else:
        assert e1000e["device-group"]["status"] == "pass"
        assert e1000e["device-group"]["evidence"].endswith(": alone")
    assert code == 0


@pytest.mark.targets("sim", "kernel-lab")
def test_a_group_with_host_drivers_is_not_viable(host: Host) -> None:
    code, doc = doctor(host, LPC_GROUP[1])
    group = rows(doc, LPC_GROUP[1])["device-group"]
    assert group["status"] == "fail"
    assert f"{LPC_GROUP[0]} (lpc_ich)" in group["evidence"] and "--group" in group["fix"]
    assert code == 1


def test_explain_the_swiotlb_failure(host: Host) -> None:
    r = pcipass("doctor", "--json", "--explain", SWIOTLB, host=host)
    assert r.code == 0, r.err
    [match] = r.json()["matches"]
    assert (match["signature"], match["line_number"], match["check"]) == \
        ("swiotlb-contiguous", 2, "dom0-mem")
    assert "dom0_mem" in match["fix"] and "swiotlb-xen.c" in match["evidence"]
    [here] = match["confirmed"]
    want = ("pass", "xen_commandline: dom0_mem=1024M,max:1024M") if is_xen(host) \
        else ("unknown", "this host is not a Xen dom0")
    assert (here["status"], here["evidence"]) == want
