"""Requests → plans for `attach` / `detach` (devices into and out of running Xen domains). Pure.

attach: one `xl pci-attach DOMID SPEC` per spec, verified by re-reading `xl pci-list DOMID`
(and, with permissive, pciback's `permissive` list); undone by `xl pci-detach`. A spec with
`seize=1` whose device is not assignable gets the `assignable add` plan first (every guard,
the record of its driver). Refused before anything is done: Xen without an IOMMU, an unknown,
dying or privileged domain, a device that is not assignable (no seize), a slot `BB:DD.*` with
a function that is not, a device another domain holds, a guest of any type (PV, PVH,
HVM) created without pci=[…] or passthrough (libxl leaves passthrough disabled, xl.cfg(5):
Xen cannot hot-plug into it).

detach: `xl pci-detach [-f] DOMID BDF`, verified by `xl pci-list` no longer listing it; undone
by attaching it again with the options it had. The device stays assignable; `give_back`
then runs the `assignable remove -r` plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError, abbreviate
from pcipass.host import paths
from pcipass.host.xen import XlDomain, XlPci
from pcipass.model import drivers
from pcipass.model.device import Device
from pcipass.model.resolve import REMOVE, resolve_all
from pcipass.ops.assign import AddRequest, HostFacts, add_plan, iommu_refusal, remove_plan
from pcipass.run.plan import Action, Check, CheckKind, Plan, Step
from pcipass.spec import PciSpec, check_spec, format_spec

PERMISSIVE = paths.drv(drivers.PCIBACK.name, "permissive")
#: Options xl takes that do nothing on this Xen, and why (docs: peers-and-xen-internals).
NO_EFFECT = ("msitranslate", "power_mgmt")
#: xl list's state flags of a domain that cannot take a device any more.
GONE = frozenset("scd")
PERMISSIVE_WARNING = (
    "permissive=1 lets the guest write PCI config-space registers pciback does not emulate "
    "straight to the hardware: enable it only for trusted guests (xl-pci-configuration(5))"
)


@dataclass(frozen=True)
class AttachRequest:
    """`attach DOMAIN SPEC... [--permissive]`."""

    domain: str
    specs: tuple[str, ...]
    permissive: bool = False


@dataclass(frozen=True)
class DetachRequest:
    """`detach DOMAIN SPEC|NAME... [--force] [--give-back]`."""

    domain: str
    targets: tuple[str, ...]
    force: bool = False
    give_back: bool = False


@dataclass(frozen=True)
class Wanted:
    """One device to attach: the host function and the spec xl gets for it."""

    dev: Device
    spec: PciSpec


# -- domains -----------------------------------------------------------------
def domain_names(domains: Sequence[XlDomain]) -> str:
    """`NAME (ID), ...` of the domUs, for messages."""
    domus = [f"{d.name} ({d.domid})" for d in domains if d.domid != 0]
    return ", ".join(domus) if domus else "none is running"


def lookup_domain(domains: Sequence[XlDomain], text: str) -> XlDomain:
    """The domain (dom0 too) `text` names (name or id), or an `InputError` listing them."""
    text = text.strip()
    found = next((d for d in domains if d.name == text or str(d.domid) == text), None)
    if found is None:
        raise InputError(f"no domain {abbreviate(text)!r}",
                         f"give a domain's name or id (`xl list`); domains: "
                         f"{domain_names(domains)}")
    return found


def find_domain(domains: Sequence[XlDomain], text: str) -> XlDomain:
    """The domU `text` names (name or id), or an `InputError` listing the domains."""
    found = lookup_domain(domains, text)
    if found.domid == 0:
        raise InputError(f"{found.name} (domain 0) is the host itself, not a guest",
                         f"name a guest domain: {domain_names(domains)}")
    return found


def holder(domains: Sequence[XlDomain], facts: HostFacts, bdf: str) -> int | None:
    """The domain holding `bdf`: its `xl pci-list`, else libxl's xenstore `domid` key."""
    for dom in domains:
        if any(p.bdf == bdf for p in dom.pci):
            return dom.domid
    return facts.domid(bdf)


