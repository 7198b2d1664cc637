"""`pcipass doctor` through the CLI: the JSON keys are docs/json.md's, a tree under --root
runs nothing and says why, --log reads a file or stdin, and bad input is one line, exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from helpers.cli import pcipass
from pcipass.model.failures import MATCH_KEYS
from pcipass.ops.doctor.table import ROW_KEYS
from pcipass.sim.host import SimHost, create_sim
from unit.model.test_views import documented


@pytest.fixture
def xen(tmp_path: Path) -> SimHost:
    return create_sim(tmp_path / "sim", profile="xen-lab")


def test_docs_list_the_row_and_match_keys(xen: SimHost) -> None:
    assert documented("pcipass doctor", 0) == set(ROW_KEYS)
    assert documented("pcipass doctor", 1) == set(MATCH_KEYS) | {"confirmed"}
    doc = pcipass("doctor", "--json", "03:00.0", host=xen).json()
    assert all(list(row) == list(ROW_KEYS) for row in doc["checks"])
    match = pcipass("doctor", "--json", "--explain", "failed to quarantine 0000:03:00.0",
                    host=xen).json()["matches"][0]
    assert list(match) == [*MATCH_KEYS, "confirmed"]


def test_a_tree_under_root_runs_nothing_and_says_why(xen: SimHost) -> None:
    r = pcipass("--root", str(xen.root), "doctor", "--json")
    assert r.code == 0, r.err
    rows = {c["check"]: c for c in r.json()["checks"]}
    assert r.json()["host"] == "xen"
    for check in ("toolstack", "xen-iommu", "io-virtualisation", "dom0-mem", "xen-low-memory"):
        assert rows[check]["status"] == "unknown"
        assert "only on the host itself" in rows[check]["evidence"]
    assert rows["pciback"]["status"] == "warn"  # read from the tree's modules.dep


def test_a_terminal_table_and_exit_1_on_a_failure(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "k", profile="kernel-lab")
    r = pcipass("doctor", "00:1f.2", host=host)
    assert r.code == 1
    head, *lines = r.out.splitlines()
    assert head.split() == ["CHECK", "SUBJECT", "STATUS", "EVIDENCE", "FIX"]
    group = next(line for line in lines if line.startswith("device-group"))
    assert group.split()[1:3] == ["0000:00:1f.2", "fail"]


def test_log_file_and_stdin(xen: SimHost, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "guest.log"
    log.write_text("boot\npcifront pci-0: Could not setup SWIOTLB!\n")
    r = pcipass("doctor", "--log", str(log), host=xen)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == "line 2: pcifront pci-0: Could not setup SWIOTLB!"
    assert "xen-low-memory: pass — xc_availheap (XEN_SYSCTL_availheap, 32 address bits): " \
        "1951.0 MiB (499456 pages of 4 KiB) free below 4 GiB" in r.out
    monkeypatch.setattr("sys.stdin", io.StringIO("Looks like pciback driver is not loaded\n"))
    doc = pcipass("doctor", "--json", "--log", "-", host=xen).json()
    assert [(m["signature"], m["confirmed"][0]["status"]) for m in doc["matches"]] == \
        [("pciback-not-loaded", "warn")]
    r = pcipass("doctor", "--explain", "all fine", host=xen)
    assert (r.code, r.out.strip()) == (1, "no known failure message in the text")


def test_bad_input_is_one_line_exit_2(xen: SimHost, tmp_path: Path) -> None:
    r = pcipass("doctor", "--explain", "x", "--log", "-", host=xen)
    assert (r.code, r.err.count("\n")) == (2, 1) and "give one of them" in r.err
    r = pcipass("doctor", "--log", str(tmp_path / "missing"), host=xen)
    assert r.code == 2 and r.err.startswith("pcipass: error: cannot read --log")
    r = pcipass("doctor", "09:1f.7", host=xen)
    assert r.code == 2 and r.out == ""
