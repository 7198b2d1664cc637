"""`Host`: the interface every read and write of host state goes through.

Every path is relative to the host root (`--root`, default `/`): callers pass
paths such as ``"sys/bus/pci/devices"`` (a leading ``/`` is allowed and means
the same). Reads never raise for a file that vanished (hot-unplug is normal):
the ``try_*`` readers return ``None``. Writes to sysfs are bounded by a timeout
and raise `WriteFailed` with the kernel's errno; callers re-read the state they
expected, because the kernel accepts some writes that do nothing.

pcipass's own files (state, lock, append-only log) are plain files under the
root, handled here for every kind of host. `pcipass.host.real.RealHost` is the
machine (or another host's tree); `pcipass.sim.host.SimHost` implements the
same interface with kernel-faithful side effects.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcipass.errors import OperationError
from pcipass.host import user_files

if TYPE_CHECKING:
    from pcipass.host.netlink import VfState
    from pcipass.host.xenstore import XenstoreReader

DEFAULT_WRITE_TIMEOUT = 10.0
DEFAULT_RUN_TIMEOUT = 120.0
STATE_FIX = "run pcipass as root, or check that the state directory is writable"


class WriteFailed(OperationError):
    """A write to a host file failed; `errno` is the kernel's answer (0 on timeout)."""

    def __init__(self, rel: str, data: str, err: int, detail: str = "") -> None:
        name = errno.errorcode.get(err, str(err)) if err else "timeout"
        msg = detail or (os.strerror(err) if err else "the kernel did not answer in time")
        super().__init__(
            f"writing {data.strip()!r} to /{rel} failed: {name} ({msg})",
            "see `dmesg` for the kernel's reason",
        )
        self.rel = rel
        self.data = data
        self.errno = err


class CommandFailed(OperationError):
    """A subprocess could not be started or timed out."""


class NotThisMachine(CommandFailed):
    """A program was asked for on a host tree that is not this machine."""

    def __init__(self, argv: tuple[str, ...] | list[str], root: Path) -> None:
        super().__init__(
            f"`{' '.join(argv)}` runs on this machine, not on the tree under --root {root}",
            "run pcipass on that host",
        )


