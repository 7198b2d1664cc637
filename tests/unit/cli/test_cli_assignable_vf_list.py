"""`assignable add PF --vf LIST`: a bad or huge list is one input error line, at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers.cli import pcipass
from pcipass.sim.host import create_sim

PF = "0000:05:00.0"


@pytest.mark.parametrize("vfs", ["0-99999999999999999999", "\u00b2", "0-100000000"])
def test_bad_vf_list_is_an_input_error_not_internal(tmp_path: Path, vfs: str) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    assert pcipass("sriov", "enable", PF, "--vfs", "2", host=host).code == 0
    start = time.monotonic()
    r = pcipass("assignable", "add", PF, "--vf", vfs, "--dry-run", host=host)
    assert (r.code, "internal error" in r.err, len(r.err.strip().splitlines())) == (2, False, 1)
    assert time.monotonic() - start < 10, "the list was expanded before it was bounded"


def test_vf_with_two_specs_names_no_made_up_pf(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    r = pcipass("assignable", "add", PF, "0000:05:00.1", "--vf", "0", host=host)
    assert r.code == 2 and "0000:03:00.0" not in r.err and "add PF --vf" in r.err
