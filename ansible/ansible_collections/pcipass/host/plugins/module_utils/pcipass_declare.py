# Copyright: (c) 2026, pcipass contributors
# MIT License (see the pcipass repository's pyproject.toml)
"""The declared host state a `pcipass_state` task asks for, its plan, and applying it.

The task's items are resolved on the managed host's live facts the way `pcipass state
add-assignable` / `set-vfs` resolve theirs: each device keyed by its address and IDs (read
from the device, never guessed). The plan is `pcipass plan`'s for that state (the items'
statuses, the phases' steps, the boot files' diffs); applying writes the state file and
runs `pcipass.ops.persist_apply.apply` (lock, recover, journal, verify per phase).

A VF declared assignable before its PF's declared VFs exist cannot be keyed yet: it is
"pending", shown in the plan, and declared and applied by a second apply once the first
one has created the VFs.

The state file is read-modify-written only under pcipass's lock, through its journal
(`persist_store.edit`), so the task never loses another pcipass's edit of it.

Only called once `pcipass_common.require_pcipass` has passed (pcipass is importable).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.pcipass.host.plugins.module_utils.pcipass_common import (
    PCIPASS_IMPORT_ERROR,
)

if PCIPASS_IMPORT_ERROR is None:
    from pcipass.errors import InputError, OperationError, PcipassError
    from pcipass.model.declared import (
        STATE_FILE,
        AssignableItem,
        Declared,
        render,
        to_json,
    )
    from pcipass.model.resolve import SHOW, resolve
    from pcipass.ops import boot_files
    from pcipass.ops.assign import choose_backend
    from pcipass.ops.persist import BLOCKING, PHASES, phase_plan, preview
    from pcipass.ops.persist_apply import FORGET_FIX, apply, boot_facts, vf_links
    from pcipass.ops.persist_store import edit, load, vfs_item, with_vf_settings
    from pcipass.ops.sriov import sriov_pf, vf_addresses, vf_indexes
    from pcipass.run.plan import Plan, file_step
    from pcipass.run.session import execute

DIFF_HEADER = "/etc/pcipass/host.toml (declared state)"


@dataclass(frozen=True)
class Pending:
    """A VF declared assignable whose PF's declared VFs do not exist yet."""

    pf: str
    index: int
    bdf: str
    backend: str
    name: object = None
    claim_at_boot: bool = False

    def line(self):
        return (f"assignable {self.bdf} (VF {self.index} of {self.pf}): declared once the VF "
                f"exists (the VF phase creates it), then made assignable ({self.backend})")

    def to_json(self):
        return {"pf": self.pf, "index": self.index, "bdf": self.bdf, "backend": self.backend,
                "name": self.name, "claim_at_boot": self.claim_at_boot}


# -- the task's items as declared entries ------------------------------------------------
def _check_id(dev, expected, what):
    """Refuse a device whose vendor:device is not the `expected` one the task names."""
    if expected is None:
        return
    found = "unknown" if dev.vendor_id is None or dev.device_id is None else \
        f"{dev.vendor_id:04x}:{dev.device_id:04x}"
    if found != expected.strip().lower():
        raise InputError(f"{what} {dev.bdf} is {found}, not the {expected} the task declares",
                         "check the inventory: this host has another device at that address "
                         "(nothing was changed)")


def _ids(dev):
    from pcipass.ops.persist import live_ids

    ids = live_ids(dev)
    if ids is None:
        raise InputError(f"cannot read the IDs of {dev.bdf}, which key its declaration",
                         "check that the device is present (`pcipass show`)")
    return ids


def _vfs_item(facts, spec):
    pf = sriov_pf(facts.model, spec["pf"])
    _check_id(pf, spec.get("id"), "PF")
    method, reload_others = spec.get("method") or "sysfs", bool(spec.get("reload_other_devices"))
    if reload_others and method != "module":
        raise InputError("reload_other_devices applies to method: module only",
                         "set method: module, or leave out reload_other_devices")
    return vfs_item(facts, str(pf.bdf), spec["count"], spec.get("autoprobe"), method,
                    reload_others)


def _backend(facts, spec):
    backend = spec.get("backend") or "auto"
    return choose_backend(backend, facts) if backend == "auto" else backend


