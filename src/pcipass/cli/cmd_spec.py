"""`pcipass spec check`: read PCI spec strings (or BDFs) exactly as xl 4.17 does.

`--json` prints one object per input with the keys: input, ok, domain, bus, dev, func,
all_functions, vslot, permissive, msitranslate, seize, power_mgmt, rdm_policy, name,
error, warnings. Exit 2 when any input is invalid.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.errors import InputError
from pcipass.spec import FLAG_KEYS, PciSpec, SpecCheck, check_bdf, check_spec


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


def _device(spec: PciSpec) -> str:
    if spec.address is None:
        return f"name={spec.name}"
    return f"{spec.address.slot}.*" if spec.all_functions else str(spec.address)


def _options(spec: PciSpec) -> str:
    options = [k for k in FLAG_KEYS if getattr(spec, k)]
    if spec.rdm_policy:
        options.append(f"rdm_policy={spec.rdm_policy}")
    return ",".join(options) or "-"


def _table(results: list[SpecCheck]) -> None:
    """A table of what xl would use; errors and warnings follow it, one line each."""
    from rich.table import Column, Table  # noqa: PLC0415 - rich only for human output

    console = out()
    table = Table("#", Column("input", overflow="fold"), "xl uses", "guest slot",
                  Column("options", overflow="fold"), "verdict")  # fmt: skip
    for number, r in enumerate(results, 1):
        if r.spec is None:
            table.add_row(str(number), repr(r.input), "-", "-", "-", "[red]invalid[/red]")
        else:
            verdict = "[yellow]trap[/yellow]" if r.warnings else "[green]ok[/green]"
            slot = f"{r.spec.vslot:x}" if r.spec.vslot else "auto"
            table.add_row(str(number), repr(r.input), _device(r.spec), slot, _options(r.spec),
                          verdict)  # fmt: skip
    console.print(table)
    for number, r in enumerate(results, 1):
        if r.error:
            console.print(f"[red]#{number} error:[/red] {escape(r.error)}")
        for warning in r.warnings:
            console.print(f"[yellow]#{number} warning:[/yellow] {escape(warning)}")


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
