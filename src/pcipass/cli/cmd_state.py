"""`pcipass plan`, `pcipass apply` and `pcipass state ...`: the declared host state.

`state` edits the declaration (`/etc/pcipass/host.toml`) and changes no device; `plan`
shows how the host differs from it, as the steps `apply` takes; `apply` converges
through the single commands' planners, journal and executor (`pcipass.ops.persist_apply`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from pcipass.cli.context import AppContext, json_option, pass_app
from pcipass.cli.output import emit_json, out, run_change, show_outcome, show_plan, warn
from pcipass.host.base import Host
from pcipass.host.netlink import describe as describe_vf
from pcipass.model import declared as model
from pcipass.ops import boot_files, persist_store
from pcipass.ops import vf as ops_vf
from pcipass.ops.assign import HostFacts
from pcipass.ops.boot_files import FileChange
from pcipass.ops.persist import Preview, preview
from pcipass.ops.sriov import sriov_pf
from pcipass.ops.sriov_module import RELOAD_OTHERS, refuse_reload_without_module
from pcipass.run.executor import Outcome
from pcipass.run.faults import from_env
from pcipass.run.plan import Plan
from pcipass.run.session import Result


def _say(line: str) -> None:
    out().print(line, markup=False)


@dataclass(frozen=True)
class _Diff:
    """`plan`'s whole answer: the phases' preview, the boot files and the plan that
    installs them (with the programs they need)."""

    found: Preview
    files: list[FileChange]
    programs: Plan

    def to_json(self) -> dict[str, Any]:
        doc = self.found.to_json()
        doc["plans"].append(self.programs.to_json())
        doc["files"] = [c.to_json() for c in self.files]
        doc["converged"] = self.found.empty and not any(c.changed for c in self.files)
        return doc


def _diff(host: Host) -> _Diff:
    from pcipass.ops.persist_apply import boot_facts, vf_links  # noqa: PLC0415 - modules.alias

    declared = persist_store.load(host)
    facts = boot_facts(host)
    files = boot_files.changes(host, facts, declared)
    return _Diff(preview(facts, declared, vf_links(host, facts, declared)), files,
                 boot_files.boot_plan(host, files))


def _show_diff(diff: _Diff) -> None:
    found = diff.found
    for item in found.items:
        _say(f"# {item.line()}")
    for plan in found.plans:
        for line in plan.render():
            _say(line)
        for note in plan.notes:
            _say(f"# {note}")
    for refusal in found.refusals:
        _say(f"# refused: {refusal}")
    for line in diff.programs.render():  # each boot file's line and diff, then programs
        _say(line)
    for note in diff.programs.notes:
        _say(f"# {note}")
    if found.empty and not any(c.changed for c in diff.files):
        _say("# the host is in its declared state: nothing to apply")


@click.command("plan")
@json_option
@pass_app
def plan_cmd(app: AppContext, json_: bool) -> None:
    """What differs between the declared and the live state, as the steps `apply` takes
    (the steps for VFs that `apply` creates are planned once they exist)."""
    diff = _diff(app.host())
    if app.json or json_:
        emit_json(diff.to_json())
        return
    _show_diff(diff)


@click.command("apply")
@click.option("--dry-run", is_flag=True, help="Print the steps (as `pcipass plan`); change "
              "nothing.")
@click.option("--boot", is_flag=True, help="The boot unit's call: apply what fits even when "
              "a declared device is gone or was replaced (then exit 1 naming it).")
@json_option
@pass_app
def apply_cmd(app: AppContext, dry_run: bool, boot: bool, json_: bool) -> None:
    """Converge the host to its declared state: VF counts, then assignable devices, each
    phase one journalled plan of the single commands' steps."""
    from pcipass.ops.persist_apply import apply, skipped_error  # noqa: PLC0415

    app.json = app.json or json_
    host = app.host()
    if dry_run:
        diff = _diff(host)
        if app.json:
            emit_json(dict(diff.to_json(), dry_run=True))
        else:
            _show_diff(diff)
        return
    shown: list[Outcome] = []

    def show(outcome: Outcome) -> None:
        shown.append(outcome)
        if not app.json:
            show_outcome(app, outcome)

    applied = apply(host, warn, boot=boot, fault=from_env(), then=show)
    failure = skipped_error(applied)
    if app.json:
        emit_json({"applied": [o.to_json() for o in shown],
                   "files": [c.to_json() for c in applied.files]})
    elif not any(o.done for o in shown) and failure is None:
        _say("# the host is in its declared state: nothing to apply")
    if failure is not None:
        raise failure


