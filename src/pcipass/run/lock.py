"""One pcipass at a time per host: an exclusive lock on a file in the state directory."""

from __future__ import annotations

from contextlib import AbstractContextManager

from pcipass.host.base import Host
from pcipass.run.state_dir import STATE_DIR

LOCK = f"{STATE_DIR}/lock"


def Lock(host: Host, timeout: float = 30.0) -> AbstractContextManager[None]:  # noqa: N802
    """Context manager holding the host's pcipass lock; waits up to `timeout` seconds."""
    return host.lock(LOCK, timeout)
