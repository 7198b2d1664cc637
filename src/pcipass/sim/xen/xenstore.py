"""The simulated xenstore and its command-line tools (xenstore-read/-write/-rm/-exists/-list/-ls).

The xenstore is a JSON tree of ``{"v": value, "c": {child: node}}`` kept in the Xen state, which
also holds Xen's quarantine (devices assigned to DOMID_IO, a list of BDFs) and the host's facts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from pcipass.sim.output import Output
from pcipass.sim.xen import memory

XsNode = dict[str, Any]


def new_xen_state(iommu: str, nr_cpus: int = 2, memory_mb: int = 3071) -> dict[str, Any]:
    """A dom0's xenstore and Xen facts right after boot (`iommu`: ``intel``, ``amd`` or
    ``none``; the state keeps whether Xen has one and its vendor for its boot lines)."""
    store: XsNode = {"v": "", "c": {}}
    xen: dict[str, Any] = {
        "xenstore": store,
        "quarantined": [],
        "iommu": iommu != "none",
        "iommu_vendor": iommu,
        "nr_cpus": nr_cpus,
        "memory_mb": memory_mb,
        **memory.after_boot(memory_mb),
    }
    xs = Xenstore(xen)
    xs.write("/local/domain/0/name", "Domain-0")
    xs.write("/local/domain/0/domid", "0")
    xs.write("/tool/xenstored", "")
    return xen


class Xenstore:
    """A xenstore tree with xenstored's semantics for read, write, rm, directory."""

    def __init__(self, xen: dict[str, Any]) -> None:
        self.top: XsNode = xen["xenstore"]

    @staticmethod
    def _parts(path: str) -> list[str]:
        if not path.startswith("/"):
            path = "/local/domain/0/" + path
        return [p for p in path.split("/") if p]

    def node(self, path: str) -> XsNode | None:
        cur = self.top
        for part in self._parts(path):
            nxt = cur["c"].get(part)
            if nxt is None:
                return None
            cur = nxt
        return cur

    def read(self, path: str) -> str | None:
        n = self.node(path)
        return None if n is None else str(n["v"])

    def write(self, path: str, value: str) -> None:
        cur = self.top
        for part in self._parts(path):
            cur = cur["c"].setdefault(part, {"v": "", "c": {}})
        cur["v"] = value

    def rm(self, path: str) -> bool:
        """Remove a subtree; a missing node is fine if its parent exists (xenstored's do_rm)."""
        parts = self._parts(path)
        if not parts:
            return False
        parent = self.node("/" + "/".join(parts[:-1]))
        if parent is None:
            return False
        parent["c"].pop(parts[-1], None)
        return True

    def directory(self, path: str) -> list[str] | None:
        n = self.node(path)
        return None if n is None else list(n["c"])


class Reader:
    """The in-process reads a real dom0 makes through libxenstore (`Host.xenstore`), on the
    Xen state `load` returns at each read (None: the host has no Xen, the store is empty)."""

    def __init__(self, load: Callable[[], dict[str, Any] | None]) -> None:
        self._load = load

    def read(self, path: str) -> str | None:
        xen = self._load()
        return None if xen is None else Xenstore(xen).read(path)

    def tree(self, paths: Sequence[str]) -> dict[str, str]:
        xen = self._load()
        found: dict[str, str] = {}
        if xen is None:
            return found
        xs = Xenstore(xen)
        for path in paths:
            _walk(xs, path.rstrip("/") or "/", found)
        return found


def _walk(xs: Xenstore, path: str, found: dict[str, str]) -> None:
    for child in xs.directory(path) or []:
        sub = f"{path.rstrip('/')}/{child}"
        found[sub] = xs.read(sub) or ""
        _walk(xs, sub, found)


def _sanitise(value: str) -> str:
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}")
    return "".join(out)


USAGE = {
    "xenstore-read": "[-h] [-p] [-s] key [...]",
    "xenstore-write": "[-h] [-s] key value [...]",
    "xenstore-rm": "[-h] [-s] [-t] key [...]",
    "xenstore-exists": "[-h] [-s] key [...]",
    "xenstore-list": "[-h] [-p] [-s] key [...]",
}


def xenstore_command(xen: dict[str, Any], argv: list[str]) -> Output:
    """xenstore-read/-write/-rm/-exists/-list/-ls as xenstore_client.c behaves: errors via
    warnx/errx ("tool: message", exit 1), output of the paths handled before an error kept."""
    tool = os.path.basename(argv[0])
    flags = {a for a in argv[1:] if a.startswith("-")}
    args = [a for a in argv[1:] if not a.startswith("-")]
    xs = Xenstore(xen)
    res = Output()
    if tool == "xenstore-ls":
        for path in args or ["/"]:
            if xs.directory(path) is None:
                res.err.append(f"{tool}: xs_directory ({path}): No such file or directory")
                res.code = 1
                return res
            _ls(xs, path.rstrip("/") if path != "/" else "", 0, "-f" in flags, res.out)
        return res
    prefix = "-p" in flags
    if "-h" in flags or not args or (tool == "xenstore-write" and len(args) % 2):
        res.err.append(f"{tool}: Usage: {tool} {USAGE[tool]}")
        res.code = 1
        return res
    if tool == "xenstore-write":
        for key, value in zip(args[::2], args[1::2], strict=True):
            xs.write(key, value)
        return res
    for path in args:
        error = _xs_one(xs, tool, path, prefix, "-t" in flags, res.out)
        if error is not None:
            if error:
                res.err.append(f"{tool}: {error}")
            res.code = 1
            return res
    return res


def _xs_one(
    xs: Xenstore, tool: str, path: str, prefix: bool, tidy: bool, out: list[str]
) -> str | None:
    """One path of a xenstore-* tool: None on success, else the warning ("" for none)."""
    if tool == "xenstore-read":
        found = xs.read(path)
        if found is None:
            return f"couldn't read path {path}"
        out.append(f"{path}: {found}" if prefix else found)
    elif tool == "xenstore-exists":
        return None if xs.read(path) is not None else ""
    elif tool == "xenstore-list":
        children = xs.directory(path)
        if children is None:
            return f"could not list path {path}"
        out.extend(f"{path}/{c}" if prefix else c for c in children)
    elif tool == "xenstore-rm":
        while True:  # -t: also remove parents left empty and without a value
            if not xs.rm(path):
                return f"could not remove path {path}"
            parent = path.rsplit("/", 1)[0]
            if not (tidy and parent and xs.read(parent) == "" and xs.directory(parent) == []):
                return None
            path = parent
    return None


def _ls(xs: Xenstore, path: str, depth: int, full: bool, out: list[str]) -> None:
    for child in xs.directory(path or "/") or []:
        sub = f"{path}/{child}"
        value = _sanitise(xs.read(sub) or "")
        if full:
            out.append(f'{sub} = "{value}"')
        else:
            line = f'{" " * depth}{child} = "{value}"'
            if len(line) > 80:
                keep = 80 - len(f'{" " * depth}{child} = "') - 5
                line = f'{" " * depth}{child} = "{value[:keep]}\\..."'
            out.append(line)
        _ls(xs, sub, depth + 1, full, out)
