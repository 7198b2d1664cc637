"""Create SR-IOV VFs and remove them: sriov_numvfs on igb and NVMe, igb's max_vfs."""

from __future__ import annotations

import pytest
from lab_layout import (
    IGB_PF,
    IGB_TOTALVFS,
    IGB_VF_ID,
    IGB_VFS,
    NVME_ID,
    NVME_PF,
    NVME_TOTALVFS,
    NVME_VFS,
    dev,
)
from waits import driver_of, wait_driver, wait_for

from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "kernel-lab")


def _virtfns(host: Host, pf: str) -> dict[str, str | None]:
    return {
        name: host.link_name(dev(pf, name))
        for name in host.listdir(dev(pf))
        if name.startswith("virtfn")
    }


def test_sriov_capability_files(host: Host) -> None:
    assert host.try_read_text(dev(IGB_PF, "sriov_totalvfs")) == str(IGB_TOTALVFS)
    assert host.try_read_text(dev(NVME_PF, "sriov_totalvfs")) == str(NVME_TOTALVFS)
    for pf in (IGB_PF, NVME_PF):
        assert host.try_read_text(dev(pf, "sriov_numvfs")) == "0"
        assert host.try_read_text(dev(pf, "sriov_drivers_autoprobe")) == "1"
    assert host.try_read_text(dev(IGB_PF, "sriov_offset")) == "128"
    assert host.try_read_text(dev(IGB_PF, "sriov_stride")) == "2"
    assert host.try_read_text(dev(IGB_PF, "sriov_vf_device")) == "10ca"
    assert host.try_read_text(dev(NVME_PF, "sriov_offset")) == "1"
    assert host.try_read_text(dev(NVME_PF, "sriov_stride")) == "1"


def test_igb_two_vfs_created_and_removed(host: Host) -> None:
    host.write(dev(IGB_PF, "sriov_numvfs"), "2")
    assert host.try_read_text(dev(IGB_PF, "sriov_numvfs")) == "2"
    assert _virtfns(host, IGB_PF) == {"virtfn0": IGB_VFS[0], "virtfn1": IGB_VFS[1]}
    for vf in IGB_VFS[:2]:
        assert host.link_name(dev(vf, "physfn")) == IGB_PF
        vendor = host.try_read_text(dev(vf, "vendor"))
        device = host.try_read_text(dev(vf, "device"))
        assert (vendor, device) == IGB_VF_ID
        assert wait_driver(host, vf, "igbvf") == "igbvf"
    assert driver_of(host, IGB_PF) == "igb"

    host.write(dev(IGB_PF, "sriov_numvfs"), "0")
    assert host.try_read_text(dev(IGB_PF, "sriov_numvfs")) == "0"
    assert _virtfns(host, IGB_PF) == {}
    assert not any(host.exists(dev(vf)) for vf in IGB_VFS)


def test_nvme_two_vfs_created_unbound_and_removed(host: Host) -> None:
    """NVMe VFs appear, but nvme's probe of the offline secondary controllers fails."""
    host.write(dev(NVME_PF, "sriov_numvfs"), "2")
    assert _virtfns(host, NVME_PF) == {"virtfn0": NVME_VFS[0], "virtfn1": NVME_VFS[1]}
    for vf in NVME_VFS[:2]:
        assert host.link_name(dev(vf, "physfn")) == NVME_PF
        ids = (host.try_read_text(dev(vf, "vendor")), host.try_read_text(dev(vf, "device")))
        assert ids == NVME_ID
        assert host.try_read_text(dev(vf, "class")) == "0x010802"
        assert wait_driver(host, vf, None) is None
    host.write(dev(NVME_PF, "sriov_numvfs"), "0")
    assert _virtfns(host, NVME_PF) == {}
    assert not any(host.exists(dev(vf)) for vf in NVME_VFS)


def test_vfs_of_a_pf_without_autoprobe_stay_unbound(host: Host) -> None:
    host.write(dev(IGB_PF, "sriov_drivers_autoprobe"), "0")
    host.write(dev(IGB_PF, "sriov_numvfs"), "1")
    vf = IGB_VFS[0]
    assert driver_of(host, vf) is None
    host.write("sys/bus/pci/drivers_probe", vf)  # accepted, binds nothing
    assert driver_of(host, vf) is None
    host.write(dev(vf, "driver_override"), "igbvf")
    host.write("sys/bus/pci/drivers_probe", vf)
    assert wait_driver(host, vf, "igbvf") == "igbvf"
    host.write(dev(IGB_PF, "sriov_numvfs"), "0")
    host.write(dev(IGB_PF, "sriov_drivers_autoprobe"), "1")


def test_igb_max_vfs_module_parameter(host: Host) -> None:
    """The page's module method: `modprobe -r igb; modprobe igb max_vfs=3`."""
    assert host.rmmod("igb").returncode == 0
    assert driver_of(host, IGB_PF) is None
    assert not host.exists("sys/bus/pci/drivers/igb")

    assert host.modprobe("igb", {"max_vfs": "3"}).returncode == 0
    assert wait_driver(host, IGB_PF, "igb") == "igb"
    numvfs = wait_for(lambda: host.try_read_text(dev(IGB_PF, "sriov_numvfs")), "3".__eq__)
    assert numvfs == "3"
    assert _virtfns(host, IGB_PF) == {f"virtfn{i}": IGB_VFS[i] for i in range(3)}
    assert host.try_read_text("sys/module/igb/parameters/max_vfs") is None  # igb exposes none

    assert host.rmmod("igb").returncode == 0
    assert not any(host.exists(dev(vf)) for vf in IGB_VFS)
    assert host.modprobe("igb").returncode == 0
    assert wait_driver(host, IGB_PF, "igb") == "igb"
    assert host.try_read_text(dev(IGB_PF, "sriov_numvfs")) == "0"
