"""The one way tests run the CLI: in-process, capturing stdout and stderr."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from pcipass.cli.main import run
from pcipass.host.base import Host
from pcipass.sim.host import SimHost


class Result(NamedTuple):
    """Exit code and output of one CLI run (also unpacks as `code, out, err`)."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def where(host: Host) -> list[str]:
    """The global option that points the CLI at `host`."""
    if isinstance(host, SimHost):
        return ["--sim", str(host.directory)]
    return ["--root", str(host.root)]


def pcipass(*args: str, host: Host | None = None) -> Result:
    """Run `pcipass [--sim|--root host] ARGS...` in-process."""
    argv = [*(where(host) if host is not None else []), *args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    return Result(code, out.getvalue(), err.getvalue())


Cli = Callable[..., Result]
"""The type of the `cli` fixture (`pcipass` above)."""
