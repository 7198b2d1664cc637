"""The failure-signature table: every row reachable, its check real, and the lab's texts
recognised (the messages as xl, libxl, the kernel and QEMU print them)."""

from __future__ import annotations

import pytest

from pcipass.model.failures import BY_ID, SIGNATURES, explain
from pcipass.ops.doctor.table import BY_ID as CHECKS

#: One real line per signature (labs/evidence/swiotlb/README.md, labs-reference/xen-dom0/PROOF.md,
#: Qubes forum, QEMU, Linux).
SAMPLES = {
    "swiotlb-contiguous": "xen:swiotlb_xen: Failed to get contiguous memory for DMA from Xen!",
    "pcifront-swiotlb": "[   40.714869] pcifront pci-0: Could not setup SWIOTLB!",
    "pcifront-setup-enomem": "[   40.725181] pcifront pci-0: 12 Error setting up PCI Frontend",
    "iommu-map-enomem": "(XEN) d6: IOMMU unmapping dfn 10cc4d failed: -12",
    "no-iommu-create": "libxl: error: libxl_create.c:1160:libxl__domain_config_setdefault: "
                       "passthrough not supported on this platform",
    "no-iommu-quarantine": "libxl: error: libxl_pci.c:848:libxl__device_pci_assignable_add: "
                           "failed to quarantine 0000:01:00.0",
    "assign-not-supported": "libxl: error: libxl_pci.c:1529:pci_add_dm_done: Domain 1:"
                            "xc_assign_device failed: Operation not supported",
    "assign-invalid": "libxl: error: libxl_pci.c:1529:pci_add_dm_done: xc_assign_device "
                      "failed: Invalid argument",
    "assign-failed": "libxl: error: libxl_pci.c:1529:pci_add_dm_done: Domain 3:"
                     "xc_assign_device failed: Operation not permitted",
    "pciback-not-loaded": "libxl: error: libxl_pci.c:376:libxl_device_pci_assignable_list: "
                          "Looks like pciback driver not loaded",
    "read-only-config-field": "pciback 0000:03:00.0: Driver tried to write to a read-only "
                              "configuration space field at offset 0x4c, size 2.",
    "group-not-viable": "qemu-system-x86_64: -device vfio-pci,host=0000:00:1f.2: vfio "
                        "0000:00:1f.2: group 7 is not viable",
    "no-interrupt-remapping": "vfio_iommu_type1_attach_group: No interrupt remapping support.  "
                              "Use the module param \"allow_unsafe_interrupts\" to enable VFIO",
    "vfio-not-supported": "error: Failed to detach device pci_0000_01_00_0\nerror: unsupported "
                          "configuration: VFIO device assignment is currently not supported on "
                          "this system",
}


def test_every_signature_has_a_sample_and_a_real_check() -> None:
    assert set(SAMPLES) == set(BY_ID)
    for sig in SIGNATURES:
        assert sig.check in CHECKS, sig.id
        assert sig.cause and sig.fix and sig.evidence


@pytest.mark.parametrize("sig", sorted(SAMPLES))
def test_each_sample_is_explained_by_its_own_signature(sig: str) -> None:
    [match] = explain(SAMPLES[sig])
    assert match.signature.id == sig  # not shadowed by an earlier, more general row


def test_the_guests_log_keeps_line_numbers_and_skips_the_rest() -> None:
    log = "[    0.0] Linux version 6.1\n" + SAMPLES["pcifront-swiotlb"] + "\nok\n" + \
        SAMPLES["swiotlb-contiguous"]
    assert [(m.line_number, m.signature.id) for m in explain(log)] == \
        [(2, "pcifront-swiotlb"), (4, "swiotlb-contiguous")]
    assert explain("nothing to see\n") == []
