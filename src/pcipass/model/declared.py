"""The declared host state (`/etc/pcipass/host.toml`): parsed, validated and written. Pure.

What pcipass keeps across reboots: devices to keep assignable (backend, name, whether they
are claimed at boot before a host driver can bind), VF counts per PF (with autoprobe and
the method that creates them, as `sriov enable --method`) and per-VF settings
(`[[vfs.vf]]` under their PF: the netlink keys of `ops.vf.SETTINGS`, whose parsers check
them).
Each device is keyed by its address *and* its vendor/device/subsystem IDs, so a changed
card at the same address is noticed and reported, never configured.

The file is TOML, for people to read and edit; pcipass writes it with the small
serializer below (the file holds only arrays of tables of strings, integers and booleans,
one level deep, and `tomllib` reads it back). An error names the file's line and key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from typing import Any

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.netlink import text as setting_text
from pcipass.ops.vf import BY_KEY, SETTINGS

STATE_FILE = "etc/pcipass/host.toml"
"""Host path (under the root) of the declared state."""
MAX_STATE_BYTES = 1 << 20
VERSION = 1
BACKENDS = ("xen", "vfio")
METHODS = ("sysfs", "module")
"""How a PF's VFs are created (`sriov enable --method`): its sriov_numvfs, or reloading its
driver with its VF parameter (`ops.sriov_module`)."""
HEADER = (
    "# pcipass's declared host state: what `pcipass apply` converges to, at boot and on "
    "demand.\n"
    "# Edit it by hand or with `pcipass state ...`; `pcipass plan` shows what would change.\n"
)


@dataclass(frozen=True)
class Ids:
    """A device's identity beside its address: vendor:device and subsystem vendor:device."""

    vendor: int
    device: int
    subsystem_vendor: int
    subsystem_device: int

    @property
    def id(self) -> str:
        return f"{self.vendor:04x}:{self.device:04x}"

    @property
    def subsystem(self) -> str:
        return f"{self.subsystem_vendor:04x}:{self.subsystem_device:04x}"

    def __str__(self) -> str:
        return f"{self.id} (subsystem {self.subsystem})"


@dataclass(frozen=True)
class AssignableItem:
    """A device to keep assignable on `backend`, optionally claimed at boot."""

    bdf: str
    ids: Ids
    backend: str
    name: str | None = None
    claim_at_boot: bool = False


@dataclass(frozen=True)
class VfSettings:
    """The declared settings of VF `index`: netlink key → value, in `SETTINGS` order."""

    index: int
    values: tuple[tuple[str, bool | int | str], ...]

    def texts(self) -> dict[str, str]:
        """The values as `vf set` takes them (`--spoofchk on`, `--vlan 10`)."""
        return {k: str(setting_text(v)) for k, v in self.values}

    def merged(self, values: dict[str, bool | int | str]) -> VfSettings:
        """These settings with `values` set (in `SETTINGS` order)."""
        both = dict(self.values) | values
        return VfSettings(self.index, tuple((s.key, both[s.key]) for s in SETTINGS
                                            if s.key in both))


@dataclass(frozen=True)
class VfsItem:
    """A PF to keep with `count` VFs (0: none), its `sriov_drivers_autoprobe`, how they
    are created (`method`, one of `METHODS`; `reload_others`: with `module`, the other
    devices its driver drives may go down while it reloads), and the settings of some of
    its VFs (each index below `count`)."""

    pf: str
    ids: Ids
    count: int
    autoprobe: bool | None = None
    settings: tuple[VfSettings, ...] = ()
    method: str = "sysfs"
    reload_others: bool = False

    def vf(self, index: int) -> VfSettings | None:
        return next((v for v in self.settings if v.index == index), None)

    def with_vf(self, vf: VfSettings | None, index: int) -> VfsItem:
        """This item with VF `index`'s settings replaced by `vf` (None: dropped)."""
        rest = [v for v in self.settings if v.index != index]
        kept = sorted([*rest, *([vf] if vf is not None and vf.values else [])],
                      key=lambda v: v.index)
        return replace(self, settings=tuple(kept))