def _assignable_items(facts, spec, counts):
    """The entries (and pending VFs) one `assignable` element names; `counts`: the VF
    count the wanted state declares per PF address."""
    backend = _backend(facts, spec)
    extra = {"name": spec.get("name"), "claim_at_boot": bool(spec.get("claim_at_boot"))}
    if spec.get("device") is not None:
        dev = resolve(facts.model, spec["device"], SHOW)
        _check_id(dev, spec.get("id"), "device")
        return [AssignableItem(str(dev.bdf), _ids(dev), backend, **extra)], []
    pf = sriov_pf(facts.model, spec["pf"])
    _check_id(pf, spec.get("id"), "PF")
    indexes = vf_indexes(spec["vfs"], pf.sriov.total_vfs)
    if extra["name"] is not None and len(indexes) != 1:
        raise InputError(f"name {extra['name']!r} is for one device, and vfs "
                         f"{spec['vfs']!r} names {len(indexes)}",
                         "give a name only with a single VF index")
    enabled = pf.sriov.num_vfs or 0
    count = counts.get(str(pf.bdf), enabled)
    items, pending = [], []
    addresses = vf_addresses(pf, max(count, enabled, max(indexes) + 1))
    for index in indexes:
        if index >= count:
            raise InputError(f"VF {index} of {pf.bdf} is past the {count} VFs the host "
                             "will have", f"declare at least {index + 1} VFs for {pf.bdf} in "
                             "vfs (count), or name enabled VFs")
        dev = facts.model.get(addresses[index]) if index < enabled else None
        if dev is not None and str(dev.physfn) == str(pf.bdf):
            items.append(AssignableItem(str(dev.bdf), _ids(dev), backend, **extra))
        else:
            pending.append(Pending(str(pf.bdf), index, str(addresses[index]), backend,
                                   **extra))
    return items, pending


def _put(items, item, key):
    """`items` with `item` in the place of the entry of the same `key` (else at the end), so
    that declaring an entry again leaves the file as it is."""
    found = [getattr(i, key) for i in items]
    if getattr(item, key) not in found:
        return (*items, item)
    return tuple(item if getattr(i, key) == getattr(item, key) else i for i in items)


#: pcipass_state's VF setting options: the declared state's keys (`ops.vf.SETTINGS`).
SETTING_KEYS = ("mac", "vlan", "qos", "spoofchk", "trust", "link_state", "min_tx_rate",
                "max_tx_rate")


def setting_texts(vf):
    """One `settings` element as the texts `vf set` takes (`on`/`off` for booleans)."""
    texts = {}
    for key in SETTING_KEYS:
        value = vf.get(key)
        if value is not None:
            texts[key] = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return texts


def with_assignable(declared, item):
    return Declared(_put(declared.assignable, item, "bdf"), declared.vfs)


def _once(seen, key, what):
    """Refuse `key` named a second time in one task (else the last one would silently win)."""
    if key in seen:
        raise InputError(f"{what} twice in this task", "give each once: one entry per "
                         "device (an address and its interface name are the same device)")
    seen.add(key)


def wanted_state(facts, current, params):
    """The declared state the task asks for (its items take the place of the entries of the
    same address; with `purge`, only the task's items stay) and the pending VFs."""
    wanted = Declared() if params.get("purge") else current
    pfs, devices = set(), set()
    for spec in params.get("vfs") or []:
        item = _vfs_item(facts, spec)
        _once(pfs, item.pf, f"vfs names {item.pf}")
        wanted = wanted.with_vfs(item)  # in its place; the VFs' settings kept unless given
        indexes = set()
        for vf in spec.get("settings") or []:
            _once(indexes, vf["index"], f"the settings of {item.pf} name VF {vf['index']}")
            wanted = with_vf_settings(facts, wanted, item.pf, vf["index"], setting_texts(vf),
                                      clear=True)
    counts = {v.pf: v.count for v in wanted.vfs}
    pending = []
    for spec in params.get("assignable") or []:
        items, waiting = _assignable_items(facts, spec, counts)
        for bdf in [i.bdf for i in items] + [p.bdf for p in waiting]:
            _once(devices, bdf, f"assignable names {bdf}")
        for item in items:
            wanted = with_assignable(wanted, item)
        pending += waiting
    pending_bdfs = {p.bdf for p in pending}
    wanted = Declared(tuple(a for a in wanted.assignable if a.bdf not in pending_bdfs),
                      wanted.vfs)
    return wanted, pending


# -- the plan ------------------------------------------------------------------------------
@dataclass
class Planned:
    """`pcipass plan` for a declared state: the preview, the boot files, their programs."""

    found: object
    files: list
    programs: object
    pending: list = field(default_factory=list)
    links: object = None

    @property
    def converged(self):
        return self.found.empty and not any(c.changed for c in self.files) and \
            not self.programs.steps and not self.pending

    def to_json(self):
        doc = self.found.to_json()
        doc["plans"].append(self.programs.to_json())
        doc["files"] = [c.to_json() for c in self.files]
        doc["pending"] = [p.to_json() for p in self.pending]
        doc["converged"] = self.converged
        return doc

    def lines(self):
        """The plan as `pcipass plan` prints it (statuses, steps and notes; the boot files'
        put-file steps render their diffs)."""
        out = [f"# {item.line()}" for item in self.found.items]
        out += [f"# {p.line()}" for p in self.pending]
        for plan in [*self.found.plans, self.programs]:
            out += plan.render()
            out += [f"# {note}" for note in plan.notes]
        out += [f"# refused: {r}" for r in self.found.refusals]  # boot files: in `programs`
        if self.converged:
            out.append("# the host is in its declared state: nothing to apply")
        return out


def plan_for(host, facts, declared, pending=()):
    links = vf_links(host, facts, declared)
    files = boot_files.changes(host, facts, declared)
    return Planned(preview(facts, declared, links), files, boot_files.boot_plan(host, files),
                   list(pending), links)


