"""`pcipass config ...`: check an xl domain config, and edit its pci list and pci_* globals.

`config check --json` always prints one object: ok, error, globals, pci (objects as in
`spec check --json`), warnings — also for a file it refuses to read (then the error line
goes to stderr too). The editing commands keep every other byte of the file, write
atomically and keep `FILE.pcipass-bak`; `--dry-run` prints the diff only. FILE is a file of
the selected host: under `--root DIR` or `--sim S` it is looked up in that host's tree
(`pcipass.host.user_files` says how), where the simulated `xl create` reads it too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from rich.markup import escape

from pcipass.cli.context import AppContext, json_option, pass_app
from pcipass.cli.output import emit_json, out
from pcipass.errors import InputError
from pcipass.run.config_edit import edit_config, read_config, slot_functions
from pcipass.spec import SpecCheck
from pcipass.xlcfg import (
    GLOBAL_KEYS,
    CfgSyntaxError,
    effective_pci,
    parse_config,
)
from pcipass.xlcfg_edit import plan_add, plan_remove, plan_set

dry_run_option = click.option("--dry-run", is_flag=True, help="Print the diff, write nothing.")
file_argument = click.argument("file", type=click.Path(path_type=Path))


@click.group("config")
def config_group() -> None:
    """xl domain configs (xl.cfg): what xl would pass through, and safe edits."""


@config_group.command("check")
@click.option("--strict", is_flag=True, help="Refuse the silent traps instead of warning.")
@json_option
@file_argument
@pass_app
def check(app: AppContext, strict: bool, json_: bool, file: Path) -> int:
    """Show the pci devices `xl create FILE` would use, after the pci_* globals."""
    try:
        data = read_config(app.host(), file)
    except InputError as exc:
        if app.json or json_:
            emit_json({"ok": False, "error": exc.line(), "globals": None, "pci": [],
                       "warnings": []})  # fmt: skip
        raise
    try:
        result = effective_pci(parse_config(data), strict=strict)
    except CfgSyntaxError as exc:
        report = {"ok": False, "error": exc.line(), "globals": None, "pci": [], "warnings": []}
    else:
        pci = [
            SpecCheck(t, d).as_json() for t, d in zip(result.items, result.devices, strict=False)
        ]
        report = {"ok": result.ok, "error": result.error, "globals": result.globals, "pci": pci,
                  "warnings": list(result.warnings)}  # fmt: skip
    if app.json or json_:
        emit_json(report)
    else:
        _summary(file, report)
    return 0 if report["ok"] else 2


def _summary(file: Path, report: dict[str, object]) -> None:
    console = out()
    verdict = "[green]valid[/green]" if report["ok"] else "[red]invalid[/red]"
    console.print(f"{escape(str(file))}: {verdict}")
    if report["error"]:
        console.print(f"  [red]error:[/red] {escape(str(report['error']))}")
    if isinstance(report["globals"], dict):
        console.print("  globals: " + ", ".join(f"{k}={v}" for k, v in report["globals"].items()))
    pci = report["pci"]
    assert isinstance(pci, list)
    console.print(f"  {len(pci)} pci device(s):")
    for dev in pci:
        where = f"name={dev['name']}" if dev["domain"] is None else (
            f"{dev['domain']:04x}:{dev['bus']:02x}:{dev['dev']:02x}."
            + ("*" if dev["all_functions"] else f"{dev['func']:x}")
        )  # fmt: skip
        opts = [k for k in ("permissive", "msitranslate", "seize", "power_mgmt") if dev[k]]
        if dev["rdm_policy"]:
            opts.append(f"rdm_policy={dev['rdm_policy']}")
        slot = f"@{dev['vslot']:x}" if dev["vslot"] else ""
        console.print(f"    {where}{slot}  {','.join(opts) or '-'}   from {dev['input']!r}",
                      markup=False)  # fmt: skip
    for warning in report["warnings"] if isinstance(report["warnings"], list) else []:
        console.print(f"  [yellow]warning:[/yellow] {escape(warning)}")


def _apply(app: AppContext, file: Path, dry_run: bool, plan: Callable[[bytes], bytes]) -> int:
    done = edit_config(app.host(), file, plan, dry_run)
    changed, backup = done.new != done.old, done.backup
    if app.json:
        emit_json({"file": str(file), "changed": changed, "dry_run": dry_run,
                   "backup": str(backup) if backup else None, "diff": done.diff})  # fmt: skip
    elif dry_run:
        out().print(done.diff or f"{file}: no change", markup=False, end="")
    elif backup is None:
        out().print(f"{file}: already as asked, nothing written", markup=False)
    else:
        out().print(f"wrote {file} (previous version kept as {backup})", markup=False)
    return 0


@config_group.group("pci")
def pci_group() -> None:
    """Add or remove entries of the config's pci = [...] list."""


@pci_group.command("add")
@dry_run_option
@json_option
@file_argument
@click.argument("specs", nargs=-1, required=True)
@pass_app
def pci_add(app: AppContext, dry_run: bool, json_: bool, file: Path, specs: tuple[str, ...]) -> int:
    """Append SPEC... (strict xl spec strings) to FILE's pci list."""
    app.json = app.json or json_
    return _apply(app, file, dry_run, lambda data: plan_add(data, list(specs)))


@pci_group.command("remove")
@dry_run_option
@json_option
@click.option(
    "--split-slot",
    is_flag=True,
    help="Removing one function of a BB:DD.* entry: rewrite the entry as the slot's other "
    "functions on this host (each then a guest device of its own).",
)
@file_argument
@click.argument("devices", nargs=-1, required=True)
@pass_app
def pci_remove(
    app: AppContext,
    dry_run: bool,
    json_: bool,
    split_slot: bool,
    file: Path,
    devices: tuple[str, ...],
) -> int:
    """Remove FILE's pci entries for DEVICES: a BDF, a slot (BB:DD.*) or a name."""
    app.json = app.json or json_
    functions = (lambda slot: slot_functions(app.host(), slot)) if split_slot else None
    return _apply(app, file, dry_run, lambda data: plan_remove(data, list(devices), functions))


@config_group.command("set")
@dry_run_option
@json_option
@file_argument
@click.argument("key", type=click.Choice(GLOBAL_KEYS))
@click.argument("value")
@pass_app
def set_global(
    app: AppContext, dry_run: bool, json_: bool, file: Path, key: str, value: str
) -> int:
    """Set a pci_* global (pci_permissive, pci_msitranslate, pci_seize, pci_power_mgmt)."""
    app.json = app.json or json_
    if value not in ("0", "1"):
        raise InputError(
            f"{key} takes 0 or 1, not {value!r}", f"e.g. `pcipass config set FILE {key} 1`"
        )
    return _apply(app, file, dry_run, lambda data: plan_set(data, key, value))


COMMANDS: list[click.Command] = [config_group]
