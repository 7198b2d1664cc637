"""`pcipass.host.xenctrl`: which libxenctrl files are tried, a missing one, and xc_availheap's
arguments and failures, on a stand-in library of ctypes callbacks with libxenctrl's
signatures (no Xen here). The real library answered in the xen lab
(labs/evidence/swiotlb/low-memory.txt)."""

from __future__ import annotations

import ctypes
import errno
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pcipass.host import xenctrl
from pcipass.host.base import NotThisMachine
from pcipass.host.real import RealHost

P, INT, U = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint
OPEN = ctypes.CFUNCTYPE(P, P, P, U)
HEAP = ctypes.CFUNCTYPE(INT, P, INT, INT, INT, ctypes.POINTER(ctypes.c_uint64))
CLOSE = ctypes.CFUNCTYPE(INT, P)
HANDLE = 0x5000


class FakeXenctrl:
    """xc_interface_open / xc_availheap / xc_interface_close, recording their calls."""

    def __init__(self, *, opens: bool = True, free_pages: int = 499441, rc: int = 0) -> None:
        self.calls: list[tuple[Any, ...]] = []

        def open_(logger: int | None, dombuild: int | None, flags: int) -> int | None:
            self.calls.append(("open", bool(logger), bool(dombuild), flags))
            if not opens:
                ctypes.set_errno(errno.EACCES)
            return HANDLE if opens else None

        def heap(xch: int, lo: int, hi: int, node: int, out: Any) -> int:
            self.calls.append(("availheap", xch, lo, hi, node))
            out[0] = free_pages * 4096
            if rc:
                ctypes.set_errno(errno.EACCES)
            return rc

        def close(xch: int) -> int:
            self.calls.append(("close", xch))
            return 0

        self.fns = (OPEN(open_), HEAP(heap), CLOSE(close))
        self.lib = SimpleNamespace(xc_interface_open=self.fns[0], xc_availheap=self.fns[1],
                                   xc_interface_close=self.fns[2])


def test_the_dev_link_first_then_the_newest_version(tmp_path: Path) -> None:
    for name in ("libxenctrl.so.4.9", "libxenctrl.so.4.17.0", "libxenctrl.so", "libxenctrl.a",
                 "libxenctrl.so.4.17", "libxenguest.so.4.17"):
        (tmp_path / name).touch()
    got = xenctrl.library_paths((str(tmp_path / "absent"), str(tmp_path)))
    assert [Path(p).name for p in got] == [
        "libxenctrl.so", "libxenctrl.so.4.17.0", "libxenctrl.so.4.17", "libxenctrl.so.4.9"]


def test_no_library_or_one_without_xc_availheap_is_said(tmp_path: Path) -> None:
    (tmp_path / "libxenctrl.so").write_text("not a library")
    with pytest.raises(xenctrl.XenctrlFailed, match="no libxenctrl with xc_availheap") as exc:
        xenctrl.load([str(tmp_path / "libxenctrl.so"), "libc.so.6"])
    assert "root in dom0" in exc.value.fix
    with pytest.raises(xenctrl.XenctrlFailed):
        xenctrl.load([])


def test_avail_heap_asks_for_32_bits_on_every_node_and_closes() -> None:
    fake = FakeXenctrl()
    got = xenctrl.avail_heap(fake.lib, 32)  # type: ignore[arg-type]
    assert got == 499441 * 4096
    assert fake.calls == [("open", True, True, 0), ("availheap", HANDLE, 0, 32, -1),
                          ("close", HANDLE)]


def test_a_closed_control_interface_or_a_failed_sysctl_is_an_error() -> None:
    with pytest.raises(xenctrl.XenctrlFailed, match="xc_interface_open .* Permission denied"):
        xenctrl.avail_heap(FakeXenctrl(opens=False).lib, 32)  # type: ignore[arg-type]
    fake = FakeXenctrl(rc=-1)
    with pytest.raises(xenctrl.XenctrlFailed, match=r"xc_availheap\(max_width=32\) failed"):
        xenctrl.avail_heap(fake.lib, 32)  # type: ignore[arg-type]
    assert fake.calls[-1] == ("close", HANDLE)


def test_a_tree_under_root_never_asks_this_machines_xen(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def never(bits: int) -> int:
        raise AssertionError("asked this machine's Xen")

    monkeypatch.setattr(xenctrl, "free_below", never)
    with pytest.raises(NotThisMachine, match="xc_availheap"):
        RealHost(tmp_path).xen_free_below_4gib()


def test_this_machine_without_libxenctrl(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setattr(xenctrl, "LIBRARY_DIRS", (str(tmp_path),))
    with pytest.raises(xenctrl.XenctrlFailed, match="no libxenctrl"):
        RealHost("/").xen_free_below_4gib()
