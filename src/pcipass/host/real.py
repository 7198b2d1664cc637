"""`RealHost`: this machine at ``/``, or another host's tree (a snapshot) under `--root`.

Sysfs writes go through one writer thread, so a write stuck in a broken driver
costs the caller its timeout, not the process. `run` is the one place a program
is started; under a root that is not ``/`` it refuses, since a program would act
on this machine, not on the tree.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from typing import TYPE_CHECKING, Any

from pcipass.host.base import (
    DEFAULT_RUN_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    CommandFailed,
    Host,
    NotThisMachine,
    RunResult,
    WriteFailed,
)

if TYPE_CHECKING:
    from pcipass.host.netlink import VfState
    from pcipass.host.xenstore import XenstoreReader


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
    """The running machine (root ``/``), or another host's tree under `root`."""

    kind = "real"
    _writer: _Writer | None = None
    _xenstore: XenstoreReader | None = None
    _xenstore_tried = False

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        super().__init__(root)
        self.local = os.path.realpath(root) == "/"

    @property
    def runs_programs(self) -> bool:  # type: ignore[override]
        """Programs run on this machine only: never because of another host's tree."""
        return self.local

    def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        if self._writer is None:
            self._writer = _Writer()
        job = _Job(self._write_path(rel), data.encode())
        self._writer.jobs.put(job)
        if not job.done.wait(timeout):
            self._writer = None  # stuck in the kernel: never hand it another write
            raise WriteFailed(rel, data, 0)
        if job.error is not None:
            raise WriteFailed(rel, data, job.error.errno or errno.EIO)

    def run(self, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        if not self.runs_programs:
            raise NotThisMachine(argv, self.root)
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

    def xenstore(self) -> XenstoreReader | None:
        """libxenstore on this machine, opened once (None: on another host's tree, or no
        libxenstore or xenstored here: then the programs are asked, and say why not)."""
        if self.local and not self._xenstore_tried:
            self._xenstore_tried = True
            from pcipass.host.xenstore import LibXenstore  # noqa: PLC0415 - ctypes only on Xen

            try:
                self._xenstore = LibXenstore()
            except OSError:
                self._xenstore = None
        return self._xenstore

    def vf_states(self, pf_ifname: str) -> list[VfState] | None:
        """This machine's netlink; on another host's tree unknown (None), never this one's."""
        if not self.local:
            return None
        from pcipass.host import netlink  # noqa: PLC0415 - pyroute2 only when asked

        return netlink.read_vfs(pf_ifname)

    def set_vf(self, pf_ifname: str, vf: int, settings: dict[str, Any]) -> None:
        from pcipass.host import netlink  # noqa: PLC0415

        if not self.local:
            raise NotThisMachine(["ip", "link", "set", pf_ifname, "vf", str(vf),
                                  *netlink.describe(settings).split()], self.root)
        netlink.set_vf(pf_ifname, vf, settings)

    def xen_free_below_4gib(self) -> int:
        """This machine's Xen (libxenctrl); on another host's tree never this one's."""
        if not self.local:
            raise NotThisMachine(["xc_availheap"], self.root)
        from pcipass.host import xenctrl  # noqa: PLC0415 - ctypes only when asked

        return xenctrl.free_below(32)
