"""`SimHost`: a simulated host kept in a directory, with kernel-faithful writes.

Layout of a sim directory: ``root/`` is the host tree (``sys``, ``proc``; pcipass's own state
files land under it too) and ``sim.json`` is what the simulated kernel and Xen remember
besides sysfs. Every write or command loads ``sim.json``, applies the operation
(`pcipass.sim.kernel`, `pcipass.sim.xen`) and saves it again under a lock, so a
workflow can be run one CLI invocation at a time (``pcipass --sim DIR ...``).

Reads, pcipass's own files (state, lock, append-only log) are the base class's plain
file operations on ``root/``. A state that is damaged or cannot be saved is refused
in one line before anything changes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcipass.errors import InputError
from pcipass.host import paths
from pcipass.host.base import (
    DEFAULT_RUN_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    CommandFailed,
    Host,
    RunResult,
    WriteFailed,
)
from pcipass.host.netlink import VfState
from pcipass.host.snapshot import check_name_length
from pcipass.sim import boot_log
from pcipass.sim.kernel import SimKernel
from pcipass.sim.kernel.netlink import SimNetlink
from pcipass.sim.kernel.state import RELEASE, SimState, WriteError, alias_line, new_state
from pcipass.sim.output import Output
from pcipass.sim.tree import build_tree
from pcipass.sim.xen import memory
from pcipass.sim.xen.xenstore import Reader, new_xen_state, xenstore_command
from pcipass.sim.xen.xl import Xl

if TYPE_CHECKING:
    from pcipass.sim.profiles import Profile

STATE_FILE = "sim.json"
TMP_FILE = f".{STATE_FILE}.tmp"
XENSTORE_TOOLS = (
    "xenstore-read",
    "xenstore-write",
    "xenstore-rm",
    "xenstore-exists",
    "xenstore-ls",
    "xenstore-list",
)


class SimHost(Host):
    """A simulated host in `directory` (created by `create_sim` / `pcipass sim init`)."""

    kind = "sim"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if not (self.directory / STATE_FILE).is_file():
            raise InputError(
                f"{self.directory} is not a simulated host",
                "create one with `pcipass sim init DIR`",
            )
        super().__init__(self.directory / "root")

    # -- state ---------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        path = self.directory / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            data, why = None, str(exc)
        else:
            why = "it is not a simulated host's state"
        if isinstance(data, dict) and isinstance(data.get("kernel"), dict):
            why = _wrong_shape(data)
            if not why:
                return data
        raise InputError(
            f"{path} is damaged ({why})",
            f"recreate the host with `pcipass sim init {self.directory} --force`",
        )

    def _check_writable(self) -> None:
        """Fail before any change if the state could not be saved afterwards."""
        try:
            for path in (self.directory, self.directory / STATE_FILE):
                if not os.access(path, os.W_OK):  # immutable, or read-only for this user
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            (self.directory / TMP_FILE).touch()
        except OSError as exc:
            raise self._unwritable(exc) from exc

    def _unwritable(self, exc: OSError) -> InputError:
        state = self.directory / STATE_FILE
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(state) else ""
        return InputError(
            f"the simulated host's state {state} cannot be written ({exc.strerror}{where})",
            f"make {self.directory} and its files writable (chmod u+w, chattr -i)",
        )

    @contextmanager
    def _session(self) -> Iterator[tuple[SimKernel, dict[str, Any]]]:
        """Load the state under an exclusive lock, yield the kernel, save it afterwards."""
        try:
            lock = open(self.directory / ".lock", "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise self._unwritable(exc) from exc
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._check_writable()
            data = self._load()
            before = _fingerprint(data)
            kernel = SimKernel(self.root, SimState(**data["kernel"]))
            try:
                yield kernel, data
            finally:
                if "netlink" in data:  # the VFs went: so did their settings
                    SimNetlink(kernel, data).prune()
                data["kernel"] = state_json(kernel.state)
                data["dmesg"] = (data.get("dmesg", []) + kernel.log)[-200:]
                try:
                    if _fingerprint(data) != before:  # a read (`xl list`) leaves sim.json as it was
                        _save(self.directory, data)
                except OSError as exc:
                    raise self._unwritable(exc) from exc

    # -- Host interface ----------------------------------------------------------------
    def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        with self._session() as (kernel, _):
            try:
                kernel.write(rel, data)
            except WriteError as exc:
                raise WriteFailed(rel.lstrip("/"), data, exc.errno, exc.log) from exc

    def run(self, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        tool = os.path.basename(argv[0]) if argv else ""
        with self._session() as (kernel, data):
            if tool == "modprobe":
                res = _modprobe(kernel, argv[1:])
            elif tool == "xl" and data.get("xen") is not None:
                res = Xl(kernel, data["xen"]).run(argv[1:])
            elif tool in XENSTORE_TOOLS and data.get("xen") is not None:
                res = xenstore_command(data["xen"], argv)
            elif tool == "dmesg":
                res = Output(out=list(data.get("dmesg", [])))
            else:
                raise CommandFailed(
                    f"command {tool!r} not found on the simulated host",
                    "the simulated host runs modprobe, dmesg, and xl/xenstore-* on Xen profiles",
                )
        text = "".join(line + "\n" for line in res.out)
        err = "".join(line + "\n" for line in res.err)
        return RunResult(tuple(argv), res.code, text, err)

    def xenstore(self) -> Reader:
        """The simulated store, read in-process as `RealHost` reads a dom0's (libxenstore)."""
        return Reader(lambda: self._load().get("xen"))

    def xen_free_below_4gib(self) -> int:
        """The simulated Xen's free memory below 4 GiB (`pcipass.sim.xen.memory`)."""
        xen = self._load().get("xen")  # a read: nothing to save
        if xen is None:
            raise CommandFailed("xc_availheap: no Xen on this simulated host",
                                "use a Xen profile (`pcipass sim init DIR --profile xen-lab`)")
        return memory.free_below_4gib(xen)

    def vf_states(self, pf_ifname: str) -> list[VfState] | None:
        data = self._load()  # a read: nothing to save
        return SimNetlink(SimKernel(self.root, SimState(**data["kernel"])), data).states(pf_ifname)

    def set_vf(self, pf_ifname: str, vf: int, settings: dict[str, Any]) -> None:
        with self._session() as (kernel, data):
            SimNetlink(kernel, data).set(pf_ifname, vf, settings)


