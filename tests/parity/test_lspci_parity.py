"""pcipass and lspci (pciutils) agree on every function: BDF, IDs, names, class, revision, driver.

lspci reads the same tree (``-A linux-sysfs -O sysfs.path=ROOT/sys/bus/pci``) and the
same pci.ids (``-i``); udev's hwdb is switched off (``-O hwdb.disable=1``) because
pcipass names come from pci.ids only. Trees: the model tests' Xen-like host, random
hosts generated with hypothesis (bridges, multi-function slots, PFs with VFs, unknown
IDs, odd subsystems), and the real-kernel lab's snapshots in
``tests/fixtures/snapshots/*.tar.gz`` when they are present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.model_hosts import PCI_IDS, xen_host
from pcipass.host.paths import PCI_IDS_PATHS
from pcipass.host.real import RealHost
from pcipass.model.discovery import discover
from pcipass.model.views import device_json
from pcipass.sim.layout import HostSpec, PciFunction, SriovSpec, vf_function
from pcipass.sim.tree import build_tree

pytestmark = pytest.mark.skipif(shutil.which("lspci") is None, reason="pciutils not installed")

SYSTEM_IDS = Path("/usr/share/misc/pci.ids")
SNAPSHOTS = sorted((Path(__file__).parent.parent / "fixtures" / "snapshots").glob("*.tar.gz"))
IDS_PATHS = PCI_IDS_PATHS


def lspci_records(root: Path, ids: Path) -> list[dict[str, str]]:
    """``lspci -vmm -D -nn -k`` on the tree under `root`, one dict per function."""
    out = subprocess.run(
        [
            "lspci",
            "-A",
            "linux-sysfs",
            "-O",
            f"sysfs.path={root}/sys/bus/pci",
            "-O",
            "hwdb.disable=1",
            "-i",
            str(ids),
            "-vmm",
            "-D",
            "-nn",
            "-k",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    records = []
    for block in out.strip().split("\n\n"):
        rec: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(":\t")
            rec.setdefault(key, value)
        records.append(rec)
    return records


def lspci_terse(root: Path, ids: Path) -> str:
    """``lspci -D -nn -k``: the one-line-per-function form people read."""
    return subprocess.run(
        [
            "lspci",
            "-A",
            "linux-sysfs",
            "-O",
            f"sysfs.path={root}/sys/bus/pci",
            "-O",
            "hwdb.disable=1",
            "-i",
            str(ids),
            "-D",
            "-nn",
            "-k",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def mixed(name: Any, num: Any, unknown: str) -> str:
    """lspci's ``-nn`` form of one name: ``Name [id]``, ``Unknown [id]`` without a name."""
    return f"{name or unknown} [{num}]"


def expected_record(d: dict[str, Any]) -> dict[str, str]:
    """What ``lspci -vmm -nn -k`` must print for the pcipass JSON of one function."""
    rec = {
        "Slot": d["bdf"],
        "Class": d["class_description"],
        "Vendor": mixed(d["vendor_name"], d["vendor_id"], "Vendor"),
        "Device": mixed(d["device_name"], d["device_id"], "Device"),
        "ProgIf": d["class"][4:],
    }
    if d["subsystem_description"] is not None:
        rec["SVendor"] = mixed(
            d["subsystem_vendor_name"], d["subsystem_vendor_id"], "Unknown vendor"
        )
        rec["SDevice"] = mixed(d["subsystem_device_name"], d["subsystem_device_id"], "Device")
    if d["revision"] != "00":
        rec["Rev"] = d["revision"]
    if d["driver"]:
        rec["Driver"] = d["driver"]
    if d["iommu_group"] is not None:
        rec["IOMMUGroup"] = str(d["iommu_group"])
    return rec


def expected_terse(devices: list[dict[str, Any]]) -> str:
    lines = []
    for d in devices:
        rev = f" (rev {d['revision']})" if d["revision"] != "00" else ""
        lines.append(f"{d['bdf']} {d['class_description']}: {d['description']}{rev}")
        if d["subsystem_description"] is not None:
            lines.append(f"\tSubsystem: {d['subsystem_description']}")
        if d["driver"]:
            lines.append(f"\tKernel driver in use: {d['driver']}")
    return "\n".join(lines) + "\n"


def pcipass_devices(root: Path) -> list[dict[str, Any]]:
    model = discover(RealHost(root), detail=False, usage_facts=False)
    return [device_json(d) for d in model.devices.values()]


def assert_parity(root: Path) -> int:
    """Compare both lspci forms with pcipass on `root`; return the number of functions."""
    ids = next((root / p for p in IDS_PATHS if (root / p).is_file()), None)
    assert ids is not None, "the tree must carry the pci.ids both tools read"
    ours = pcipass_devices(root)
    theirs = lspci_records(root, ids)
    ignore = {"Module", "NUMANode", "PhySlot", "DTNode"}
    assert [{k: v for k, v in r.items() if k not in ignore} for r in theirs] == [
        expected_record(d) for d in ours
    ]
    terse = (
        "\n".join(
            line for line in lspci_terse(root, ids).splitlines() if "Kernel modules:" not in line
        )
        + "\n"
    )
    assert terse == expected_terse(ours)
    return len(ours)


