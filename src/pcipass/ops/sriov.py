"""Requests → plans for `sriov enable/disable` (the sysfs method), and `sriov list`. Pure.

`sriov_drivers_autoprobe` is written (when asked) before `sriov_numvfs`, so the new VFs
are probed, or not, as asked. The kernel refuses to change a non-zero count (EBUSY), so
a change writes 0 first, which removes every current VF: that (and disabling) is refused
while any of them is assignable (pciback, vfio-pci), has a pcipass record or is held by a
domain. Every step says what to re-read; a failed change is undone by writing 0, then the
previous count. What the kernel itself would refuse (ERANGE over `sriov_totalvfs`,
ENOENT without a PF driver) is refused before anything is written. The module method
(`pcipass.ops.sriov_module`) shares these checks; `vfs_by_index` turns `--vf 0,2-3` into
the VFs' addresses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError, abbreviate
from pcipass.host.paths import dev as dev_path
from pcipass.model import drivers, views
from pcipass.model.device import Device, HostModel
from pcipass.model.resolve import SHOW, resolve
from pcipass.ops.assign import HostFacts
from pcipass.run.plan import Action, Check, CheckKind, Plan, Step

if TYPE_CHECKING:
    from pcipass.host.netlink import VfState

NUMVFS = "sriov_numvfs"
AUTOPROBE = "sriov_drivers_autoprobe"


@dataclass(frozen=True)
class EnableRequest:
    """`sriov enable PF --vfs N [--autoprobe/--no-autoprobe]` (None: leave autoprobe);
    `reload_others`: the module method may take down other devices on the PF's module."""

    pf: str
    vfs: int
    autoprobe: bool | None = None
    reload_others: bool = False


def sriov_pf(model: HostModel, text: str) -> Device:
    """The SR-IOV PF `text` names (BDF or interface), or an `InputError` saying what it is."""
    dev = resolve(model, text, SHOW)
    if dev.physfn is not None:
        raise InputError(f"{dev.bdf} is an SR-IOV VF, not a PF",
                         f"give its PF, {dev.physfn}")
    if dev.sriov is None or dev.sriov.total_vfs is None:
        raise InputError(f"{dev.bdf} is not an SR-IOV PF (no sriov_totalvfs)",
                         "`pcipass sriov list` shows the host's PFs")
    return dev


def vf_addresses(pf: Device, count: int) -> tuple[PciAddress, ...]:
    """The addresses of the PF's first `count` VFs (routing ID + offset + i × stride)."""
    s = pf.sriov
    if s is None or s.vf_offset is None or s.vf_stride is None:
        return ()
    first = (pf.bdf.bus << 8 | pf.bdf.dev << 3 | pf.bdf.func) + s.vf_offset
    rids = [first + i * s.vf_stride for i in range(count)]
    return tuple(PciAddress(pf.bdf.domain, r >> 8 & 0xFF, r >> 3 & 0x1F, r & 7)
                 for r in rids if r <= 0xFFFF)


VF_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?", re.ASCII)


def vf_indexes(text: str, total: int) -> list[int]:
    """`0,2-3` → [0, 2, 3]: ASCII indexes and inclusive ranges, in order, each once; each
    index below `total` (the PF's `sriov_totalvfs`), checked before a range is expanded."""
    found: set[int] = set()
    for part in text.split(","):
        m = VF_RANGE.fullmatch(part.strip())
        first, last = (int(m[1]), int(m[2] or m[1])) if m else (0, -1)
        if last < first:
            raise InputError(f"bad VF index list {abbreviate(text)!r}",
                             "give VF indexes and ranges, e.g. --vf 0,2-3")
        if last >= total:
            raise InputError(f"VF index {abbreviate(str(last))} is past the PF's "
                             f"sriov_totalvfs ({total})",
                             f"give indexes 0-{total - 1}" if total else "it supports no VF")
        found.update(range(first, last + 1))
    return sorted(found)


def vfs_by_index(model: HostModel, pf_text: str, indexes: str) -> tuple[str, ...]:
    """The BDFs of the PF's VFs `indexes` names, each index within the enabled count."""
    pf = sriov_pf(model, pf_text)
    assert pf.sriov is not None and pf.sriov.total_vfs is not None  # sriov_pf checked it
    count = pf.sriov.num_vfs or 0
    wanted = vf_indexes(indexes, pf.sriov.total_vfs)
    past = [i for i in wanted if i >= count]
    if past:
        have = f"indexes 0-{count - 1}" if count > 1 else ("index 0" if count else "no index")
        raise InputError(
            f"VF index {past[0]} is past the {count} VFs enabled on {pf.bdf} ({have})",
            f"`pcipass sriov enable {pf.bdf} --vfs {past[-1] + 1}` first, or name enabled VFs")
    addresses = vf_addresses(pf, count)
    missing = [str(addresses[i]) for i in wanted if model.get(addresses[i]) is None]
    if missing:
        raise OperationError(f"VF {missing[0]} of {pf.bdf} is enabled but not on the PCI bus",
                             "see dmesg; `pcipass sriov list` shows the VFs the host has")
    return tuple(str(addresses[i]) for i in wanted)