def _modprobe(kernel: SimKernel, args: list[str]) -> Output:
    res = Output()
    if args and args[0] in ("-r", "--remove"):
        for name in args[1:]:
            code, err = kernel.unload_module(name)
            if code:
                res.code, res.err = code, [err.rstrip("\n")]
                break
        return res
    if not args:
        res.code, res.err = 1, ["modprobe: ERROR: missing parameters. See -h."]
        return res
    params = dict(a.split("=", 1) for a in args[1:] if "=" in a)
    code, err = kernel.load_module(args[0], params)
    if code:
        res.code, res.err = code, [err.rstrip("\n")]
    return res


def _write_kernel_files(root: Path, prof: Profile) -> None:
    """What tools read besides sysfs: the kernel release, modules.alias, and pci.ids (the
    machine's own, linked, so names show as on a real host; absent if it has none)."""
    (root / paths.OSRELEASE).parent.mkdir(parents=True, exist_ok=True)
    (root / paths.OSRELEASE).write_text(RELEASE + "\n")
    aliases = [
        alias_line(pid, d.module)
        for d in prof.drivers
        if d.module and d.kind == "native"
        for pid in d.ids
    ]
    alias_file = root / paths.modules_alias(RELEASE)
    alias_file.parent.mkdir(parents=True, exist_ok=True)
    alias_file.write_text("".join(a + "\n" for a in aliases))
    _write_module_index(alias_file.parent, prof)
    for candidate in paths.PCI_IDS_PATHS:
        if os.path.isfile("/" + candidate):
            link = root / paths.PCI_IDS_PATHS[0]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/" + candidate)
            break


