"""`pcipass attach/detach/domain list` with a running PV domU (labs/xen/domu-init, xen-pcifront):
the e1000e and an igb VF handed to the guest and seen in its own view, permissive recorded by
pciback, `assignable remove` refused while the guest holds the device, detach leaving it
assignable, `--persist` then `xl create` giving the guest the device, and the refusals made
before xl is called."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lab_layout import E1000E, E1000E_ID, IGB_PF, IGB_VF_ID, IGB_VFS, dev, drv
from waits import driver_of, wait_driver, wait_for

from helpers.cli import pcipass
from pcipass.host.base import Host
from pcipass.run.records import RECORDS
from pcipass.sim.host import create_sim

pytestmark = pytest.mark.targets(
    "sim", "xen-lab", why="xl and a running domU: the simulated Xen host or the Xen lab"
)

VF = IGB_VFS[0]
PERMISSIVE = drv("pciback", "permissive")
KERNEL = "/var/lib/lab/vmlinuz"
RAMDISK = "/var/lib/lab/domu-initrd.img"


def _config(name: str, extra: str = 'passthrough = "enabled"\n') -> str:
    return (f'name = "{name}"\ntype = "pv"\nkernel = "{KERNEL}"\nramdisk = "{RAMDISK}"\n'
            'extra = "console=hvc0 quiet labsecs=600"\nmemory = 256\nvcpus = 1\n'
            f'on_poweroff = "destroy"\non_crash = "destroy"\n{extra}')


def _create(host: Host, name: str, extra: str = 'passthrough = "enabled"\n') -> str:
    """Write the guest's config to /tmp/NAME.cfg and `xl create` it; return the path."""
    host.write_state_file(f"tmp/{name}.cfg", _config(name, extra))
    created = host.run(["xl", "create", f"/tmp/{name}.cfg"], timeout=300)
    assert created.returncode == 0, created.stderr
    wait_for(lambda: _log(host, name), lambda t: "DOMU: t=" in t, 120)
    return f"/tmp/{name}.cfg"


def _log(host: Host, name: str) -> str:
    return host.try_read_text(f"var/log/xen/console/guest-{name}.log") or ""


def _guest_ids(host: Host, name: str) -> set[str]:
    """vendor:device of the PCI devices the guest last reported (its own sysfs)."""
    log = _log(host, name)
    tail = log[log.rfind("DOMU: t="):] if "DOMU: t=" in log else ""
    return set(re.findall(r"^DOMU-PCI: \S+ ([0-9a-f]{4}:[0-9a-f]{4})", tail, re.MULTILINE))


def _domid(host: Host, name: str) -> str:
    rows = (line.split() for line in host.run(["xl", "list"]).stdout.splitlines()[1:])
    return next(r[1] for r in rows if r[0] == name)


def _wait_guest(host: Host, name: str, ids: set[str]) -> set[str]:
    return wait_for(lambda: _guest_ids(host, name), lambda seen: seen == ids, 90)


def _id(pair: tuple[str, str]) -> str:
    return f"{pair[0][2:]}:{pair[1][2:]}"


def _pci_list(host: Host, name: str) -> list[str]:
    return [line.split()[1] for line in host.run(["xl", "pci-list", name]).stdout.splitlines()[1:]]


def _vf(host: Host) -> None:
    r = pcipass("sriov", "enable", IGB_PF, "--vfs", "1", host=host)
    assert r.code == 0, r.err
    assert wait_driver(host, VF, "igbvf") == "igbvf"


def test_attach_the_e1000e_and_a_vf_see_them_in_the_guest_then_detach(host: Host) -> None:
    _vf(host)
    r = pcipass("assignable", "add", E1000E, VF, host=host)
    assert r.code == 0, r.err
    _create(host, "hot")
    r = pcipass("attach", "hot", f"{E1000E},permissive=1", "--json", host=host)
    assert r.code == 0, r.err
    hot = _domid(host, "hot")
    assert r.json()["steps"] == [f"xl pci-attach {hot} {E1000E},permissive=1"]
    assert "only for trusted guests" in r.err  # the permissive warning
    assert _wait_guest(host, "hot", {_id(E1000E_ID)}) == {_id(E1000E_ID)}
    r = pcipass("pci-attach", hot, VF, host=host)  # one hot-plug at a time: the guest is slow
    assert r.code == 0, r.err
    assert r.out == f"xl pci-attach {hot} {VF}\n"
    assert _pci_list(host, "hot") == [E1000E, VF]
    assert E1000E in (host.try_read_text(PERMISSIVE) or "").split()
    assert _wait_guest(host, "hot", {_id(E1000E_ID), _id(IGB_VF_ID)}) == \
        {_id(E1000E_ID), _id(IGB_VF_ID)}

    doc = pcipass("domain", "list", "--json", host=host).json()["domains"]
    guest = next(d for d in doc if d["name"] == "hot")
    assert (guest["type"], guest["passthrough"]) == ("pv", "enabled")
    assert [(p["bdf"], p["permissive"], p["options"]["permissive"]) for p in guest["pci"]] == \
        [(E1000E, True, "1"), (VF, False, "0")]
    table = pcipass("pci-list", "hot", host=host).out
    assert E1000E in table and VF in table

    r = pcipass("assignable", "remove", "-r", E1000E, host=host)  # the guest holds it
    assert r.code == 1 and f"attached to domain {hot}" in r.err and r.err.count("\n") == 1
    assert driver_of(host, E1000E) == "pciback" and E1000E in _pci_list(host, "hot")

    r = pcipass("detach", "hot", E1000E, host=host)
    assert r.code == 0, r.err
    assert _pci_list(host, "hot") == [VF]
    assert _wait_guest(host, "hot", {_id(IGB_VF_ID)}) == {_id(IGB_VF_ID)}
    listed = host.run(["xl", "pci-assignable-list"]).stdout.split()
    assert E1000E in listed and driver_of(host, E1000E) == "pciback"  # still assignable
    r = pcipass("detach", "hot", VF, "--give-back", host=host)
    assert r.code == 0, r.err
    assert _pci_list(host, "hot") == []
    assert wait_driver(host, VF, "igbvf") == "igbvf"


