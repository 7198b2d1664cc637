"""The swiotlb failure of a PV guest with a PCI device, reproduced: dom0 holds the last free
memory below 4 GiB (it gives 64 MiB back, a paused filler domain takes the rest of Xen's
free memory, dom0 balloons back up into what is left, then gives back 16 MiB of its own
pages, which lie above 4 GiB), so Xen cannot exchange the guest's
bounce buffer for contiguous memory below 4 GiB; the guest's pcifront says so, and
`pcipass doctor --log` on the guest's own console log names the signature, its fix, and
confirms it from `xl info` free_memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_layout import E1000E
from waits import wait_driver, wait_for

from helpers.cli import pcipass
from pcipass.host.base import Host

pytestmark = pytest.mark.targets(
    "xen-lab", why="the bounce buffer is exchanged with the real hypervisor's allocator "
    "(XENMEM_exchange); the simulated Xen host has no memory to run out of"
)

KERNEL = "/var/lib/lab/vmlinuz"
RAMDISK = "/var/lib/lab/domu-initrd.img"
GUEST, FILLER = "nobounce", "lowfiller"
LOG = f"/var/log/xen/console/guest-{GUEST}.log"
#: What dom0 gives back and takes again (more than the few MiB the filler cannot take).
GIVE_MB = 64
#: What dom0 then gives back again, from its own pages above 4 GiB.
BACK_MB = 16


def _config(name: str, memory: int, pci: str = "") -> str:
    return (f'name = "{name}"\ntype = "pv"\nkernel = "{KERNEL}"\nramdisk = "{RAMDISK}"\n'
            f'extra = "console=hvc0 quiet labsecs=600"\nmemory = {memory}\nvcpus = 1\n'
            f'on_poweroff = "destroy"\non_crash = "destroy"\npci = [ {pci} ]\n')


def _xl_mb(host: Host, *argv: str, row: int, col: int) -> int:
    return int(host.run(["xl", *argv]).stdout.splitlines()[row].split()[col])


def _free(host: Host) -> int:
    info = host.run(["xl", "info"]).stdout
    return int(next(line.split(":")[1] for line in info.splitlines()
                    if line.startswith("free_memory")))


def _dom0(host: Host) -> int:
    return _xl_mb(host, "list", "0", row=1, col=2)


def _create(host: Host, name: str, memory: int, pci: str = "") -> bool:
    host.write_state_file(f"tmp/{name}.cfg", _config(name, memory, pci))
    return host.run(["xl", "create", "-p", f"/tmp/{name}.cfg"], timeout=300).returncode == 0


@pytest.fixture
def starved(host: Host) -> Iterator[Host]:
    """The guest created paused with the e1000e; then Xen left with no free memory, dom0
    holding the last of it. Afterwards: both domains gone, dom0 back at its size, the
    e1000e back on e1000e."""
    assert host.modprobe("xen-pciback").returncode == 0
    added = host.run(["xl", "pci-assignable-add", E1000E])
    assert added.returncode == 0, added.stderr
    dom0 = _dom0(host)
    try:
        assert _create(host, GUEST, 256, f"'{E1000E.removeprefix('0000:')}'")
        assert host.run(["xl", "mem-set", "0", str(dom0 - GIVE_MB)]).returncode == 0
        wait_for(lambda: _dom0(host), lambda mb: mb <= dom0 - GIVE_MB, 60)
        free = _free(host)
        assert any(_create(host, FILLER, free - slack) for slack in (1, 2, 4, 8, 16, 32))
        assert host.run(["xl", "mem-set", "0", str(dom0)]).returncode == 0
        assert wait_for(lambda: _free(host), lambda mb: mb == 0, 60) == 0
        # with no free memory at all Xen cannot even split the guest's IOMMU superpages
        # (measured: "d1: IOMMU unmapping dfn … failed: -12", the guest crashed); dom0 gives
        # back some of its own pages, which lie above 4 GiB (dom0 was built there first)
        assert host.run(["xl", "mem-set", "0", str(_dom0(host) - BACK_MB)]).returncode == 0
        assert wait_for(lambda: _free(host), lambda mb: mb >= BACK_MB // 2, 60) >= BACK_MB // 2
        yield host
    finally:
        for name in (GUEST, FILLER):
            host.run(["xl", "destroy", name])
        host.run(["xl", "mem-set", "0", str(dom0)])
        wait_for(lambda: _dom0(host), lambda mb: mb >= dom0, 120)
        removed = host.run(["xl", "pci-assignable-remove", "-r", E1000E])
        assert removed.returncode == 0, removed.stderr
        assert wait_driver(host, E1000E, "e1000e") == "e1000e"


def test_the_guest_cannot_set_up_its_bounce_buffer_and_doctor_says_why(starved: Host) -> None:
    host = starved
    assert host.run(["xl", "unpause", GUEST]).returncode == 0
    # the guest keeps running (labsecs=600): its memory stays taken while doctor looks
    log = wait_for(lambda: host.try_read_text(LOG.lstrip("/")) or "",
                   lambda t: "Error setting up PCI Frontend" in t and "DOMU: t=" in t, 300)
    assert "pcifront pci-0: Could not setup SWIOTLB!" in log, log[-3000:]
    assert "pcifront pci-0: 12 Error setting up PCI Frontend" in log, log[-3000:]
    assert "DOMU-PCI:" not in log  # the guest got no PCI device

    r = pcipass("doctor", "--json", "--log", LOG, host=host)
    assert r.code == 0, r.err
    matches = {m["signature"]: m for m in r.json()["matches"]}
    assert {"pcifront-swiotlb", "pcifront-setup-enomem"} <= set(matches)
    for m in matches.values():
        assert "dom0_mem" in m["fix"] and "swiotlb=8192" in m["fix"]
        assert m["check"] == "xen-free-memory"
        [here] = m["confirmed"]
        assert here["status"] == "warn" and here["evidence"].startswith("free_memory: ")
