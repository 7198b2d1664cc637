"""The declared state against the live host: each item's status, and the plans `apply` runs.

Pure, on `HostFacts`, the PFs' VF settings (`VfLinks`) and a `Declared`. `apply` converges
in phases, each one plan of the single commands' planners (`sriov enable/disable`, by the
declared method, `vf set`, then `assignable add`) and one journalled run: the VF counts
first, because a declared VF exists only once its PF's VFs do, and each later phase is
planned on facts read after the one before. A device whose IDs differ from the declared
ones, or that is gone, and a PF that cannot have its declared VF count, are reported and
never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pcipass.address import PciAddress
from pcipass.errors import PcipassError
from pcipass.host.netlink import VfState
from pcipass.host.netlink import describe as describe_vf
from pcipass.host.netlink import text as setting_text
from pcipass.model.declared import AssignableItem, Declared, Ids, VfSettings, VfsItem
from pcipass.model.device import Device
from pcipass.ops import vf as ops_vf
from pcipass.ops.assign import STUB, AddRequest, Backend, HostFacts, add_plan
from pcipass.ops.guards import Refused
from pcipass.ops.sriov import EnableRequest, disable_plan, enable_plan, vf_addresses
from pcipass.ops.sriov_module import module_plan
from pcipass.run.plan import Plan, Step


@dataclass(frozen=True)
class VfLinks:
    """What the VF settings need besides the facts: each PF interface's VF states (None:
    not readable) and pcipass's saved originals (VF BDF → them)."""

    states: Mapping[str, list[VfState] | None] = field(default_factory=dict)
    saved: Mapping[str, dict[str, Any]] = field(default_factory=dict)


class Status(StrEnum):
    """Where a declared item stands on the live host."""

    HOLDS = "holds"
    DIFFERS = "differs"
    WAITS = "waits"
    """A VF declared assignable whose PF's declared VFs do not exist yet."""
    CHANGED = "changed"
    GONE = "gone"
    UNFIT = "unfit"
    """A PF (with its declared IDs) that cannot have the declared VF count: it has fewer
    VFs (sriov_totalvfs) or no SR-IOV capability now (firmware or BIOS setting); and the
    declared VF settings and assignable VFs that wait for the VFs it will not have."""


#: The statuses that stop `apply` (a changed or missing device is never configured, a PF
#: that cannot have its declared VFs is left as it is).
BLOCKING = (Status.CHANGED, Status.GONE, Status.UNFIT)


@dataclass(frozen=True)
class ItemState:
    """One declared item and how the live host compares."""

    kind: str
    bdf: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "bdf": self.bdf, "status": self.status,
                "detail": self.detail}

    def line(self) -> str:
        return f"{self.kind} {self.bdf}: {self.status} ({self.detail})"


def live_ids(dev: Device) -> Ids | None:
    """The device's IDs, or None when one of them could not be read."""
    ids = (dev.vendor_id, dev.device_id, dev.subsystem_vendor_id, dev.subsystem_device_id)
    if any(i is None for i in ids):
        return None
    v, d, sv, sd = ids
    assert v is not None and d is not None and sv is not None and sd is not None
    return Ids(v, d, sv, sd)


def identity(facts: HostFacts, bdf: str, ids: Ids) -> tuple[Status, str] | None:
    """GONE or CHANGED with what is found at `bdf`, or None when the declared device is there."""
    parsed = PciAddress.try_parse(bdf)
    dev = facts.model.get(parsed) if parsed else None
    if dev is None:
        return Status.GONE, f"no device at {bdf}; declared {ids}"
    found = live_ids(dev)
    if found != ids:
        now = str(found) if found else "a device whose IDs cannot be read"
        return Status.CHANGED, f"{bdf} is now {now}, declared {ids}"
    return None


def vfs_state(facts: HostFacts, item: VfsItem) -> ItemState:
    wrong = identity(facts, item.pf, item.ids)
    if wrong:
        return ItemState("vfs", item.pf, *wrong)
    sriov = facts.device(item.pf).sriov
    count = (sriov.num_vfs or 0) if sriov else 0
    probe = sriov.drivers_autoprobe if sriov else None
    want = f"declared {item.count}"
    total = sriov.total_vfs if sriov else None
    if item.count and (sriov is None or (total is not None and total < item.count)):
        has = f"supports {total} VFs (sriov_totalvfs)" if sriov else \
            "has no SR-IOV capability now (no sriov_totalvfs)"
        return ItemState("vfs", item.pf, Status.UNFIT, f"{item.pf} {has}, {want}")
    if count != item.count:
        return ItemState("vfs", item.pf, Status.DIFFERS, f"{count} VFs, {want}")
    if item.count and item.autoprobe is not None and probe != item.autoprobe:
        return ItemState("vfs", item.pf, Status.DIFFERS,
                         f"autoprobe {_onoff(probe)}, declared {_onoff(item.autoprobe)}")
    return ItemState("vfs", item.pf, Status.HOLDS, f"{count} VFs")


