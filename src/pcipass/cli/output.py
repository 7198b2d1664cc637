"""Rendering: JSON for machines (stdout only, stable keys), rich for people."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rich.console import Console

    from pcipass.cli.context import AppContext
    from pcipass.ops.assign import HostFacts
    from pcipass.run.executor import Outcome
    from pcipass.run.plan import Plan

#: Width of human output that is not read on a terminal: never truncate, never fold.
UNLIMITED = 1_000_000

_out: Console | None = None
_err: Console | None = None


def out() -> Console:
    """Console for human output on stdout (no colour when not a terminal)."""
    global _out
    if _out is None:
        from rich.console import Console  # noqa: PLC0415 - rich only when people read the output

        _out = Console(highlight=False, soft_wrap=True)
        if not _out.is_terminal:
            _out.width = UNLIMITED  # piped: a table keeps every column and whole BDFs
    return _out


def err() -> Console:
    """Console for progress and warnings on stderr."""
    global _err
    if _err is None:
        from rich.console import Console  # noqa: PLC0415 - rich only when people read the output

        _err = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err


#: The control characters rich strips from printed text (rich.control.STRIP_CONTROL_CODES):
#: plain lines drop them too, so both ways print the same text.
STRIP_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))


def _line(console: Console | None, stream: TextIO, line: str) -> None:
    """One plain line on `stream`, without importing rich (seconds at start-up on a slow
    dom0), unless `console`, a rich console, already draws there."""
    if console is not None:
        console.print(line, markup=False)
        return
    stream.write(line.translate(STRIP_CONTROL) + "\n")


def say(line: str) -> None:
    """One plain line of human output on stdout."""
    _line(_out, sys.stdout, line)


def columns(rows: list[tuple[str, ...]]) -> str:
    """Plain aligned columns, two spaces apart, never truncated (a rich table costs
    seconds on thousands of rows)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def emit_json(obj: Any) -> None:
    """Print one JSON document (one line) on stdout."""
    sys.stdout.write(json.dumps(obj, sort_keys=False, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    """A warning on stderr, never on stdout (stdout may be JSON): plain text, unless a rich
    console already draws on stderr (a progress bar)."""
    _line(_err, sys.stderr, f"pcipass: warning: {message}")


def run_change(app: AppContext, build: Callable[[HostFacts], Plan], dry_run: bool,
               targets: Sequence[str] = (), then: Callable[[Outcome], None] | None = None
               ) -> None:
    """Execute a change through the library's session; render its plan or its outcome
    (`then`: what the command does with a run's outcome before it is shown, e.g. wait)."""
    from pcipass.run import session  # noqa: PLC0415 - only commands that change the host
    from pcipass.run.faults import from_env  # noqa: PLC0415

    result = session.execute(app.host(), build, dry_run, warn, targets, fault=from_env())
    if result.plan is not None:
        show_plan(app, result.plan, dry_run=True)
    elif result.outcome is not None:
        if then is not None:
            then(result.outcome)
        show_outcome(app, result.outcome)


def show_plan(app: AppContext, plan: Plan, dry_run: bool) -> None:
    """A plan: JSON, or one shell-like line per step and `# note` lines."""
    if app.json:
        emit_json(dict(plan.to_json(), dry_run=dry_run))
        return
    for line in plan.render():
        say(line)
    for note in plan.notes:
        say(f"# {note}")


def show_outcome(app: AppContext, outcome: Outcome) -> None:
    """What a run did: warnings on stderr, then JSON or one line per step taken."""
    for message in outcome.warnings:
        warn(message)
    if app.json:
        emit_json(outcome.to_json())
        return
    for step in outcome.done:
        say(step.render())
