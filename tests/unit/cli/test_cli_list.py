"""`pcipass list/show/tree`: tables, filters, JSON shapes and the error contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import Cli, pcipass
from helpers.machine import pci_functions, sysfs_hex
from helpers.model_hosts import build
from pcipass.host.base import Host


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("host"))


def listing(root: Path, *args: str) -> list[dict[str, object]]:
    code, out, err = pcipass("--root", str(root), "--json", "list", *args)
    assert code == 0, err
    devices: list[dict[str, object]] = json.loads(out)["devices"]
    return devices


def test_table(cli: Cli, root: Path) -> None:
    code, out, _ = cli("--root", str(root), "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["BDF", "CLASS", "DEVICE", "DRIVER", "GROUP", "STATUS"]
    pf = next(line for line in lines if line.startswith("0000:05:00.0"))
    assert "Ethernet controller [0200]" in pf
    assert "Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection [8086:10fb]" in pf
    assert pf.split()[-3:] == ["ixgbe", "20", "host-driver"]
    assert len(lines) == 1 + 19  # every function of the host


def test_json_fields(cli: Cli, root: Path) -> None:
    code, out, _ = cli("--root", str(root), "list", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["pci_ids"] == "/usr/share/misc/pci.ids" and doc["iommu"] is True
    vf = next(d for d in doc["devices"] if d["bdf"] == "0000:05:10.0")
    assert vf["physfn"] == "0000:05:00.0" and vf["status"] == "unbound"
    assert vf["device_id"] == "10ed" and vf["class"] == "020000" and vf["revision"] == "01"
    assert vf["description"] == (
        "Intel Corporation 82599 Ethernet Controller Virtual Function [8086:10ed]"
    )
    unknown = next(d for d in doc["devices"] if d["bdf"] == "0000:00:1d.0")
    assert unknown["vendor_name"] is None and unknown["description"] == "Device [1234:abcd]"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--class", "net", "--driver", "ixgbe"), ["0000:05:00.0", "0000:05:00.1"]),
        (("--class", "storage"), ["0000:09:00.0"]),
        (("--class", "gpu", "--class", "audio"), ["0000:06:00.0", "0000:06:00.1"]),
        (("--class", "0403"), ["0000:06:00.1"]),
        (("--driver", "none", "--class", "net"), ["0000:05:10.0", "0000:05:10.2", "0000:05:10.4"]),
        (("--sriov", "--device", "10fb"), ["0000:05:00.0", "0000:05:00.1"]),
        (("--vendor", "nvidia"), ["0000:06:00.0", "0000:06:00.1"]),
        (("--vendor", "10de", "--device", "audio"), ["0000:06:00.1"]),
    ],
)
def test_filters(root: Path, args: tuple[str, ...], expected: list[str]) -> None:
    assert [d["bdf"] for d in listing(root, *args)] == expected


def test_bad_class(cli: Cli, root: Path) -> None:
    code, out, err = cli("--root", str(root), "list", "--class", "toaster")
    assert code == 2 and out == ""
    assert err.startswith("pcipass: error: unknown device class 'toaster' — use one of")


def test_show_by_interface_json(cli: Cli, root: Path) -> None:
    code, out, _ = cli("--root", str(root), "--json", "show", "eno1")
    assert code == 0
    doc = json.loads(out)
    assert doc["bdf"] == "0000:0a:00.0" and doc["ready"] is False
    assert doc["net"][0]["name"] == "eno1" and doc["net"][0]["default_route"] is True
    assert doc["findings"][0]["code"] == "net-default-route"
    assert doc["parent"] == "0000:08:02.0" and doc["pcie_type"] == "endpoint"


def test_show_pf_human(cli: Cli, root: Path) -> None:
    code, out, _ = cli("--root", str(root), "show", "05:00.0")
    assert code == 0
    assert "3/63 VFs, offset 128, stride 2, VF id 10ed" in out
    assert "Ethernet Server Adapter X520-T2 [8086:000c]" in out
    # `assignable add` refuses a PF with enabled VFs: show says so, with the flag
    assert "not ready" in out and "unbinding it destroys them  [--force-vfs]" in out


def test_show_group_members(cli: Cli, root: Path) -> None:
    code, out, _ = cli("--root", str(root), "--json", "show", "0000:06:00.0")
    doc = json.loads(out)
    assert [m["bdf"] for m in doc["group_members"]] == ["0000:06:00.1"]
    assert doc["reset"]["flr"] is False


def test_show_errors(cli: Cli, root: Path, tmp_path: Path) -> None:
    code, out, err = cli("--root", str(root), "show", "05:00.7")
    assert code == 2 and out == ""
    assert "no PCI device 0000:05:00.7" in err and "nearest existing: 0000:05:00.1" in err
    code, _, err = cli("--root", str(root), "show", "0002:05:00.0")
    assert code == 2 and "domain 0002" in err
    code, _, err = cli("--root", str(tmp_path), "list")
    assert code == 2 and "is not a host tree" in err
    assert len(err.splitlines()) == 1


def test_tree(cli: Cli, root: Path) -> None:
    code, out, _ = cli("--root", str(root), "--json", "tree")
    assert code == 0
    doc = json.loads(out)
    rp3 = next(n for n in doc["tree"] if n["bdf"] == "0000:00:03.0")
    upstream = rp3["children"][0]
    assert upstream["bdf"] == "0000:07:00.0"
    assert [c["bdf"] for c in upstream["children"]] == ["0000:08:01.0", "0000:08:02.0"]
    rp1 = next(n for n in doc["tree"] if n["bdf"] == "0000:00:01.0")
    pf = rp1["children"][0]
    assert [v["bdf"] for v in pf["vfs"]] == ["0000:05:10.0", "0000:05:10.2", "0000:05:10.4"]
    assert [c["bdf"] for c in rp1["children"]] == ["0000:05:00.0", "0000:05:00.1"]
    assert doc["groups"]["40"] == ["0000:06:00.0", "0000:06:00.1"]
    code, out, _ = cli("--root", str(root), "tree")
    assert code == 0 and "3 virtual functions" in out and "IOMMU groups" in out
    # labels are plain text: rich markup must not swallow "[group N]" or "[8086:10fb]"
    assert "(ixgbe) [group 20]" in out and "[8086:10fb]" in out


def test_show_lines_have_no_trailing_blanks(cli: Cli, root: Path) -> None:
    for target in ("05:00.0", "eno1"):
        code, out, _ = cli("--root", str(root), "show", target)
        assert code == 0
        assert [line for line in out.splitlines() if line != line.rstrip()] == []
        assert any(line.split()[:1] == ["net"] for line in out.splitlines())


def test_tree_reads_only_what_it_shows(
    cli: Cli, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    original = Host.try_read_bytes

    def spy(self: Host, rel: str, limit: int = -1) -> bytes | None:
        read.append(rel)
        return original(self, rel, limit)

    monkeypatch.setattr(Host, "try_read_bytes", spy)
    assert cli("--root", str(root), "tree")[0] == 0
    assert any(r.endswith("/uevent") for r in read)
    assert [r for r in read if r.endswith(("/revision", "/subsystem_vendor", "/config"))] == []


def test_this_machine(cli: Cli) -> None:
    names = pci_functions()
    code, out, err = cli("--json", "list")
    assert code == 0, err
    devices = json.loads(out)["devices"]
    assert len(devices) == len(names)
    assert sorted(d["bdf"] for d in devices) == names
    for d in devices:  # every function has its class, as sysfs says it
        assert int(d["class"], 16) == sysfs_hex(d["bdf"], "class"), d["bdf"]
