"""The declared state's file on a host: read it, and the edits `pcipass state` makes.

Reads go through `Host.read_user_file` (a regular file under the root, bounded); writes
through `Host.write_state_file` (atomic: tmp + fsync + rename). pcipass owns the file and
rewrites it whole, so comments a person added are not kept. Edits hold the host's
pcipass lock, so two edits never lose one another. `declare_assignable` and
`declare_vfs` are the library calls a `--persist` option of the single commands makes.
"""

from __future__ import annotations

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.base import Host
from pcipass.model.declared import (
    BACKENDS,
    MAX_STATE_BYTES,
    STATE_FILE,
    AssignableItem,
    Declared,
    Ids,
    VfsItem,
    parse,
    render,
)
from pcipass.model.device import Device
from pcipass.model.resolve import SHOW, resolve
from pcipass.ops.assign import choose_backend
from pcipass.ops.facts import gather_facts
from pcipass.ops.persist import live_ids
from pcipass.ops.sriov import sriov_pf
from pcipass.run.lock import Lock


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


def save(host: Host, declared: Declared) -> None:
    """Replace the file with `declared` (the caller holds the lock)."""
    host.write_state_file(STATE_FILE, render(declared))


def _ids(dev: Device) -> Ids:
    ids = live_ids(dev)
    if ids is None:
        raise InputError(f"cannot read the IDs of {dev.bdf}, which key its declaration",
                         "check that the device is present (`pcipass show`)")
    return ids


def declare_assignable(host: Host, text: str, backend: str = "auto", name: str | None = None,
                       claim_at_boot: bool = False) -> AssignableItem:
    """Declare the device `text` names (BDF or interface) assignable on `backend` (auto:
    xen in a dom0, else vfio); replaces its earlier declaration. Changes no device."""
    facts = gather_facts(host)
    dev = resolve(facts.model, text, SHOW)
    chosen = choose_backend(backend, facts) if backend not in BACKENDS else backend
    item = AssignableItem(str(dev.bdf), _ids(dev), chosen, name, claim_at_boot)
    with Lock(host):
        save(host, load(host).with_assignable(item))
    return item


def declare_vfs(host: Host, text: str, count: int, autoprobe: bool | None = None) -> VfsItem:
    """Declare `count` VFs (0: none) on the PF `text` names; replaces its earlier
    declaration. Changes no device."""
    facts = gather_facts(host)
    pf = sriov_pf(facts.model, text)
    total = pf.sriov.total_vfs if pf.sriov else None
    if count < 0 or (total is not None and count > total):
        raise InputError(f"{count} VFs is not possible on {pf.bdf} (sriov_totalvfs {total})",
                         f"use 0-{total}")
    item = VfsItem(str(pf.bdf), _ids(pf), count, autoprobe)
    with Lock(host):
        save(host, load(host).with_vfs(item))
    return item


def forget(host: Host, text: str) -> list[str]:
    """Drop every declaration of address `text` (a device may be gone: no lookup on the
    host); the kinds dropped, or an `InputError` when nothing is declared there."""
    with Lock(host):
        declared = load(host)
        bdf = _declared_address(declared, text)
        dropped = [f"assignable {bdf}" for a in declared.assignable if a.bdf == bdf]
        dropped += [f"vfs {bdf}" for v in declared.vfs if v.pf == bdf]
        save(host, declared.without(bdf))
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