# -- list --------------------------------------------------------------------
def list_pfs(model: HostModel, text: str | None = None) -> list[Device]:
    """Every SR-IOV PF (in address order), or the one `text` names."""
    if text is not None:
        return [sriov_pf(model, text)]
    return [d for _, d in sorted(model.devices.items()) if d.sriov is not None]


# -- enable / disable ----------------------------------------------------------
def enable_plan(facts: HostFacts, req: EnableRequest,
                saved: Mapping[str, Mapping[str, Any]] | None = None) -> Plan:
    """The plan that leaves `req.vfs` VFs on the PF, or a refusal; `saved`: the VF settings
    pcipass saved (VF BDF → snapshot), forgotten for the VFs the change removes."""
    pf = sriov_pf(facts.model, req.pf)
    sriov = pf.sriov
    assert sriov is not None  # sriov_pf checked it
    check_count(pf, req.vfs)
    bdf = str(pf.bdf)
    current = sriov.num_vfs or 0
    command = f"sriov enable {bdf} --vfs {req.vfs}"
    probe = sriov.drivers_autoprobe if req.autoprobe is None else req.autoprobe
    autoprobe = [] if req.autoprobe is None or req.autoprobe == sriov.drivers_autoprobe \
        else [autoprobe_step(pf, req.autoprobe)]
    if current == req.vfs:
        return Plan(command, tuple(autoprobe), (f"{bdf} already has {current} VFs enabled",))
    need_driver(pf)
    steps: list[Step] = []
    notes: tuple[str, ...] = ()
    if current:
        refuse_removal(facts, pf, f"change {bdf} from {current} to {req.vfs} VFs")
        forget, notes = forget_removed(pf, saved or {})
        steps += forget
        steps.append(write_count(pf, 0, current, sriov.drivers_autoprobe))
    # autoprobe after the old VFs went and before the new ones come: a rollback brings the
    # old VFs back under the old setting
    steps += autoprobe
    steps.append(write_count(pf, req.vfs, 0, probe))
    return Plan(command, tuple(steps), notes)


def check_count(pf: Device, vfs: int) -> None:
    """`--vfs N` must be 1 to the PF's `sriov_totalvfs` (above it the kernel says ERANGE)."""
    total = pf.sriov.total_vfs if pf.sriov is not None else None
    assert total is not None  # sriov_pf checked it
    if vfs < 1:
        raise InputError(f"--vfs {vfs} enables no VF",
                         f"use 1-{total}; `pcipass sriov disable {pf.bdf}` removes them")
    if vfs > total:
        raise InputError(f"--vfs {vfs} is more than {pf.bdf} supports "
                         f"(sriov_totalvfs {total})", f"use 1-{total}")


def disable_plan(facts: HostFacts, text: str,
                 saved: Mapping[str, Mapping[str, Any]] | None = None) -> Plan:
    """The plan that removes every VF of the PF, or a refusal (`saved`: as `enable_plan`)."""
    pf = sriov_pf(facts.model, text)
    assert pf.sriov is not None
    bdf = str(pf.bdf)
    current = pf.sriov.num_vfs or 0
    if not current:
        return Plan(f"sriov disable {bdf}", (), (f"{bdf} has no VFs enabled",))
    need_driver(pf)
    refuse_removal(facts, pf, f"disable the VFs of {bdf}")
    forget, notes = forget_removed(pf, saved or {})
    step = write_count(pf, 0, current, pf.sriov.drivers_autoprobe)
    return Plan(f"sriov disable {bdf}", (*forget, step), notes)


def need_driver(pf: Device) -> None:
    """The kernel configures SR-IOV only through a bound PF driver (ENOENT otherwise)."""
    if pf.driver is None:
        raise OperationError(
            f"{pf.bdf} has no driver bound, and the kernel changes SR-IOV only through "
            "the PF's driver",
            f"bind it first (e.g. `echo {pf.bdf} > /sys/bus/pci/drivers_probe`)",
        )