# -- attach --------------------------------------------------------------------
def attach_plan(facts: HostFacts, domains: Sequence[XlDomain], req: AttachRequest,
                permissive: frozenset[str] = frozenset()) -> Plan:
    """The plan that hands every spec's device(s) to the running domain, or a refusal.
    `permissive`: the BDFs pciback's `permissive` list holds (a device stays there after
    a permissive guest gave it back, and the next guest gets permissive access too)."""
    if not req.specs:
        raise InputError(f"no device given to attach to {abbreviate(req.domain)!r}",
                         "write `pcipass attach DOMAIN SPEC...`, e.g. "
                         "`pcipass attach guest 05:00.0`")
    _check_xen(facts)
    dom = find_domain(domains, req.domain)
    if dom.flags & GONE:
        raise OperationError(f"domain {dom.name} ({dom.domid}) is not running "
                             f"(xl list state {dom.state})",
                             "start it again (`xl create`), then attach")
    wanted, notes = _wanted(facts, req)
    todo: list[Wanted] = []
    for want in wanted:
        bdf = str(want.dev.bdf)
        held = holder(domains, facts, bdf)
        if held == dom.domid:
            notes.append(f"{bdf} is already attached to {dom.name}")
            continue
        if held is not None:
            raise OperationError(f"{bdf} is attached to domain {held}",
                                 f"detach it first: `pcipass detach {held} {bdf}`")
        todo.append(want)
    _check_assignable(todo)
    if todo and dom.passthrough == "disabled":
        kind = f"{dom.type.upper()} " if dom.type else ""
        raise OperationError(
            f"{dom.name} is a {kind}guest created without pci=[…] or passthrough, and Xen "
            "refuses to hot-plug into it (xc_assign_device: Operation not supported)",
            "add passthrough = \"enabled\" to its config and create it again "
            "(`pcipass attach --persist CONFIG` can also list the device in pci=[…])")
    steps: list[Step] = []
    seize = [w.dev for w in todo if w.dev.driver != drivers.PCIBACK.name]
    if seize:
        add = add_plan(facts, AddRequest(bdfs=tuple(str(d.bdf) for d in seize), backend="xen"))
        steps += add.steps
        notes += add.notes
    steps += [_attach_step(dom, w) for w in _by_spec(todo)]
    notes += _option_notes(w.spec for w in todo)
    notes += [still_permissive(str(w.dev.bdf), dom.name) for w in todo
              if str(w.dev.bdf) in permissive and not w.spec.permissive]
    named = " ".join(req.specs)
    return Plan(f"attach {dom.name} {named}", tuple(steps), tuple(dict.fromkeys(notes)))


def still_permissive(bdf: str, name: str) -> str:
    """The warning for a device pciback still lists as permissive, attached without it."""
    return (f"{bdf} is still in pciback's permissive list (an earlier permissive=1 attach "
            f"left it there): {name} gets permissive config-space access to it although the "
            f"spec does not ask; to clear it the device must leave pciback: detach it, "
            f"`pcipass assignable remove {bdf}`, then `pcipass assignable add {bdf}`")


def _check_xen(facts: HostFacts) -> None:
    if not facts.dom0:
        raise OperationError("attaching to a guest needs a Xen dom0 and this host is not one",
                             "run pcipass in dom0")
    refusal = iommu_refusal("xen", facts.model.iommu_enabled, facts.xen_directio)
    if refusal is not None:
        raise refusal


