"""Simulated xl/xenstore and xen-pciback behave as Xen 4.17 and Linux do in the Xen lab."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from helpers import sims
from pcipass.host.base import CommandFailed, RunResult, WriteFailed
from pcipass.sim.host import SimHost, create_sim

E1000E, NVME = "0000:02:00.0", "0000:01:00.0"
PCIBACK = "sys/bus/pci/drivers/pciback"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sims.template(tmp_path_factory, "xen-lab")


@pytest.fixture
def host(template: Path, tmp_path: Path) -> SimHost:
    h = sims.fresh(template, tmp_path)
    assert h.modprobe("xen-pciback").returncode == 0
    return h


def xl(host: SimHost, *args: str) -> RunResult:
    return host.run(["xl", *args])


def test_assignable_add_list_remove_rebind(host: SimHost) -> None:
    assert xl(host, "pci-assignable-add", E1000E) == RunResult(
        ("xl", "pci-assignable-add", E1000E), 0, "", ""
    )
    assert xl(host, "pci-assignable-list").stdout == f"{E1000E} \n"
    assert host.link_name(f"sys/bus/pci/devices/{E1000E}/driver") == "pciback"
    assert host.try_read_text(f"{PCIBACK}/slots") == E1000E
    ls = host.run(["xenstore-ls", "-f", "/libxl"]).stdout
    assert ls == (
        '/libxl/pci = ""\n/libxl/pci/0000-02-00-0 = ""\n'
        '/libxl/pci/0000-02-00-0/driver_path = "/sys/bus/pci/drivers/e1000e"\n'
    )
    again = xl(host, "pci-assignable-add", E1000E)
    assert (again.returncode, again.stderr) == (
        0,
        "libxl: warning: libxl_pci.c:802:libxl__device_pci_assignable_add: "
        f"{E1000E} already assigned to pciback\n",
    )
    back = xl(host, "pci-assignable-remove", "-r", E1000E)
    assert back.stderr == (
        "libxl: info: libxl_pci.c:925:libxl__device_pci_assignable_remove: "
        "Rebinding to driver at /sys/bus/pci/drivers/e1000e\n"
    )
    assert host.link_name(f"sys/bus/pci/devices/{E1000E}/driver") == "e1000e"
    assert host.try_read_text(f"{PCIBACK}/slots") == ""
    assert host.run(["xenstore-ls", "-f", "/libxl"]).stdout == (
        '/libxl/pci = ""\n/libxl/pci/0000-02-00-0 = ""\n'
    )


def test_remove_without_r_leaves_device_unbound_and_keeps_record(host: SimHost) -> None:
    xl(host, "pci-assignable-add", E1000E)
    assert xl(host, "pci-assignable-remove", E1000E).returncode == 0
    assert host.link_name(f"sys/bus/pci/devices/{E1000E}/driver") is None
    path = "/libxl/pci/0000-02-00-0/driver_path"
    assert host.run(["xenstore-read", path]).stdout == "/sys/bus/pci/drivers/e1000e\n"
    readd = xl(host, "pci-assignable-add", E1000E)
    assert "not bound to a driver, will be rebound to /sys/bus/pci/drivers/e1000e" in readd.stderr


def test_bad_input_texts_and_codes(host: SimHost) -> None:
    cases = [
        (("pci-assignable-add", "00:zz.0"), 2, 'pci-assignable-add: malformed BDF "00:zz.0"\n'),
        (
            ("pci-assignable-add", "0000:00:1f.7"),
            1,
            "libxl: error: libxl_pci.c:792:libxl__device_pci_assignable_add: Couldn't lstat "
            "/sys/bus/pci/devices/0000:00:1f.7: No such file or directory\n",
        ),
        (
            ("pci-assignable-remove", NVME),
            1,
            "libxl: error: libxl_pci.c:906:libxl__device_pci_assignable_remove: "
            f"failed to de-quarantine {NVME}\n",
        ),
        (
            ("pci-assignable-remove", "no such"),
            2,
            "pci-assignable-remove: malformed BDF 'no such'\n",
        ),
    ]
    for args, rc, err in cases:
        res = xl(host, *args)
        assert (res.returncode, res.stderr) == (rc, err), args


def test_vf_with_autoprobe_off_needs_override(host: SimHost) -> None:
    host.write(f"sys/bus/pci/devices/{NVME}/sriov_drivers_autoprobe", "0")
    host.write(f"sys/bus/pci/devices/{NVME}/sriov_numvfs", "2")
    vf = "0000:01:00.1"
    res = xl(host, "pci-assignable-add", vf)
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        "libxl: warning: libxl_pci.c:822:libxl__device_pci_assignable_add: "
        f"{vf} not bound to a driver, will not be rebound.",
        "libxl: error: libxl_pci.c:380:sysfs_write_bdf: write to "
        "/sys/bus/pci/drivers/pciback/bind returned -1: No such device",
        "libxl: error: libxl_pci.c:729:pciback_dev_assign: Couldn't bind device to pciback!: "
        "No such device",
        "libxl: error: libxl_pci.c:830:libxl__device_pci_assignable_add: "
        "Couldn't bind device to pciback!",
    ]
    host.write(f"sys/bus/pci/devices/{vf}/driver_override", "pciback")
    assert xl(host, "pci-assignable-add", vf).returncode == 0
    assert xl(host, "pci-assignable-list").stdout == f"{vf} \n"
    gone = host.run(["xenstore-ls", "-f", "/libxl/pci"])
    assert (gone.returncode, gone.stderr) == (
        1,
        "xenstore-ls: xs_directory (/libxl/pci): No such file or directory\n",
    )
    res = xl(host, "pci-assignable-remove", "-r", vf)
    assert "Couldn't find path for original driver; not rebinding" in res.stderr
    assert res.returncode == 0


def test_names(host: SimHost) -> None:
    assert xl(host, "pci-assignable-add", "-n", "nic0", E1000E).returncode == 0
    assert xl(host, "pci-assignable-list", "-n").stdout == f"{E1000E} nic0\n"
    assert xl(host, "pci-assignable-remove", "-r", "nic0").returncode == 0
    assert host.link_name(f"sys/bus/pci/devices/{E1000E}/driver") == "e1000e"
    long = xl(host, "pci-assignable-add", "-n", "x" * 65, E1000E)
    assert long.returncode == 1 and "Name too long" in long.stderr


def test_pciback_slots_permissive(host: SimHost) -> None:
    host.write(f"{PCIBACK}/new_slot", E1000E)
    host.write(f"{PCIBACK}/new_slot", E1000E)  # not idempotent
    assert host.try_read_text(f"{PCIBACK}/slots") == f"{E1000E}\n{E1000E}"
    with pytest.raises(WriteFailed) as info:
        host.write(f"{PCIBACK}/permissive", E1000E)  # not seized
    assert info.value.errno == errno.ENODEV
    host.write(f"sys/bus/pci/devices/{E1000E}/driver/unbind", E1000E)
    host.write(f"{PCIBACK}/bind", E1000E)  # slot-listed: pciback's probe accepts it
    host.write(f"{PCIBACK}/permissive", E1000E)
    assert host.try_read_text(f"{PCIBACK}/permissive") == E1000E
    host.write(f"{PCIBACK}/remove_slot", E1000E)
    assert host.try_read_text(f"{PCIBACK}/slots") == ""
    with pytest.raises(WriteFailed):
        host.write(f"{PCIBACK}/remove_slot", E1000E)


def test_pciback_not_loaded(template: Path, tmp_path: Path) -> None:
    shutil.copytree(template, tmp_path / "bare", symlinks=True)
    host = SimHost(tmp_path / "bare")
    res = xl(host, "pci-assignable-add", E1000E)
    assert res.returncode == 1
    assert "Looks like pciback driver is not loaded" in res.stderr
    assert "Looks like pciback driver not loaded" in xl(host, "pci-assignable-list").stderr


def test_xenstore_tools_and_xl_info(host: SimHost) -> None:
    assert host.run(["xenstore-write", "/a/b/c", "v"]).returncode == 0
    assert host.run(["xenstore-read", "/a/b"]).stdout == "\n"
    assert host.run(["xenstore-exists", "/a/b/c"]).returncode == 0
    assert host.run(["xenstore-rm", "/a/b/nothing"]).returncode == 0  # parent exists
    missing = host.run(["xenstore-rm", "/x/y/z"])
    assert (missing.returncode, missing.stderr) == (
        1,
        "xenstore-rm: could not remove path /x/y/z\n",
    )
    assert host.run(["xenstore-rm", "/a"]).returncode == 0
    assert host.run(["xenstore-exists", "/a/b/c"]).returncode == 1
    bad = host.run(["xenstore-read", "/a"])
    assert (bad.returncode, bad.stderr) == (1, "xenstore-read: couldn't read path /a\n")
    info = xl(host, "info").stdout
    assert "virt_caps              : pv hvm hvm_directio pv_directio" in info
    assert "xen_version            : 4.17.7" in info


def test_no_xl_outside_xen(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "k", "kernel-lab")
    with pytest.raises(CommandFailed):
        host.run(["xl", "info"])


def test_pciback_hide_parameter_and_wildcards(template: Path, tmp_path: Path) -> None:
    shutil.copytree(template, tmp_path / "h", symlinks=True)
    host = SimHost(tmp_path / "h")
    bad = host.modprobe("xen-pciback", {"hide": "(0000:02:00.0"})
    assert bad.returncode == 1 and "Invalid argument" in bad.stderr
    assert not host.exists(PCIBACK)
    host.write(f"sys/bus/pci/devices/{E1000E}/driver/unbind", E1000E)
    assert host.modprobe("xen-pciback", {"hide": "(0000:02:00.0)(03:00.*)"}).returncode == 0
    assert host.link_name(f"sys/bus/pci/devices/{E1000E}/driver") == "pciback"  # seized
    assert host.link_name("sys/bus/pci/devices/0000:03:00.0/driver") == "igb"  # bound: kept
    slots = (host.try_read_text(f"{PCIBACK}/slots") or "").split()
    assert slots[0] == E1000E and len(slots) == 9
    host.write(f"{PCIBACK}/remove_slot", "03:00.*")
    assert host.try_read_text(f"{PCIBACK}/slots") == E1000E
    with pytest.raises(WriteFailed) as info:
        host.write(f"{PCIBACK}/new_slot", "02:*.1")
    assert info.value.errno == errno.EINVAL


def test_xenstore_prefix_tidy_and_usage(host: SimHost) -> None:
    host.run(["xenstore-write", "/t/a/b", "1", "/t/a/c", "2"])
    assert host.run(["xenstore-list", "-p", "/t/a"]).stdout == "/t/a/b\n/t/a/c\n"
    assert host.run(["xenstore-read", "-p", "/t/a/b"]).stdout == "/t/a/b: 1\n"
    host.run(["xenstore-rm", "/t/a/b"])
    host.run(["xenstore-rm", "-t", "/t/a/c"])  # tidies the empty /t/a and /t
    assert host.run(["xenstore-exists", "/t"]).returncode == 1
    usage = host.run(["xenstore-write", "/t/odd"])
    assert (usage.returncode, usage.stderr) == (
        1,
        "xenstore-write: Usage: xenstore-write [-h] [-s] key value [...]\n",
    )


def _cfg(host: SimHost, name: str, pci: str, extra: str = "") -> str:
    host.write_state_file(f"tmp/{name}.cfg", f'name = "{name}"\nmemory = 256\n{pci}{extra}')
    return f"/tmp/{name}.cfg"


def test_domains_hold_devices(host: SimHost) -> None:
    bad = xl(host, "create", _cfg(host, "early", "pci = [ '02:00.0' ]\n"))
    assert bad.returncode == 3
    assert bad.stderr.splitlines()[:2] == [
        "Parsing config from /tmp/early.cfg",
        "libxl: error: libxl_pci.c:1677:libxl__device_pci_add: "
        "Domain 1:PCI device 0:2:0.0 is not assignable",
    ]
    assert "early" not in xl(host, "list").stdout
    assert xl(host, "pci-assignable-add", E1000E).returncode == 0
    assert (
        xl(host, "create", _cfg(host, "guest", "pci = [ '02:00.0,permissive=1' ]\n")).returncode
        == 0
    )
    listing = xl(host, "list").stdout.splitlines()
    assert listing[1].split()[:2] == ["Domain-0", "0"]
    assert listing[2].split()[:4] == ["guest", "2", "256", "1"]  # domid 1 was used up
    assert xl(host, "pci-list", "guest").stdout == f"Vdev Device\n00.0 {E1000E}\n"
    assert host.run(["xenstore-read", "/libxl/pci/0000-02-00-0/domid"]).stdout == "2\n"
    assert host.run(["xenstore-read", "/local/domain/0/backend/pci/2/0/dev-0"]).stdout == (
        f"{E1000E}\n"
    )
    assert xl(host, "pci-assignable-list").stdout == ""  # attached devices are not listed
    held = xl(host, "pci-assignable-remove", "-r", E1000E)
    assert held.returncode == 1 and "failed to de-quarantine" in held.stderr
    assert xl(host, "pci-detach", "guest", E1000E).returncode == 0
    assert xl(host, "pci-assignable-list").stdout == f"{E1000E} \n"
    assert xl(host, "pci-attach", "guest", E1000E).returncode == 0
    assert xl(host, "destroy", "guest").returncode == 0
    assert "guest" not in xl(host, "list").stdout
    assert host.run(["xenstore-exists", "/libxl/pci/0000-02-00-0/domid"]).returncode == 1
    assert xl(host, "pci-assignable-remove", "-r", E1000E).returncode == 0
    assert host.link_name(f"sys/bus/pci/devices/{E1000E}/driver") == "e1000e"


def test_attach_needs_passthrough_and_an_iommu(host: SimHost) -> None:
    assert xl(host, "create", _cfg(host, "plain", "")).returncode == 0
    xl(host, "pci-assignable-add", E1000E)
    res = xl(host, "pci-attach", "plain", E1000E)
    assert res.returncode == 1
    assert "Domain 1:xc_assign_device failed: Operation not supported" in res.stderr
    assert xl(host, "pci-attach", "99", E1000E).stderr.count("unable to get domain type") == 3
    assert (
        xl(host, "destroy", "nosuch").stderr == "nosuch is an invalid domain identifier (rc=-6)\n"
    )
    state = json.loads((host.directory / "sim.json").read_text())
    state["xen"]["iommu"] = False
    (host.directory / "sim.json").write_text(json.dumps(state))
    res = xl(host, "create", _cfg(host, "pt", "pci = [ '02:00.0' ]\n"))
    assert res.returncode == 6 and "passthrough not supported on this platform" in res.stderr
    res = xl(host, "pci-assignable-add", "0000:03:00.0")
    assert res.returncode == 1 and "failed to quarantine 0000:03:00.0" in res.stderr
    assert host.link_name("sys/bus/pci/devices/0000:03:00.0/driver") == "pciback"  # left bound
    assert "virt_caps              : pv hvm shadow gnttab-v1 gnttab-v2" in xl(host, "info").stdout


def test_device_arguments_read_with_xl_grammar(host: SimHost) -> None:
    """xl reads a BDF with xlu_pci_parse_bdf and an attach/detach device as a PCI_SPEC_STRING
    (pcipass.spec): a function over 7 and an unknown spec key are malformed, exit 2; a spec
    with options and a vslot names its device."""
    assert xl(host, "create", _cfg(host, "guest", "passthrough = 'enabled'\n")).returncode == 0
    cases = [
        (
            ("pci-assignable-add", "0000:02:00.10"),
            'pci-assignable-add: malformed BDF "0000:02:00.10"',
        ),
        (("pci-assignable-remove", "02:00.10"), "pci-assignable-remove: malformed BDF '02:00.10'"),
        (
            ("pci-attach", "guest", f"{E1000E},bogus=1"),
            f'pci-attach: malformed PCI_SPEC_STRING "{E1000E},bogus=1"',
        ),
        (
            ("pci-detach", "guest", "02:00.10"),
            'pci-detach: malformed PCI_SPEC_STRING "02:00.10"',
        ),
    ]
    for args, err in cases:
        res = xl(host, *args)
        assert (res.returncode, res.stderr) == (2, err + "\n"), args
    assert xl(host, "pci-assignable-add", "2:0.0junk").returncode == 0
    assert xl(host, "pci-attach", "guest", "02:00.0,permissive=1@3").returncode == 0
    assert xl(host, "pci-list", "guest").stdout == f"Vdev Device\n00.0 {E1000E}\n"
