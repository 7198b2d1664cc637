"""The simulated Xen toolstack: `xl pci-assignable-*`, `xl info`/`list`, and `xenstore-*`.

`xl pci-assignable-add/-list/-remove` follow libxl 4.17 (tools/libs/light/libxl_pci.c,
tools/xl/xl_pci.c) step by step, doing their sysfs writes through the simulated kernel, and print
the same messages (with libxl's source line numbers) and exit codes as the real tools do in the
project's Xen lab. The xenstore is a JSON tree of ``{"v": value, "c": {child: node}}``; Xen's
quarantine (devices assigned to DOMID_IO) is a list of BDFs.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from pcipass.sim import domains as sim_domains
from pcipass.sim.domains import libxl_pci_path
from pcipass.sim.kernel import RELEASE, SimKernel, WriteError

XsNode = dict[str, Any]
PCIBACK = "/sys/bus/pci/drivers/pciback"
BDF_ARG = re.compile(r"^(?:([0-9a-fA-F]+):)?([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-7*])")


@dataclass
class Output:
    """What a simulated command printed and returned."""

    code: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)


def new_xen_state(iommu: bool, nr_cpus: int = 2, memory_mb: int = 3071) -> dict[str, Any]:
    """A dom0's xenstore and Xen facts right after boot."""
    store: XsNode = {"v": "", "c": {}}
    xen: dict[str, Any] = {
        "xenstore": store,
        "quarantined": [],
        "iommu": iommu,
        "nr_cpus": nr_cpus,
        "memory_mb": memory_mb,
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


class Xl:
    """`xl` subcommands over the simulated kernel and xenstore."""

    def __init__(self, kernel: SimKernel, xen: dict[str, Any]) -> None:
        self.kernel = kernel
        self.xen = xen
        self.xs = Xenstore(xen)
        self.res = Output()

    def log(self, level: str, line: int, func: str, msg: str) -> None:
        self.res.err.append(f"libxl: {level}: libxl_pci.c:{line}:{func}: {msg}")

    def run(self, args: list[str]) -> Output:
        cmd, rest = (args[0], args[1:]) if args else ("", [])
        handlers: dict[str, Callable[[list[str]], None]] = {
            "pci-assignable-add": self.assignable_add,
            "pci-assignable-list": self.assignable_list,
            "pci-assignable-remove": self.assignable_remove,
            "info": self.info,
            "create": partial(sim_domains.create, self),
            "destroy": partial(sim_domains.destroy, self),
            "list": partial(sim_domains.list_domains, self),
            "pci-attach": partial(sim_domains.pci_attach, self),
            "pci-detach": partial(sim_domains.pci_detach, self),
            "pci-list": partial(sim_domains.pci_list, self),
        }
        handler = handlers.get(cmd)
        if handler is None:
            self.res.err.append(f"command not implemented in the simulated host: xl {cmd}")
            self.res.code = 1
            return self.res
        handler(rest)
        return self.res

    # -- helpers -----------------------------------------------------------------
    @staticmethod
    def parse_bdf(text: str) -> str | None:
        """xlu_pci_parse_bdf: ``[DDDD:]BB:DD.F`` in hex, anything after the function ignored."""
        m = BDF_ARG.match(text)
        if not m:
            return None
        dom = int(m.group(1) or "0", 16)
        bus, dev = int(m.group(2), 16), int(m.group(3), 16)
        func = 0 if m.group(4) == "*" else int(m.group(4))
        if dom > 0xFFFF or bus > 0xFF or dev > 0x1F:
            return None
        return f"{dom:04x}:{bus:02x}:{dev:02x}.{func}"

    def sysfs_write_bdf(self, path: str, bdf: str) -> bool:
        """libxl's sysfs_write_bdf: open + write, errors logged with errno text."""
        rel = path.lstrip("/")
        if not os.path.exists(self.kernel.root / rel):
            self.log(
                "error", 371, "sysfs_write_bdf", f"Couldn't open {path}: No such file or directory"
            )
            return False
        try:
            self.kernel.write(rel, bdf)
        except WriteError as exc:
            self._errno = exc.errno
            msg = os.strerror(exc.errno)
            self.log("error", 380, "sysfs_write_bdf", f"write to {path} returned -1: {msg}")
            return False
        return True

    _errno = 0

    def pciback_loaded(self, line: int) -> bool:
        if os.path.isdir(self.kernel.root / PCIBACK.lstrip("/")):
            return True
        self.log(
            "error", line, "pciback_dev_is_assigned", "Looks like pciback driver is not loaded"
        )
        return False

    def has_slot(self, bdf: str) -> bool:
        return bdf in self.kernel.state.pciback_slots

    def driver_realpath(self, bdf: str) -> str | None:
        link = self.kernel.tree.bus / "devices" / bdf / "driver"
        if not os.path.lexists(link):
            return None
        real = os.path.realpath(link)
        return "/" + os.path.relpath(real, os.path.realpath(self.kernel.root))

    # -- pci-assignable-add --------------------------------------------------------
    def assignable_add(self, args: list[str]) -> None:
        name: str | None = None
        rest: list[str] = []
        it = iter(args)
        for a in it:
            if a in ("-n", "--name"):
                name = next(it, None)
            elif a.startswith("--name="):
                name = a.split("=", 1)[1]
            else:
                rest.append(a)
        if not rest:
            self.usage("pci-assignable-add")
            return
        bdf = self.parse_bdf(rest[0])
        if bdf is None:
            self.res.err.append(f'pci-assignable-add: malformed BDF "{rest[0]}"')
            self.res.code = 2
            return
        self.res.code = 0 if self._add(bdf, name) else 1

    def _add(self, bdf: str, name: str | None) -> bool:
        func = "libxl__device_pci_assignable_add"
        if name is not None:
            if len(name) > 64:
                self.log("error", 777, func, "Name too long")
                return False
            if not all("!" <= c <= "~" for c in name):
                self.log("error", 783, func, "Names may only include printable characters")
                return False
        if not os.path.lexists(self.kernel.tree.bus / "devices" / bdf):
            self.log("error", 792, func, f"Couldn't lstat /sys/bus/pci/devices/{bdf}: "
                     "No such file or directory")  # fmt: skip
            return False
        if not self.pciback_loaded(693):
            return False
        if self.kernel.driver_of(bdf) == "pciback":
            self.log("warning", 802, func, f"{bdf} already assigned to pciback")
        else:
            driver_path = self.driver_realpath(bdf)
            if driver_path is not None and not self.sysfs_write_bdf(f"{driver_path}/unbind", bdf):
                return False
            self.killed_after("unbind")
            if driver_path:
                self.xs.write(libxl_pci_path(bdf, "driver_path"), driver_path)
                self.killed_after("driver_path")
            elif (old := self.xs.read(libxl_pci_path(bdf, "driver_path"))) is not None:
                self.log(
                    "info", 819, func, f"{bdf} not bound to a driver, will be rebound to {old}"
                )
            else:
                self.log("warning", 822, func, f"{bdf} not bound to a driver, will not be rebound.")
            if not self._pciback_assign(bdf):
                self.log("error", 830, func, "Couldn't bind device to pciback!")
                return False
            self.killed_after("bind")
        if name is not None:
            self.xs.write(libxl_pci_path(bdf, "name"), name)
        else:
            self.xs.rm(libxl_pci_path(bdf, "name"))
        if not self.xen["iommu"]:
            self.log("error", 848, func, f"failed to quarantine {bdf}")
            return False
        if bdf not in self.xen["quarantined"]:
            self.xen["quarantined"].append(bdf)
        return True

    def killed_after(self, step: str) -> None:
        """Test hook: `PCIPASS_TEST_KILL=xl-add:<step>` (unbind, driver_path, bind) SIGKILLs
        the process right after that inner step of libxl's assignable_add, before the
        quarantine, keeping what was done so far as real xl would (the state is saved first)."""
        if os.environ.get("PCIPASS_TEST_KILL") != f"xl-add:{step}":
            return
        state = self.kernel.root.parent / "sim.json"
        data = json.loads(state.read_text(encoding="utf-8"))
        data["kernel"], data["xen"] = asdict(self.kernel.state), self.xen
        state.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)

    def _pciback_assign(self, bdf: str) -> bool:
        if not self.has_slot(bdf) and not self.sysfs_write_bdf(f"{PCIBACK}/new_slot", bdf):
            self.log("error", 723, "pciback_dev_assign",
                     f"Couldn't bind device to pciback!: {os.strerror(self._errno)}")  # fmt: skip
            return False
        if not self.sysfs_write_bdf(f"{PCIBACK}/bind", bdf):
            self.log("error", 729, "pciback_dev_assign",
                     f"Couldn't bind device to pciback!: {os.strerror(self._errno)}")  # fmt: skip
            return False
        return True

    # -- pci-assignable-list ------------------------------------------------------------
    def assignable_list(self, args: list[str]) -> None:
        show_names = any(a in ("-n", "--show-names") for a in args)
        pciback = self.kernel.root / PCIBACK.lstrip("/")
        if not pciback.is_dir():
            self.log("error", 444, "libxl_device_pci_assignable_list",
                     "Looks like pciback driver not loaded")  # fmt: skip
            return
        for entry in sorted(os.listdir(pciback)):
            bdf = self.parse_bdf(entry)
            if bdf is None or bdf != entry:
                continue
            if self.xs.read(libxl_pci_path(bdf, "domid")) is not None:
                continue
            label = (self.xs.read(libxl_pci_path(bdf, "name")) or "") if show_names else ""
            self.res.out.append(f"{bdf} {label}")

    # -- pci-assignable-remove ------------------------------------------------------------
    def assignable_remove(self, args: list[str]) -> None:
        rebind = "-r" in args
        rest = [a for a in args if a != "-r"]
        if not rest:
            self.usage("pci-assignable-remove")
            return
        ident = rest[0]
        bdf = self._name2bdf(ident)
        if bdf is None:
            bdf = self.parse_bdf(ident)
            if bdf is None:
                self.res.err.append(f"pci-assignable-remove: malformed BDF '{ident}'")
                self.res.code = 2
                return
        self.res.code = 0 if self._remove(bdf, rebind) else 1

    def _name2bdf(self, name: str) -> str | None:
        for key in self.xs.directory("/libxl/pci") or []:
            m = re.fullmatch(r"([0-9a-f]{4})-([0-9a-f]{2})-([0-9a-f]{2})-([0-7])", key)
            if m and self.xs.read(f"/libxl/pci/{key}/name") == name:
                return f"{m.group(1)}:{m.group(2)}:{m.group(3)}.{m.group(4)}"
        return None

    def _remove(self, bdf: str, rebind: bool) -> bool:
        func = "libxl__device_pci_assignable_remove"
        if bdf not in self.xen["quarantined"]:
            self.log("error", 906, func, f"failed to de-quarantine {bdf}")
            return False
        self.xen["quarantined"].remove(bdf)
        if not self.pciback_loaded(693):
            return False
        if self.kernel.driver_of(bdf) == "pciback":
            self.sysfs_write_bdf(f"{PCIBACK}/unbind", bdf)
            if self.has_slot(bdf):
                self.sysfs_write_bdf(f"{PCIBACK}/remove_slot", bdf)
        else:
            self.log("warning", 917, func, "Not bound to pciback")
        driver_path = self.xs.read(libxl_pci_path(bdf, "driver_path"))
        if driver_path is not None and rebind:
            self.log("info", 925, func, f"Rebinding to driver at {driver_path}")
            if not self.sysfs_write_bdf(f"{driver_path}/bind", bdf):
                self.log("error", 930, func, f"Couldn't bind device to {driver_path}: "
                         f"{os.strerror(self._errno or errno.ENODEV)}")  # fmt: skip
                return False
            self.xs.rm(libxl_pci_path(bdf, "driver_path"))
        elif driver_path is None and rebind:
            self.log("warning", 938, func, "Couldn't find path for original driver; not rebinding")
        self.xs.rm(libxl_pci_path(bdf, "name"))
        return True

    # -- info / list ------------------------------------------------------------------------
    def info(self, args: list[str]) -> None:
        caps = "pv hvm hvm_directio pv_directio gnttab-v1 gnttab-v2"
        if not self.xen["iommu"]:
            caps = "pv hvm gnttab-v1 gnttab-v2"
        mem = self.xen["memory_mb"]
        rows = [
            ("host", "xen-sim"),
            ("release", RELEASE),
            ("machine", "x86_64"),
            ("nr_cpus", str(self.xen["nr_cpus"])),
            ("nr_nodes", "1"),
            ("virt_caps", caps),
            ("total_memory", str(mem)),
            ("free_memory", str(mem - 1059)),
            ("xen_major", "4"),
            ("xen_minor", "17"),
            ("xen_extra", ".7"),
            ("xen_version", "4.17.7"),
            ("xen_caps", "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 "),
            ("xen_commandline", "dom0_mem=1024M,max:1024M dom0_max_vcpus=2 iommu=verbose "),
            ("xl_version", "4.17.7"),
        ]
        self.res.out.extend(f"{k:<23}: {v}" for k, v in rows)

    def usage(self, cmd: str, count: int = 1) -> None:
        plural = "s" if count > 1 else ""
        self.res.err.append(f"'xl {cmd}' requires at least {count} argument{plural}.")
        self.res.err.append("")
        self.res.code = 2
