"""Xen's free heap memory below an address width: libxenctrl's `xc_availheap`, through ctypes.

Xen 4.17 `tools/include/xenctrl.h`: ``int xc_availheap(xc_interface *xch, int min_width, int
max_width, int node, uint64_t *bytes)`` (0 on success, <0 on failure; a width of 0 means "don't
care", node -1 all nodes), which issues XEN_SYSCTL_availheap (`tools/libs/ctrl/xc_domain.c`).
Xen answers with `avail_domheap_pages_region` (`xen/common/page_alloc.c`): the free pages of
zones ``bits_to_zone(min_width)..bits_to_zone(max_width)``, zone Z holding the MFNs of bit
length Z (`page_to_zone`), so max_width 32 counts zones 1..20, every free page below 4 GiB.
xend's `xc.physinfo()` asked the same (`node_to_dma32_mem`: ``xc_availheap(xch, 0, 32, node)``).

Only dom0's root can open Xen's control interface (/dev/xen/privcmd). libxenctrl's messages
go to a logger that drops them (its default prints on stderr): `XenctrlFailed` says what failed.
Only `pcipass.host.real.RealHost` calls this, and only on this machine.
"""

from __future__ import annotations

import ctypes
import os
import sysconfig

from pcipass.host.base import CommandFailed

_MULTIARCH = sysconfig.get_config_var("MULTIARCH")
#: Where distributions install libxenctrl (Debian: libxenmisc4.17, libxenctrl.so.4.17).
LIBRARY_DIRS = ((f"/usr/lib/{_MULTIARCH}",) if _MULTIARCH else ()) + (
    "/usr/lib64", "/usr/lib", "/usr/local/lib")
LIBRARY = "libxenctrl.so"
FIX = "run pcipass as root in dom0 (Debian: libxenmisc4.17 provides libxenctrl)"

_VMESSAGE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                             ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)


class _Logger(ctypes.Structure):
    """xentoollog.h `struct xentoollog_logger`: vmessage, progress, destroy."""

    _fields_ = [("vmessage", _VMESSAGE), ("progress", ctypes.c_void_p),
                ("destroy", ctypes.c_void_p)]


def _drop(*_: object) -> None:
    """A logger's vmessage that prints nothing."""


class XenctrlFailed(CommandFailed):
    """libxenctrl is absent, or Xen's control interface could not be opened or asked."""


def library_paths(dirs: tuple[str, ...]) -> list[str]:
    """The libxenctrl files to try: ``libxenctrl.so`` (the -dev link) before the versioned
    ones, newest first, in each directory."""
    found = []
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        versioned = sorted((n for n in names if n.startswith(LIBRARY + ".")),
                           key=lambda n: [int(p) if p.isdigit() else -1
                                          for p in n[len(LIBRARY) + 1:].split(".")],
                           reverse=True)
        found += [os.path.join(d, n) for n in ([LIBRARY] if LIBRARY in names else []) + versioned]
    return found


def load(paths: list[str]) -> ctypes.CDLL:
    """The first of `paths` that loads and has xc_availheap; `XenctrlFailed` if none does
    (the lab's: /usr/lib/x86_64-linux-gnu/libxenctrl.so.4.17.0, labs/evidence/swiotlb/
    low-memory.txt)."""
    for path in paths:
        try:
            lib = ctypes.CDLL(path, use_errno=True)
        except OSError:
            continue
        if hasattr(lib, "xc_availheap"):
            return lib
    where = ", ".join(LIBRARY_DIRS)
    raise XenctrlFailed(f"no libxenctrl with xc_availheap in {where}", FIX)


def _declare(lib: ctypes.CDLL) -> None:
    lib.xc_interface_open.restype = ctypes.c_void_p
    lib.xc_interface_open.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint]
    lib.xc_availheap.restype = ctypes.c_int
    lib.xc_availheap.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_uint64)]
    lib.xc_interface_close.restype = ctypes.c_int
    lib.xc_interface_close.argtypes = [ctypes.c_void_p]


def _failed(call: str) -> XenctrlFailed:
    err = ctypes.get_errno()
    why = os.strerror(err) if err else "no reason given"
    return XenctrlFailed(f"{call} failed: {why}", FIX)


def avail_heap(lib: ctypes.CDLL, max_width: int, min_width: int = 0, node: int = -1) -> int:
    """Bytes free in Xen's heap at machine addresses of `min_width`..`max_width` bits (0: no
    bound), on `node` (-1: all), as XEN_SYSCTL_availheap counts them."""
    _declare(lib)
    logger = _Logger(_VMESSAGE(_drop), None, None)
    xch = lib.xc_interface_open(ctypes.byref(logger), ctypes.byref(logger), 0)
    if not xch:
        raise _failed("xc_interface_open (Xen's control interface, /dev/xen/privcmd)")
    try:
        free = ctypes.c_uint64(0)
        if lib.xc_availheap(xch, min_width, max_width, node, ctypes.byref(free)) < 0:
            raise _failed(f"xc_availheap(max_width={max_width})")
        return free.value
    finally:
        lib.xc_interface_close(xch)


def free_below(address_bits: int) -> int:
    """Bytes Xen has free below ``2**address_bits`` (all nodes), from this machine's Xen."""
    return avail_heap(load(library_paths(LIBRARY_DIRS)), address_bits)
