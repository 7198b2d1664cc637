"""Test faults for the executor: `PCIPASS_TEST_KILL=before:N|after:N` SIGKILLs pcipass
before or after its N-th forward step (1-based), for the kill -9 sweep. The CLI reads the
variable in one place (`from_env`) and hands the result to `Executor(fault=...)`."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from pcipass.run.executor import Fault

KILL_ENV = "PCIPASS_TEST_KILL"


def kill_at(spec: str) -> Fault | None:
    """A fault that SIGKILLs the process at `before:N` / `after:N`; None for anything else."""
    when, _, number = spec.partition(":")
    if when not in ("before", "after") or not number.isdigit():
        return None
    target = (when, int(number))

    def fault(point: str, step: int) -> None:
        if (point, step) == target:
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


def from_env(environ: Mapping[str, str] = os.environ) -> Fault | None:
    """The fault `PCIPASS_TEST_KILL` asks for (None when unset)."""
    return kill_at(environ.get(KILL_ENV, ""))
