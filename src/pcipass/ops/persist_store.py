"""The declared state's file on a host: read it, and the edits `pcipass state` makes.

Reads go through `Host.read_user_file` (a regular file under the root, bounded). Every
edit is a plan of one `put-file` step (`run.plan.file_step`: atomic, journalled, undone
by putting the old text back), planned under the host's pcipass lock on the file as it is
then, so two edits never lose one another; a `--persist` option adds the same step to
the live change's plan. pcipass rewrites the file whole, so comments a person added are
not kept (an edit that changes nothing writes nothing). `declare_assignable`,
`declare_vfs` and `forget` are the library calls; `*_item` and `save_step` are the
pieces a command's plan uses.
"""

from __future__ import annotations

from collections.abc import Callable

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.base import Host
from pcipass.host.netlink import describe as describe_vf
from pcipass.model.declared import (
    BACKENDS,
    MAX_STATE_BYTES,
    METHODS,
    STATE_FILE,
    AssignableItem,
    Declared,
    Ids,
    VfSettings,
    VfsItem,
    parse,
    render,
)
from pcipass.model.device import Device
from pcipass.model.resolve import SHOW, resolve
from pcipass.ops.assign import HostFacts, check_name, choose_backend
from pcipass.ops.persist import live_ids
from pcipass.ops.sriov import sriov_pf
from pcipass.ops.sriov_module import vf_count_param
from pcipass.ops.vf import parse_values, refuse_known
from pcipass.run.executor import Fault
from pcipass.run.plan import Plan, Step, file_step
from pcipass.run.session import Result, Warn, execute


def load(host: Host) -> Declared:
    """The host's declared state (empty when it has no file), or one `InputError`."""
    if not host.exists(STATE_FILE):
        return Declared()
    data = host.read_user_file("/" + STATE_FILE, MAX_STATE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{host.name_of(STATE_FILE)} is not UTF-8 text (byte {exc.start})",
                         "fix or remove the file") from exc
    return parse(text, host.name_of(STATE_FILE))


def save_step(host: Host, declared: Declared, why: str) -> Step:
    """The step that replaces the file with `declared` (undone by the text it has now)."""
    return file_step(host, STATE_FILE, render(declared), why)


def edit_plan(host: Host, command: str, change: Callable[[Declared], Declared]) -> Plan:
    """The plan of one edit: the file saved as `change` makes the declared state, or no
    step (and a note) when that is what it declares already."""
    before = load(host)
    after = change(before)
    if after == before and host.exists(STATE_FILE):
        return Plan(command, (), (f"{host.name_of(STATE_FILE)} declares that already",))
    return Plan(command, (save_step(host, after, f"declare it in /{STATE_FILE}"),))


def persisted(host: Host, plan: Plan, change: Callable[[Declared], Declared]) -> Plan:
    """`plan` (a single command's live change) with the declared state's edit as its last
    step: when a live step fails, the plan is undone before the file is touched; when the
    file cannot be written, the live change is undone."""
    edited = edit_plan(host, plan.command, change)
    return Plan(f"{plan.command} --persist", (*plan.steps, *edited.steps),
                (*plan.notes, *edited.notes))


def _ids(dev: Device) -> Ids:
    ids = live_ids(dev)
    if ids is None:
        raise InputError(f"cannot read the IDs of {dev.bdf}, which key its declaration",
                         "check that the device is present (`pcipass show`)")
    return ids


def assignable_item(facts: HostFacts, text: str, backend: str = "auto",
                    name: str | None = None, claim_at_boot: bool = False) -> AssignableItem:
    """The declaration of the device `text` names (BDF or interface) as assignable on
    `backend` (auto: xen in a dom0, else vfio), keyed by its IDs now."""
    dev = resolve(facts.model, text, SHOW)
    if name is not None:
        check_name(facts, name, [str(dev.bdf)])  # refused now as `assignable add -n` is
    chosen = choose_backend(backend, facts) if backend not in BACKENDS else backend
    return AssignableItem(str(dev.bdf), _ids(dev), chosen, name, claim_at_boot)


def vfs_item(facts: HostFacts, text: str, count: int, autoprobe: bool | None = None,
             method: str = METHODS[0], reload_others: bool = False) -> VfsItem:
    """The declaration of `count` VFs (0: none) on the PF `text` names, created by `method`
    (`reload_others`: as `sriov enable --reload-other-devices`; a driver without a VF count
    parameter, or too many VFs for it, refused as there)."""
    pf = sriov_pf(facts.model, text)
    total = pf.sriov.total_vfs if pf.sriov else None
    if count < 0 or (total is not None and count > total):
        raise InputError(f"{count} VFs is not possible on {pf.bdf} (sriov_totalvfs {total})",
                         f"use 0-{total}")
    if method == "module" and count and pf.driver:
        vf_count_param(pf.driver, count)  # refused now as `sriov enable --method module` is
    return VfsItem(str(pf.bdf), _ids(pf), count, autoprobe, method=method,
                   reload_others=reload_others)


