"""The simulated kernel answers every write as Linux 6.1 does in the project's labs."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from helpers import sims
from pcipass.errors import InputError
from pcipass.host.base import WriteFailed
from pcipass.host.real import RealHost
from pcipass.host.snapshot import extract
from pcipass.sim.host import SimHost, create_sim

NVME, E1000E, IGB = "0000:01:00.0", "0000:02:00.0", "0000:03:00.0"
DEV = "sys/bus/pci/devices"
DRV = "sys/bus/pci/drivers"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sims.template(tmp_path_factory, "kernel-lab")


@pytest.fixture
def host(template: Path, tmp_path: Path) -> SimHost:
    return sims.fresh(template, tmp_path)


def dev(bdf: str, attr: str = "") -> str:
    return f"{DEV}/{bdf}/{attr}".rstrip("/")


def drv_of(host: SimHost, bdf: str) -> str | None:
    return host.link_name(dev(bdf, "driver"))


def fails(host: SimHost, rel: str, data: str) -> int:
    with pytest.raises(WriteFailed) as info:
        host.write(rel, data)
    return info.value.errno


def test_boot_binds_drivers_by_id_table(host: SimHost) -> None:
    assert drv_of(host, NVME) == "nvme"
    assert drv_of(host, E1000E) == "e1000e"
    assert drv_of(host, IGB) == "igb"
    assert drv_of(host, "0000:00:10.0") == "pcieport"
    assert drv_of(host, "0000:00:00.0") is None
    assert host.try_read_text("sys/class/net/enp2s0/address") == "52:54:00:12:34:56"
    assert host.exists("sys/block/nvme0n1")


def test_bind_unbind_errno_table(host: SimHost) -> None:
    assert host.modprobe("vfio-pci").returncode == 0
    assert fails(host, f"{DRV}/vfio-pci/bind", "0000:09:1f.7") == errno.ENODEV
    assert fails(host, f"{DRV}/vfio-pci/bind", "not-a-bdf") == errno.ENODEV
    assert fails(host, f"{DRV}/vfio-pci/bind", E1000E) == errno.ENODEV  # id table: no match
    assert fails(host, f"{DRV}/e1000e/bind", E1000E) == errno.EBUSY
    assert fails(host, f"{DRV}/vfio-pci/unbind", E1000E) == errno.ENODEV
    assert fails(host, "sys/bus/pci/drivers_probe", "0000:09:1f.7") == errno.ENODEV
    assert fails(host, dev("0000:09:1f.7", "driver_override"), "vfio-pci") == errno.ENOENT
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    assert drv_of(host, E1000E) is None
    assert not host.exists("sys/class/net/enp2s0")  # the netdev left with the driver
    assert fails(host, dev(E1000E, "driver/unbind"), E1000E) == errno.ENOENT
    assert fails(host, f"{DRV}/e1000e/unbind", E1000E) == errno.ENODEV
    assert fails(host, dev(E1000E, "vendor"), "0x1234") == errno.EACCES
    assert fails(host, dev(E1000E), "1") == errno.EISDIR


def test_driver_override_semantics(host: SimHost) -> None:
    assert host.modprobe("vfio-pci").returncode == 0
    host.write(dev(E1000E, "driver_override"), "vfio-pci\n")
    assert host.try_read_text(dev(E1000E, "driver_override")) == "vfio-pci"
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    assert fails(host, f"{DRV}/e1000e/bind", E1000E) == errno.ENODEV  # override excludes it
    host.write("sys/bus/pci/drivers_probe", E1000E)
    assert drv_of(host, E1000E) == "vfio-pci"
    host.write(dev(E1000E, "driver_override"), "\n")
    assert host.try_read_text(dev(E1000E, "driver_override")) == "(null)"
    host.write(f"{DRV}/vfio-pci/unbind", E1000E)
    host.write("sys/bus/pci/drivers_probe", E1000E)
    assert drv_of(host, E1000E) == "e1000e"
    assert fails(host, dev(E1000E, "driver_override"), "x" * 5000) == errno.EINVAL


def test_override_naming_missing_driver_binds_nothing(host: SimHost) -> None:
    host.write(dev(E1000E, "driver_override"), "no-such-driver")
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    host.write("sys/bus/pci/drivers_probe", E1000E)  # accepted
    assert drv_of(host, E1000E) is None


def test_sriov_numvfs_errno_table(host: SimHost) -> None:
    numvfs = dev(NVME, "sriov_numvfs")
    host.write(numvfs, "2")
    assert host.listdir(dev(NVME))[-2:] == ["virtfn0", "virtfn1"]
    assert host.link_name(dev("0000:01:00.2", "physfn")) == NVME
    assert drv_of(host, "0000:01:00.1") is None  # nvme gives up on offline VFs
    with pytest.raises(WriteFailed) as busy:
        host.write(numvfs, "3")
    assert busy.value.errno == errno.EBUSY
    assert "2 VFs already enabled. Disable before enabling 3 VFs" in busy.value.what
    host.write(numvfs, "2")  # same value: no-op
    assert fails(host, numvfs, "5") == errno.ERANGE
    assert fails(host, numvfs, "abc") == errno.EINVAL
    assert fails(host, numvfs, "-1") == errno.EINVAL
    assert fails(host, dev(E1000E, "sriov_numvfs"), "1") == errno.ENOENT
    assert fails(host, dev("0000:01:00.1", "sriov_numvfs"), "1") == errno.ENOENT
    host.write(numvfs, "0")
    assert not host.exists(dev("0000:01:00.1"))
    assert not host.exists("sys/kernel/iommu_groups/11")
    host.write(dev(NVME, "driver/unbind"), NVME)
    assert fails(host, numvfs, "1") == errno.ENOENT
    host.write(numvfs, "0")  # unchanged value is accepted even without a driver
    host.write("sys/bus/pci/drivers_probe", NVME)
    assert drv_of(host, NVME) == "nvme"


def test_vfs_get_new_iommu_groups_and_config_space(host: SimHost) -> None:
    host.write(dev(IGB, "sriov_numvfs"), "2")
    assert host.link_name(dev("0000:03:10.0", "iommu_group")) == "11"
    assert host.link_name(dev("0000:03:10.2", "iommu_group")) == "12"
    assert drv_of(host, "0000:03:10.0") == "igbvf"  # udev loaded igbvf
    cfg = host.try_read_bytes(dev(IGB, "config"))
    assert cfg is not None and cfg[0:2] == b"\x86\x80"
    assert host.try_read_text(dev("0000:03:10.2", "device")) == "0x10ca"


def test_autoprobe_off_needs_override(host: SimHost) -> None:
    host.write(dev(IGB, "sriov_drivers_autoprobe"), "0")
    host.write(dev(IGB, "sriov_numvfs"), "1")
    vf = "0000:03:10.0"
    assert drv_of(host, vf) is None
    host.write("sys/bus/pci/drivers_probe", vf)
    assert drv_of(host, vf) is None
    assert fails(host, f"{DRV}/igbvf/bind", vf) == errno.ENODEV  # pci_device_can_probe
    host.write(dev(vf, "driver_override"), "igbvf")
    host.write("sys/bus/pci/drivers_probe", vf)
    assert drv_of(host, vf) == "igbvf"
    assert fails(host, dev(IGB, "sriov_drivers_autoprobe"), "maybe") == errno.EINVAL


def test_unbinding_a_pf_destroys_its_vfs(host: SimHost) -> None:
    host.write(dev(IGB, "sriov_numvfs"), "3")
    host.write(dev(IGB, "driver/unbind"), IGB)
    assert host.try_read_text(dev(IGB, "sriov_numvfs")) == "0"
    assert not [n for n in host.listdir(dev(IGB)) if n.startswith("virtfn")]
    assert not host.exists(dev("0000:03:10.0"))


def test_new_id_and_remove_id(host: SimHost) -> None:
    assert host.modprobe("vfio-pci").returncode == 0
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    host.write(f"{DRV}/vfio-pci/new_id", "8086 10d3")  # binds the unbound device at once
    assert drv_of(host, E1000E) == "vfio-pci"
    assert fails(host, f"{DRV}/e1000e/new_id", "8086 10d3") == errno.EEXIST
    assert fails(host, f"{DRV}/vfio-pci/new_id", "8086") == errno.EINVAL
    host.write(f"{DRV}/vfio-pci/remove_id", "8086 10d3")
    assert fails(host, f"{DRV}/vfio-pci/remove_id", "8086 10d3") == errno.ENODEV
    assert drv_of(host, E1000E) == "vfio-pci"  # removing an id does not unbind


def test_modules_and_parameters(host: SimHost) -> None:
    assert host.rmmod("igb").returncode == 0
    assert drv_of(host, IGB) is None and not host.exists(f"{DRV}/igb")
    bad = host.rmmod("igb")
    assert (bad.returncode, bad.stderr) == (1, "modprobe: FATAL: Module igb is not in kernel.\n")
    assert host.modprobe("igb", {"max_vfs": "9"}).returncode == 0
    assert host.try_read_text(dev(IGB, "sriov_numvfs")) == "7"  # igb caps max_vfs at 7
    assert host.try_read_text("sys/module/igb/parameters/max_vfs") is None
    assert host.modprobe("igb", {"max_vfs": "2"}).returncode == 0  # loaded: params ignored
    assert host.try_read_text(dev(IGB, "sriov_numvfs")) == "7"
    assert host.modprobe("no-such-module").returncode == 1
    assert host.modprobe("xen-pciback").returncode == 1  # not a Xen dom0
    assert host.modprobe("vfio-pci").returncode == 0
    assert host.try_read_text("sys/module/vfio_pci/parameters/ids") == ""
    assert "vfio_pci_core" in (host.try_read_text("proc/modules") or "")
    assert host.rmmod("vfio_pci").returncode == 0
    assert "vfio_pci_core" not in (host.try_read_text("proc/modules") or "")


def test_remove_and_rescan(host: SimHost) -> None:
    # remove_store/rescan_store/reset_store: kstrtoul(buf, 0) or EINVAL; remove acts on val != 0
    for attr in ("remove", "rescan", "reset"):
        for junk in ("y", " 1", "1x", ""):
            assert fails(host, dev(E1000E, attr), junk) == errno.EINVAL
        assert fails(host, "sys/bus/pci/rescan", "y") == errno.EINVAL
    host.write(dev(E1000E, "remove"), "0\n")
    assert host.exists(dev(E1000E))
    host.write(dev(E1000E, "remove"), "0x2")
    assert not host.exists(dev(E1000E))
    host.write("sys/bus/pci/rescan", "0")
    assert not host.exists(dev(E1000E))
    host.write(dev(IGB, "rescan"), "1\n")
    assert drv_of(host, E1000E) == "e1000e"
    host.write(dev(E1000E, "remove"), "1")
    assert not host.exists(dev(E1000E))
    host.write("sys/bus/pci/rescan", "1")
    assert drv_of(host, E1000E) == "e1000e"


def test_state_persists_between_instances(host: SimHost) -> None:
    host.write(dev(NVME, "sriov_numvfs"), "1")
    again = SimHost(host.directory)
    assert again.exists(dev("0000:01:00.1"))
    with pytest.raises(WriteFailed):
        again.write(dev(NVME, "sriov_numvfs"), "2")  # EBUSY: it knows 1 VF is enabled


def test_not_a_sim_is_one_line_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        SimHost(tmp_path)
    assert "is not a simulated host" in info.value.line()
    with pytest.raises(InputError):
        create_sim(tmp_path / "x", "no-such-profile")
    os.makedirs(tmp_path / "busy")
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(InputError):
        create_sim(tmp_path / "busy", "kernel-lab")


def test_nic_vfs_get_netdevs_from_their_driver(host: SimHost) -> None:
    host.write(dev(IGB, "sriov_numvfs"), "2")
    assert host.link_name("sys/class/net/enp3s16f2") == "enp3s16f2"
    assert host.resolve("sys/class/net/enp3s16f2").endswith("0000:03:10.2/net/enp3s16f2")
    host.write(dev("0000:03:10.2", "driver/unbind"), "0000:03:10.2")
    assert not host.exists("sys/class/net/enp3s16f2")


def test_vfio_pci_configures_sriov_only_with_enable_sriov(host: SimHost) -> None:
    assert host.modprobe("vfio-pci").returncode == 0
    host.write(dev(IGB, "driver_override"), "vfio-pci")
    host.write(dev(IGB, "driver/unbind"), IGB)
    host.write("sys/bus/pci/drivers_probe", IGB)
    assert drv_of(host, IGB) == "vfio-pci"
    assert fails(host, dev(IGB, "sriov_numvfs"), "1") == errno.ENOENT


def test_kernel_files_for_module_lookup(host: SimHost) -> None:
    import fnmatch

    release = host.try_read_text("proc/sys/kernel/osrelease")
    aliases = (host.try_read_text(f"lib/modules/{release}/modules.alias") or "").splitlines()
    modalias = host.try_read_text(dev(E1000E, "modalias")) or ""
    matched = {line.split()[2] for line in aliases if fnmatch.fnmatch(modalias, line.split()[1])}
    assert matched == {"e1000e"}
    nvme = host.try_read_text(dev(NVME, "modalias")) or ""
    assert "alias pci:v*d*sv*sd*bc01sc08i02* nvme" in aliases
    assert fnmatch.fnmatch(nvme, "pci:v*d*sv*sd*bc01sc08i02*")
    assert not [a for a in aliases if a.endswith((" vfio_pci", " xen_pciback"))]  # no autoload


def test_reset_and_reset_method(host: SimHost) -> None:
    path = dev(IGB, "reset_method")
    assert host.try_read_text(path) == "flr pm bus"  # as the lab's igb shows
    host.write(path, "bus")
    assert host.try_read_text(path) == "bus"
    assert host.try_read_text(dev(NVME, "reset_method")) == "flr bus"  # No_Soft_Reset set
    assert fails(host, dev(NVME, "reset_method"), "pm") == errno.EINVAL  # not supported there
    assert fails(host, path, "nonsense") == errno.EINVAL
    host.write(dev(IGB, "reset"), "1")
    assert fails(host, dev(IGB, "reset"), "2") == errno.EINVAL
    host.write(path, "")
    assert host.try_read_text(path) == ""
    assert fails(host, dev(IGB, "reset"), "1") == errno.ENOTTY
    host.write(path, "default")
    assert host.try_read_text(path) == "flr pm bus"
    assert fails(host, dev("0000:00:1f.3", "reset"), "1") == errno.ENOENT  # no method: no file


def test_vfio_pci_ids_parameter_and_bool_params(host: SimHost) -> None:
    host.write(dev(E1000E, "driver/unbind"), E1000E)
    ok = host.modprobe("vfio-pci", {"ids": "8086:10d3,zz:1", "enable_sriov": "1"})
    assert ok.returncode == 0
    assert drv_of(host, E1000E) == "vfio-pci"  # the ids= entry bound the unbound device
    assert host.try_read_text("sys/module/vfio_pci/parameters/enable_sriov") == "Y"
    assert host.modprobe("vfio-pci", {"bogus": "1"}).returncode == 0  # loaded: ignored


LAB_SNAPSHOT = Path(__file__).parents[2] / "fixtures/snapshots/kernel-lab.tar.gz"


def test_kernel_lab_profile_matches_the_lab_snapshot(template: Path, tmp_path: Path) -> None:
    """The freshly booted kernel-lab sim shows each function as the real lab kernel did: IDs,
    subsystem, the device uevent (PCI_CLASS is "%04X") and the reset methods it probed."""
    extract(LAB_SNAPSHOT, tmp_path / "lab")
    lab, sim = RealHost(tmp_path / "lab"), SimHost(template)
    both = set(sim.listdir(DEV)) & set(lab.listdir(DEV))
    assert len(both) == 13
    attrs = ("vendor", "device", "subsystem_vendor", "subsystem_device", "class", "revision")
    for bdf in sorted(both):
        for attr in (*attrs, "reset_method", "uevent"):
            assert sim.try_read_text(dev(bdf, attr)) == lab.try_read_text(dev(bdf, attr)), (
                bdf,
                attr,
            )