@dataclass(frozen=True)
class Declared:
    """The whole declared state, in the file's order."""

    assignable: tuple[AssignableItem, ...] = ()
    vfs: tuple[VfsItem, ...] = ()

    def addresses(self) -> list[str]:
        return [a.bdf for a in self.assignable] + [v.pf for v in self.vfs]

    def with_assignable(self, item: AssignableItem) -> Declared:
        """This state with `item` added, or replacing the entry of the same address."""
        rest = tuple(a for a in self.assignable if a.bdf != item.bdf)
        return replace(self, assignable=(*rest, item))

    def vfs_of(self, pf: str) -> VfsItem | None:
        return next((v for v in self.vfs if v.pf == pf), None)

    def with_vfs(self, item: VfsItem, keep_vf: bool = True) -> Declared:
        """This state with `item` added, or replacing the entry of the same PF (with
        `keep_vf`, an item without VF settings keeps the earlier entry's for the VFs below
        its count)."""
        old = self.vfs_of(item.pf)
        if old is not None and not item.settings and keep_vf:
            item = replace(item, settings=tuple(v for v in old.settings if v.index < item.count))
        return replace(self, vfs=tuple(item if v.pf == item.pf else v for v in self.vfs)
                       if old is not None else (*self.vfs, item))

    def without_assignable(self, bdf: str) -> Declared:
        """This state without the assignable entry of address `bdf` (its VFs kept)."""
        return replace(self, assignable=tuple(a for a in self.assignable if a.bdf != bdf))

    def without(self, bdf: str) -> Declared:
        """This state without any entry for address `bdf`."""
        return Declared(tuple(a for a in self.assignable if a.bdf != bdf),
                        tuple(v for v in self.vfs if v.pf != bdf))


# -- the file's grammar: one table per array, key → (type, required) -----------------
ID_KEYS = {"id": (str, True), "subsystem": (str, True)}
TABLES: dict[str, dict[str, tuple[type, bool]]] = {
    "assignable": {"bdf": (str, True), **ID_KEYS, "backend": (str, True),
                   "name": (str, False), "claim_at_boot": (bool, False)},
    "vfs": {"pf": (str, True), **ID_KEYS, "count": (int, True), "autoprobe": (bool, False),
            "method": (str, False), "reload_other_devices": (bool, False), "vf": (list, False)},
    "vfs.vf": {"index": (int, True), **{s.key: (object, False) for s in SETTINGS}},
}
"""`vfs.vf`: the settings of one VF of the `[[vfs]]` before it, checked by their parsers."""
TOP_KEYS = {"version", "assignable", "vfs"}


class _Where:
    """Finds the line of a key in the text, for error messages (tomllib gives none)."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.lines = text.splitlines()

    def line(self, table: str | None, index: int, key: str | None) -> int | None:
        """The line of `key` in the `index`-th `[[table]]` (None: the top level)."""
        current, seen = None, -1
        for number, raw in enumerate(self.lines, 1):
            text = raw.strip()
            if text.startswith("["):
                current = text.strip("[] ")
                seen += current == table
                if key is None and current == table and seen == index:
                    return number
                if table is None and key is not None and current.split(".")[0] == key:
                    return number  # an unknown top-level table: its first header
                continue
            here = current == table and (table is None or seen == index)
            if here and key is not None and text.split("=", 1)[0].strip().strip('"') == key:
                return number
        return None

    def error(self, table: str | None, index: int, key: str | None, what: str,
              fix: str) -> InputError:
        number = self.line(table, index, key)
        at = f" line {number}" if number else ""
        entry = f" [[{table}]] #{index + 1}" if table else ""
        return InputError(f"{self.name}{at}:{entry} {what}", fix)


def parse(text: str, name: str = "/" + STATE_FILE) -> Declared:
    """The declared state in `text`, or one `InputError` naming the line and key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{name} does not parse: {exc}",
                         "fix the line it names (TOML syntax)") from exc
    where = _Where(name, text)
    for key in doc:
        if key not in TOP_KEYS:
            raise where.error(None, 0, key, f"unknown key {key!r}",
                              f"known keys: {', '.join(sorted(TOP_KEYS))}")
    if doc.get("version", VERSION) != VERSION:
        raise where.error(None, 0, "version", f"version {doc['version']!r} is not {VERSION}",
                          f"write version = {VERSION}")
    tables = {t: _entries(where, doc, t) for t in ("assignable", "vfs")}
    declared = Declared(
        tuple(_assignable(where, i, e) for i, e in enumerate(tables["assignable"])),
        tuple(_vfs(where, i, e, sum(len(p.get("vf", [])) for p in tables["vfs"][:i]))
              for i, e in enumerate(tables["vfs"])),
    )
    _no_duplicates(where, "assignable", [a.bdf for a in declared.assignable], "bdf")
    _no_duplicates(where, "vfs", [v.pf for v in declared.vfs], "pf")
    return declared


