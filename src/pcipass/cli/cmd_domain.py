"""`pcipass attach/detach` (devices into and out of running Xen domains) and `domain list`,
with xl's spellings `pci-attach`, `pci-detach`, `pci-list`.

attach and detach are plans (`pcipass.ops.attach`) run by the executor. `--persist CONFIG`
also edits the domain's xl config (`pcipass.xlcfg_edit`): its new text is planned, and the
config refused, before anything is done, and written by the plan's last step (`put-file`:
journalled before it runs, verified by re-reading, undone by putting the old text back), so
that a failed attach leaves the config as it was and recovery finishes or undoes the edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import click

from pcipass.cli.context import AppContext, alias, json_option, pass_app
from pcipass.cli.output import emit_json, out, say, show_plan, warn
from pcipass.errors import InputError, OperationError
from pcipass.host.base import Host
from pcipass.host.user_files import BACKUP_SUFFIX, host_path
from pcipass.host.xen import (
    RECONFIGURING,
    XlDomain,
    backend_state,
    left_closing,
    read_domains,
    xl_domains,
)
from pcipass.model.resolve import REMOVE, resolve_all
from pcipass.ops.assign import HostFacts
from pcipass.ops.attach import (
    PERMISSIVE,
    AttachRequest,
    DetachRequest,
    attach_plan,
    detach_plan,
    domain_json,
    domain_names,
    find_domain,
    lookup_domain,
)
from pcipass.run.plan import Action, Plan, Step, file_step
from pcipass.spec import PciSpec, check_spec, format_spec

dry_run_option = click.option("--dry-run", is_flag=True,
                              help="Print the exact commands and config diff; change nothing.")
persist_option = click.option(
    "--persist", "config", type=click.Path(path_type=Path), metavar="CONFIG",
    help="Also add (attach) or remove (detach) the device in this domain's xl config, so the "
    "next `xl create` gives the guest the same devices.")


@dataclass(frozen=True)
class Persist:
    """The config edit `--persist` makes: the file, its bytes before and after, the diff."""

    file: Path
    old: bytes
    new: bytes

    def diff(self) -> str:
        from pcipass.xlcfg_edit import diff  # noqa: PLC0415 - only with --persist

        return diff(self.file, self.old, self.new)

    def steps(self, host: Host, name: str) -> tuple[Step, ...]:
        """The plan's step that writes the new text (none when the config already says it)."""
        if self.new == self.old:
            return ()
        try:
            text = self.new.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.file} is not UTF-8 text (byte {exc.start})",
                             "fix the file's encoding") from exc
        why = f"keep {name}'s devices in {self.file} for its next `xl create`"
        return (file_step(host, str(self.file), text, why, user=True),)

    def backup(self, host: Host) -> Path:
        """Where the replaced config's previous text is kept (beside the real file)."""
        return Path(host_path(host.root, self.file) + BACKUP_SUFFIX)


Edit = Callable[[bytes, HostFacts], bytes]


def _persist(host: Host, file: Path, dom: XlDomain, edit: Edit, facts: HostFacts) -> Persist:
    """The planned edit of the domain's config, refused if the config is not this domain's
    (its `name`), not readable or not parseable, or the edit is refused."""
    from pcipass.run.config_edit import read_config  # noqa: PLC0415 - only with --persist
    from pcipass.xlcfg import parse_config  # noqa: PLC0415

    data = read_config(host, file)
    name = parse_config(data).get_string("name")
    if name != dom.name:
        raise InputError(f"{file} is the config of {name!r}, not of domain {dom.name!r}"
                         if name else f"{file} names no domain (no name = ...)",
                         f"give the config {dom.name} was created from")
    return Persist(file, data, edit(data, facts))


