"""`Host`: the only code that touches host state.

Every path is relative to the host root (`--root`, default `/`): callers pass
paths such as ``"sys/bus/pci/devices"`` (a leading ``/`` is allowed and means
the same). Reads never raise for a file that vanished (hot-unplug is normal):
the ``try_*`` readers return ``None``. Writes to sysfs are bounded by a timeout
and raise `WriteFailed` with the kernel's errno; callers re-read the state they
expected, because the kernel accepts some writes that do nothing.

`RealHost` is the machine (or a snapshot tree); `pcipass.sim.host.SimHost`
implements the same interface with kernel-faithful side effects.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from pcipass.errors import OperationError
from pcipass.host import user_files

SYSFS_PCI_DEVICES = "sys/bus/pci/devices"
SYSFS_PCI_DRIVERS = "sys/bus/pci/drivers"
DEFAULT_WRITE_TIMEOUT = 10.0
DEFAULT_RUN_TIMEOUT = 120.0


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


@dataclass(frozen=True)
class RunResult:
    """What a subprocess did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Host:
    """Reads under a root directory; subclasses decide how writes and commands happen."""

    kind = "base"

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root)
        # Plain string prefix: discovery reads thousands of small files, and
        # building a Path object per read costs more than the read itself.
        self._prefix = os.path.join(os.fspath(root), "")

    # -- paths -------------------------------------------------------------
    def path(self, rel: str) -> Path:
        """The real filesystem path of host path `rel`."""
        return self.root / rel.lstrip("/")

    def _abs(self, rel: str) -> str:
        return self._prefix + rel.lstrip("/")

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
        real = Path(os.path.realpath(self.path(rel)))
        try:
            return str(real.relative_to(os.path.realpath(self.root)))
        except ValueError:
            return str(real).lstrip("/")

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self._abs(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self._abs(rel))

    # -- writes ------------------------------------------------------------
    def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        """Write `data` to a sysfs attribute in one write(2); raise `WriteFailed`."""
        raise NotImplementedError

    def write_state_file(self, rel: str, data: str) -> None:
        """Atomically replace one of pcipass's own files: tmp + fsync + rename."""
        target = self.path(rel)
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

    # -- commands ----------------------------------------------------------
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

    # -- user files (xl.cfg): paths map under the root as `pcipass.host.user_files` says ----
    def read_user_file(self, path: str | os.PathLike[str], limit: int) -> bytes:
        """A user's regular file on this host, at most `limit` bytes; else one `InputError`."""
        raise NotImplementedError

    def replace_user_file(self, path: str | os.PathLike[str], old: bytes, new: bytes) -> Path:
        """Replace a user's file (whose bytes were `old`) with `new`, keeping owner, group,
        mode, symlink and hard links; return the backup (`FILE.pcipass-bak`)."""
        raise NotImplementedError


class _Job:
    """One sysfs write handed to the writer thread, and its outcome."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self.data = data
        self.error: OSError | None = None
        self.done = threading.Event()

    def perform(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, self.data)
            finally:
                os.close(fd)
        except OSError as exc:
            self.error = exc
        self.done.set()


class _Writer:
    """A daemon thread that performs sysfs writes, so the caller can stop waiting.

    A write can block forever in a broken driver; the caller then gives up after
    its timeout and abandons this writer (a new one serves the next write).
    """

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._serve, daemon=True, name="pcipass-sysfs-writer").start()

    def _serve(self) -> None:
        while True:
            self.jobs.get().perform()


class RealHost(Host):
    """The running machine, or a read-only tree (snapshot) under `root`."""

    kind = "real"
    _writer: _Writer | None = None

    def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        if self._writer is None:
            self._writer = _Writer()
        job = _Job(self._abs(rel), data.encode())
        self._writer.jobs.put(job)
        if not job.done.wait(timeout):
            self._writer = None  # stuck in the kernel: never hand it another write
            raise WriteFailed(rel, data, 0)
        if job.error is not None:
            raise WriteFailed(rel, data, job.error.errno or errno.EIO)

    def run(self, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        import subprocess  # noqa: PLC0415 - listing commands never run one; keep their start fast

        env = dict(os.environ, LC_ALL="C")
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except FileNotFoundError as exc:
            raise CommandFailed(
                f"command {argv[0]!r} not found", f"install the package that provides {argv[0]}"
            ) from exc
        except OSError as exc:  # not executable, a directory, ...
            raise CommandFailed(
                f"cannot run {argv[0]!r}: {exc.strerror}", f"check that {argv[0]} is a program"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandFailed(
                f"{' '.join(argv)} did not finish within {timeout:.0f}s",
                "check the host (dmesg) and retry",
            ) from exc
        return RunResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    # -- user files (xl.cfg) -----------------------------------------------------------
    def read_user_file(self, path: str | os.PathLike[str], limit: int) -> bytes:
        return user_files.read(self.root, path, limit)

    def replace_user_file(self, path: str | os.PathLike[str], old: bytes, new: bytes) -> Path:
        return Path(user_files.replace(self.root, path, old, new))
