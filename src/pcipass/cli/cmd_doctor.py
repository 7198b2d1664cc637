"""`pcipass doctor [BDF|IFNAME...]`: what an administrator checks by hand before passthrough,
one row per check; `--explain TEXT` / `--log FILE|-`: what a failure message means.

Reads only (also under `--root`, where programs are not run and their checks say
"unknown"). Exit 1 when a check fails (with `--explain`: when no known message is in the
text), else 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pcipass.cli.context import AppContext, json_option, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.errors import InputError
from pcipass.model.failures import MAX_TEXT, explain
from pcipass.ops.doctor.facts import DoctorFacts
from pcipass.ops.doctor.table import Row, confirm, failed_any, run_checks
from pcipass.ops.doctor.verdict import Status

STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red",
         Status.UNKNOWN: "blue"}


def _facts(app: AppContext, names: tuple[str, ...]) -> DoctorFacts:
    from pcipass.model.discovery import discover  # noqa: PLC0415 - startup cost
    from pcipass.model.resolve import SHOW, resolve  # noqa: PLC0415
    from pcipass.ops.doctor.facts import gather  # noqa: PLC0415

    host = app.host()
    model = discover(host)
    devices = tuple(dict.fromkeys(resolve(model, n, SHOW) for n in names))
    return gather(host, model, devices)


def _read_log(log: str) -> str:
    if log == "-":
        return sys.stdin.read(MAX_TEXT)
    try:
        with open(Path(log), encoding="utf-8", errors="replace") as f:
            return f.read(MAX_TEXT)
    except OSError as exc:
        raise InputError(f"cannot read --log {log}: {exc.strerror or exc}",
                         "give a readable file, or - for stdin") from exc


def _table(rows: list[Row]) -> None:
    from rich.table import Table  # noqa: PLC0415 - rich only for people
    from rich.text import Text  # noqa: PLC0415

    table = Table(box=None, pad_edge=False, highlight=False)
    for title in ("CHECK", "SUBJECT", "STATUS", "EVIDENCE", "FIX"):
        table.add_column(title, no_wrap=title in ("CHECK", "SUBJECT", "STATUS"))
    for r in rows:
        table.add_row(r.check, r.subject, Text(r.status.value, style=STYLE[r.status]),
                      Text(r.evidence), Text(r.fix))
    out().print(table)


def _explain(app: AppContext, facts: DoctorFacts, text: str) -> int:
    matches = explain(text)
    confirmed = {m.signature.id: confirm(m.signature.check, facts) for m in matches}
    if app.json:
        emit_json({"matches": [m.to_json() | {"confirmed": [r.to_json() for r in
                                                            confirmed[m.signature.id]]}
                               for m in matches]})
        return 0 if matches else 1
    if not matches:
        out().print("no known failure message in the text", markup=False)
        return 1
    for m in matches:
        s = m.signature
        con = out()
        con.print(f"line {m.line_number}: {m.line}", markup=False)
        for label, value in (("signature", s.id), ("cause", s.cause), ("fix", s.fix),
                             ("evidence", s.evidence)):
            con.print(f"  {label + ':':<10} {value}", markup=False)
        rows = confirmed[s.id]
        for r in rows:
            on = "" if r.subject == "host" else f" on {r.subject}"
            con.print(f"  {'here:':<10} {s.check}{on}: {r.status.value} — {r.evidence}",
                      markup=False)
        if not rows:
            con.print(f"  {'here:':<10} name the device to run {s.check} on it", markup=False)
    return 0


@click.command("doctor")
@click.argument("devices", nargs=-1, metavar="[BDF|IFNAME...]")
@click.option("--explain", "text", metavar="TEXT",
              help="Explain a pasted xl/libxl/kernel/guest message instead.")
@click.option("--log", metavar="FILE|-", help="Explain the messages in a log file (- stdin).")
@json_option
@pass_app
def doctor_cmd(app: AppContext, devices: tuple[str, ...], text: str | None, log: str | None,
               json_: bool) -> int:
    """Check the host (Xen dom0 or KVM) and the named devices for passthrough: one row per
    check with pass / warn / fail / unknown, the evidence read and the fix."""
    app.json = app.json or json_
    if text is not None and log is not None:
        raise InputError("--explain and --log both give the text", "give one of them")
    facts = _facts(app, devices)
    if text is not None or log is not None:
        return _explain(app, facts, text if text is not None else _read_log(str(log)))
    rows = run_checks(facts)
    if app.json:
        emit_json({"host": facts.kind, "checks": [r.to_json() for r in rows]})
    else:
        _table(rows)
    return 1 if failed_any(rows) else 0


COMMANDS: list[click.Command] = [doctor_cmd]
