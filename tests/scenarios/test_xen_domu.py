"""A PV domU that receives devices through `pci = [...]`: the guest's own console says
which PCI devices it sees (labs/xen/domu-init, xen-pcifront)."""

from __future__ import annotations

import re

import pytest
from lab_layout import E1000E, E1000E_ID, IGB_PF, IGB_VF_ID, IGB_VFS, dev
from waits import driver_of, wait_driver, wait_for

from pcipass.host.base import Host

pytestmark = pytest.mark.targets(
    "xen-lab", why="booting a PV domU needs the real hypervisor; the simulated host has none"
)

DOMU_KERNEL = "/var/lib/lab/vmlinuz"
DOMU_RAMDISK = "/var/lib/lab/domu-initrd.img"


def _config(name: str, pci: list[str]) -> str:
    specs = ", ".join(f"'{spec}'" for spec in pci)
    return (
        f'name = "{name}"\ntype = "pv"\nkernel = "{DOMU_KERNEL}"\nramdisk = "{DOMU_RAMDISK}"\n'
        f'extra = "console=hvc0 quiet labsecs=4"\nmemory = 256\nvcpus = 1\n'
        f'on_poweroff = "destroy"\non_crash = "destroy"\npci = [ {specs} ]\n'
    )


def _short(bdf: str) -> str:
    return bdf.removeprefix("0000:")


@pytest.fixture
def pciback(host: Host) -> Host:
    assert host.modprobe("xen-pciback").returncode == 0
    return host


def test_create_with_a_device_that_is_not_assignable_fails(pciback: Host) -> None:
    host = pciback
    host.write_state_file("tmp/notassignable.cfg", _config("notassignable", [_short(E1000E)]))
    result = host.run(["xl", "create", "/tmp/notassignable.cfg"], timeout=300)
    assert result.returncode != 0
    assert "PCI device 0:2:0.0 is not assignable" in result.stderr
    assert "notassignable" not in host.run(["xl", "list"]).stdout
    assert driver_of(host, E1000E) == "e1000e"


def test_pv_domu_sees_the_e1000e_and_an_igb_vf(pciback: Host) -> None:
    host = pciback
    vf = IGB_VFS[0]
    host.write(dev(IGB_PF, "sriov_numvfs"), "1")
    assert wait_driver(host, vf, "igbvf") == "igbvf"
    for bdf in (E1000E, vf):
        added = host.run(["xl", "pci-assignable-add", bdf])
        assert added.returncode == 0, added.stderr

    host.write_state_file("tmp/pcitest.cfg", _config("pcitest", [_short(E1000E), _short(vf)]))
    created = host.run(["xl", "create", "/tmp/pcitest.cfg"], timeout=300)
    assert created.returncode == 0, created.stderr
    listed = host.run(["xl", "pci-list", "pcitest"]).stdout
    assert E1000E in listed and vf in listed

    log_path = "var/log/xen/console/guest-pcitest.log"
    log = wait_for(lambda: host.try_read_text(log_path) or "", lambda t: "DOMU: done" in t, 300)
    assert "DOMU: done" in log, log[-2000:]
    seen = set(re.findall(r"^DOMU-PCI: \S+ ([0-9a-f]{4}:[0-9a-f]{4})", log, re.MULTILINE))
    expected = {f"{v[2:]}:{d[2:]}" for v, d in (E1000E_ID, IGB_VF_ID)}
    assert seen == expected, log[-2000:]

    gone = wait_for(lambda: host.run(["xl", "list"]).stdout, lambda out: "pcitest" not in out, 60)
    assert "pcitest" not in gone
    for bdf, driver in ((E1000E, "e1000e"), (vf, "igbvf")):
        removed = host.run(["xl", "pci-assignable-remove", "-r", bdf])
        assert removed.returncode == 0, removed.stderr
        assert wait_driver(host, bdf, driver) == driver