def _spec_of(text: str, permissive: bool) -> PciSpec:
    """The options a SPEC sets (a bare name or interface sets none); strict xl grammar."""
    stripped = text.strip()
    check = check_spec(stripped, strict=True)
    spec = check.spec if check.spec is not None else PciSpec(address=None)
    if check.spec is None and (":" in stripped or "," in stripped or "=" in stripped):
        raise InputError.about(f"PCI spec {abbreviate(text)!r}", check.error or "",
                               "write e.g. 05:00.0, 05:00.0,permissive=1 or name=nic0")
    if permissive and "permissive" in spec.explicit and not spec.permissive:
        raise InputError(f"{abbreviate(text)!r} says permissive=0 and --permissive says "
                         "permissive=1", "drop one of them")
    if permissive:
        spec = replace(spec, permissive=True, explicit=spec.explicit | {"permissive"})
    return spec


def _wanted(facts: HostFacts, req: AttachRequest) -> tuple[list[Wanted], list[str]]:
    """Each spec's device(s): an address, a slot `BB:DD.*` (every function), a name or an
    interface; xl then gets the address with the spec's options (without seize: pcipass
    makes the device assignable itself). A device two specs name: once, with a note, if
    they ask for the same options; refused if not."""
    found: dict[str, tuple[str, Wanted]] = {}
    notes: list[str] = []
    for text in req.specs:
        spec = _spec_of(text, req.permissive)
        devices = resolve_all(facts.model, text, REMOVE, facts.names(), options=True)
        for dev in devices:
            want = Wanted(dev, replace(spec, address=dev.bdf, all_functions=False, name=None))
            bdf = str(dev.bdf)
            if bdf not in found:
                found[bdf] = (text, want)
                continue
            first = found[bdf][0]
            if found[bdf][1].spec != want.spec:
                raise InputError(f"{bdf} is given twice with different options: "
                                 f"{abbreviate(first)!r} and {abbreviate(text)!r}",
                                 "give each device once, with the options it should get")
            notes.append(f"{bdf} is given twice ({first!r} and {text!r}): attached once")
    return [w for _, w in found.values()], notes


def _check_assignable(todo: Iterable[Wanted]) -> None:
    """Every device on pciback, or its spec says seize=1; a device on vfio-pci never."""
    refused = []
    for want in todo:
        driver = want.dev.driver
        if driver == drivers.PCIBACK.name:
            continue
        if driver in drivers.ASSIGNABLE:
            raise OperationError(f"{want.dev.bdf} is assignable on {driver} (for KVM), not "
                                 "on pciback", f"`pcipass assignable remove {want.dev.bdf}`, "
                                 "then attach with seize=1")
        if not want.spec.seize:
            refused.append(f"{want.dev.bdf} (on {driver or 'no driver'})")
    if refused:
        raise OperationError(
            f"not assignable: {', '.join(refused)}",
            "`pcipass assignable add` them first, or add seize=1 to the spec "
            "(e.g. 05:00.0,seize=1) to make them assignable as part of the attach")


def _by_spec(todo: list[Wanted]) -> list[Wanted]:
    """Address order (a slot's functions one by one, function 0 last as libxl wants it for
    a multi-function device: the guest scans the slot once function 0 appears)."""
    return sorted(todo, key=lambda w: (w.dev.bdf.slot, w.dev.bdf.func == 0, w.dev.bdf.func))


def _attach_step(dom: XlDomain, want: Wanted) -> Step:
    bdf = str(want.dev.bdf)
    xl_spec = replace(want.spec, seize=False, explicit=want.spec.explicit - {"seize"})
    expect = [_attached(dom.domid, bdf, True)]
    if want.spec.permissive:
        expect.append(Check(CheckKind.LISTED, path=PERMISSIVE, value=bdf))
    return Step(
        Action.RUN, f"attach {bdf} to {dom.name} (domain {dom.domid})", bdf=bdf,
        argv=("xl", "pci-attach", str(dom.domid), format_spec(xl_spec)),
        expect=tuple(expect),
        undo=(_detach_step(dom, bdf, force=True, undo=()),),
    )


def _attached(domid: int, bdf: str, listed: bool) -> Check:
    return Check(CheckKind.XL_ATTACHED, bdf, path=str(domid),
                 value="listed" if listed else "unlisted")