def _write_module_index(directory: Path, prof: Profile) -> None:
    """``modules.dep`` and ``modules.builtin`` as depmod writes them (one ``.ko`` a line)."""
    def ko(name: str) -> str:
        return f"kernel/{name}.ko"

    dep = [f"{ko(m.name)}: {' '.join(ko(d) for d in m.deps)}".rstrip()
           for m in prof.modules if not m.builtin]
    (directory / "modules.dep").write_text("".join(line + "\n" for line in dep))
    builtin = [ko(m.name) for m in prof.modules if m.builtin]
    (directory / "modules.builtin").write_text("".join(line + "\n" for line in builtin))


def _wrong_shape(data: dict[str, Any]) -> str:
    """What is wrong with a loaded state's shape ('' if nothing): the kernel's fields and
    their types, the Xen part and the log."""
    try:
        state = SimState(**data["kernel"])
    except TypeError as exc:
        return str(exc).replace("SimState.__init__()", "kernel")
    for f in fields(SimState):
        want = _SHAPES[str(f.type).partition("[")[0]]
        if not isinstance(getattr(state, f.name), want):
            return f"kernel.{f.name} is not a {want.__name__}"
    if not isinstance(data.get("xen"), dict | None):
        return "xen is not an object"
    if not isinstance(data.get("dmesg", []), list):
        return "dmesg is not a list"
    return ""


_SHAPES: dict[str, type] = {"dict": dict, "list": list, "bool": bool}


def state_json(state: SimState) -> dict[str, Any]:
    """`asdict(state)` without its deep copy: a `SimState` holds plain JSON data only (it is
    loaded from sim.json, or built by `new_state` from `asdict`), and a session drops its
    copy of the state once it is saved."""
    return {f.name: getattr(state, f.name) for f in fields(state)}


def _fingerprint(data: dict[str, Any]) -> str:
    """`data` as compact JSON (the C encoder: much faster than `_dump`'s indented one), to
    tell whether a session changed the state."""
    return json.dumps(data, sort_keys=True)


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True)


def _save(directory: Path, data: dict[str, Any]) -> None:
    tmp = directory / TMP_FILE
    tmp.write_text(_dump(data), encoding="utf-8")
    os.replace(tmp, directory / STATE_FILE)


def check_target(target: Path, *, force: bool = False) -> bool:
    """Raise `InputError` unless `create_sim` may build in `target`; True if it replaces one."""
    check_name_length(target)
    if (target / STATE_FILE).exists():
        if not force:
            raise InputError(
                f"{target} already holds a simulated host", "pass --force to replace it"
            )
        return True
    if target.exists() and any(target.iterdir()):
        raise InputError(f"{target} is not empty", "pick an empty or new directory")
    return False


def create_sim(
    directory: str | os.PathLike[str], profile: str = "xen-host", *, force: bool = False
) -> SimHost:
    """Build a fresh simulated host of `profile` in `directory` and boot it."""
    from pcipass.sim.profiles import get_profile  # noqa: PLC0415 - profiles import sim_kernel

    prof = get_profile(profile)
    target = Path(directory)
    if check_target(target, force=force):
        shutil.rmtree(target / "root", ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    functions = [replace(f, driver=None) for f in prof.spec.functions]
    spec = replace(prof.spec, functions=tuple(functions), drivers=(), modules=())
    build_tree(target / "root", spec)
    state = new_state(
        functions,
        list(prof.modules),
        list(prof.drivers),
        iommu=prof.spec.iommu,
        xen=prof.spec.hypervisor == "xen",
    )
    _write_kernel_files(target / "root", prof)
    kernel = SimKernel(target / "root", state)
    kernel.boot(list(prof.boot_modules))
    data: dict[str, Any] = {
        "profile": prof.name,
        "kernel": asdict(kernel.state),
        "xen": new_xen_state(prof.xen_iommu) if prof.spec.hypervisor == "xen" else None,
        "dmesg": boot_log.kernel_log(prof.spec.iommu, prof.spec.hypervisor == "xen")
        + kernel.log,
    }
    _save(target, data)
    return SimHost(target)