def refuse_removal(facts: HostFacts, pf: Device, what: str) -> None:
    """Refuse when a VF that the change removes is assignable, recorded or in a domain."""
    held: list[str] = []
    for vf in facts.model.vfs_of(pf):
        vbdf = str(vf.bdf)
        why = []
        domid = facts.domid(vbdf)
        if domid is not None:
            why.append(f"held by domain {domid}")
        if vf.driver in drivers.ASSIGNABLE:
            why.append(f"assignable on {vf.driver}")
        if vbdf in facts.records:
            why.append("recorded by pcipass")
        if why:
            held.append(f"{vbdf} ({', '.join(why)})")
    if held:
        raise OperationError(
            f"refusing to {what}: that removes every VF, and these are in use: "
            + "; ".join(held),
            "detach them from their domains and give them back with "
            "`pcipass assignable remove -r VF...` first",
        )


def forget_removed(pf: Device, saved: Mapping[str, Mapping[str, Any]]
                   ) -> tuple[list[Step], tuple[str, ...]]:
    """When every VF of `pf` goes, the kernel forgets their admin MAC/VLAN/...: forget the
    originals pcipass saved for them too (a new VF at the address is not the old one), and
    a note naming the VFs whose pcipass settings are lost."""
    bdf = str(pf.bdf)
    mine = sorted(v for v, snap in saved.items() if snap.get("pf") == bdf)
    steps = [forget_step(v, f"forget the saved settings of {v} (its VF goes)", saved[v])
             for v in mine]
    notes = (f"the VF settings pcipass set on {', '.join(mine)} are lost with the VFs "
             "(the kernel forgets them; pcipass forgets the saved originals)",) if mine else ()
    return steps, notes


def forget_step(vf: str, why: str, snapshot: Mapping[str, Any]) -> Step:
    """Forget VF `vf`'s saved settings; undone by saving `snapshot` again."""
    saved = Check(CheckKind.VF_SAVED, vf, value="present")
    return Step(Action.VF_FORGET, why, bdf=vf,
                expect=(Check(CheckKind.VF_SAVED, vf, value="absent"),),
                undo=(Step(Action.VF_SAVE, f"remember the original settings of {vf} again",
                           bdf=vf, payload=dict(snapshot), expect=(saved,)),))


def count_checks(pf: Device, count: int, gone: int, autoprobe: bool | None) -> list[Check]:
    """What holds once `count` VFs are enabled: the count, the VFs, none of the `gone`
    ones past them, and (autoprobe off) no driver on the VFs."""
    bdf = str(pf.bdf)
    checks = [Check(CheckKind.TEXT, path=dev_path(bdf, NUMVFS), value=str(count))]
    for index, vf in enumerate(vf_addresses(pf, max(count, gone))):
        if index >= count:
            checks.append(Check(CheckKind.ABSENT, path=dev_path(str(vf))))
            continue
        checks.append(Check(CheckKind.EXISTS, path=dev_path(str(vf))))
        if autoprobe is False:
            checks.append(Check(CheckKind.DRIVER, str(vf), value=None))
    return checks


def write_count(pf: Device, count: int, previous: int, autoprobe: bool | None) -> Step:
    """Write `count` to `sriov_numvfs`; undone by writing `previous` (0: the VFs go)."""
    bdf = str(pf.bdf)
    path = dev_path(bdf, NUMVFS)
    why = f"enable {count} VFs on {bdf}" if count else f"remove the {previous} VFs of {bdf}"
    back = f"remove the VFs of {bdf} again" if not previous \
        else f"enable the previous {previous} VFs on {bdf}"
    return Step(
        Action.WRITE, why, bdf=bdf, path=path, data=str(count),
        expect=tuple(count_checks(pf, count, previous, autoprobe)),
        undo=(Step(Action.WRITE, back, bdf=bdf, path=path, data=str(previous),
                   expect=tuple(count_checks(pf, previous, count, None))),),
    )


def autoprobe_step(pf: Device, on: bool) -> Step:
    """Write `sriov_drivers_autoprobe`; undone by writing the old value."""
    bdf = str(pf.bdf)
    path = dev_path(bdf, AUTOPROBE)
    old = "0" if pf.sriov is not None and pf.sriov.drivers_autoprobe is False else "1"
    new = "1" if on else "0"
    return Step(
        Action.WRITE, f"{'let' if on else 'keep'} drivers {'probe' if on else 'off'} "
        f"the new VFs of {bdf}", bdf=bdf, path=path, data=new,
        expect=(Check(CheckKind.TEXT, path=path, value=new),),
        undo=(Step(Action.WRITE, f"restore sriov_drivers_autoprobe of {bdf}", bdf=bdf,
                   path=path, data=old, expect=(Check(CheckKind.TEXT, path=path, value=old),)),),
    )


def list_json(model: HostModel, pfs: list[Device],
              links: Mapping[str, Sequence[VfState] | None] | None = None) -> dict[str, object]:
    """The `sriov list` document (docs/json.md); `links`: PF BDF → its VFs' netlink states."""
    links = links or {}
    return {"sriov": [views.sriov_json(model, pf, links.get(str(pf.bdf))) for pf in pfs]}