def _entries(where: _Where, doc: dict[str, Any], table: str,
             first: int = 0) -> list[dict[str, Any]]:
    """The `[[table]]` entries, each checked against the table's keys and types (`first`:
    the file's count of `[[table]]` sections before them, for the error's line)."""
    name = table.rpartition(".")[2]
    entries = doc.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise where.error(None, 0, name, f"{name!r} must be an array of tables",
                          f"write each entry as a [[{table}]] section")
    keys = TABLES[table]
    for index, entry in enumerate(entries, first):
        for key, value in entry.items():
            if key not in keys:
                raise where.error(table, index, key, f"unknown key {key!r}",
                                  f"known keys: {', '.join(keys)}")
            kind = keys[key][0]
            # a VF setting (object) is any scalar: its parser checks it
            fits = isinstance(value, bool | int | str) if kind is object else \
                isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            if not fits:
                raise where.error(table, index, key,
                                  f"{key} must be {_KIND[kind]}, not {value!r}",
                                  f"e.g. {_example(kind)}")
        for key, (_, required) in keys.items():
            if required and key not in entry:
                raise where.error(table, index, None, f"has no {key!r}",
                                  f"add {key} = ... (keys: {', '.join(keys)})")
    return entries


_KIND = {str: "a string", int: "an integer", bool: "a boolean", list: "[[vfs.vf]] sections",
         object: "a string, an integer or a boolean"}


def _example(kind: type) -> str:
    return {str: 'key = "text"', int: "key = 2", bool: "key = true", object: 'key = "text"',
            list: "[[vfs.vf]] then index = 0"}[kind]


def _address(where: _Where, table: str, index: int, key: str, text: str) -> str:
    parsed = PciAddress.try_parse(text)
    if parsed is None:
        raise where.error(table, index, key, f"{key} {text!r} is not a PCI address",
                          'write DDDD:BB:DD.F, e.g. "0000:03:00.0"')
    return str(parsed)


def _pair(where: _Where, table: str, index: int, key: str, text: str) -> tuple[int, int]:
    left, sep, right = text.partition(":")
    try:
        if not sep or len(left) != 4 or len(right) != 4:
            raise ValueError(text)
        return int(left, 16), int(right, 16)
    except ValueError:
        raise where.error(table, index, key, f"{key} {text!r} is not VVVV:DDDD",
                          "write four hex digits each, as `lspci -n` shows them") from None


def _ids(where: _Where, table: str, index: int, entry: dict[str, Any]) -> Ids:
    vendor, device = _pair(where, table, index, "id", entry["id"])
    sub_vendor, sub_device = _pair(where, table, index, "subsystem", entry["subsystem"])
    return Ids(vendor, device, sub_vendor, sub_device)


def _assignable(where: _Where, index: int, entry: dict[str, Any]) -> AssignableItem:
    backend = entry["backend"]
    if backend not in BACKENDS:
        raise where.error("assignable", index, "backend", f"backend {backend!r} is unknown",
                          f"use one of: {', '.join(BACKENDS)}")
    return AssignableItem(
        bdf=_address(where, "assignable", index, "bdf", entry["bdf"]),
        ids=_ids(where, "assignable", index, entry),
        backend=backend,
        name=entry.get("name"),
        claim_at_boot=entry.get("claim_at_boot", False),
    )


def _vfs(where: _Where, index: int, entry: dict[str, Any], first: int) -> VfsItem:
    """One `[[vfs]]` entry; `first`: the file's count of `[[vfs.vf]]` before its own."""
    if entry["count"] < 0:
        raise where.error("vfs", index, "count", f"count {entry['count']} is negative",
                          "use 0 (no VFs) or more")
    method = entry.get("method", METHODS[0])
    if method not in METHODS:
        raise where.error("vfs", index, "method", f"method {method!r} is unknown",
                          f"use one of: {', '.join(METHODS)}")
    reload_others = entry.get("reload_other_devices", False)
    if reload_others and method != "module":
        raise where.error("vfs", index, "reload_other_devices",
                          "reload_other_devices applies to method \"module\" only",
                          'add method = "module", or drop reload_other_devices')
    vfs = _entries(where, entry, "vfs.vf", first)
    settings = tuple(_vf(where, first + i, e, entry["count"]) for i, e in enumerate(vfs))
    _no_duplicates(where, "vfs.vf", [str(v.index) for v in settings], "index", first)
    return VfsItem(
        pf=_address(where, "vfs", index, "pf", entry["pf"]),
        ids=_ids(where, "vfs", index, entry),
        count=entry["count"],
        autoprobe=entry.get("autoprobe"),
        settings=tuple(sorted(settings, key=lambda v: v.index)),
        method=method,
        reload_others=reload_others,
    )


