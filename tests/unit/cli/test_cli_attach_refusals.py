"""attach on the simulated Xen host: refusals made before anything is done (a guest of any
type created without passthrough, conflicting permissive options, one device twice) and the
warning for a device pciback still lists as permissive."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import pcipass
from pcipass.sim.host import SimHost, create_sim

NIC = "0000:05:00.1"


def _guest(tmp_path: Path, name: str, extra: str) -> SimHost:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    cfg = host.root / "etc/xen" / f"{name}.cfg"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'name = "{name}"\nmemory = 512\n{extra}')
    assert host.run(["xl", "create", f"/etc/xen/{name}.cfg"]).returncode == 0
    return host


@pytest.mark.parametrize("kind", ["hvm", "pvh"])
def test_guest_of_any_type_without_passthrough_is_refused_before_the_seize(
        tmp_path: Path, kind: str) -> None:
    host = _guest(tmp_path, "win", f'type = "{kind}"\n')
    r = pcipass("attach", "win", f"{NIC},seize=1", "--dry-run", host=host)
    # libxl gives every domain type created without pci=[] passthrough "disabled"
    assert r.code == 1 and "passthrough" in r.err, (r.code, r.out, r.err)
    assert "pci-assignable-add" not in r.out


def test_permissive_flag_against_permissive_0_is_refused(tmp_path: Path) -> None:
    host = _guest(tmp_path, "web", 'type = "pv"\npassthrough = "enabled"\n')
    r = pcipass("attach", "web", f"{NIC},seize=1,permissive=0", "--permissive", "--dry-run",
                host=host)
    assert r.code == 2 and "permissive=0" in r.err and "--permissive" in r.err, r


def test_one_device_twice_with_other_options_is_refused(tmp_path: Path) -> None:
    host = _guest(tmp_path, "web", 'type = "pv"\npassthrough = "enabled"\n')
    r = pcipass("attach", "web", f"{NIC},seize=1,permissive=1", f"{NIC},seize=1", "--dry-run",
                host=host)
    assert r.code == 2 and f"{NIC},seize=1,permissive=1" in r.err, r


def test_one_device_twice_with_the_same_options_is_attached_once_with_a_warning(
        tmp_path: Path) -> None:
    host = _guest(tmp_path, "web", 'type = "pv"\npassthrough = "enabled"\n')
    r = pcipass("attach", "web", f"{NIC},seize=1", "05:00.1,seize=1", "--dry-run", host=host)
    assert r.code == 0, r
    assert sum("xl pci-attach" in line for line in r.out.splitlines()) == 1, r.out
    assert "given twice" in r.out + r.err, (r.out, r.err)


def test_a_device_left_permissive_by_one_guest_is_warned_when_attached_to_the_next(
        tmp_path: Path) -> None:
    host = _guest(tmp_path, "web", 'type = "pv"\npassthrough = "enabled"\n')
    cfg = host.root / "etc/xen/db.cfg"
    cfg.write_text('name = "db"\nmemory = 512\ntype = "pv"\npassthrough = "enabled"\n')
    assert host.run(["xl", "create", "/etc/xen/db.cfg"]).returncode == 0
    assert pcipass("attach", "web", f"{NIC},seize=1,permissive=1", host=host).code == 0
    assert pcipass("detach", "web", NIC, host=host).code == 0
    r = pcipass("attach", "db", NIC, host=host)
    assert r.code == 0, r
    assert "still in pciback's permissive list" in r.err, r.err