@dataclass
class Target:
    """What one attach/detach knows of its domain, read once, inside the plan's `build`
    (under the lock, after recovery): every domain (`read_domains`: one `xl list`, then the
    target's details), the config edit `--persist` plans, and the domain's id for the wait
    after the plan. With `wait`, a guest whose pcifront is still taking an earlier hot-plug
    (its backend state, read with the devices) is waited for first, then read again."""

    host: Host
    domain: str
    wait: bool
    config: bool = True
    """Read `xl list -l` (type, passthrough): attach refuses on them, detach does not."""
    file: Path | None = None
    edit: Edit | None = None
    domid: int | None = None
    name: str = ""
    persist: Persist | None = None

    def plan(self, plan: Plan) -> Plan:
        """`plan` with the config edit as its last step (after the hot-plugs it records)."""
        if self.persist is None:
            return plan
        return replace(plan, steps=plan.steps + self.persist.steps(self.host, self.name))

    def read(self, facts: HostFacts) -> list[XlDomain]:
        """The domains for the planner (after the wait), with the `--persist` edit planned."""
        domains = read_domains(self.host, self.domain, self.config)
        text = self.domain.strip()
        dom = next((d for d in domains if text in (d.name, str(d.domid))), None)
        if dom is not None and dom.domid != 0:
            self.domid = dom.domid
            if self.wait and dom.backend in RECONFIGURING:
                said = _settle(self.host, dom.domid)
                if said:
                    warn(said)
                domains = read_domains(self.host, self.domain, self.config)
        if self.file is not None and self.edit is not None:
            dom = find_domain(domains, self.domain)
            self.name = dom.name
            self.persist = _persist(self.host, self.file, dom, self.edit, facts)
        return domains


def _run(app: AppContext, build: Callable[[HostFacts], Plan], dry_run: bool,
         targets: tuple[str, ...], target: Target) -> None:
    """Run the plan (the config edit is its last step), wait for the guest's pcifront;
    render the plan or the outcome (with the config edit)."""
    from pcipass.run import session  # noqa: PLC0415 - only commands that change the host
    from pcipass.run.faults import from_env  # noqa: PLC0415

    result = session.execute(app.host(), build, dry_run, warn, targets, fault=from_env())
    persist = target.persist
    edited: dict[str, object] | None = None
    written = persist is not None and result.outcome is not None and any(
        s.action == Action.PUT_FILE for s in result.outcome.done)
    if persist is not None:
        backup = persist.backup(app.host()) if written else None
        edited = {"file": str(persist.file), "changed": persist.new != persist.old,
                  "backup": str(backup) if backup else None, "diff": persist.diff()}
    if result.plan is not None:
        if app.json:
            emit_json(dict(result.plan.to_json(), dry_run=True, persist=edited))
            return
        show_plan(app, result.plan, dry_run=True)
        if persist is not None and persist.new == persist.old:
            say(f"# {persist.file}: no change")
        return
    outcome = result.outcome
    assert outcome is not None
    domid = target.domid
    plugged = any(s.argv[:1] == ("xl",) for s in outcome.done)
    said = _settle(app.host(), domid) if domid is not None and plugged else None
    outcome.warnings += [said] if said else []
    for message in outcome.warnings:
        warn(message)
    if app.json:
        emit_json(dict(outcome.to_json(), persist=edited))
        return
    for step in outcome.done:
        say(step.render())
    if edited is not None:
        say(f"wrote {edited['file']} (previous version kept as {edited['backup']})"
            if written else f"{edited['file']}: already as asked")


def _add_entries(specs: tuple[str, ...], permissive: bool) -> Edit:
    """The config edit of an attach: each device not yet in pci=[…], as xl would get it."""

    def edit(data: bytes, facts: HostFacts) -> bytes:
        from pcipass.xlcfg import effective_pci, parse_config  # noqa: PLC0415 - --persist only
        from pcipass.xlcfg_edit import plan_add  # noqa: PLC0415

        have = [s.address for s in effective_pci(parse_config(data)).devices]
        entries: list[str] = []
        for text in specs:
            check = check_spec(text.strip(), strict=True)
            for dev in resolve_all(facts.model, text, REMOVE, facts.names(), options=True):
                if dev.bdf in have:
                    continue
                spec = check.spec or PciSpec(address=None)
                spec = replace(spec, address=dev.bdf, all_functions=False, name=None,
                               seize=False, explicit=spec.explicit - {"seize"})
                if permissive:
                    spec = replace(spec, permissive=True)
                entries.append(format_spec(spec))
                have.append(dev.bdf)
        return plan_add(data, entries) if entries else data

    return edit


