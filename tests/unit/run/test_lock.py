"""The lock: one mutating pcipass per host; a second one waits, then fails clearly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pcipass.errors import OperationError
from pcipass.host.real import RealHost
from pcipass.run.lock import LOCK, Lock


def test_second_holder_fails_with_the_first_ones_pid(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    with Lock(host):
        assert (tmp_path / LOCK).read_text().strip() == str(os.getpid())
        with pytest.raises(OperationError, match=f"another pcipass \\(pid {os.getpid()}\\)"):
            Lock(host, timeout=0.1).__enter__()
    with Lock(host, timeout=0.1):
        pass


def test_unwritable_state_dir_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("not a directory")
    with pytest.raises(OperationError, match="cannot open the lock") as err:
        Lock(RealHost(tmp_path)).__enter__()
    assert err.value.what.startswith(f"cannot open the lock {tmp_path}/{LOCK}: ")
    assert "root" in err.value.fix
