"""`pcipass snapshot` captures a host tree that `--root` replays, read-only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.real import RealHost
from pcipass.host.snapshot import MANIFEST, collect, extract, write_snapshot
from pcipass.model.device import NetInterface
from pcipass.model.usage import block_by_function, net_by_function
from pcipass.sim.host import create_sim


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sim = create_sim(tmp_path_factory.mktemp("snap") / "sim", "kernel-lab")
    sim.write("sys/bus/pci/devices/0000:03:00.0/sriov_numvfs", "2")
    return sim.root


def test_round_trip_keeps_links_attributes_and_config(sim_root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "snap.tar.gz"
    cap = write_snapshot(RealHost(sim_root), str(archive))
    assert cap.files > 100 and cap.links > 30
    manifest = extract(archive, tmp_path / "replay")
    assert manifest["format"] == 1 and manifest["files"] == cap.files
    before, after = RealHost(sim_root), RealHost(tmp_path / "replay")
    for bdf in before.listdir("sys/bus/pci/devices"):
        rel = f"sys/bus/pci/devices/{bdf}"
        for attr in ("vendor", "device", "class", "driver_override", "sriov_numvfs"):
            assert after.try_read_text(f"{rel}/{attr}") == before.try_read_text(f"{rel}/{attr}")
        for link in ("driver", "iommu_group", "physfn", "virtfn1"):
            assert after.link_name(f"{rel}/{link}") == before.link_name(f"{rel}/{link}")
        assert after.try_read_bytes(f"{rel}/config") == before.try_read_bytes(f"{rel}/config")
        assert after.resolve(rel) == before.resolve(rel)
    assert after.try_read_text("proc/mounts") == before.try_read_text("proc/mounts")
    assert after.link_name("sys/class/net/enp2s0") == "enp2s0"
    assert after.link_name("sys/bus/pci/drivers/igb/module") == "igb"
    assert after.exists("sys/kernel/iommu_groups/7/devices/0000:00:1f.3")
    release = before.try_read_text("proc/sys/kernel/osrelease")
    assert release and after.try_read_text("proc/sys/kernel/osrelease") == release
    alias = f"lib/modules/{release}/modules.alias"
    assert after.try_read_text(alias) == before.try_read_text(alias)
    ids = before.try_read_bytes("usr/share/misc/pci.ids")  # the sim links the machine's, if any
    assert after.try_read_bytes("usr/share/misc/pci.ids") == ids
    assert not os.path.islink(tmp_path / "replay/usr/share/misc/pci.ids")
    # a reset method's write-only file is kept (empty): show's reset verdict needs it
    resets = {b for b in before.listdir("sys/bus/pci/devices")
              if before.exists(f"sys/bus/pci/devices/{b}/reset")}
    assert resets and resets == {b for b in after.listdir("sys/bus/pci/devices")
                                 if after.exists(f"sys/bus/pci/devices/{b}/reset")}
    # other write-only and BAR files are not captured
    assert not after.exists("sys/bus/pci/devices/0000:02:00.0/remove")
    assert not after.exists("sys/bus/pci/drivers/e1000e/bind")


@pytest.mark.skipif(shutil.which("lspci") is None, reason="pciutils not installed")
def test_lspci_reads_the_replay_like_the_original(sim_root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "s.tgz"
    write_snapshot(RealHost(sim_root), str(archive))
    extract(archive, tmp_path / "r")

    def lspci(root: Path) -> str:
        argv = ["lspci", "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-nnvk"]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    original = lspci(sim_root)
    assert "\n03:10.2 Ethernet controller" in original  # a VF, with its PF's names
    assert lspci(tmp_path / "r") == original


def test_replay_keeps_what_the_host_use_guards_read(tmp_path: Path) -> None:
    """IPv6 addresses and an IPv6 default route mark a NIC as in use: a replay must too."""
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    (sim.root / "proc/net/if_inet6").write_text(
        "20010db8000000000000000000000001 02 40 00 80   enp2s0\n"
    )
    (sim.root / "proc/net/ipv6_route").write_text(
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000400 00000001 00000000 00000003   enp2s0\n"
    )
    write_snapshot(sim, str(tmp_path / "s.tgz"))
    extract(tmp_path / "s.tgz", tmp_path / "r")

    def nic(root: Path) -> NetInterface:
        (found,) = net_by_function(RealHost(root))[PciAddress.parse("0000:02:00.0")]
        return found

    before = nic(sim.root)
    assert before.default_route and before.ipv6_addresses == ("2001:db8::1/64",)
    assert nic(tmp_path / "r") == before


def test_proc_mounts_is_captured_through_its_link(tmp_path: Path) -> None:
    """On a real host /proc/mounts is a link to self/mounts: the replay needs the content, or
    the disk holding / looks unused there."""
    sim = create_sim(tmp_path / "sim", "kernel-lab")
    mounts = sim.root / "proc/mounts"
    (sim.root / "proc/self").mkdir()
    mounts.rename(sim.root / "proc/self/mounts")
    mounts.symlink_to("self/mounts")
    write_snapshot(sim, str(tmp_path / "s.tgz"))
    extract(tmp_path / "s.tgz", tmp_path / "r")
    replay = tmp_path / "r/proc/mounts"
    assert not replay.is_symlink() and replay.read_text() == mounts.read_text()
    vda = PciAddress.parse("0000:00:04.0")
    (disk,) = block_by_function(RealHost(tmp_path / "r"))[vda]
    assert disk.holds_root and block_by_function(RealHost(sim.root))[vda] == (disk,)


def test_snapshot_is_read_only_and_dry_run_counts(sim_root: Path) -> None:
    stamp = {p: os.lstat(p).st_mtime_ns for p in sim_root.rglob("*")}
    cap = collect(RealHost(sim_root))
    assert cap.files > 0 and not cap.members[0][0].name.startswith("/")
    assert {p: os.lstat(p).st_mtime_ns for p in sim_root.rglob("*")} == stamp


def test_bad_roots_and_archives(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        collect(RealHost(tmp_path))
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w:gz") as tar:
        tar.add(__file__, arcname="x.py")
    with pytest.raises(InputError) as info:
        extract(plain, tmp_path / "out")
    assert "not a pcipass snapshot" in info.value.line()
    (tmp_path / "junk.tgz").write_text("junk")
    with pytest.raises(InputError):
        extract(tmp_path / "junk.tgz", tmp_path / "out2")


def test_manifest_first(sim_root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "m.tgz"
    write_snapshot(RealHost(sim_root), str(archive))
    with tarfile.open(archive) as tar:
        first = tar.next()
        assert first is not None and first.name == MANIFEST
        data = tar.extractfile(first)
        assert data is not None and json.load(data)["source_root"] == str(sim_root)
