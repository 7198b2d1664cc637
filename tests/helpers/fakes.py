"""The one fake host of the unit tests, and the tiny kernel the executor tests run on.

`FaultyHost(inner)` wraps any host (a tree under `RealHost`, a `SimHost`, `TinyKernel`):
it reads the same tree and passes writes and commands on, except where a test asks for a
fault — a write that fails with an errno or is silently ignored, a path that vanishes
right after its directory is listed (hot-unplug mid-scan), files that cannot be read,
xenstore keys, and fake programs. It logs every write and command it is given.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from pcipass.host.base import (
    DEFAULT_RUN_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    Host,
    RunResult,
    WriteFailed,
)
from pcipass.host.real import RealHost

Program = Callable[[list[str]], RunResult]
"""A fake program: argv in, its result out."""


def answer(code: int = 0, out: str = "", err: str = "") -> Program:
    """A program that always ends with `code`, printing `out` and `err`."""
    return lambda argv: RunResult(tuple(argv), code, out, err)


def xenstore(keys: Mapping[str, str]) -> dict[str, Program]:
    """`xenstore-read` and `xenstore-ls -f` over a fixed set of keys."""

    def read(argv: list[str]) -> RunResult:
        if argv[1] in keys:
            return RunResult(tuple(argv), 0, keys[argv[1]] + "\n", "")
        return RunResult(tuple(argv), 1, "", "xenstore-read: couldn't read path\n")

    def flat(argv: list[str]) -> RunResult:
        out: list[str] = []
        for path in argv[2:]:
            under = sorted(k for k in keys if k.startswith(path + "/"))
            if not under:
                said = f"xenstore-ls: xs_directory ({path}): No such file or directory\n"
                return RunResult(tuple(argv), 1, "".join(out), said)
            out += [f'{k} = "{keys[k]}"\n' for k in under]
        return RunResult(tuple(argv), 0, "".join(out), "")

    return {"xenstore-read": read, "xenstore-ls": flat}


class FaultyHost(Host):
    """`inner` with the faults a test asks for (see the module docstring).

    fail_on / ignore: a write to a path ending so fails with `fail_errno` / does nothing;
    unreadable: reads of paths ending so find nothing; vanish: this path (its target, and
    the link too unless `vanish_link` is False) is removed right after its directory is
    listed; programs: fake programs by name, the rest run on `inner`.
    """

    def __init__(
        self,
        inner: Host,
        *,
        fail_on: str | None = None,
        fail_errno: int = errno.ENODEV,
        ignore: str | None = None,
        unreadable: tuple[str, ...] = (),
        vanish: str | None = None,
        vanish_link: bool = True,
        programs: Mapping[str, Program] | None = None,
    ) -> None:
        super().__init__(inner.root)
        self.inner = inner
        self.kind, self.local = inner.kind, inner.local
        self.fail_on, self.fail_errno, self.ignore = fail_on, fail_errno, ignore
        self.unreadable = unreadable
        self.vanish, self.vanish_link = vanish, vanish_link
        self.programs = dict(programs or {})
        self.writes: list[tuple[str, str]] = []
        self.ran: list[str] = []

    @property
    def runs_programs(self) -> bool:  # type: ignore[override]
        """Fake programs run anywhere; otherwise as `inner` says."""
        return bool(self.programs) or self.inner.runs_programs

    def try_read_bytes(self, rel: str, limit: int = -1) -> bytes | None:
        if self.unreadable and rel.endswith(self.unreadable):
            return None
        return self.inner.try_read_bytes(rel, limit)

    def listdir(self, rel: str) -> list[str]:
        names = self.inner.listdir(rel)
        if self.vanish and os.path.dirname(self.vanish) == rel.strip("/"):
            shutil.rmtree(os.path.realpath(self._path(self.vanish)))
            if self.vanish_link:
                self._path(self.vanish).unlink()
            self.vanish = None
        return names

    def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        self.writes.append((rel, data))
        if self.fail_on and rel.endswith(self.fail_on):
            raise WriteFailed(rel, data, self.fail_errno)
        if self.ignore and rel.endswith(self.ignore):
            return
        self.inner.write(rel, data, timeout)

    def run(self, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        self.ran.append(" ".join(argv))
        program = self.programs.get(os.path.basename(argv[0]))
        return program(argv) if program else self.inner.run(argv, timeout)


class TinyKernel(RealHost):
    """bind/unbind/driver_override/drivers_probe of one device on a tmp tree, and nothing else.

    Not a copy of the simulator: the executor tests need a kernel whose whole state is one
    device's driver link and override, so each of their crash points has a state small
    enough to assert in full; `SimKernel` models drivers, modules and groups besides, and
    would tie those tests to the simulator's model. Wrap it in `FaultyHost` for faults and
    programs (it runs none itself: it is another host's tree).
    """

    def __init__(
        self, root: Path, bdf: str, drivers: tuple[str, ...] = ("e1000e", "vfio-pci")
    ) -> None:
        super().__init__(root)
        self.default = drivers[0]
        dev = self._path(f"sys/bus/pci/devices/{bdf}")
        dev.mkdir(parents=True)
        (dev / "driver_override").write_text("(null)\n")
        for drv in drivers:
            self._path(f"sys/bus/pci/drivers/{drv}").mkdir(parents=True)
        self.link(bdf, self.default)

    def link(self, bdf: str, drv: str | None) -> None:
        """Bind `bdf` to `drv` (None: unbind it) at once."""
        path = self._path(f"sys/bus/pci/devices/{bdf}/driver")
        if os.path.lexists(path):
            path.unlink()
        if drv:
            path.symlink_to(f"../../drivers/{drv}")

    def write(self, rel: str, data: str, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        parts = rel.split("/")
        bdf = data.strip()
        if rel.endswith("driver_override"):
            self._path(rel).write_text((data.strip() or "(null)") + "\n")
        elif parts[-1] == "unbind":
            self.link(bdf, None)
        elif parts[-1] == "bind":
            self.link(bdf, parts[-2])
        elif parts[-1] == "drivers_probe":
            over = self.try_read_text(f"sys/bus/pci/devices/{bdf}/driver_override")
            self.link(bdf, over if over and over != "(null)" else self.default)


class Crash(BaseException):
    """Stands for SIGKILL: nothing in pcipass catches it."""


def crash_at(when: str, at: int) -> Callable[[str, int], None]:
    """An executor fault that stands for SIGKILL at `when:at`."""
    def fault(point: str, step: int) -> None:
        if (point, step) == (when, at):
            raise Crash()
    return fault
