"""The journal: the running plan and how far it got, on disk before each step.

One JSON file under the state directory, replaced atomically and fsync'd
(`Host.write_state_file`) before every step, so a `kill -9` at any point
leaves a record that `recover` can finish or roll back. The entry is kept
after the operation ends, with `state` "done" or "rolled-back".
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

from pcipass.errors import OperationError
from pcipass.host.base import Host
from pcipass.run.plan import Plan
from pcipass.run.state_dir import STATE_DIR

JOURNAL = f"{STATE_DIR}/journal.json"

State = Literal["running", "rolling-back", "done", "rolled-back"]


@dataclass(frozen=True)
class Entry:
    """One journalled operation: the plan, its state, and the step it was at."""

    plan: Plan
    state: State
    step: int
    pid: int
    started: float

    @property
    def interrupted(self) -> bool:
        return self.state in ("running", "rolling-back")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "state": self.state,
            "step": self.step,
            "pid": self.pid,
            "started": self.started,
            "plan": self.plan.to_json(),
        }


class Journal:
    """Reads and writes the journal file of one host."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._entry: Entry | None = None

    def load(self) -> Entry | None:
        """The last journalled operation, or None if there never was one."""
        text = self.host.try_read_text(JOURNAL)
        if not text:
            return None
        try:
            obj = json.loads(text)
            return Entry(
                plan=Plan.from_json(obj["plan"]),
                state=obj["state"],
                step=int(obj["step"]),
                pid=int(obj.get("pid", 0)),
                started=float(obj.get("started", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise OperationError(
                f"the journal /{JOURNAL} is damaged ({exc})",
                "inspect it, fix the devices by hand, then delete it",
            ) from exc

    def begin(self, plan: Plan) -> None:
        """Record a new operation before its first step."""
        self._save(Entry(plan, "running", -1, os.getpid(), time.time()))

    def resume(self, entry: Entry) -> None:
        """Take over an interrupted operation (recovery)."""
        self._save(Entry(entry.plan, entry.state, entry.step, os.getpid(), entry.started))

    def at(self, step: int, state: State = "running") -> None:
        """Record that step `step` is about to be taken (or undone, when rolling back)."""
        assert self._entry is not None, "journal not begun"
        self._save(Entry(self._entry.plan, state, step, self._entry.pid, self._entry.started))

    def end(self, state: State) -> None:
        """Record how the operation ended ("done" or "rolled-back")."""
        assert self._entry is not None, "journal not begun"
        self._save(Entry(self._entry.plan, state, self._entry.step, self._entry.pid,
                         self._entry.started))

    def _save(self, entry: Entry) -> None:
        try:
            self.host.write_state_file(JOURNAL, json.dumps(entry.to_json()))
        except OSError as exc:
            raise OperationError(
                f"cannot write the journal /{JOURNAL}: {exc.strerror or exc}",
                "run pcipass as root, or check that the state directory is writable",
            ) from exc
        self._entry = entry
