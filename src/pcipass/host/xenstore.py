"""xenstore read in-process through libxenstore, Xen's stable C API (tools/include/xenstore.h:
`xs_open`, `xs_read`, `xs_directory`, `xs_close`; Debian's libxenstore4), instead of one
`xenstore-ls` / `xenstore-read` program per read (0.7-8 s each in the TCG Xen lab).

Only `RealHost.xenstore` opens it, on this machine; `pcipass.host.xen` falls back to the
programs when it cannot be opened (no libxenstore, no xenstored).
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from typing import Protocol

LIBRARY = "libxenstore.so.4"
XBT_NULL = 0
"""No transaction: each read on its own, as libxl's `libxl_device_pci_list` reads."""


class XenstoreReader(Protocol):
    """The reads pcipass makes of a host's xenstore (`Host.xenstore`)."""

    def read(self, path: str) -> str | None:
        """One key's value; None when it is absent."""

    def tree(self, paths: Sequence[str]) -> dict[str, str]:
        """Every key under each of `paths` (full path → value, as `xenstore-ls -f` lists
        them: the paths themselves left out); an absent path adds nothing."""


class LibXenstore:
    """One connection to xenstored (`xs_open(0)`: its socket, else /dev/xen/xenbus);
    `OSError` when there is none."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
        libc = ctypes.CDLL(None)
        lib.xs_open.restype = ctypes.c_void_p
        lib.xs_open.argtypes = [ctypes.c_ulong]
        lib.xs_close.restype = None
        lib.xs_close.argtypes = [ctypes.c_void_p]
        lib.xs_read.restype = ctypes.c_void_p
        lib.xs_read.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p,
                                ctypes.POINTER(ctypes.c_uint)]
        lib.xs_directory.restype = ctypes.POINTER(ctypes.c_char_p)
        lib.xs_directory.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p,
                                     ctypes.POINTER(ctypes.c_uint)]
        libc.free.restype = None
        libc.free.argtypes = [ctypes.c_void_p]
        self._lib, self._free = lib, libc.free
        self._handle = lib.xs_open(0)
        if not self._handle:
            err = ctypes.get_errno()
            raise OSError(err, f"xs_open: {os.strerror(err)}")

    def read(self, path: str) -> str | None:
        size = ctypes.c_uint()
        value = self._lib.xs_read(self._handle, XBT_NULL, path.encode(), ctypes.byref(size))
        if not value:
            _raise_unless_absent("xs_read", path)
            return None
        try:
            return ctypes.string_at(value, size.value).decode("utf-8", errors="replace")
        finally:
            self._free(value)

    def directory(self, path: str) -> list[str] | None:
        """The names of a node's children; None when it is absent."""
        count = ctypes.c_uint()
        names = self._lib.xs_directory(self._handle, XBT_NULL, path.encode(),
                                       ctypes.byref(count))
        if not names:
            _raise_unless_absent("xs_directory", path)
            return None
        try:  # one malloc'd block: the array and its strings
            return [(names[i] or b"").decode("utf-8", errors="replace")
                    for i in range(count.value)]
        finally:
            self._free(ctypes.cast(names, ctypes.c_void_p))

    def tree(self, paths: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for path in paths:
            self._walk(path.rstrip("/") or "/", found)
        return found

    def _walk(self, path: str, found: dict[str, str]) -> None:
        for child in self.directory(path) or []:
            sub = f"{path.rstrip('/')}/{child}"
            found[sub] = self.read(sub) or ""
            self._walk(sub, found)

    def close(self) -> None:
        if self._handle:
            self._lib.xs_close(self._handle)
            self._handle = None


def _raise_unless_absent(call: str, path: str) -> None:
    """A failed read is a key that is not there only with ENOENT; any other failure
    (xenstored gone, a refusal) is an `OSError`, never taken for an absent key."""
    err = ctypes.get_errno()
    if err != errno.ENOENT:
        raise OSError(err, f"{call} {path}: {os.strerror(err)}")
