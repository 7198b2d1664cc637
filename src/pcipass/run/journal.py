"""The journal: the running plan and how far it got, on disk before each step.

Two files in the state directory. `journal.json` holds the plan, its id and how
it ended; it is replaced atomically (`Host.write_state_file`) when an operation
begins, is resumed and ends. `journal.progress` gets one line per step,
``<id> <step> <state>``, appended *before* the step is taken. A plain write(2)
is what survives `kill -9` (the kernel keeps the data of a dead process), so
progress lines are not fsync'd: only the plan file is, at begin and end. After a
power loss the host's sysfs state is gone anyway and `recover` finds at worst an
older step, whose idempotent undo (skipped where its state already holds) is safe.
Lines of an older operation (another id) are ignored.

An operation whose rollback could not finish is "stuck": it is kept in
`journal.stuck.json` (a list, so later operations on other devices do not
overwrite it) until `recover --rollback` finishes it or `recover --abandon`
closes it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from pcipass.errors import OperationError
from pcipass.host.base import STATE_FIX, AppendLog, Host
from pcipass.run.plan import Plan
from pcipass.run.state_dir import STATE_DIR

JOURNAL = f"{STATE_DIR}/journal.json"
PROGRESS = f"{STATE_DIR}/journal.progress"
STUCK = f"{STATE_DIR}/journal.stuck.json"

class State(StrEnum):
    """How a journalled operation stands: under way (`running`, `rolling-back`) or ended;
    `stuck`: its rollback could not finish; `abandoned`: closed by `recover --abandon`."""

    RUNNING = "running"
    ROLLING_BACK = "rolling-back"
    DONE = "done"
    ROLLED_BACK = "rolled-back"
    STUCK = "stuck"
    ABANDONED = "abandoned"


STATES = tuple(State)


@dataclass(frozen=True)
class Entry:
    """One journalled operation: the plan, its state, and the step it was at."""

    plan: Plan
    state: State
    step: int
    pid: int
    started: float
    id: str = ""

    @property
    def interrupted(self) -> bool:
        return self.state in (State.RUNNING, State.ROLLING_BACK)

    def devices(self) -> list[str]:
        """The devices the plan touches, in plan order."""
        return list(dict.fromkeys(s.bdf for s in self.plan.steps if s.bdf))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 2,
            "id": self.id,
            "state": self.state,
            "step": self.step,
            "pid": self.pid,
            "started": self.started,
            "plan": self.plan.to_json(),
        }


class Journal:
    """Reads and writes the journal of one host."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._entry: Entry | None = None
        self._progress: AppendLog | None = None

    def load(self) -> Entry | None:
        """The last journalled operation (with its latest progress), or None."""
        text = self.host.try_read_text(JOURNAL)
        if not text:
            return None
        entry = _parse(text, self.host.name_of(JOURNAL), lambda obj: [obj])[0]
        if not entry.interrupted:
            return entry
        steps = range(len(entry.plan.steps))
        for line in (self.host.try_read_text(PROGRESS) or "").splitlines():
            fields = line.split()  # a line that is not `<id> <step> <state>` is ignored
            if len(fields) != 3 or fields[0] != entry.id or fields[2] not in STATES:
                continue
            if fields[1].isdigit() and int(fields[1]) in steps:
                entry = replace(entry, step=int(fields[1]), state=State(fields[2]))
        return entry

    def begin(self, plan: Plan) -> None:
        """Record a new operation before its first step."""
        ident = f"{os.getpid()}-{time.time_ns()}"
        self._save(Entry(plan, State.RUNNING, -1, os.getpid(), time.time(), ident))
        self._open_progress(truncate=True)

    def resume(self, entry: Entry) -> None:
        """Take over an interrupted operation (recovery)."""
        self._save(replace(entry, pid=os.getpid()))
        self._open_progress(truncate=False)

    def at(self, step: int, state: State = State.RUNNING) -> None:
        """Record that step `step` is about to be taken (or undone); survives kill -9."""
        assert self._entry is not None and self._progress is not None, "journal not begun"
        try:
            self._progress.append(f"{self._entry.id} {step} {state}\n")
        except OSError as exc:
            raise self._failed(PROGRESS, exc) from exc
        self._entry = replace(self._entry, step=step, state=state)

    def end(self, state: State) -> None:
        """Record how the operation ended ("done" or "rolled-back")."""
        assert self._entry is not None, "journal not begun"
        self._save(replace(self._entry, state=state))
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def stuck(self) -> list[Entry]:
        """Operations whose rollback could not finish, oldest first."""
        text = self.host.try_read_text(STUCK)
        return _parse(text, self.host.name_of(STUCK), lambda obj: list(obj)) if text else []

    def set_stuck(self, entries: list[Entry]) -> None:
        """Replace the list of stuck operations (durably)."""
        try:
            self.host.write_state_file(STUCK, json.dumps([e.to_json() for e in entries]))
        except OSError as exc:
            raise self._failed(STUCK, exc) from exc

    def _open_progress(self, truncate: bool) -> None:
        if self._progress is not None:
            self._progress.close()
        try:
            self._progress = self.host.append_log(PROGRESS, truncate)
        except OSError as exc:
            raise self._failed(PROGRESS, exc) from exc

    def _save(self, entry: Entry) -> None:
        try:
            self.host.write_state_file(JOURNAL, json.dumps(entry.to_json()))
        except OSError as exc:
            raise self._failed(JOURNAL, exc) from exc
        self._entry = entry

    def _failed(self, rel: str, exc: OSError) -> OperationError:
        return OperationError(
            f"cannot write the journal {self.host.name_of(rel)}: {exc.strerror or exc}", STATE_FIX
        )


def _damage(exc: Exception) -> str:
    """What is wrong with a journal, in a reader's words (not Python's exception text)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg.lower()} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, KeyError):
        return f"an entry has no {exc.args[0]!r}"
    if isinstance(exc, ValueError) and "is not a valid" in str(exc):
        return f"unknown value: {str(exc).split(' is not')[0]}"
    return "an entry has the wrong shape"


def _parse(text: str, name: str, items: Callable[[Any], list[Any]]) -> list[Entry]:
    """Entries from a journal file's JSON (`items` picks them out); damaged: one clear error."""
    try:
        return [
            Entry(
                plan=Plan.from_json(obj["plan"]),
                state=State(obj["state"]),
                step=int(obj["step"]),
                pid=int(obj.get("pid", 0)),
                started=float(obj.get("started", 0.0)),
                id=str(obj.get("id", "")),
            )
            for obj in items(json.loads(text))
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OperationError(
            f"the journal {name} is damaged ({_damage(exc)})",
            "inspect it, fix the devices by hand, then delete it",
        ) from exc