def refuse_unfit(facts, declared, found, links):
    """What apply would refuse, raised before anything is written: a declared device that
    is gone or was replaced (`found`: the preview), and a phase plan a guard refuses (the
    guard's own error, pcipass's one line)."""
    blocked = [s for s in found.items if s.status in BLOCKING]
    if blocked:
        raise OperationError("the declared state does not fit the host, nothing was applied: "
                             + "; ".join(s.line() for s in blocked), FORGET_FIX)
    if found.refusals:
        for phase in PHASES:
            phase_plan(facts, declared, phase, links)


# -- converging ----------------------------------------------------------------------------
@dataclass
class Result:
    """What a `pcipass_state` run found and did."""

    before: object
    after: object
    planned: object
    changed: bool
    applied: list = field(default_factory=list)
    files: list = field(default_factory=list)
    final: object = None
    text: str = ""  # the state file as it was ("" when absent)
    written: bool = False  # the task (re)writes it

    def diff(self):
        return [
            {"before_header": DIFF_HEADER, "after_header": DIFF_HEADER, "before": self.text,
             "after": render(self.after) if self.written else self.text},
            {"prepared": "\n".join(self.planned.lines()) + "\n"},
        ]

    def to_json(self):
        return {
            "changed": self.changed,
            "declared": to_json(self.after),
            "plan": self.planned.to_json(),
            "applied": [o.to_json() for o in self.applied if o.plan.steps],
            "files": [c.to_json() for c in self.files],
            "converged": (self.final or self.planned).converged,
        }


def converge(host, params, check_mode, warn):
    """Plan the task's declared state on `host`; unless `check_mode`, declare and apply it.
    `changed`: the state file's content changes, or (when applying) the plan is not empty.

    The plan is made on the state file as read first. Each write puts the task's items into
    the file as it is then, under pcipass's lock (`persist_store.edit`: lock, recover, plan,
    journal, run), so a declaration another pcipass made in the meantime is kept."""
    before = load(host)
    facts = boot_facts(host)
    wanted, pending = wanted_state(facts, before, params)
    planned = plan_for(host, facts, wanted, pending)
    refuse_unfit(facts, wanted, planned.found, planned.links)
    text_changed = render(wanted) != render(before)
    applying = params.get("apply", True)
    changed = text_changed or (applying and not planned.converged)
    result = Result(before, wanted, planned, changed, text=host.try_read_text(STATE_FILE) or "",
                    written=text_changed)
    if check_mode or not changed:
        return result
    declaring = _Declaring(host, params, warn)
    if text_changed:
        result.after = declaring.write()
    if applying and not planned.converged:
        _apply(host, result, declaring, warn)
        if pending:
            result.after = declaring.write(created=True)
            _apply(host, result, declaring, warn)
    result.final = plan_for(host, boot_facts(host), load(host))
    return result


class _Declaring:
    """The task's writes of the state file, each a journalled edit under the lock, and
    putting the file back as it was before the first one."""

    def __init__(self, host, params, warn):
        self.host, self.params, self.warn = host, params, warn
        self.prior = None  # the file before the task's first write (`existed`: there was one)
        self.existed = False
        self.written = None  # what the task's last write declared

    def write(self, created=False):
        """The task's items put into the declared state as it is under the lock (its other
        entries kept); returns that state. `created`: after the VF phase, so every VF the
        task makes assignable must exist now."""
        def change(facts, now):
            if self.written is None:
                self.prior, self.existed = now, self.host.exists(STATE_FILE)
            declared, waiting = wanted_state(facts, now, self.params)
            if created and waiting:
                vf = waiting[0]
                raise OperationError(f"VF {vf.index} of {vf.pf} ({vf.bdf}) is not on the PCI "
                                     "bus after the VF phase", "see dmesg; `pcipass sriov list "
                                     f"{vf.pf}` shows the VFs the host has")
            self.written = declared
            return declared

        edit(self.host, "pcipass_state", change, warn=self.warn)
        return self.written

    def put_back(self):
        """The file as it was before the task's first write (absent if there was none),
        unless another pcipass changed it after the task's last write; True when it is as
        it was before the task."""
        if self.written is None:
            return True
        kept = []

        def plan(_facts):
            if load(self.host) != self.written:
                kept.append(True)
                return Plan("pcipass_state (put back)", (), ("the declared state was changed "
                                                             "by another pcipass meanwhile",))
            text = render(self.prior) if self.existed else None
            return Plan("pcipass_state (put back)",
                        (file_step(self.host, STATE_FILE, text, "put back the declared state"),))

        execute(self.host, plan, False, self.warn)
        return not kept


def _apply(host, result, declaring, warn):
    """One `pcipass apply`; on failure the state file is put back when nothing ran."""
    runs = []
    try:
        applied = apply(host, warn, then=runs.append)
    except PcipassError as exc:
        if any(o.done for o in result.applied + runs):
            exc.what += " (the declared state keeps the task's items, so a rerun retries)"
        elif declaring.put_back():
            exc.what += " (the declared state was put back as it was)"
        else:
            exc.what += (" (the declared state keeps the task's items: another pcipass "
                         "changed it meanwhile)")
        raise
    result.applied += runs
    result.files += applied.files
