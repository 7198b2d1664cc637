"""`assign-not-supported`: its confirmation cannot see the cause (the domain's config), so
the explanation says so, and what the `xen-iommu` row it shows rules out."""

from __future__ import annotations

from pcipass.model.failures import explain

LINE = ("libxl: error: libxl_pci.c:1529:pci_add_dm_done: Domain 1:xc_assign_device failed: "
        "Operation not supported")


def test_the_cause_is_the_domains_config_and_xen_iommu_rules_out_the_other() -> None:
    (match,) = explain(LINE)
    s = match.signature
    assert (s.id, s.check) == ("assign-not-supported", "xen-iommu")
    assert s.cause.startswith("the domain's config:")
    assert 'passthrough="enabled"' in s.cause and "pci=[...]" in s.cause
    assert "`xen-iommu: pass` below rules out" in s.cause
