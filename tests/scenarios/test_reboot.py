"""Two boots on one disk (`labs/run-twoboot`): boot 1 declares the host state with
pcipass's own commands and applies it; boot 2 finds, before pcipass changed anything,
the devices claimed early (KVM: the e1000e on vfio-pci through the udev rule; Xen: the
e1000e hidden on pciback through the modprobe.d softdep), its driver never bound, then
runs the boot unit's ExecStart as systemd would after udev settled, which creates the
igb VFs (and, in the kernel lab, sets VF 0's declared MAC). Each phase prints
`pcipass plan` and `pcipass boot status`.

The phase comes from PCIPASS_REBOOT_PHASE (1 or 2, set by labs/run-twoboot); without
it both tests skip. The labs have no systemd: `systemctl enable` is done by its effect
(the WantedBy= link), and the unit's ExecStart is run by the test.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from lab_layout import E1000E, IGB_PF, IGB_VFS, dev
from waits import driver_of, wait_driver, wait_for

from helpers.cli import pcipass
from pcipass.host.base import Host
from pcipass.host.real import RealHost
from pcipass.ops.boot import MODPROBE_FILE, UDEV_FILE, UNIT_FILE, UNIT_WANTS

pytestmark = pytest.mark.targets(
    "kernel-lab", "xen-lab",
    why="the simulated host cannot reboot: its boot loads a fixed module list and reads "
        "neither modprobe.d nor udev rules")
PHASE = os.environ.get("PCIPASS_REBOOT_PHASE", "")
VF_COUNT = 2
VF_MAC = "02:00:00:0b:00:01"  # declared for VF 0 in the kernel lab
STUB = {"kernel-lab": "vfio-pci", "xen-lab": "pciback"}
BACKEND = {"kernel-lab": "vfio", "xen-lab": "xen"}
CLAIM_FILE = {"kernel-lab": UDEV_FILE, "xen-lab": MODPROBE_FILE}


def phase(n: int) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        str(n) != PHASE,
        reason=f"boot {n} of labs/run-twoboot only (PCIPASS_REBOOT_PHASE={n}; "
               f"it is {PHASE or 'unset'})")


@pytest.fixture
def booted() -> Host:
    """This lab as it booted, left as the phase leaves it: boot 2 needs boot 1's disk
    (declared state, boot files, records), so nothing is put back."""
    return RealHost("/")


def show(host: Host, when: str) -> None:
    """Print `pcipass plan` and `pcipass boot status` (human output) into the run's log."""
    for args in (("plan",), ("boot", "status")):
        r = pcipass(*args, host=host)
        print(f"\n===== pcipass {' '.join(args)} — {when} (exit {r.code}) =====")
        print(r.out + r.err, end="", flush=True)
        assert r.code == 0, r.err


def status(host: Host) -> dict[str, tuple[str, str]]:
    rows = pcipass("boot", "status", "--json", host=host).json()["boot"]
    return {r["bdf"]: (r["verdict"], r["next_boot"]) for r in rows}


def expected(target: str, vfs: tuple[str, str]) -> dict[str, tuple[str, str]]:
    """`boot status` rows: the VF count (and VF 0's MAC in the kernel lab) as `vfs` says,
    the e1000e active, claimed early."""
    rows = {IGB_PF: vfs}
    if target == "kernel-lab":
        rows[IGB_VFS[0]] = vfs
    rows[E1000E] = ("active now", f"claimed early by /{CLAIM_FILE[target]}")
    return rows


def ip_link_mac(host: Host, vf: int) -> str | None:
    """VF `vf`'s MAC as `ip link show PF` (netlink) reports it."""
    netdev = pcipass("vf", "show", IGB_PF, "--json", host=host).json()["netdev"]
    r = host.run(["ip", "link", "show", netdev])
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        words = line.split()
        if words[:2] == ["vf", str(vf)] and "link/ether" in words:
            return words[words.index("link/ether") + 1]
    return None


