"""RealHost: reads under a root, bounded writes with the kernel's errno."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pcipass.host.base import CommandFailed, NotThisMachine, WriteFailed
from pcipass.host.real import RealHost


def test_reads_are_relative_to_the_root_and_tolerate_missing_files(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    (tmp_path / "sys" / "a").write_text(" 0x8086\n")
    os.symlink("../drivers/e1000e", tmp_path / "sys" / "driver")
    host = RealHost(tmp_path)
    assert host.try_read_text("/sys/a") == "0x8086"
    assert host.try_read_bytes("sys/a", 3) == b" 0x"
    assert host.try_read_text("sys/missing") is None
    assert host.link_name("sys/driver") == "e1000e"
    assert host.listdir("sys") == ["a", "driver"]
    assert host.listdir("nowhere") == []


def test_write_reports_the_errno(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    (tmp_path / "attr").write_text("")
    host.write("attr", "1\n")
    assert (tmp_path / "attr").read_text() == "1\n"
    with pytest.raises(WriteFailed) as exc:
        host.write("no/such/attr", "1")
    assert exc.value.errno == errno.ENOENT
    assert "ENOENT" in exc.value.line()


def test_a_write_that_blocks_times_out_and_the_next_write_still_works(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "stuck")  # opening a FIFO with no reader blocks, like a hung driver
    host = RealHost(tmp_path)
    with pytest.raises(WriteFailed) as exc:
        host.write("stuck", "1", timeout=0.2)
    assert exc.value.errno == 0 and "timeout" in exc.value.line()
    (tmp_path / "attr").write_text("")
    host.write("attr", "ok")
    assert (tmp_path / "attr").read_text() == "ok"
    fd = os.open(tmp_path / "stuck", os.O_RDONLY | os.O_NONBLOCK)  # release the stuck writer
    os.close(fd)


def test_a_command_that_cannot_start_is_a_command_failure(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(CommandFailed, match="cannot run .*Permission denied"):
        RealHost("/").run([str(script)])
    with pytest.raises(CommandFailed, match="not found"):
        RealHost("/").run([str(tmp_path / "missing")])


def test_no_program_runs_under_a_root_that_is_not_this_machine(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(NotThisMachine, match="runs on this machine, not on the tree under") as err:
        RealHost(tmp_path).run(["touch", str(marker)])
    assert err.value.fix == "run pcipass on that host" and not marker.exists()
    assert RealHost(tmp_path / "..").local is False
    assert RealHost("/").local and RealHost("//").local


def test_append_log_appends_lines_and_truncates_on_request(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    log = host.append_log("log", truncate=True)
    log.append("a\n")
    log.append("b\n")
    log.close()
    again = host.append_log("log")
    again.append("c\n")
    again.close()
    assert (tmp_path / "log").read_text() == "a\nb\nc\n"
    host.append_log("log", truncate=True).close()
    assert (tmp_path / "log").read_text() == ""


def test_remove_tree_and_name_of(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    host.write_state_file("var/lib/x/f", "1")
    assert host.name_of("/var/lib/x/f") == f"{tmp_path}/var/lib/x/f"
    host.remove_tree("var/lib/x")
    host.remove_tree("var/lib/x")
    assert not (tmp_path / "var/lib/x").exists() and (tmp_path / "var/lib").is_dir()