def assignable_state(facts: HostFacts, item: AssignableItem, declared: Declared) -> ItemState:
    stub = STUB[item.backend]
    wrong = identity(facts, item.bdf, item.ids)
    maker = _made_by(facts, declared, item.bdf) if wrong and wrong[0] is Status.GONE else None
    if maker is not None:
        unfit = _unfit(facts, maker)
        if unfit:
            return ItemState("assignable", item.bdf, Status.UNFIT, f"a VF of {unfit}")
        return ItemState("assignable", item.bdf, Status.WAITS,
                         f"a VF that applying the declared VF count creates; then {stub}")
    if wrong:
        return ItemState("assignable", item.bdf, *wrong)
    driver = facts.device(item.bdf).driver
    if driver != stub:
        return ItemState("assignable", item.bdf, Status.DIFFERS,
                         f"on {driver or 'no driver'}, declared {stub}")
    return ItemState("assignable", item.bdf, Status.HOLDS, f"on {stub}")


def _made_by(facts: HostFacts, declared: Declared, bdf: str) -> VfsItem | None:
    """The declared VF count (of a PF that is there) that creates the VF `bdf`, if any."""
    for v in declared.vfs:
        parsed = PciAddress.try_parse(v.pf)
        pf = facts.model.get(parsed) if parsed else None
        if pf is not None and identity(facts, v.pf, v.ids) is None and \
                bdf in map(str, vf_addresses(pf, v.count)):
            return v
    return None


def _unfit(facts: HostFacts, item: VfsItem) -> str | None:
    """When the PF of `item` cannot have its declared VFs: what a VF item that waits for
    them says instead (they will not be made)."""
    pf = vfs_state(facts, item)
    return f"{item.pf}, whose declared VF count cannot be made: {pf.detail}" \
        if pf.status is Status.UNFIT else None


def vf_state(facts: HostFacts, item: VfsItem, vf: VfSettings, links: VfLinks) -> ItemState:
    """One VF's declared settings against what its PF reports (`bdf`: the VF's address)."""
    parsed = PciAddress.try_parse(item.pf)
    pf = facts.model.get(parsed) if parsed else None
    found = vf_addresses(pf, vf.index + 1) if pf is not None else ()
    bdf = str(found[vf.index]) if len(found) > vf.index else f"{item.pf} VF {vf.index}"
    wrong = identity(facts, item.pf, item.ids)
    if wrong:
        return ItemState("vf", bdf, *wrong)
    try:
        t = ops_vf.target(facts.model, item.pf, vf.index)
    except PcipassError as exc:  # no such VF yet, or its PF has no interface
        count = pf.sriov.num_vfs if pf is not None and pf.sriov else 0
        if (count or 0) <= vf.index:
            unfit = _unfit(facts, item)
            if unfit:
                return ItemState("vf", bdf, Status.UNFIT, f"VF {vf.index} of {unfit}")
            return ItemState("vf", bdf, Status.WAITS,
                             f"VF {vf.index} of {item.pf}, created by the declared VF count")
        return ItemState("vf", bdf, Status.DIFFERS, exc.what)
    current = next((s for s in links.states.get(t.ifname) or [] if s.vf == vf.index), None)
    if current is None:
        return ItemState("vf", t.bdf, Status.DIFFERS,
                         f"{t.ifname} does not report VF {vf.index}'s settings")
    now = current.settings()
    wrong_keys = [f"{k} {setting_text(now[k])}, declared {setting_text(v)}"
                  for k, v in vf.values if setting_text(now[k]) != setting_text(v)]
    if wrong_keys:
        return ItemState("vf", t.bdf, Status.DIFFERS, "; ".join(wrong_keys))
    return ItemState("vf", t.bdf, Status.HOLDS,
                     f"VF {vf.index} of {t.ifname}: {describe_vf(dict(vf.values))}")


def _onoff(value: bool | None) -> str:
    return "unknown" if value is None else "on" if value else "off"


def states(facts: HostFacts, declared: Declared, links: VfLinks | None = None
           ) -> list[ItemState]:
    """Every declared item's status, in the order `apply` takes them (`links`: the VF
    settings as the PFs report them; without, the VF settings are left out)."""
    vfs = [vf_state(facts, v, s, links) for v in declared.vfs for s in v.settings] \
        if links is not None else []
    return [vfs_state(facts, v) for v in declared.vfs] + vfs + \
        [assignable_state(facts, a, declared) for a in declared.assignable]


