"""One pcipass at a time per host: an exclusive flock on a file in the state directory."""

from __future__ import annotations

import fcntl
import os
import time
from types import TracebackType

from pcipass.errors import OperationError
from pcipass.host.base import Host
from pcipass.run.state_dir import STATE_DIR

LOCK = f"{STATE_DIR}/lock"


class Lock:
    """Context manager holding the host's pcipass lock; waits up to `timeout` seconds."""

    def __init__(self, host: Host, timeout: float = 30.0) -> None:
        self.host = host
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> Lock:
        path = self.host.path(LOCK)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OperationError(
                f"cannot open the lock /{LOCK}: {exc.strerror or exc}",
                "run pcipass as root, or check that the state directory is writable",
            ) from exc
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise OperationError(
                        f"another pcipass (pid {holder}) is changing this host",
                        "wait for it to finish and retry",
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
