"""The `xen-free-memory` check: `xl info` free_memory against the bounce buffer a PV guest
with a PCI device exchanges for memory below 4 GiB (the xen lab's texts)."""

from __future__ import annotations

import pytest

from pcipass.model.device import HostModel
from pcipass.ops.doctor import host_checks as h
from pcipass.ops.doctor.facts import DoctorFacts, Output
from pcipass.ops.doctor.table import confirm
from pcipass.ops.doctor.verdict import Status

EMPTY = HostModel(devices={}, groups={}, iommu_enabled=False)


def facts(info: Output) -> DoctorFacts:
    return DoctorFacts(kind="xen", model=EMPTY, xen_capabilities="control_d", xl_info=info)


def free(mb: str) -> Output:
    # xen lab, Xen 4.17.5: `xl info` after boot, and with dom0 holding the rest (measured)
    return Output(f"total_memory           : 3071\nfree_memory            : {mb}\n")


def test_a_lab_after_boot_has_room() -> None:
    v = h.xen_free_memory(facts(free("2012")))
    assert v.status is Status.PASS and v.evidence.startswith("free_memory: 2012 MiB")


@pytest.mark.parametrize("mb", ["0", "63"])
def test_less_than_the_bounce_buffer_warns_with_the_fix(mb: str) -> None:
    v = h.xen_free_memory(facts(free(mb)))
    assert v.status is Status.WARN and v.evidence.startswith(f"free_memory: {mb} MiB,")
    assert "Could not setup SWIOTLB!" in v.evidence and "dom0_mem=" in v.fix


def test_unknown_when_xl_cannot_say() -> None:
    refused = Output(None, "`xl info` runs only on the host itself, not on a tree", True)
    assert h.xen_free_memory(facts(refused)).status is Status.UNKNOWN
    assert h.xen_free_memory(facts(Output("host : x\n"))).evidence == \
        "`xl info` has no free_memory line"
    assert h.xen_free_memory(facts(Output("free_memory : lots\n"))).status is Status.UNKNOWN


def test_it_confirms_the_swiotlb_signatures_on_a_dom0() -> None:
    [row] = confirm("xen-free-memory", facts(free("0")))
    assert (row.check, row.status) == ("xen-free-memory", Status.WARN)
