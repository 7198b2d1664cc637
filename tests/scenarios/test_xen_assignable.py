"""`xl pci-assignable-add/-list/-remove [-r]` in a Xen 4.17 dom0: drivers, xenstore keys
libxl writes, and xl's exact texts for bad input."""

from __future__ import annotations

import pytest
from lab_layout import E1000E, IGB_PF, IGB_VFS, NO_DEVICE, NVME_PF, dev, xs_key
from waits import driver_of, wait_driver

from pcipass.host.base import Host, RunResult

pytestmark = pytest.mark.targets("sim", "xen-lab")


def xl(host: Host, *args: str) -> RunResult:
    return host.run(["xl", *args])


def assignable(host: Host) -> list[str]:
    result = xl(host, "pci-assignable-list")
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.fixture
def pciback(host: Host) -> Host:
    assert host.modprobe("xen-pciback").returncode == 0
    assert host.exists("sys/bus/pci/drivers/pciback")
    return host


def test_dom0_has_no_iommu_groups_and_xen_reports_directio(host: Host) -> None:
    assert host.listdir("sys/kernel/iommu_groups") == []
    info = xl(host, "info")
    assert info.returncode == 0
    caps = next(line for line in info.stdout.splitlines() if line.startswith("virt_caps"))
    assert "pv_directio" in caps.split()


def test_e1000e_assignable_and_back_with_rebind(pciback: Host) -> None:
    host = pciback
    assert assignable(host) == []
    added = xl(host, "pci-assignable-add", E1000E)
    assert added.returncode == 0, added.stderr
    assert driver_of(host, E1000E) == "pciback"
    assert assignable(host) == [E1000E]
    assert xl(host, "pci-assignable-list").stdout == f"{E1000E} \n"  # xl's trailing space
    saved = host.run(["xenstore-read", f"{xs_key(E1000E)}/driver_path"])
    assert (saved.returncode, saved.stdout.strip()) == (0, "/sys/bus/pci/drivers/e1000e")

    again = xl(host, "pci-assignable-add", E1000E)
    assert again.returncode == 0
    assert f"{E1000E} already assigned to pciback" in again.stderr

    removed = xl(host, "pci-assignable-remove", "-r", E1000E)
    assert removed.returncode == 0, removed.stderr
    assert "Rebinding to driver at /sys/bus/pci/drivers/e1000e" in removed.stderr
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    assert assignable(host) == []
    gone = host.run(["xenstore-read", f"{xs_key(E1000E)}/driver_path"])
    assert gone.returncode != 0
    node = host.run(["xenstore-read", xs_key(E1000E)])  # the emptied node stays behind
    assert (node.returncode, node.stdout.strip()) == (0, "")


def test_remove_without_r_leaves_the_device_unbound(pciback: Host) -> None:
    host = pciback
    assert xl(host, "pci-assignable-add", E1000E).returncode == 0
    removed = xl(host, "pci-assignable-remove", E1000E)
    assert removed.returncode == 0, removed.stderr
    assert driver_of(host, E1000E) is None
    assert assignable(host) == []


def test_igb_vf_assignable_and_back(pciback: Host) -> None:
    host = pciback
    vf = IGB_VFS[0]
    host.write(dev(IGB_PF, "sriov_numvfs"), "1")
    assert wait_driver(host, vf, "igbvf") == "igbvf"
    added = xl(host, "pci-assignable-add", vf)
    assert added.returncode == 0, added.stderr
    assert driver_of(host, vf) == "pciback"
    assert assignable(host) == [vf]
    saved = host.run(["xenstore-read", f"{xs_key(vf)}/driver_path"])
    assert saved.stdout.strip() == "/sys/bus/pci/drivers/igbvf"
    removed = xl(host, "pci-assignable-remove", "-r", vf)
    assert removed.returncode == 0, removed.stderr
    assert wait_driver(host, vf, "igbvf") == "igbvf"
    host.write(dev(IGB_PF, "sriov_numvfs"), "0")
    assert not host.exists(dev(vf))


@pytest.mark.parametrize(
    ("args", "rc", "text"),
    [
        (("pci-assignable-add", "00:zz.0"), 2, 'pci-assignable-add: malformed BDF "00:zz.0"'),
        (("pci-assignable-add", "not-a-bdf"), 2, 'pci-assignable-add: malformed BDF "not-a-bdf"'),
        (
            ("pci-assignable-add", NO_DEVICE),
            1,
            f"Couldn't lstat /sys/bus/pci/devices/{NO_DEVICE}: No such file or directory",
        ),
        (("pci-assignable-remove", NO_DEVICE), 1, f"failed to de-quarantine {NO_DEVICE}"),
        (("pci-assignable-remove", NVME_PF), 1, f"failed to de-quarantine {NVME_PF}"),
        (("pci-assignable-remove", "-r", NVME_PF), 1, f"failed to de-quarantine {NVME_PF}"),
        (("pci-assignable-remove", "not-a-bdf"), 2, "malformed BDF 'not-a-bdf'"),
        (("pci-assignable-remove", "-r", "00:zz.0"), 2, "malformed BDF '00:zz.0'"),
        (("pci-assignable-add",), 2, "'xl pci-assignable-add' requires at least 1 argument."),
        (("pci-attach", "99", E1000E), 1, "unable to get domain type for domid=99"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_xl_bad_input_texts(pciback: Host, args: tuple[str, ...], rc: int, text: str) -> None:
    result = xl(pciback, *args)
    assert result.returncode == rc
    assert text in result.stderr
    assert driver_of(pciback, NVME_PF) == "nvme"