def _vf(where: _Where, index: int, entry: dict[str, Any], count: int) -> VfSettings:
    """One `[[vfs.vf]]` entry, each setting read by `SETTINGS`' parser (as `vf set` reads
    its flags)."""
    number = entry["index"]
    if not 0 <= number < count:
        raise where.error("vfs.vf", index, "index", f"VF {number} is not below the PF's "
                          f"count {count}", f"use 0-{count - 1}, or raise count" if count
                          else "raise count, or drop this [[vfs.vf]]")
    values: dict[str, bool | int | str] = {}
    for key in (k for k in entry if k != "index"):
        try:
            values[key] = BY_KEY[key].parse(str(setting_text(entry[key])))
        except InputError as exc:
            raise where.error("vfs.vf", index, key, f"{key}: {exc.what}", exc.fix) from exc
    if not values:
        raise where.error("vfs.vf", index, None, f"VF {number} declares no setting",
                          f"add one of {', '.join(s.key for s in SETTINGS)}, or drop it")
    return VfSettings(number, ()).merged(values)


def _no_duplicates(where: _Where, table: str, keys: list[str], key: str,
                   first: int = 0) -> None:
    for index, value in enumerate(keys):
        if value in keys[:index]:
            raise where.error(table, first + index, key, f"{value} is declared twice",
                              "keep one entry per device (per VF in [[vfs.vf]])")


# -- writing -------------------------------------------------------------------
def render(declared: Declared) -> str:
    """The file's text for `declared` (what `parse` reads back as the same state)."""
    parts = [HEADER, f"version = {VERSION}\n"]
    for a in declared.assignable:
        parts.append(_table("assignable", {
            "bdf": a.bdf, "id": a.ids.id, "subsystem": a.ids.subsystem,
            "backend": a.backend, "name": a.name, "claim_at_boot": a.claim_at_boot}))
    for v in declared.vfs:
        parts.append(_table("vfs", {
            "pf": v.pf, "id": v.ids.id, "subsystem": v.ids.subsystem, "count": v.count,
            "autoprobe": v.autoprobe, "method": None if v.method == METHODS[0] else v.method,
            "reload_other_devices": v.reload_others or None}))
        for vf in v.settings:
            parts.append(_table("vfs.vf", {"index": vf.index, **dict(vf.values)}))
    return "".join(parts)


def _table(name: str, values: dict[str, str | int | bool | None]) -> str:
    """One `[[name]]` section; None values are left out."""
    lines = [f"\n[[{name}]]"]
    for key, value in values.items():
        if value is not None:
            lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(value: str | int | bool) -> str:
    """A TOML scalar: booleans lower-case; a string as a basic string (quote, backslash and
    control characters escaped, everything else as it is)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + _ESCAPE.sub(lambda m: _escape(m.group()), value) + '"'


_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')


def _escape(char: str) -> str:
    return "\\" + char if char in '"\\' else f"\\u{ord(char):04x}"


def to_json(declared: Declared) -> dict[str, Any]:
    """The `state show --json` document (docs/json.md)."""
    return {
        "assignable": [
            {"bdf": a.bdf, "id": a.ids.id, "subsystem": a.ids.subsystem, "backend": a.backend,
             "name": a.name, "claim_at_boot": a.claim_at_boot} for a in declared.assignable],
        "vfs": [
            {"pf": v.pf, "id": v.ids.id, "subsystem": v.ids.subsystem, "count": v.count,
             "autoprobe": v.autoprobe, "method": v.method,
             "reload_other_devices": v.reload_others,
             "vf": [{"index": vf.index, **dict(vf.values)} for vf in v.settings]}
            for v in declared.vfs],
    }