@click.command("show")
@json_option
@pass_app
def show_cmd(app: AppContext, json_: bool) -> None:
    """The declared state, as pcipass reads it."""
    declared = persist_store.load(app.host())
    if app.json or json_:
        emit_json(model.to_json(declared))
        return
    for a in declared.assignable:
        extra = (f" name={a.name}" if a.name else "") + (" claim-at-boot" if a.claim_at_boot
                                                         else "")
        _say(f"assignable {a.bdf} {a.ids} backend={a.backend}{extra}")
    for v in declared.vfs:
        probe = "" if v.autoprobe is None else f" autoprobe={'on' if v.autoprobe else 'off'}"
        how = "" if v.method == "sysfs" else f" method={v.method}" + (
            " reload-other-devices" if v.reload_others else "")
        _say(f"vfs {v.pf} {v.ids} count={v.count}{probe}{how}")
        for vf in v.settings:
            _say(f"  vf {vf.index} {describe_vf(dict(vf.values))}")
    if not declared.assignable and not declared.vfs:
        _say("nothing is declared")


def settings_options(command: Any) -> Any:
    """One option per row of `ops.vf.SETTINGS` (the one table of VF settings)."""
    for setting in reversed(ops_vf.SETTINGS):
        command = click.option(setting.flag, setting.key, metavar=setting.metavar,
                               help=setting.help)(command)
    return command


persist_option = click.option(
    "--persist", is_flag=True,
    help=f"Also record it in the declared state (/{model.STATE_FILE}), as the last step of "
    "the same plan: kept across reboots by `pcipass apply`, unchanged if the change fails.")
drop_vf_settings_option = click.option(
    "--drop-vf-settings", is_flag=True,
    help="Drop the declared settings of the VFs from the new count on (else refused).")
_DRY_RUN = click.option("--dry-run", is_flag=True,
                        help="Print the change of the file (a diff); write nothing.")


@click.command("add-assignable")
@click.argument("device", metavar="DEVICE")
@click.option("--backend", type=click.Choice(["xen", "vfio", "auto"]), default="auto",
              show_default=True, help="xen: pciback; vfio: vfio-pci (KVM); auto: xen in dom0.")
@click.option("-n", "--name", help="The device's name, as `assignable add -n`.")
@click.option("--claim-at-boot", is_flag=True,
              help="Claim it at boot, before any host driver binds.")
@_DRY_RUN
@json_option
@pass_app
def add_assignable_cmd(app: AppContext, device: str, backend: str, name: str | None,
                       claim_at_boot: bool, dry_run: bool, json_: bool) -> None:
    """Declare DEVICE (a BDF or interface) assignable; `apply` makes it so."""
    def declare(facts: HostFacts, declared: model.Declared) -> tuple[model.Declared, str]:
        item = persist_store.assignable_item(facts, device, backend, name, claim_at_boot)
        return declared.with_assignable(item), f"assignable {item.bdf}"

    _declare(app, json_, dry_run, f"state add-assignable {device}", declare)


@click.command("set-vfs")
@click.argument("pf", metavar="PF")
@click.argument("count", type=click.IntRange(min=0), metavar="N")
@click.option("--autoprobe/--no-autoprobe", default=None,
              help="Whether drivers take the new VFs (default: leave it).")
@click.option("--method", type=click.Choice(model.METHODS), default=model.METHODS[0],
              show_default=True, help="How `apply` creates them, as `sriov enable --method`.")
@click.option(RELOAD_OTHERS, "reload_others", is_flag=True,
              help="--method module: `apply` also reloads the other devices of the PF's "
              "driver module.")
@drop_vf_settings_option
@_DRY_RUN
@json_option
@pass_app
def set_vfs_cmd(app: AppContext, pf: str, count: int, autoprobe: bool | None, method: str,
                reload_others: bool, drop_vf_settings: bool, dry_run: bool,
                json_: bool) -> None:
    """Declare N VFs (0: none) on PF (a BDF or interface); `apply` makes it so. The declared
    settings of VFs N and above are refused unless --drop-vf-settings drops them."""
    refuse_reload_without_module(method, reload_others)

    def declare(facts: HostFacts, declared: model.Declared) -> tuple[model.Declared, str]:
        item = persist_store.vfs_item(facts, pf, count, autoprobe, method, reload_others)
        return persist_store.with_vfs(declared, item, drop_vf_settings), f"vfs {item.pf}"

    _declare(app, json_, dry_run, f"state set-vfs {pf} {count}", declare)


@click.command("set-vf")
@click.argument("pf", metavar="PF")
@click.argument("vf", type=click.IntRange(min=0), metavar="VF")
@settings_options
@click.option("--clear", is_flag=True, help="Drop VF's declared settings first (alone: drop "
              "them).")