def _remove_entries(targets: tuple[str, ...]) -> Edit:
    """The config edit of a detach: the devices' entries, where the config lists them."""

    def edit(data: bytes, facts: HostFacts) -> bytes:
        from pcipass.xlcfg import effective_pci, parse_config  # noqa: PLC0415 - --persist only
        from pcipass.xlcfg_edit import plan_remove  # noqa: PLC0415

        have = [s.address for s in effective_pci(parse_config(data)).devices]
        bdfs = [str(d.bdf) for t in targets
                for d in resolve_all(facts.model, t, REMOVE, facts.names(), options=True)
                if d.bdf in have]
        return plan_remove(data, list(dict.fromkeys(bdfs))) if bdfs else data

    return edit


SETTLE_SECONDS = 60.0
"""How long to wait for a guest's pcifront to finish a hot-plug (a TCG guest takes ~10 s)."""
SETTLE_POLL = 0.1
"""How often the backend's state is re-read meanwhile (libxl's own wait polls every 0.1 s)."""


def _settle(host: Host, domid: int) -> str | None:
    """Wait until the domain's PCI backend is no longer reconfiguring; a warning if it stays."""
    deadline = time.monotonic() + SETTLE_SECONDS
    state = backend_state(host, domid)
    while state in RECONFIGURING and time.monotonic() < deadline:
        time.sleep(SETTLE_POLL)
        state = backend_state(host, domid)
    if state in RECONFIGURING:
        return (f"domain {domid}'s pcifront has not finished the last hot-plug (PCI backend "
                f"state {state}); xl refuses the next one with 'Backend ... not ready' until "
                "it has")
    return None


def _no_domain(app: AppContext, domain: str, verb: str) -> InputError:
    """`pcipass attach 05:00.0`: the domain is missing; say which exist."""
    names = domain_names(xl_domains(app.host()))
    return InputError(f"no domain given: `pcipass {verb} DOMAIN {domain}`",
                      f"name the guest first; domains: {names}")


def _looks_like_device(text: str) -> bool:
    return check_spec(text.strip(), strict=False).spec is not None


# -- commands ----------------------------------------------------------------
@click.command("attach")
@click.argument("domain")
@click.argument("specs", nargs=-1)
@click.option("--permissive", is_flag=True,
              help="permissive=1 for every device (unsafe for untrusted guests).")
@persist_option
@dry_run_option
@json_option
@pass_app
def attach_cmd(app: AppContext, domain: str, specs: tuple[str, ...], permissive: bool,
               config: Path | None, dry_run: bool, json_: bool) -> None:
    """Hand devices to a running Xen domain (name or id): SPEC is an xl PCI spec
    (05:00.0, 05:00.*, 05:00.0,permissive=1, seize=1 ...), a device name or an interface.

    A device pciback still lists as permissive (from an earlier permissive=1 attach) gives
    the guest permissive access even without permissive=1: attach warns; to clear it,
    `pcipass assignable remove` the device, then `assignable add` it again."""
    app.json = app.json or json_
    if not specs and _looks_like_device(domain):
        raise _no_domain(app, domain, "attach")
    request = AttachRequest(domain=domain, specs=specs, permissive=permissive)
    target = Target(app.host(), domain, wait=not dry_run, file=config,
                    edit=_add_entries(specs, permissive))

    def build(facts: HostFacts) -> Plan:
        domains = target.read(facts)
        listed = frozenset((app.host().try_read_text(PERMISSIVE) or "").split())
        return target.plan(attach_plan(facts, domains, request, listed))

    _run(app, build, dry_run, specs, target)


@click.command("detach")
@click.argument("domain")
@click.argument("targets", nargs=-1)
@click.option("-f", "--force", is_flag=True,
              help="Detach without the guest's cooperation (xl pci-detach -f).")
