"""PCI ID names from the system's ``pci.ids``, looked up the way lspci (pciutils) does.

The file is read once as bytes and never parsed as a whole: each lookup
searches the raw text for the entry's line inside its parent's block (a vendor
line, then a device line within that vendor, ...) and caches the answer, so a
listing pays for the IDs it shows. The line rules follow pciutils'
``lib/names-parse.c`` (tab nesting, comments, one trailing blank stripped,
first entry wins) and the lookup rules its ``lib/names.c`` (subsystem falls
back to the generic ``S`` block, then to the device itself when subsystem IDs
equal device IDs; class falls back from subclass to class). `format_*` build
the strings ``lspci -nn`` prints. IDs are matched in lowercase hex, as every
distributed pci.ids writes them.

No file installed is normal: every lookup then answers None. A host tree that
carries no pci.ids (a raw sysfs capture under `--root`) is named from this
machine's file, as lspci on the same tree would be; `PciIds.origin` says which.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pcipass.host.paths import PCI_IDS_PATHS

TREE, MACHINE = "tree", "machine"
"""`PciIds.origin`: the file came from the host tree read, or from this machine."""

_NEXT_TOP = re.compile(rb"\n[^\t#\r\n ]")
_NEXT_LEVEL1 = re.compile(rb"\n\t?[^\t#\r\n ]")


def _rest(data: bytes, pos: int) -> str | None:
    """The name that starts after the blanks at `pos`, up to the end of its line."""
    end = data.find(b"\n", pos)
    line = data[pos : len(data) if end < 0 else end].rstrip(b"\r")
    if line.endswith((b" ", b"\t")):
        line = line[:-1]
    name = line.lstrip(b" \t")
    return name.decode("utf-8", errors="replace") if name else None


class PciIds:
    """Name lookup over one pci.ids text (bytes); empty text means no names at all.

    Lookups search the raw text (``\\n8086 ``, then ``\\n\\t10fb `` inside that
    vendor's block, ...) and cache each answer; nothing is parsed up front.
    """

    def __init__(
        self, data: bytes = b"", source: str | None = None, origin: str | None = None
    ) -> None:
        self.source = source
        self.origin = origin if data else None
        self._data = b"\n" + data if data else b""
        self._cache: dict[tuple[int, ...], str | None] = {}
        self._spans: dict[tuple[int, ...], tuple[int, int] | None] = {}

    @property
    def available(self) -> bool:
        """True when a pci.ids file was found."""
        return bool(self._data)

    # -- raw search --------------------------------------------------------
    def _find(
        self, key: tuple[int, ...], prefix: bytes, within: tuple[int, int], nxt: re.Pattern[bytes]
    ) -> tuple[int, int] | None:
        """Span of the entry whose line starts with `prefix` inside `within`: (name, end)."""
        if key in self._spans:
            return self._spans[key]
        data, (lo, hi) = self._data, within
        span: tuple[int, int] | None = None
        pos = lo
        while True:
            pos = data.find(prefix, pos, hi)
            if pos < 0:
                break
            after = pos + len(prefix)
            if after <= len(data) and (after == len(data) or data[after] in b" \t\r\n"):
                m = nxt.search(data, after, hi)
                span = (after, m.start() if m else hi)
                break
            pos = after
        self._spans[key] = span
        return span

    def _vendor_span(self, vendor_id: int) -> tuple[int, int] | None:
        return self._find((0, vendor_id), b"\n%04x" % vendor_id, (0, len(self._data)), _NEXT_TOP)

    def _class_span(self, base: int) -> tuple[int, int] | None:
        return self._find((1, base), b"\nC %02x" % base, (0, len(self._data)), _NEXT_TOP)

    def _named(self, key: tuple[int, ...], span: tuple[int, int] | None) -> str | None:
        if key not in self._cache:
            self._cache[key] = _rest(self._data, span[0]) if span else None
        return self._cache[key]

    # -- lookups -----------------------------------------------------------
    def vendor(self, vendor_id: int) -> str | None:
        return self._named((0, vendor_id), self._vendor_span(vendor_id))

    def _device_span(self, vendor_id: int, device_id: int) -> tuple[int, int] | None:
        outer = self._vendor_span(vendor_id)
        if outer is None:
            return None
        return self._find((2, vendor_id, device_id), b"\n\t%04x" % device_id, outer, _NEXT_LEVEL1)

    def device(self, vendor_id: int, device_id: int) -> str | None:
        key = (2, vendor_id, device_id)
        return self._named(key, self._device_span(vendor_id, device_id))

    def subsystem(
        self, vendor_id: int, device_id: int, sub_vendor: int, sub_device: int
    ) -> str | None:
        """The subsystem's name, with lspci's fallbacks (generic block, then the device)."""
        key = (3, vendor_id, device_id, sub_vendor, sub_device)
        if key in self._cache:
            return self._cache[key]
        name: str | None = None
        if vendor_id > 0 and device_id > 0:
            outer = self._device_span(vendor_id, device_id)
            prefix = b"\n\t\t%04x %04x" % (sub_vendor, sub_device)
            span = self._find(key, prefix, outer, _NEXT_TOP) if outer else None
            name = _rest(self._data, span[0]) if span else None
        if name is None:
            whole = (0, len(self._data))
            generic = self._find((4, sub_vendor), b"\nS %04x" % sub_vendor, whole, _NEXT_TOP)
            gkey = (5, sub_vendor, sub_device)
            prefix = b"\n\t%04x" % sub_device
            span = self._find(gkey, prefix, generic, _NEXT_TOP) if generic else None
            name = _rest(self._data, span[0]) if span else None
        if name is None and vendor_id == sub_vendor and device_id == sub_device:
            name = self.device(vendor_id, device_id)
        self._cache[key] = name
        return name

    def class_name(self, base: int) -> str | None:
        return self._named((1, base), self._class_span(base))

    def _subclass_span(self, base: int, sub: int) -> tuple[int, int] | None:
        outer = self._class_span(base)
        if outer is None:
            return None
        return self._find((6, base, sub), b"\n\t%02x" % sub, outer, _NEXT_LEVEL1)

    def subclass_name(self, base: int, sub: int) -> str | None:
        return self._named((6, base, sub), self._subclass_span(base, sub))

    def progif_name(self, base: int, sub: int, progif: int) -> str | None:
        outer = self._subclass_span(base, sub)
        key = (7, base, sub, progif)
        if outer is None:
            return None
        return self._named(key, self._find(key, b"\n\t\t%02x" % progif, outer, _NEXT_TOP))


def format_pair(vendor: str | None, device: str | None, num: str) -> str:
    if vendor and device:
        return f"{vendor} {device} [{num}]"
    if not vendor:
        return f"Device [{num}]"
    return f"{vendor} Device [{num}]"


def format_device(ids: PciIds, vendor_id: int, device_id: int) -> str:
    """``Vendor Device [vvvv:dddd]`` as ``lspci -nn`` prints it."""
    return format_pair(
        ids.vendor(vendor_id), ids.device(vendor_id, device_id), f"{vendor_id:04x}:{device_id:04x}"
    )


def format_subsystem(
    ids: PciIds, vendor_id: int, device_id: int, sub_vendor: int, sub_device: int
) -> str:
    """``SubVendor SubDevice [ssss:ssss]`` as ``lspci -nnk`` prints after ``Subsystem:``."""
    return format_pair(
        ids.vendor(sub_vendor),
        ids.subsystem(vendor_id, device_id, sub_vendor, sub_device),
        f"{sub_vendor:04x}:{sub_device:04x}",
    )


def format_class(ids: PciIds, class_code: int) -> str:
    """``Subclass name [ccss]`` (or ``Class name [ccss]``, ``Class [ccss]``) as ``lspci -nn``."""
    base, sub = class_code >> 16 & 0xFF, class_code >> 8 & 0xFF
    return class_text(ids.subclass_name(base, sub) or ids.class_name(base), class_code)


def class_text(name: str | None, class_code: int) -> str:
    """``name [ccss]``, or ``Class [ccss]`` without a name, as ``lspci -nn`` prints a class."""
    num = f"{class_code >> 8 & 0xFFFF:04x}"
    return f"{name} [{num}]" if name else f"Class [{num}]"


def class_label(ids: PciIds, class_code: int) -> str:
    """The class's name without numbers (subclass, else class, else ``Class ccss``)."""
    base, sub = class_code >> 16 & 0xFF, class_code >> 8 & 0xFF
    return (
        ids.subclass_name(base, sub)
        or ids.class_name(base)
        or f"Class {class_code >> 8 & 0xFFFF:04x}"
    )


Reader = Callable[[str], "bytes | None"]


def load(read: Reader, machine: Reader | None = None) -> PciIds:
    """The first pci.ids found through `read` (host-relative path → bytes or None), else
    the first found through `machine` (this machine's files, when the host read is not it)."""
    for origin, reader in ((TREE, read), (MACHINE, machine)):
        if reader is None:
            continue
        for rel in PCI_IDS_PATHS:
            data = reader(rel)
            if data is not None:
                return PciIds(data, "/" + rel, origin)
    return PciIds()