def with_ids(spec: HostSpec, text: str) -> HostSpec:
    from dataclasses import replace

    return replace(spec, extra_files=(("usr/share/misc/pci.ids", text),))


def test_xen_like_host_with_test_ids(tmp_path: Path) -> None:
    build_tree(tmp_path, xen_host())
    assert assert_parity(tmp_path) == 19


@pytest.mark.skipif(not SYSTEM_IDS.is_file(), reason="no system pci.ids")
def test_xen_like_host_with_system_ids(tmp_path: Path) -> None:
    build_tree(tmp_path, with_ids(xen_host(), SYSTEM_IDS.read_text(errors="replace")))
    assert assert_parity(tmp_path) == 19


def test_cli_json_is_what_the_parity_checks(tmp_path: Path) -> None:
    """The parity above uses the library; the installed command prints the same JSON."""
    build_tree(tmp_path, xen_host())
    out = subprocess.run(
        [sys.executable, "-m", "pcipass", "--root", str(tmp_path), "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["devices"] == pcipass_devices(tmp_path)


# -- generated hosts -------------------------------------------------------

ID_POOL = [
    (0x8086, 0x10FB),
    (0x8086, 0x10ED),
    (0x8086, 0xFFFE),  # known vendor, unknown device
    (0x10DE, 0x1EB8),
    (0x144D, 0xA808),
    (0x1AF4, 0x1041),
    (0x1B36, 0x000C),
    (0x1234, 0xABCD),
    (0xFFFE, 0x0001),  # unknown vendor
]
CLASS_POOL = [
    0x020000,
    0x010802,
    0x030000,
    0x030200,
    0x040300,
    0x0C0330,
    0x120000,
    0xFF0000,
    0x130000,
    0x0D1100,
    0x078000,
]
SUBSYS_POOL = [
    (0, 0),
    (0xFFFF, 0xFFFF),
    (0x8086, 0x000C),
    (0x144D, 0xA801),
    (0x1028, 0x1F63),
    (0x1234, 0x5678),
]


@st.composite
def hosts(draw: st.DrawFn) -> HostSpec:
    fns: list[PciFunction] = []
    bus = 1
    group = 1
    for port in range(draw(st.integers(1, 4))):
        rp = f"0000:00:{port + 1:02x}.0"
        fns.append(
            PciFunction(
                rp,
                0x1B36,
                0x000C,
                0x060400,
                0x1B36,
                0,
                parent=None,
                pcie_type="root_port",
                driver="pcieport",
                iommu_group=group,
            )
        )
        group += 1
        for fn in range(draw(st.integers(1, 3))):
            vendor, device = draw(st.sampled_from(ID_POOL))
            sv, sd = draw(st.sampled_from([*SUBSYS_POOL, (vendor, device)]))
            vfs = draw(st.integers(0, 6)) if fn == 0 else 0
            pf = PciFunction(
                f"0000:{bus:02x}:00.{fn}",
                vendor,
                device,
                draw(st.sampled_from(CLASS_POOL)),
                sv,
                sd,
                draw(st.integers(0, 255)),
                parent=rp,
                driver=draw(st.sampled_from([None, "ixgbe", "nvme", "vfio-pci", "pciback"])),
                iommu_group=draw(st.sampled_from([None, group])),
                sriov=SriovSpec(8, device ^ 0x1, offset=0x80, stride=2, num_vfs=vfs)
                if vfs
                else None,
            )
            fns.append(pf)
            fns.extend(vf_function(pf, i, 100 + group * 10 + i) for i in range(vfs))
        group += 1
        bus += 1
    return HostSpec(tuple(fns))


@pytest.mark.skipif(not SYSTEM_IDS.is_file(), reason="no system pci.ids")
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=hosts())
def test_generated_hosts(tmp_path_factory: pytest.TempPathFactory, spec: HostSpec) -> None:
    root = tmp_path_factory.mktemp("gen")
    build_tree(root, with_ids(spec, SYSTEM_IDS.read_text(errors="replace")))
    assert assert_parity(root) == len(spec.functions)


@given(spec=hosts())
@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_generated_hosts_with_small_ids(
    tmp_path_factory: pytest.TempPathFactory, spec: HostSpec
) -> None:
    root = tmp_path_factory.mktemp("gen")
    build_tree(root, with_ids(spec, PCI_IDS))
    assert assert_parity(root) == len(spec.functions)


# -- real-kernel snapshots -------------------------------------------------


@pytest.mark.skipif(not SNAPSHOTS, reason="no real-kernel snapshots committed yet")
@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=[p.name for p in SNAPSHOTS])
def test_real_kernel_snapshot(tmp_path: Path, snapshot: Path) -> None:
    with tarfile.open(snapshot) as tar:
        tar.extractall(tmp_path, filter="tar")
    roots = [p.parent.parent.parent for p in tmp_path.rglob("sys/bus/pci") if p.is_dir()]
    assert roots, f"{snapshot.name} holds no sys/bus/pci"
    root = roots[0]
    if not any((root / p).is_file() for p in IDS_PATHS):
        if not SYSTEM_IDS.is_file():
            pytest.skip("snapshot has no pci.ids and neither has this machine")
        (root / IDS_PATHS[0]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SYSTEM_IDS, root / IDS_PATHS[0])
    assert assert_parity(root) > 0