@click.option("-r", "--give-back", is_flag=True,
              help="Then give the device back to its original driver (assignable remove -r).")
@persist_option
@dry_run_option
@json_option
@pass_app
def detach_cmd(app: AppContext, domain: str, targets: tuple[str, ...], force: bool,
               give_back: bool, config: Path | None, dry_run: bool, json_: bool) -> None:
    """Take devices back from a Xen domain; they stay assignable unless -r."""
    app.json = app.json or json_
    if not targets and _looks_like_device(domain):
        raise _no_domain(app, domain, "detach")
    request = DetachRequest(domain=domain, targets=targets, force=force, give_back=give_back)
    target = Target(app.host(), domain, wait=not dry_run, config=False, file=config,
                    edit=_remove_entries(targets))

    def build(facts: HostFacts) -> Plan:
        return target.plan(detach_plan(facts, target.read(facts), request))

    try:
        _run(app, build, dry_run, targets, target)
    except OperationError as exc:
        raise _half_done(app.host(), target, exc) from exc


def _half_done(host: Host, target: Target, exc: OperationError) -> OperationError:
    """A failed detach, with libxl's half-done removal said when the backend shows one (its
    10-s wait for the guest's pcifront ran out: `pcipass.host.xen.CLOSING`)."""
    left = left_closing(host, target.domid) if target.domid is not None else []
    if not left:
        return exc
    return OperationError(
        f"{exc.what}; xl gave up waiting for domain {target.domid}'s pcifront (libxl waits "
        f"10 s, then leaves {', '.join(left)} in its pci backend as Closing, state 5, and "
        "exits 0): xl pci-list keeps listing it, and another xl pci-detach does not clear it",
        "`xl destroy` the domain (its devices are assignable again) and create it again; "
        "a guest this slow (under load, emulated) can make xl give up again")


COLUMNS = ("ID", "NAME", "STATE", "TYPE", "DEVICE", "VDEV", "OPTIONS")


def _rows(dom: XlDomain, permissive: frozenset[str]) -> list[tuple[str, ...]]:
    head = (str(dom.domid), dom.name, dom.state, dom.type or "-")
    if not dom.pci:
        return [(*head, "-", "-", "-")]
    rows: list[tuple[str, ...]] = []
    for i, p in enumerate(dom.pci):
        opts = ",".join(f"{k}={v}" for k, v in p.options) or "-"
        if p.bdf in permissive and "permissive=1" not in opts:
            opts += " (pciback: permissive)"
        rows.append((*(head if i == 0 else ("", "", "", "")), p.bdf, p.vdev or "-", opts))
    return rows


@click.command("list")
@click.argument("domain", required=False)
@json_option
@pass_app
def list_cmd(app: AppContext, domain: str | None, json_: bool) -> None:
    """Every domain (or DOMAIN) with the PCI devices it holds, their vdev and options."""
    host = app.host()
    domains = read_domains(host, domain)
    if domain is not None:
        domains = [lookup_domain(domains, domain)]
    permissive = frozenset((host.try_read_text(PERMISSIVE) or "").split())
    if app.json or json_:
        emit_json({"domains": [domain_json(d, permissive) for d in domains]})
        return
    if not domains:
        say("no Xen domains (xl list shows none)")
        return
    from rich.table import Table  # noqa: PLC0415 - rich only for people

    table = Table(box=None, pad_edge=False, highlight=False)
    for title in COLUMNS:
        table.add_column(title, no_wrap=title in ("DEVICE", "NAME"))
    for dom in domains:
        for row in _rows(dom, permissive):
            table.add_row(*row)
    out().print(table)


@click.group("domain")
def domain_group() -> None:
    """Xen domains and the PCI devices they hold."""


domain_group.add_command(list_cmd)


COMMANDS: list[click.Command] = [
    attach_cmd,
    detach_cmd,
    domain_group,
    alias(attach_cmd, "pci-attach"),
    alias(detach_cmd, "pci-detach"),
    alias(list_cmd, "pci-list"),
]
