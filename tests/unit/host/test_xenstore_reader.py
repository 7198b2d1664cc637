"""Which xenstore reader a host gives (`Host.xenstore`): another host's tree never opens this
machine's libxenstore, and the simulated host reads its own store in-process as `xenstore-ls
-f` lists it."""

from __future__ import annotations

from pathlib import Path

from pcipass.host.real import RealHost
from pcipass.host.xen import xenstore_read, xenstore_tree
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
