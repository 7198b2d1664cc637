"""Rendering: JSON for machines (stdout only, stable keys), rich for people."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_out: Console | None = None
_err: Console | None = None


def out() -> Console:
    """Console for human output on stdout (no colour when not a terminal)."""
    global _out
    if _out is None:
        from rich.console import Console  # noqa: PLC0415 - rich only when people read the output

        _out = Console(highlight=False, soft_wrap=True)
    return _out


def err() -> Console:
    """Console for progress and warnings on stderr."""
    global _err
    if _err is None:
        from rich.console import Console  # noqa: PLC0415 - rich only when people read the output

        _err = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err


def emit_json(obj: Any) -> None:
    """Print one JSON document (one line) on stdout."""
    sys.stdout.write(json.dumps(obj, sort_keys=False, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    """A warning on stderr, never on stdout (stdout may be JSON)."""
    err().print(f"pcipass: warning: {message}", markup=False)
