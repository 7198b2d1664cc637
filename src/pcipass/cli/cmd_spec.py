"""`pcipass spec check`: read PCI spec strings (or BDFs) exactly as xl 4.17 does.

`--json` prints one object per input with the keys: input, ok, domain, bus, dev, func,
all_functions, vslot, permissive, msitranslate, seize, power_mgmt, rdm_policy, name,
error, warnings. Exit 2 when any input is invalid.
"""

from __future__ import annotations

import sys

import click

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.errors import InputError
from pcipass.spec import SpecCheck, check_bdf, check_spec


def _read_inputs(specs: tuple[str, ...]) -> list[str]:
    if specs != ("-",):
        return list(specs)
    raw = sys.stdin.buffer.read()
    lines = raw.decode("utf-8", "surrogateescape").splitlines()
    if not lines:
        raise InputError("no spec strings on stdin", "give one spec per line")
    return lines


def _check_one(text: str, strict: bool, bdf: bool) -> SpecCheck:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return SpecCheck(shown, None, "the input is not valid UTF-8 text")
    return check_bdf(text, strict=strict) if bdf else check_spec(text, strict=strict)


def _table(results: list[SpecCheck]) -> None:
    from rich.table import Table  # noqa: PLC0415 - rich only for human output

    table = Table("input", "ok", "device", "vslot", "options", "notes")
    for r in results:
        if r.spec is None:
            table.add_row(repr(r.input), "[red]no[/red]", "", "", "", f"[red]{r.error}[/red]")
            continue
        s = r.spec
        device = f"name={s.name}" if s.address is None else (
            f"{s.address.slot}.*" if s.all_functions else str(s.address)
        )  # fmt: skip
        options = ",".join(
            k for k in ("permissive", "msitranslate", "seize", "power_mgmt") if getattr(s, k)
        )
        if s.rdm_policy:
            options += f"{',' if options else ''}rdm_policy={s.rdm_policy}"
        notes = "\n".join(f"[yellow]warning:[/yellow] {w}" for w in r.warnings)
        ok = "[yellow]yes[/yellow]" if r.warnings else "[green]yes[/green]"
        table.add_row(repr(r.input), ok, device, f"{s.vslot:x}" if s.vslot else "auto",
                      options or "-", notes)  # fmt: skip
    out().print(table)


@click.group("spec")
def spec_group() -> None:
    """PCI spec strings (xl-pci-configuration(5)) as Xen 4.17's xl reads them."""


@spec_group.command("check")
@click.option("--strict", is_flag=True, help="Refuse the silent traps instead of warning.")
@click.option("--bdf", is_flag=True, help="Use the grammar of xl pci-assignable-add/-remove.")
@click.option("--json", "json_", is_flag=True, help="Machine output (same as the global --json).")
@click.argument("specs", nargs=-1, required=True)
@pass_app
def check(app: AppContext, strict: bool, bdf: bool, json_: bool, specs: tuple[str, ...]) -> int:
    """Check SPEC... (or `-`: one per line on stdin): what xl would use, and its traps."""
    results = [_check_one(text, strict, bdf) for text in _read_inputs(specs)]
    if app.json or json_:
        for result in results:
            emit_json(result.as_json())
    else:
        _table(results)
    return 0 if all(r.ok for r in results) else 2


COMMANDS: list[click.Command] = [spec_group]