@_DRY_RUN
@json_option
@pass_app
def set_vf_cmd(app: AppContext, /, pf: str, vf: int, clear: bool, dry_run: bool, json_: bool,
               **values: str | None) -> None:
    """Declare settings of VF number VF of PF (below its declared count), as `vf set` takes
    them; `apply` sets them after the VF counts."""
    given = {k: v for k, v in values.items() if v is not None}

    def declare(facts: HostFacts, declared: model.Declared) -> tuple[model.Declared, str]:
        return (persist_store.with_vf_settings(facts, declared, pf, vf, given, clear),
                f"VF {vf} of {sriov_pf(facts.model, pf).bdf}")

    _declare(app, json_, dry_run, f"state set-vf {pf} {vf}", declare)


@click.command("forget")
@click.argument("item", metavar="BDF")
@_DRY_RUN
@json_option
@pass_app
def forget_cmd(app: AppContext, item: str, dry_run: bool, json_: bool) -> None:
    """Drop every declaration of BDF (the device is left as it is now)."""
    def change(_facts: HostFacts, declared: model.Declared) -> model.Declared:
        rest, dropped[:] = persist_store.forgotten(declared, item)
        return rest

    dropped: list[str] = []
    app.json = app.json or json_
    result = persist_store.edit(app.host(), f"state forget {item}", change, dry_run, warn,
                                from_env())
    if _shown_plan(app, result):
        return
    if app.json:
        emit_json({"forgotten": dropped})
        return
    for line in dropped:
        _say(f"forgot {line}")


@click.command("status")
@json_option
@pass_app
def boot_status_cmd(app: AppContext, json_: bool) -> None:
    """Per declared item: active now, applies at next boot, or differs (and why)."""
    from pcipass.ops.persist_apply import boot_facts, vf_links  # noqa: PLC0415 - modules.alias

    host = app.host()
    facts, declared = boot_facts(host), persist_store.load(host)
    rows = boot_files.boot_status(host, facts, declared, vf_links(host, facts, declared))
    if app.json or json_:
        emit_json({"boot": [r.to_json() for r in rows]})
        return
    for r in rows:
        _say(f"{r.kind} {r.bdf}: {r.verdict} (now: {r.now}; next boot: {r.next_boot})")
    if not rows:
        _say("nothing is declared")


@click.command("enable")
@click.option("--dry-run", is_flag=True, help="Print the command; change nothing.")
@json_option
@pass_app
def boot_enable_cmd(app: AppContext, dry_run: bool, json_: bool) -> None:
    """Enable the boot unit `pcipass apply` installed (`systemctl enable`)."""
    app.json = app.json or json_
    host = app.host()
    run_change(app, lambda _facts: boot_files.enable_plan(host), dry_run)


@click.group("boot")
def boot_group() -> None:
    """What the declared state does at boot: status, and enabling the boot unit."""


boot_group.add_command(boot_status_cmd)
boot_group.add_command(boot_enable_cmd)


def _shown_plan(app: AppContext, result: Result) -> bool:
    """Show a dry run's plan (True), or the notes of a run (False: the caller says more)."""
    if result.plan is not None:
        show_plan(app, result.plan, dry_run=True)
        return True
    assert result.outcome is not None
    for message in result.outcome.warnings:
        warn(message)
    return False


Declare = Callable[[HostFacts, model.Declared], tuple[model.Declared, str]]
"""A `state` edit: the declared state it makes, and what it declared (for the user)."""


def _declare(app: AppContext, json_: bool, dry_run: bool, command: str,
             declare: Declare) -> None:
    """Plan (and unless `dry_run`, run) one edit of the file; say what it declared."""
    said: list[str] = []

    def change(facts: HostFacts, declared: model.Declared) -> model.Declared:
        new, what = declare(facts, declared)
        said[:] = [what]
        return new

    app.json = app.json or json_
    result = persist_store.edit(app.host(), command, change, dry_run, warn, from_env())
    if _shown_plan(app, result):
        return
    if app.json:
        emit_json({"declared": said[0]})
        return
    _say(f"declared {said[0]}; `pcipass plan` shows what `pcipass apply` changes")


@click.group("state")
def state_group() -> None:
    """The declared host state that `pcipass apply` converges to: show and edit it."""


for _cmd in (show_cmd, add_assignable_cmd, set_vfs_cmd, set_vf_cmd, forget_cmd):
    state_group.add_command(_cmd)

COMMANDS: list[click.Command] = [plan_cmd, apply_cmd, state_group, boot_group]
