"""Errors that reach the user as one line: what went wrong, and how to fix it.

Every error a user can cause is a `PcipassError`. The CLI prints it as
`pcipass: error: <what> — <fix>` on stderr and exits with its `exit_code`
(2 bad input, 1 the operation failed). Anything else is a bug and gets a
traceback only with `--debug`.
"""

from __future__ import annotations


class PcipassError(Exception):
    """A failure the user can act on."""

    exit_code = 1

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def line(self) -> str:
        """The one line shown to the user."""
        return f"{self.what} — {self.fix}" if self.fix else self.what


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