# -- the phases ----------------------------------------------------------------
PHASES = ("vfs", "vf", "assignable")


def _vf_plans(facts: HostFacts, declared: Declared, links: VfLinks) -> list[Plan]:
    """`vf set` plans for the declared VF settings that differ."""
    plans = []
    for v in declared.vfs:
        for vf in v.settings:
            if vf_state(facts, v, vf, links).status is Status.DIFFERS:
                t = ops_vf.target(facts.model, v.pf, vf.index)
                request = ops_vf.SetRequest(v.pf, vf.index, vf.texts())
                plans.append(ops_vf.set_plan(t, request, links.states.get(t.ifname),
                                             links.saved.get(t.bdf)))
    return plans


def phase_plan(facts: HostFacts, declared: Declared, phase: str,
               links: VfLinks | None = None) -> Plan:
    """One phase of `apply` as one plan: the single commands' plans for every item of the
    phase that differs, their steps in order (their notes kept)."""
    found = {(s.kind, s.bdf): s.status for s in states(facts, declared)}
    plans: list[Plan] = []
    if phase == "vf":
        plans = _vf_plans(facts, declared, links or VfLinks())
    elif phase == "vfs":
        for v in declared.vfs:
            if found[("vfs", v.pf)] is Status.DIFFERS:
                plans.append(_count_plan(facts, v))
    else:
        plans = _add_plans(facts, [a for a in declared.assignable
                                   if found[("assignable", a.bdf)] is Status.DIFFERS])
    steps: list[Step] = [s for p in plans for s in p.steps]
    notes = [n for p in plans for n in p.notes]
    commands = "; ".join(p.command for p in plans)
    return Plan(f"apply {phase}: {commands}" if commands else f"apply {phase}",
                tuple(steps), tuple(notes))


def _count_plan(facts: HostFacts, item: VfsItem) -> Plan:
    """The `sriov enable` plan of the declared method (`disable` for 0 VFs)."""
    if not item.count:
        return disable_plan(facts, item.pf)
    request = EnableRequest(item.pf, item.count, item.autoprobe, item.reload_others)
    return (module_plan if item.method == "module" else enable_plan)(facts, request)


def _add_plans(facts: HostFacts, items: list[AssignableItem]) -> list[Plan]:
    """`assignable add` plans: one per backend for the unnamed devices (an IOMMU group's
    members move together), one per named device (a name is for one device)."""
    plans: list[Plan] = []
    for backend in sorted({a.backend for a in items}):
        unnamed = tuple(a.bdf for a in items if a.backend == backend and a.name is None)
        if unnamed:
            plans.append(_declared_add(facts, AddRequest(bdfs=unnamed,
                                                         backend=_backend(backend))))
    for a in items:
        if a.name is not None:
            plans.append(_declared_add(facts, AddRequest(bdfs=(a.bdf,),
                                                         backend=_backend(a.backend),
                                                         name=a.name)))
    return plans


def _declared_add(facts: HostFacts, request: AddRequest) -> Plan:
    """`add_plan`; a guard's refusal says what fixes it here (apply takes no override flag)."""
    try:
        return add_plan(facts, request)
    except Refused as exc:
        flags = sorted({r.flag for r in exc.refusals if r.flag})
        if flags:
            bdf = next((r.bdf for r in exc.refusals if r.bdf in request.bdfs), request.bdfs[0])
            exc.fix = (f"the declared state never overrides a guard ({', '.join(flags)} is for "
                       f"`pcipass assignable add` by hand): leave {bdf} out of it (`pcipass "
                       f"state forget {bdf}`)")
        raise


def _backend(name: str) -> Backend:
    """The declared backend (one of `declared.BACKENDS`) as `AddRequest` types it."""
    return "xen" if name == "xen" else "vfio"


@dataclass(frozen=True)
class Preview:
    """What `plan` shows: every item's status, the first phase's plan, and the second's
    plan (on today's facts: the VFs the first creates are not there yet), or its refusal."""

    items: list[ItemState]
    plans: list[Plan]
    refusals: list[str]

    @property
    def empty(self) -> bool:
        return not any(self.plans) and all(i.status is Status.HOLDS for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {"items": [i.to_json() for i in self.items],
                "plans": [p.to_json() for p in self.plans],
                "refusals": self.refusals,
                "converged": self.empty}


def preview(facts: HostFacts, declared: Declared, links: VfLinks) -> Preview:
    """The diff between declared and live, as the steps `apply` would take."""
    plans: list[Plan] = []
    refusals: list[str] = []
    for phase in PHASES:
        try:
            plans.append(phase_plan(facts, declared, phase, links))
        except PcipassError as exc:
            refusals.append(f"{phase}: {exc.line()}")
    return Preview(states(facts, declared, links), plans, refusals)
