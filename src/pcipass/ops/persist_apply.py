"""`apply`: converge the host to its declared state, one journalled plan per phase.

After the phases (not at boot), the boot files are installed (`ops.boot_files`) with the
programs they need (`update-initramfs -u`) as one more journalled plan: when a program
fails, the files are put back as they were.

Each phase (`persist.PHASES`: the VF counts, the VF settings, the assignable devices) runs
through
`run.session.execute` like a single command: lock → recover → plan on fresh facts (and
the PFs' VF settings, `vf_links`) → journal → run → verify, undone whole when a step
fails. A phase is planned after the one before ran and its new VFs settled. When a later
one fails, the earlier stay done, and the error says so. A declared device that is gone
or was replaced, or a PF that cannot have its declared VFs, stops the whole apply before
anything runs; at boot (`boot=True`) the rest is applied and `skipped_error` names each
such device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from pcipass.address import PciAddress
from pcipass.errors import OperationError, PcipassError
from pcipass.host.base import Host
from pcipass.host.netlink import VfState
from pcipass.model.declared import Declared
from pcipass.model.discovery import discover
from pcipass.ops.assign import HostFacts
from pcipass.ops.boot_files import FileChange, boot_plan, changes
from pcipass.ops.facts import gather_facts
from pcipass.ops.persist import BLOCKING, PHASES, ItemState, VfLinks, phase_plan, states
from pcipass.ops.persist_store import load
from pcipass.run.executor import Fault, Outcome
from pcipass.run.plan import Plan
from pcipass.run.session import Warn, execute
from pcipass.run.settle import wait_settled
from pcipass.run.vf_snapshots import VfSnapshots

FORGET_FIX = ("`pcipass state forget BDF` for a device that is gone or was replaced "
              "(then declare the new one); `pcipass state set-vfs PF N` for a PF that has "
              "fewer VFs")


@dataclass
class Applied:
    """What an apply did: each phase's outcome, and the items it left alone."""

    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[ItemState] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)


def boot_facts(host: Host) -> HostFacts:
    """The facts, with each device's modules (the boot files name them)."""
    return gather_facts(host, discover(host, names=False, modules=True))


def vf_links(host: Host, facts: HostFacts, declared: Declared) -> VfLinks:
    """The VF states of each PF with declared VF settings, and the saved originals."""
    found: dict[str, list[VfState] | None] = {}
    for v in declared.vfs:
        parsed = PciAddress.try_parse(v.pf)
        pf = facts.model.get(parsed) if parsed and v.settings else None
        if pf is not None and pf.net:
            found[pf.net[0].name] = host.vf_states(pf.net[0].name)
    return VfLinks(found, VfSnapshots(host).all())


def apply(host: Host, warn: Warn, boot: bool = False, fault: Fault | None = None,
          then: Callable[[Outcome], None] | None = None) -> Applied:
    """Converge `host` to its declared state (see the module's docstring)."""
    declared = load(host)
    facts = boot_facts(host)
    blocked = [s for s in states(facts, declared) if s.status in BLOCKING]
    if not boot:
        changes(host, facts, declared)  # a boot file that is not pcipass's: refused first
    if blocked and not boot:
        raise OperationError("the declared state does not fit the host, nothing was applied: "
                             + "; ".join(s.line() for s in blocked), FORGET_FIX)
    applied = Applied(skipped=blocked)
    for message in (s.line() for s in blocked):
        warn(f"not applied: {message}")
    for phase in PHASES:
        try:
            result = execute(host, partial(_phase, host, declared, phase), False, warn,
                             fault=fault)
        except PcipassError as exc:
            if applied.outcomes and any(o.done for o in applied.outcomes):
                done = "; ".join(o.plan.command for o in applied.outcomes if o.done)
                exc.what = f"{exc.what} (the {phase} phase changed nothing; already applied " \
                           f"and kept: {done})"
            raise
        assert result.outcome is not None
        outcome = result.outcome
        if phase == "vfs":  # the PFs given VFs (sriov_numvfs, or their driver reloaded)
            made = {v.pf for v in declared.vfs if v.count}
            for pf in dict.fromkeys(s.bdf for s in outcome.done if s.bdf in made):
                outcome.warnings += wait_settled(host, pf)
        if then is not None:
            then(outcome)
        applied.outcomes.append(outcome)
    if not boot:
        found: list[FileChange] = []

        def files_plan(_facts: HostFacts) -> Plan:
            found[:] = changes(host, boot_facts(host), declared)
            return boot_plan(host, found)

        try:
            result = execute(host, files_plan, False, warn, fault=fault)
        except PcipassError as exc:
            exc.what = f"{exc.what} (the boot files were put back as they were; the VF counts " \
                       "and devices stay applied)"
            raise
        assert result.outcome is not None
        applied.files = [c for c in found if c.changed]
        if then is not None:
            then(result.outcome)
        applied.outcomes.append(result.outcome)
    return applied


def _phase(host: Host, declared: Declared, phase: str, facts: HostFacts) -> Plan:
    return phase_plan(facts, declared, phase, vf_links(host, facts, declared))


def skipped_error(applied: Applied) -> OperationError | None:
    """The failure of an apply at boot that left declared items alone (None: it did not)."""
    if not applied.skipped:
        return None
    return OperationError("applied the rest of the declared state, but not: "
                          + "; ".join(s.line() for s in applied.skipped), FORGET_FIX)
