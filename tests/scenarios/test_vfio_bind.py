"""Bind a device to vfio-pci and back through driver_override (the KVM handover)."""

from __future__ import annotations

import pytest
from lab_layout import E1000E, NVME_PF, NVME_VFS, dev, drv
from waits import driver_of, wait_driver

from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "kernel-lab")


def _to_vfio(host: Host, bdf: str) -> None:
    host.write(dev(bdf, "driver_override"), "vfio-pci")
    if driver_of(host, bdf) is not None:
        host.write(dev(bdf, "driver/unbind"), bdf)
    host.write("sys/bus/pci/drivers_probe", bdf)


def _back(host: Host, bdf: str) -> None:
    host.write(dev(bdf, "driver_override"), "\n")
    host.write(drv("vfio-pci", "unbind"), bdf)
    host.write("sys/bus/pci/drivers_probe", bdf)


def test_e1000e_to_vfio_pci_and_back(host: Host) -> None:
    assert host.modprobe("vfio-pci").returncode == 0
    assert driver_of(host, E1000E) == "e1000e"
    assert host.try_read_text(dev(E1000E, "driver_override")) == "(null)"

    _to_vfio(host, E1000E)
    assert driver_of(host, E1000E) == "vfio-pci"
    assert host.try_read_text(dev(E1000E, "driver_override")) == "vfio-pci"
    assert E1000E in host.listdir(drv("vfio-pci"))
    assert E1000E not in host.listdir(drv("e1000e"))
    group = host.link_name(dev(E1000E, "iommu_group"))
    assert group is not None
    assert host.listdir(f"sys/kernel/iommu_groups/{group}/devices") == [E1000E]

    _back(host, E1000E)
    assert host.try_read_text(dev(E1000E, "driver_override")) == "(null)"
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    assert E1000E not in host.listdir(drv("vfio-pci"))


def test_nvme_vf_to_vfio_pci_and_back_to_unbound(host: Host) -> None:
    """An NVMe VF is unbound (nvme gives up on the offline secondary controller);
    vfio-pci takes it through driver_override; afterwards it is unbound again."""
    vf = NVME_VFS[0]
    assert host.modprobe("vfio-pci").returncode == 0
    host.write(dev(NVME_PF, "sriov_numvfs"), "1")
    assert wait_driver(host, vf, None) is None

    _to_vfio(host, vf)
    assert driver_of(host, vf) == "vfio-pci"
    assert host.link_name(dev(vf, "physfn")) == NVME_PF

    _back(host, vf)
    assert wait_driver(host, vf, None) is None
    host.write(dev(NVME_PF, "sriov_numvfs"), "0")
    assert not host.exists(dev(vf))


def test_override_naming_a_missing_driver_binds_nothing(host: Host) -> None:
    """drivers_probe succeeds but leaves the device unbound: re-read the driver link."""
    host.write(dev(E1000E, "driver_override"), "no-such-driver")
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    host.write("sys/bus/pci/drivers_probe", E1000E)
    assert driver_of(host, E1000E) is None
    host.write(dev(E1000E, "driver_override"), "\n")
    host.write("sys/bus/pci/drivers_probe", E1000E)
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"


def test_explicit_bind_after_override(host: Host) -> None:
    """With driver_override=vfio-pci, e1000e/bind is refused and vfio-pci/bind works."""
    assert host.modprobe("vfio-pci").returncode == 0
    host.write(dev(E1000E, "driver_override"), "vfio-pci")
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    assert driver_of(host, E1000E) is None
    host.write(drv("vfio-pci", "bind"), E1000E)
    assert driver_of(host, E1000E) == "vfio-pci"
    host.write(dev(E1000E, "driver_override"), "\n")
    host.write(drv("vfio-pci", "unbind"), E1000E)
    host.write(drv("e1000e", "bind"), E1000E)
    assert driver_of(host, E1000E) == "e1000e"