def kernel_log(host: Host) -> list[str]:
    r = host.run(["dmesg"])
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@phase(1)
def test_boot1_declare_apply_enable(booted: Host, target: str) -> None:
    host = booted
    assert pcipass("state", "show", host=host).out == "nothing is declared\n"
    r = pcipass("state", "set-vfs", IGB_PF, str(VF_COUNT), host=host)
    assert r.code == 0, r.err
    r = pcipass("state", "add-assignable", E1000E, "--backend", BACKEND[target],
                "--claim-at-boot", host=host)
    assert r.code == 0, r.err
    if target == "kernel-lab":
        r = pcipass("state", "set-vf", IGB_PF, "0", "--mac", VF_MAC, host=host)
        assert r.code == 0, r.err
    r = pcipass("apply", host=host)
    assert r.code == 0, r.err
    print(r.out, end="")
    assert driver_of(host, E1000E) == STUB[target]
    assert host.try_read_text(dev(IGB_PF, "sriov_numvfs")) == str(VF_COUNT)
    assert host.exists(CLAIM_FILE[target]) and host.exists(UNIT_FILE)
    assert pcipass("boot", "enable", "--dry-run", host=host).out == \
        "systemctl enable pcipass-apply.service\n"
    wants = Path(host.root, UNIT_WANTS)  # the labs have no systemctl: what `enable` makes
    wants.parent.mkdir(parents=True, exist_ok=True)
    wants.symlink_to(f"/{UNIT_FILE}")
    assert "already enabled" in pcipass("boot", "enable", host=host).err
    assert status(host) == expected(target, ("active now", "by the boot unit"))
    if target == "kernel-lab":
        assert ip_link_mac(host, 0) == VF_MAC
    show(host, f"{target}, end of boot 1 (before the second boot)")


@phase(2)
def test_boot2_claimed_early_then_the_boot_unit(booted: Host, target: str) -> None:
    host = booted
    show(host, f"{target}, boot 2, before pcipass changed anything")
    print(f"\n===== /{CLAIM_FILE[target]} =====\n{host.try_read_text(CLAIM_FILE[target])}")
    print(f"===== driver of {E1000E}: {driver_of(host, E1000E)} =====")
    assert driver_of(host, E1000E) == STUB[target]
    log = kernel_log(host)
    print(f"\n===== dmesg lines naming {E1000E}, pciback or e1000e =====")
    print("\n".join(line for line in log
                    if E1000E in line or "pciback" in line or "e1000e" in line))
    assert any(line.find(f"igb {IGB_PF}") >= 0 for line in log)  # the log shows probes
    assert host.exists("sys/module/e1000e")  # its driver was loaded, and did not bind:
    assert [line for line in log if f"e1000e {E1000E}" in line] == []
    if target == "xen-lab":
        # as the Xen lab's dom0 printed it: "pciback 0000:02:00.0: xen_pciback: seizing device"
        assert any(f"pciback {E1000E}: xen_pciback: seizing device" in line
                   for line in log), log[-30:]
        listed = host.run(["xl", "pci-assignable-list"])
        print(f"===== xl pci-assignable-list =====\n{listed.stdout}{listed.stderr}", end="")
        assert listed.returncode == 0 and E1000E in listed.stdout.split(), listed
    else:
        assert host.try_read_text(dev(E1000E, "driver_override")) == "vfio-pci"
    assert host.try_read_text(dev(IGB_PF, "sriov_numvfs")) == "0"
    assert status(host) == expected(target, ("applies at next boot", "by the boot unit"))
    unit = host.try_read_text(UNIT_FILE)
    assert unit is not None
    execstart = [line.split("=", 1)[1] for line in unit.splitlines()
                 if line.startswith("ExecStart=")]
    argv = shlex.split(execstart[0])
    assert argv[1:] == ["apply", "--boot"]
    r = host.run(argv)  # where systemd runs it: udev has settled (the lab's init)
    print(f"\n===== {execstart[0]} (exit {r.returncode}) =====\n{r.stdout}{r.stderr}", end="")
    assert r.returncode == 0, r.stderr
    assert host.try_read_text(dev(IGB_PF, "sriov_numvfs")) == str(VF_COUNT)
    assert [wait_driver(host, v, "igbvf") for v in IGB_VFS[:VF_COUNT]] == ["igbvf"] * VF_COUNT
    assert not host.exists(dev(IGB_VFS[VF_COUNT]))
    if target == "kernel-lab":
        assert ip_link_mac(host, 0) == VF_MAC
    assert wait_for(lambda: pcipass("plan", "--json", host=host).json()["converged"],
                    lambda done: done is True, timeout=10)
    show(host, f"{target}, boot 2, after the boot unit's ExecStart")
