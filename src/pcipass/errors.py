"""Errors that reach the user as one line: what went wrong, and how to fix it.

Every error a user can cause is a `PcipassError`. The CLI prints it as
`pcipass: error: <what> — <fix>` on stderr and exits with its `exit_code`
(2 bad input, 1 the operation failed). Anything else is a bug and gets a
traceback only with `--debug`.
"""

from __future__ import annotations

import re

#: Longest input an error message repeats whole.
MAX_ECHO = 60
#: Longest run of non-blank characters an error line keeps whole (a path fits).
MAX_WORD = 200
_LONG_WORD = re.compile(r"\S{" + str(MAX_WORD + 1) + ",}")


def abbreviate(text: str, limit: int = MAX_ECHO) -> str:
    """`text`, or its start and end around "…(N characters)…" when longer than `limit`."""
    if len(text) <= limit:
        return text
    keep = max(limit // 2, 8)
    return f"{text[:keep]}…({len(text)} characters)…{text[-8:]}"


def one_line(text: str) -> str:
    """`text` as one line: line breaks shown as spaces, very long words abbreviated."""
    flat = " ".join(text.splitlines())
    return _LONG_WORD.sub(lambda m: abbreviate(m.group(), MAX_WORD), flat)


class PcipassError(Exception):
    """A failure the user can act on."""

    exit_code = 1

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def line(self) -> str:
        """The one line shown to the user; a very long word (an echoed input) abbreviated."""
        return one_line(f"{self.what} — {self.fix}" if self.fix else self.what)


class InputError(PcipassError):
    """Bad input: malformed address or spec, unknown device, bad option (exit 2)."""

    exit_code = 2

    @classmethod
    def about(cls, prefix: str, message: str, default_fix: str) -> InputError:
        """`prefix: message`, keeping a fix the message already carries after " — "."""
        what, _, fix = message.partition(" — ")
        return cls(f"{prefix}: {what}", fix or default_fix)


class OperationError(PcipassError):
    """The input was fine but the operation could not be done (exit 1)."""

    exit_code = 1
