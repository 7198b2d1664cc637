"""Which xenstore reader a host gives (`Host.xenstore`): another host's tree never opens this
machine's libxenstore, and the simulated host reads its own store in-process as `xenstore-ls
-f` lists it."""

from __future__ import annotations

import ctypes
import errno
from pathlib import Path

import pytest

from pcipass.host.real import RealHost
from pcipass.host.xen import _tree, xenstore_read, xenstore_tree
from pcipass.host.xenstore import _raise_unless_absent
from pcipass.sim.host import create_sim


def test_a_root_tree_never_opens_this_machines_xenstore(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    assert host.xenstore() is None and not host._xenstore_tried
    assert xenstore_read(host, "/local/domain/0/name") is None  # xenstore-read refused too
    assert xenstore_tree(host, "/libxl") == {}


def test_the_simulated_store_reads_as_xenstore_ls_lists_it(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-lab")
    assert host.run(["xenstore-write", "/libxl/pci/0000-02-00-0/domid", "1"]).returncode == 0
    listed = host.run(["xenstore-ls", "-f", "/libxl", "/local/domain/0"]).stdout.splitlines()
    assert host.xenstore().tree(["/libxl", "/local/domain/0"]) == {
        path: value.strip('"') for path, _, value in (line.partition(" = ") for line in listed)}
    assert xenstore_read(host, "/local/domain/0/name") == "Domain-0"
    assert host.xenstore().read("/libxl/pci/nosuch") is None
    assert host.xenstore().tree(["/nosuch"]) == {}


def test_only_enoent_is_an_raise_unless_absent_key() -> None:
    ctypes.set_errno(errno.ENOENT)
    _raise_unless_absent("xs_read", "/libxl/pci")  # ENOENT: an absent key, no error
    ctypes.set_errno(errno.EIO)  # xenstored went away mid-read: never "the domain holds nothing"
    with pytest.raises(OSError, match="xs_read /libxl/pci: Input/output error"):
        _raise_unless_absent("xs_read", "/libxl/pci")


def test_a_failing_store_concludes_nothing(tmp_path: Path) -> None:
    class Failing:
        def read(self, path: str) -> str | None:
            raise OSError(errno.EIO, path)

        def tree(self, paths: object) -> dict[str, str]:
            raise OSError(errno.EIO, "tree")

    host = create_sim(tmp_path / "sim", profile="xen-lab")
    host.xenstore = Failing  # type: ignore[method-assign,assignment]
    assert _tree(host, ("/libxl",)) is None
    assert xenstore_read(host, "/local/domain/0/name") is None
