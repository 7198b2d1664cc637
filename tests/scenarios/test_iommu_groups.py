"""IOMMU groups under emulated VT-d: what pcipass reads to judge isolation."""

from __future__ import annotations

import pytest
from lab_layout import E1000E, IGB_PF, IGB_VFS, LPC_GROUP, NVME_PF, dev

from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "kernel-lab")


def _group(host: Host, bdf: str) -> str | None:
    return host.link_name(dev(bdf, "iommu_group"))


def test_endpoints_behind_root_ports_are_alone_in_their_group(host: Host) -> None:
    for bdf in (NVME_PF, E1000E, IGB_PF):
        group = _group(host, bdf)
        assert group is not None, bdf
        assert host.listdir(f"sys/kernel/iommu_groups/{group}/devices") == [bdf]


def test_q35_builtins_share_one_group(host: Host) -> None:
    groups = {_group(host, bdf) for bdf in LPC_GROUP}
    assert len(groups) == 1
    (group,) = groups
    assert host.listdir(f"sys/kernel/iommu_groups/{group}/devices") == list(LPC_GROUP)


def test_a_new_vf_gets_its_own_group(host: Host) -> None:
    host.write(dev(IGB_PF, "sriov_numvfs"), "1")
    group = _group(host, IGB_VFS[0])
    assert group is not None
    assert group != _group(host, IGB_PF)
    assert host.listdir(f"sys/kernel/iommu_groups/{group}/devices") == [IGB_VFS[0]]
    host.write(dev(IGB_PF, "sriov_numvfs"), "0")
    assert host.listdir(f"sys/kernel/iommu_groups/{group}/devices") == []