def test_persist_then_xl_create_gives_the_guest_the_device(host: Host) -> None:
    assert pcipass("assignable", "add", E1000E, host=host).code == 0
    path = _create(host, "keep")
    other = "tmp/other.cfg"
    host.write_state_file(other, _config("other"))
    r = pcipass("attach", "keep", E1000E, "--persist", f"/{other}", host=host)
    assert r.code == 2 and "is the config of 'other', not of domain 'keep'" in r.err
    assert _pci_list(host, "keep") == []  # refused before anything was done
    r = pcipass("attach", "keep", E1000E, "--persist", path, "--dry-run", host=host)
    assert r.code == 0, r.err
    assert f"xl pci-attach {_domid(host, 'keep')} {E1000E}" in r.out
    assert f"+pci = [ '{E1000E}' ]" in r.out
    assert _pci_list(host, "keep") == [] and "pci" not in (host.try_read_text(path[1:]) or "")
    r = pcipass("attach", "keep", E1000E, "--persist", path, host=host)
    assert r.code == 0, r.err
    assert f"pci = [ '{E1000E}' ]" in (host.try_read_text(path[1:]) or "")
    assert _pci_list(host, "keep") == [E1000E]

    assert host.run(["xl", "destroy", "keep"]).returncode == 0
    created = host.run(["xl", "create", path], timeout=300)
    assert created.returncode == 0, created.stderr
    assert _pci_list(host, "keep") == [E1000E]
    assert _wait_guest(host, "keep", {_id(E1000E_ID)}) == {_id(E1000E_ID)}

    r = pcipass("detach", "keep", E1000E, "--persist", path, "--json", host=host)
    assert r.code == 0, r.err
    assert r.json()["persist"]["changed"] is True
    assert E1000E not in (host.try_read_text(path[1:]) or "")
    assert _pci_list(host, "keep") == []


def test_refusals_before_xl_is_called(host: Host) -> None:
    _create(host, "nopt", "")  # a PV guest without pci=[…] or passthrough
    _create(host, "pt")
    nopt, pt = _domid(host, "nopt"), _domid(host, "pt")
    r = pcipass("attach", "05:00.0", host=host)
    assert r.code == 2 and "no domain given" in r.err and f"nopt ({nopt}), pt ({pt})" in r.err
    for args, code, said in [
        (("attach", "nosuch", E1000E), 2, "no domain 'nosuch'"),
        (("attach", "0", E1000E), 2, "is the host itself"),
        (("attach", "Domain-0", E1000E), 2, "is the host itself"),
        (("attach", "pt", E1000E), 1, f"not assignable: {E1000E} (on e1000e)"),
        (("attach", "pt", f"{E1000E},bogus=1"), 2, "unknown PCI_SPEC_STRING"),
        (("detach", "pt", E1000E), 1, "is not attached to pt (no domain holds it)"),
    ]:
        r = pcipass(*args, host=host)
        assert (r.code, said in r.err, r.err.count("\n")) == (code, True, 1), (args, r.err)
    assert driver_of(host, E1000E) == "e1000e"
    r = pcipass("attach", "nopt", f"{E1000E},seize=1", host=host)
    assert r.code == 1 and 'passthrough = "enabled"' in r.err
    assert driver_of(host, E1000E) == "e1000e"  # not even made assignable

    r = pcipass("attach", "pt", f"{E1000E},seize=1", "--dry-run", host=host)
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == f"xl pci-attach {pt} {E1000E}"
    assert driver_of(host, E1000E) == "e1000e" and _pci_list(host, "pt") == []
    r = pcipass("attach", "pt", f"{E1000E},seize=1,msitranslate=1", host=host)
    assert r.code == 0, r.err
    assert "msitranslate=1 has no effect" in r.err
    assert _pci_list(host, "pt") == [E1000E]
    r = pcipass("attach", "nopt", E1000E, host=host)
    assert r.code == 1 and f"attached to domain {pt}" in r.err
    records = json.loads(host.try_read_text(RECORDS) or "{}")
    assert E1000E in json.dumps(records)  # seize made it assignable, its driver recorded
    r = pcipass("detach", "pt", E1000E, "-r", host=host)
    assert r.code == 0, r.err
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"


@pytest.mark.targets("sim", why="the Xen lab without an IOMMU is a separate boot (LAB_IOMMU=none)")
def test_no_iommu_is_refused_before_xl(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-lab")
    _create(host, "pt")
    assert pcipass("assignable", "add", E1000E, host=host).code == 0
    state = json.loads((host.directory / "sim.json").read_text())
    state["xen"]["iommu"] = False  # as Xen booted without an IOMMU says in `xl info`
    (host.directory / "sim.json").write_text(json.dumps(state))
    r = pcipass("attach", "pt", E1000E, host=host)
    assert r.code == 1 and "Xen reports no IOMMU" in r.err
    assert _pci_list(host, "pt") == [] and host.exists(dev(E1000E))