@dataclass(frozen=True)
class RunResult:
    """What a subprocess did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class AppendLog:
    """An append-only file: each `append` is one O_APPEND write(2), not fsync'd
    (the kernel keeps the data of a process killed with -9)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def append(self, line: str) -> None:
        """Append one line (raises `OSError`)."""
        assert self._fd is not None, "log closed"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Host:
    """Reads under a root directory; subclasses decide how writes and commands happen."""

    kind = "base"
    local = False
    """True when the root is this machine."""
    runs_programs = True
    """Whether `run` can act on this host (False on another host's tree: see RealHost)."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root)
        # Plain string prefix: discovery reads thousands of small files, and
        # building a Path object per read costs more than the read itself.
        self._prefix = os.path.join(os.fspath(root), "")

    # -- paths -------------------------------------------------------------
    def _path(self, rel: str) -> Path:
        """The real filesystem path of host path `rel`."""
        return self.root / rel.lstrip("/")

    def _abs(self, rel: str) -> str:
        return self._prefix + rel.lstrip("/")

    def name_of(self, rel: str) -> str:
        """The file really read or written for host path `rel`, as messages name it."""
        return self._abs(rel)

    # -- reads -------------------------------------------------------------
    def try_read_text(self, rel: str) -> str | None:
        """The file's text with surrounding whitespace stripped, or None if absent/unreadable."""
        data = self.try_read_bytes(rel)
        return None if data is None else data.decode("utf-8", errors="replace").strip()

    def try_read_bytes(self, rel: str, limit: int = -1) -> bytes | None:
        """Up to `limit` bytes of the file (all with -1), or None if absent/unreadable."""
        try:
            fd = os.open(self._abs(rel), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if limit >= 0:
                return os.read(fd, limit)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)

    def listdir(self, rel: str) -> list[str]:
        """Sorted entries of a directory; empty if it is absent."""
        try:
            return sorted(os.listdir(self._abs(rel)))
        except OSError:
            return []

    def readlink(self, rel: str) -> str | None:
        """A symlink's target as stored, or None if it is not a link."""
        try:
            return os.readlink(self._abs(rel))
        except OSError:
            return None

    def link_name(self, rel: str) -> str | None:
        """The last component of a symlink's target (a driver's or group's name), or None."""
        target = self.readlink(rel)
        return os.path.basename(target.rstrip("/")) if target else None

    def resolve(self, rel: str) -> str:
        """Host path of `rel` with symlinks resolved, relative to the root."""
        real = Path(os.path.realpath(self._path(rel)))
        try:
            return str(real.relative_to(os.path.realpath(self.root)))
        except ValueError:
            return str(real).lstrip("/")

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self._abs(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self._abs(rel))

    def lstat(self, rel: str) -> os.stat_result | None:
        """The entry's own status (a link is not followed), or None if it is absent."""
        try:
            return os.lstat(self._abs(rel))
        except OSError:
            return None

    # -- sysfs writes and commands ------------------------------------------
    def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        """Write `data` to a sysfs attribute in one write(2); raise `WriteFailed`."""
        raise NotImplementedError

    def run(self, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        """Run a command (argv list, never a shell) on the host."""
        raise NotImplementedError

    def modprobe(self, module: str, params: dict[str, str] | None = None) -> RunResult:
        """Load a kernel module with parameters (`modprobe MODULE k=v ...`)."""
        argv = ["modprobe", module] + [f"{k}={v}" for k, v in (params or {}).items()]
        return self.run(argv)

    def rmmod(self, module: str) -> RunResult:
        """Unload a kernel module (`modprobe -r MODULE`)."""
        return self.run(["modprobe", "-r", module])

    def xenstore(self) -> XenstoreReader | None:
        """This host's xenstore, read in-process; None: ask the `xenstore-*` programs
        (`pcipass.host.xen`)."""
        return None

    # -- VF settings over netlink (`pcipass.host.netlink`) -------------------
    def vf_states(self, pf_ifname: str) -> list[VfState] | None:
        """The VF settings the PF interface reports, in VF order; None when this host's
        netlink cannot be asked (another host's tree)."""
        return None

    def set_vf(self, pf_ifname: str, vf: int, settings: dict[str, Any]) -> None:
        """Apply VF settings (`netlink.KEYS` → value) through the PF; `VfSetFailed` with the
        kernel's errno."""
        raise NotImplementedError

    # -- Xen's heap (`pcipass.host.xenctrl`) ----------------------------------
    def xen_free_below_4gib(self) -> int:
        """Bytes Xen has free at machine addresses below 4 GiB (XEN_SYSCTL_availheap, 32
        address bits: what a PV guest's swiotlb exchanges its bounce buffer for);
        `CommandFailed` when Xen cannot be asked, `NotThisMachine` on another host's tree."""
        raise NotThisMachine(["xc_availheap"], self.root)

    # -- pcipass's own files ------------------------------------------------
    def _write_path(self, rel: str) -> str:
        """Where a write of `rel` lands: on another host's tree every link is resolved inside
        it (`user_files.confine`), so a link in the tree cannot lead a write onto this machine."""
        return self._abs(rel) if self.local else user_files.confine(self.root, rel)

    def write_state_file(self, rel: str, data: str) -> None:
        """Atomically replace one of pcipass's own files: tmp + fsync + rename (`OSError`)."""
        target = Path(self._write_path(rel))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def append_log(self, rel: str, truncate: bool = False) -> AppendLog:
        """Open one of pcipass's own files for appending lines (`OSError`)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        return AppendLog(
            os.open(self._write_path(rel), flags | (os.O_TRUNC if truncate else 0), 0o644))

    @contextmanager
    def lock(self, rel: str, timeout: float) -> Iterator[None]:
        """Hold an exclusive flock on `rel` (created, with its directory), waiting up to
        `timeout` seconds; the holder's pid is written into it for the next one's message."""
        try:
            path = self._write_path(rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OperationError(
                f"cannot open the lock {self.name_of(rel)}: {exc.strerror or exc}", STATE_FIX
            ) from exc
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                        raise OperationError(
                            f"another pcipass (pid {holder}) is changing this host",
                            "wait for it to finish and retry",
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def remove_state_file(self, rel: str) -> None:
        """Delete one of pcipass's own files (absent is fine; `OSError` otherwise)."""
        with suppress(FileNotFoundError):
            os.unlink(self._write_path(rel))

    def remove_tree(self, rel: str) -> None:
        """Delete one of pcipass's own directories and what it holds (absent is fine)."""
        shutil.rmtree(self._write_path(rel), ignore_errors=True)

    # -- user files (xl.cfg): paths map under the root as `pcipass.host.user_files` says ----
    def read_user_file(self, path: str | os.PathLike[str], limit: int) -> bytes:
        """A user's regular file on this host, at most `limit` bytes; else one `InputError`."""
        return user_files.read(self.root, path, limit)

    def replace_user_file(self, path: str | os.PathLike[str], old: bytes, new: bytes) -> Path:
        """Replace a user's file (whose bytes were `old`) with `new`, keeping owner, group,
        mode, symlink and hard links; return the backup (`FILE.pcipass-bak`)."""
        return Path(user_files.replace(self.root, path, old, new))
