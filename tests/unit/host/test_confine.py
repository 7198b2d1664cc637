"""Under `--root`, no link in the tree leads a write onto this machine (config files, sysfs
attributes, pcipass's own state files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.cli import pcipass
from pcipass.host.base import WriteFailed
from pcipass.host.real import RealHost
from pcipass.host.user_files import confine

CFG = b"pci = [ '05:00.0' ]\n"


def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sys/bus/pci/devices").mkdir(parents=True)
    (root / "etc/xen").mkdir(parents=True)
    outside.mkdir()
    return root, outside


def test_confine_resolves_links_as_if_root_were_slash(tmp_path: Path) -> None:
    root, outside = tree(tmp_path)
    (root / "etc/xen/rel.cfg").symlink_to("../../../../outside/x.cfg")
    (root / "etc/xen/abs.cfg").symlink_to(str(outside / "x.cfg"))
    (root / "etc/dir").symlink_to(str(outside))
    top = os.path.realpath(root)
    assert confine(root, "/etc/xen/rel.cfg") == f"{top}/outside/x.cfg"
    assert confine(root, "/etc/xen/abs.cfg") == f"{top}{outside}/x.cfg"
    assert confine(root, "/etc/dir/g.cfg") == f"{top}{outside}/g.cfg"
    assert confine(root, "../../etc/./xen/../xen/g.cfg") == f"{top}/etc/xen/g.cfg"


def test_a_config_edit_under_root_never_follows_a_link_out(tmp_path: Path) -> None:
    root, outside = tree(tmp_path)
    victim = outside / "g.cfg"
    victim.write_bytes(CFG)
    (root / "etc/xen/g.cfg").symlink_to(os.path.relpath(victim, root / "etc/xen"))
    (root / "etc/link").symlink_to(str(outside))
    for path in ("/etc/xen/g.cfg", "/etc/link/g.cfg"):
        res = pcipass("config", "set", path, "pci_permissive", "1", host=RealHost(root))
        assert res.code == 2 and "does not exist" in res.err, res.err
    assert victim.read_bytes() == CFG and not list(outside.glob("*.pcipass-bak"))


def test_a_sysfs_write_under_root_never_follows_a_link_out(tmp_path: Path) -> None:
    root, outside = tree(tmp_path)
    victim = outside / "victim"
    victim.write_text("original")
    (root / "sys/bus/pci/devices/0000:05:00.0").mkdir()
    (root / "sys/bus/pci/devices/0000:05:00.0/reset").symlink_to(str(victim))
    host = RealHost(root)
    with pytest.raises(WriteFailed):  # the link's target, inside the tree, does not exist
        host.write("sys/bus/pci/devices/0000:05:00.0/reset", "1")
    assert victim.read_text() == "original"
    host.write_state_file("var/lib/pcipass/x.json", "{}")
    assert (root / "var/lib/pcipass/x.json").read_text() == "{}"
