"""pci.ids lookups follow pciutils' parsing and fallback rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pcipass.model.pciids import (
    PciIds,
    class_label,
    format_class,
    format_device,
    format_subsystem,
    load,
)

TEXT = b"""\
# comment
1028  Dell
8086  Intel Corporation
\t10fb  82599ES 10-Gigabit SFI/SFP+ Network Connection
\t\t8086 000c  Ethernet Server Adapter X520-T2
\t\t1028 1f63  Dell Card
# comment inside the block
\t10ed  82599 Ethernet Controller Virtual Function\x20
\t10ed  duplicate: the first entry wins
1af4  Red Hat, Inc.
\t1041  Virtio 1.0 network device
abcd  Trailing tabs keep all but one\t\t
S 1028
\t1f63  Generic Dell subsystem
\t0001  Only generic
C 02  Network controller
\t00  Ethernet controller
\t80  Network controller
C 0c  Serial bus controller
\t03  USB controller
\t\t30  XHCI
C 12  Processing accelerators
"""


@pytest.fixture()
def ids() -> PciIds:
    return PciIds(TEXT, "/usr/share/misc/pci.ids")


def test_vendor_device_and_fallbacks(ids: PciIds) -> None:
    assert ids.vendor(0x8086) == "Intel Corporation"
    assert ids.device(0x8086, 0x10FB) == "82599ES 10-Gigabit SFI/SFP+ Network Connection"
    assert ids.device(0x8086, 0x10ED) == "82599 Ethernet Controller Virtual Function"
    assert ids.device(0x8086, 0x1041) is None  # belongs to another vendor's block
    assert ids.device(0x1AF4, 0x1041) == "Virtio 1.0 network device"
    assert ids.vendor(0xABCD) == "Trailing tabs keep all but one\t"
    assert ids.vendor(0x1234) is None


def test_subsystem_rules(ids: PciIds) -> None:
    assert ids.subsystem(0x8086, 0x10FB, 0x8086, 0x000C) == "Ethernet Server Adapter X520-T2"
    # per-device entry wins over the generic S block
    assert ids.subsystem(0x8086, 0x10FB, 0x1028, 0x1F63) == "Dell Card"
    assert ids.subsystem(0x8086, 0x10ED, 0x1028, 0x1F63) == "Generic Dell subsystem"
    assert ids.subsystem(0x8086, 0x10ED, 0x1028, 0x0001) == "Only generic"
    # subsystem == device falls back to the device's own name
    assert ids.subsystem(0x1AF4, 0x1041, 0x1AF4, 0x1041) == "Virtio 1.0 network device"
    assert ids.subsystem(0x1AF4, 0x1041, 0x1AF4, 0x0001) is None


def test_classes(ids: PciIds) -> None:
    assert ids.class_name(0x02) == "Network controller"
    assert ids.subclass_name(0x02, 0x00) == "Ethernet controller"
    assert ids.progif_name(0x0C, 0x03, 0x30) == "XHCI"
    assert ids.progif_name(0x0C, 0x03, 0x20) is None
    assert format_class(ids, 0x020000) == "Ethernet controller [0200]"
    assert format_class(ids, 0x120100) == "Processing accelerators [1201]"  # class fallback
    assert format_class(ids, 0x130000) == "Class [1300]"
    assert class_label(ids, 0x130000) == "Class 1300"


def test_lspci_formats(ids: PciIds) -> None:
    assert format_device(ids, 0x8086, 0x10FB).endswith("Connection [8086:10fb]")
    assert format_device(ids, 0x8086, 0x1234) == "Intel Corporation Device [8086:1234]"
    assert format_device(ids, 0x1234, 0x5678) == "Device [1234:5678]"
    assert (
        format_subsystem(ids, 0x8086, 0x10FB, 0x8086, 0x000C)
        == "Intel Corporation Ethernet Server Adapter X520-T2 [8086:000c]"
    )
    assert format_subsystem(ids, 0x8086, 0x10FB, 0x1111, 0x2222) == "Device [1111:2222]"


def test_no_file_installed() -> None:
    ids = load(lambda rel: None)
    assert not ids.available and ids.source is None
    assert ids.vendor(0x8086) is None
    assert format_device(ids, 0x8086, 0x10FB) == "Device [8086:10fb]"
    assert format_class(ids, 0x020000) == "Class [0200]"


def test_load_takes_the_first_path_found() -> None:
    files = {"usr/share/hwdata/pci.ids": TEXT, "usr/share/pci.ids": b"8086  Other\n"}
    ids = load(files.get)
    assert ids.source == "/usr/share/hwdata/pci.ids"
    assert ids.vendor(0x8086) == "Intel Corporation"


@pytest.mark.skipif(shutil.which("lspci") is None, reason="pciutils not installed")
def test_names_match_lspci_on_the_same_file(tmp_path: Path) -> None:
    """lspci's own lookup (dump access, -i FILE) gives the names we give."""
    path = tmp_path / "pci.ids"
    path.write_bytes(TEXT.replace(b"\t10ed  duplicate: the first entry wins\n", b""))
    ids = PciIds(path.read_bytes())
    # One function per line of an lspci -F dump: 8086:10fb with subsystem 1028:1f63, class 0200.
    cfg = bytearray(64)
    cfg[0:4] = bytes.fromhex("8680fb10")
    cfg[0x09:0x0C] = bytes.fromhex("000002")
    cfg[0x2C:0x30] = bytes.fromhex("2810631f")
    dump = tmp_path / "dump"
    rows = [f"{i:02x}: " + " ".join(f"{b:02x}" for b in cfg[i : i + 16]) for i in (0, 16, 32, 48)]
    dump.write_text("00:01.0 x\n" + "\n".join(rows) + "\n")
    out = subprocess.run(
        [
            "lspci",
            "-A",
            "dump",
            "-O",
            f"dump.name={dump}",
            "-O",
            "hwdb.disable=1",
            "-i",
            str(path),
            "-nnv",
            "-s",
            "00:01.0",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    first, subsystem = out.splitlines()[0], out.splitlines()[1].strip()
    assert first == "00:01.0 " + format_class(ids, 0x020000) + ": " + format_device(
        ids, 0x8086, 0x10FB
    )
    assert subsystem == "Subsystem: " + format_subsystem(ids, 0x8086, 0x10FB, 0x1028, 0x1F63)


def test_a_tree_without_pci_ids_is_named_from_this_machine() -> None:
    machine = {"usr/share/misc/pci.ids": TEXT}
    ids = load(lambda rel: None, machine.get)
    assert (ids.source, ids.origin) == ("/usr/share/misc/pci.ids", "machine")
    assert ids.vendor(0x8086) == "Intel Corporation"
    tree = {"usr/share/pci.ids": b"8086  Tree Intel\n"}
    ids = load(tree.get, machine.get)  # the tree's own file wins
    assert (ids.source, ids.origin) == ("/usr/share/pci.ids", "tree")
    assert ids.vendor(0x8086) == "Tree Intel"
    assert load(lambda rel: None, lambda rel: None).origin is None