def _option_notes(specs: Iterable[PciSpec]) -> list[str]:
    notes: list[str] = []
    for spec in specs:
        if spec.permissive:
            notes.append(PERMISSIVE_WARNING)
        for key in NO_EFFECT:
            if getattr(spec, key):
                notes.append(f"{key}=1 has no effect on this Xen: it was a qemu-traditional "
                             "feature, and libxl only records it")
    return notes


# -- detach --------------------------------------------------------------------
def detach_plan(facts: HostFacts, domains: Sequence[XlDomain], req: DetachRequest) -> Plan:
    """The plan that takes the devices back from the domain (left assignable, or with
    `give_back` returned to their drivers), or a refusal."""
    if not req.targets:
        raise InputError(f"no device given to detach from {abbreviate(req.domain)!r}",
                         "write `pcipass detach DOMAIN SPEC|NAME...`")
    dom = find_domain(domains, req.domain)
    held = {p.bdf: p for p in dom.pci}
    bdfs: list[str] = []
    for text in req.targets:
        for dev in resolve_all(facts.model, text, REMOVE, facts.names(), options=True):
            bdf = str(dev.bdf)
            if bdf not in held:
                other = holder(domains, facts, bdf)
                where = f"it is in domain {other}" if other is not None else \
                    "no domain holds it"
                raise OperationError(f"{bdf} is not attached to {dom.name} ({where})",
                                     "`pcipass domain list` shows which domain holds what")
            bdfs.append(bdf)
    bdfs = list(dict.fromkeys(bdfs))
    steps = [_detach_step(dom, bdf, req.force, undo=(_reattach(dom, held[bdf]),))
             for bdf in bdfs]
    if req.give_back:
        freed = {b: replace(x, domid=None) for b, x in facts.xen.items() if b in bdfs}
        steps += remove_plan(replace(facts, xen={**facts.xen, **freed}), bdfs, True).steps
    return Plan(f"detach {dom.name} {' '.join(req.targets)}", tuple(steps))


def _detach_step(dom: XlDomain, bdf: str, force: bool, undo: tuple[Step, ...]) -> Step:
    return Step(
        Action.RUN, f"detach {bdf} from {dom.name} (domain {dom.domid})", bdf=bdf,
        argv=("xl", "pci-detach", *(["-f"] if force else []), str(dom.domid), bdf),
        expect=(_attached(dom.domid, bdf, False),), undo=undo,
    )


def _reattach(dom: XlDomain, pci: XlPci) -> Step:
    """Attach the device again with the options the backend recorded for it (`opts-N`:
    permissive, msitranslate, power_mgmt, rdm_policy) and the guest slot it asked for."""
    opts = dict(pci.options)
    spec = PciSpec(address=PciAddress.parse(pci.bdf), vslot=pci.vslot,
                   permissive=opts.get("permissive") == "1",
                   msitranslate=opts.get("msitranslate") == "1",
                   power_mgmt=opts.get("power_mgmt") == "1",
                   rdm_policy=opts.get("rdm_policy") or None)
    return Step(Action.RUN, f"attach {pci.bdf} to {dom.name} again", bdf=pci.bdf,
                argv=("xl", "pci-attach", str(dom.domid), format_spec(spec)),
                expect=(_attached(dom.domid, pci.bdf, True),))


# -- domain list ---------------------------------------------------------------
def domain_json(dom: XlDomain, permissive: frozenset[str]) -> dict[str, object]:
    """One `domain list --json` object (docs/json.md)."""
    return {
        "domid": dom.domid,
        "name": dom.name,
        "state": dom.state,
        "type": dom.type,
        "passthrough": dom.passthrough,
        "pci": [{"bdf": p.bdf, "vdev": p.vdev, "options": dict(p.options),
                 "permissive": p.bdf in permissive} for p in dom.pci],
    }
