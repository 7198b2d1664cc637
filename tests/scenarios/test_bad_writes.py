"""Every bad sysfs write pcipass can make, with the exact errno the kernel answers."""

from __future__ import annotations

import errno

import pytest
from lab_layout import E1000E, IGB_PF, IGB_VFS, NO_DEVICE, NVME_PF, dev, drv
from waits import driver_of

from pcipass.host.base import Host, WriteFailed

pytestmark = pytest.mark.targets("sim", "kernel-lab")


def _errno_of(host: Host, rel: str, data: str) -> int:
    with pytest.raises(WriteFailed) as caught:
        host.write(rel, data)
    assert caught.value.rel.lstrip("/") == rel
    return caught.value.errno


@pytest.fixture
def vfio(host: Host) -> Host:
    assert host.modprobe("vfio-pci").returncode == 0
    return host


@pytest.mark.parametrize(
    ("rel", "data", "expected"),
    [
        (drv("vfio-pci", "bind"), NO_DEVICE, errno.ENODEV),
        (drv("vfio-pci", "bind"), "not-a-bdf", errno.ENODEV),
        (drv("vfio-pci", "bind"), E1000E, errno.ENODEV),  # no id match, no override
        (drv("e1000e", "bind"), E1000E, errno.EBUSY),  # already bound
        (drv("vfio-pci", "unbind"), E1000E, errno.ENODEV),  # bound elsewhere
        (drv("e1000e", "unbind"), NO_DEVICE, errno.ENODEV),
        (drv("vfio-pci", "unbind"), "vfio-pci", errno.ENODEV),
        ("sys/bus/pci/drivers_probe", NO_DEVICE, errno.ENODEV),
        (dev(NO_DEVICE, "driver_override"), "vfio-pci", errno.ENOENT),
        (dev(E1000E, "driver_override"), "x" * 5000, errno.EINVAL),
        (dev(E1000E, "sriov_numvfs"), "1", errno.ENOENT),  # no SR-IOV capability
        (dev(NVME_PF, "sriov_numvfs"), "5", errno.ERANGE),  # > sriov_totalvfs (4)
        (dev(IGB_PF, "sriov_numvfs"), "8", errno.ERANGE),  # > sriov_totalvfs (7)
        (dev(NVME_PF, "sriov_numvfs"), "abc", errno.EINVAL),
        (dev(NVME_PF, "sriov_numvfs"), "-1", errno.EINVAL),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
def test_bad_write_errno(vfio: Host, rel: str, data: str, expected: int) -> None:
    assert errno.errorcode[_errno_of(vfio, rel, data)] == errno.errorcode[expected]
    assert driver_of(vfio, E1000E) == "e1000e"


def test_unbind_of_an_unbound_device_is_enoent(host: Host) -> None:
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    assert driver_of(host, E1000E) is None
    assert not host.exists(dev(E1000E, "driver"))
    assert _errno_of(host, dev(E1000E, "driver/unbind"), E1000E) == errno.ENOENT
    assert _errno_of(host, drv("e1000e", "unbind"), E1000E) == errno.ENODEV


def test_bind_refused_by_override_is_enodev(vfio: Host) -> None:
    host = vfio
    host.write(dev(E1000E, "driver_override"), "vfio-pci")
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    assert _errno_of(host, drv("e1000e", "bind"), E1000E) == errno.ENODEV
    assert driver_of(host, E1000E) is None


def test_empty_write_clears_driver_override(host: Host) -> None:
    host.write(dev(E1000E, "driver_override"), "vfio-pci")
    assert host.try_read_text(dev(E1000E, "driver_override")) == "vfio-pci"
    host.write(dev(E1000E, "driver_override"), "\n")
    assert host.try_read_text(dev(E1000E, "driver_override")) == "(null)"
    assert driver_of(host, E1000E) == "e1000e"  # the override alone changes no binding


def test_numvfs_change_while_enabled_is_ebusy_and_same_value_is_a_noop(host: Host) -> None:
    host.write(dev(NVME_PF, "sriov_numvfs"), "2")
    assert _errno_of(host, dev(NVME_PF, "sriov_numvfs"), "3") == errno.EBUSY
    assert host.try_read_text(dev(NVME_PF, "sriov_numvfs")) == "2"
    host.write(dev(NVME_PF, "sriov_numvfs"), "2")  # the same value again: accepted
    assert host.try_read_text(dev(NVME_PF, "sriov_numvfs")) == "2"
    assert _errno_of(host, dev("0000:01:00.1", "sriov_numvfs"), "1") == errno.ENOENT  # a VF
    host.write(dev(NVME_PF, "sriov_numvfs"), "0")
    assert host.try_read_text(dev(NVME_PF, "sriov_numvfs")) == "0"


def test_numvfs_on_a_pf_without_driver_is_enoent(host: Host) -> None:
    host.write(dev(IGB_PF, "driver/unbind"), IGB_PF)
    assert driver_of(host, IGB_PF) is None
    assert _errno_of(host, dev(IGB_PF, "sriov_numvfs"), "2") == errno.ENOENT
    assert not host.exists(dev(IGB_VFS[0]))
    host.write("sys/bus/pci/drivers_probe", IGB_PF)
    assert driver_of(host, IGB_PF) == "igb"