def with_vfs(declared: Declared, item: VfsItem, drop_vf_settings: bool = False) -> Declared:
    """`declared` with `item` in place of the PF's declaration; an `InputError` when that
    would drop the declared settings of VFs at or above its count, unless
    `drop_vf_settings` (`--drop-vf-settings`) says to."""
    old = declared.vfs_of(item.pf)
    lost = [v for v in old.settings if v.index >= item.count] if old is not None else []
    if lost and not drop_vf_settings:
        said = ", ".join(f"VF {v.index} ({describe_vf(dict(v.values))})" for v in lost)
        raise InputError(f"{item.count} VFs on {item.pf} would drop the declared settings of "
                         f"{said}", f"give --drop-vf-settings to drop them, or declare "
                         f"{lost[-1].index + 1} VFs or more")
    return declared.with_vfs(item)


def with_vf_settings(facts: HostFacts, declared: Declared, text: str, index: int,
                     values: dict[str, str], clear: bool = False,
                     declare_count: bool = False) -> Declared:
    """`declared` with VF `index` of the PF `text` names given the settings `values` (the
    texts `vf set` takes, read by its parsers and refusals); `clear`: its earlier declared
    settings dropped first. A PF without a declared VF count is refused, or with
    `declare_count` declared with the VFs it has now (`vf set --persist`)."""
    pf = sriov_pf(facts.model, text)
    item = declared.vfs_of(str(pf.bdf))
    if item is None and declare_count and pf.sriov is not None and pf.sriov.num_vfs:
        item = vfs_item(facts, str(pf.bdf), pf.sriov.num_vfs)
    if item is None:
        raise InputError(f"{pf.bdf} has no declared VF count, which its VFs' settings need",
                         f"declare it first: `pcipass state set-vfs {pf.bdf} N`")
    if index < 0:
        raise InputError(f"VF {index} is not a VF index of {pf.bdf}",
                         "VF indexes start at 0")
    if index >= item.count:
        raise InputError(f"VF {index} is not below the declared count {item.count} of "
                         f"{pf.bdf}", f"`pcipass state set-vfs {pf.bdf} {index + 1}` first")
    wanted = parse_values(values) if values or not clear else {}
    refuse_known(pf, wanted)
    vf = None if clear else item.vf(index)
    return declared.with_vfs(item.with_vf((vf or VfSettings(index, ())).merged(wanted), index),
                             keep_vf=False)


Change = Callable[[HostFacts, Declared], Declared]
"""An edit: the declared state it makes of the facts and the declared state now."""


def edit(host: Host, command: str, change: Change, dry_run: bool = False,
         warn: Warn | None = None, fault: Fault | None = None) -> Result:
    """Plan one edit (and unless `dry_run`, run it as a journalled change: lock → recover →
    plan on the file and facts as they are then → run)."""
    return execute(host, lambda facts: edit_plan(host, command, lambda d: change(facts, d)),
                   dry_run, warn or (lambda _message: None), fault=fault)


def declare_assignable(host: Host, text: str, backend: str = "auto", name: str | None = None,
                       claim_at_boot: bool = False) -> AssignableItem:
    """Declare the device `text` names assignable (`assignable_item`); replaces its
    earlier declaration. Changes no device."""
    made: list[AssignableItem] = []

    def change(facts: HostFacts, declared: Declared) -> Declared:
        made[:] = [assignable_item(facts, text, backend, name, claim_at_boot)]
        return declared.with_assignable(made[0])

    edit(host, f"state add-assignable {text}", change)
    return made[0]


def declare_vfs(host: Host, text: str, count: int, autoprobe: bool | None = None,
                drop_vf_settings: bool = False) -> VfsItem:
    """Declare `count` VFs (0: none) on the PF `text` names; replaces its earlier
    declaration (declared settings of VFs from `count` on: refused, or with
    `drop_vf_settings` dropped). Changes no device."""
    made: list[VfsItem] = []

    def change(facts: HostFacts, declared: Declared) -> Declared:
        made[:] = [vfs_item(facts, text, count, autoprobe)]
        return with_vfs(declared, made[0], drop_vf_settings)

    edit(host, f"state set-vfs {text} {count}", change)
    return made[0]


def forgotten(declared: Declared, text: str) -> tuple[Declared, list[str]]:
    """`declared` without any declaration of address `text` (a device may be gone: no
    lookup on the host), and the kinds dropped; an `InputError` when nothing is there."""
    bdf = _declared_address(declared, text)
    dropped = [f"assignable {bdf}" for a in declared.assignable if a.bdf == bdf]
    dropped += [f"vfs {bdf}" for v in declared.vfs if v.pf == bdf]
    return declared.without(bdf), dropped


def forget(host: Host, text: str) -> list[str]:
    """Drop every declaration of address `text`; the kinds dropped (see `forgotten`)."""
    dropped: list[str] = []

    def change(_facts: HostFacts, declared: Declared) -> Declared:
        rest, dropped[:] = forgotten(declared, text)
        return rest

    edit(host, f"state forget {text}", change)
    return dropped
def _declared_address(declared: Declared, text: str) -> str:
    """The declared address `text` means (`BB:DD.F` for domain 0 too), or an `InputError`."""
    parsed = PciAddress.try_parse(text)
    bdf = str(parsed) if parsed else text
    if bdf not in declared.addresses():
        known = ", ".join(declared.addresses()) or "nothing is declared"
        raise InputError(f"nothing is declared for {text!r}",
                         f"`pcipass state show` lists the declared devices ({known})")
    return bdf
