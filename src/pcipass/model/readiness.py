"""Why a device is, or is not, ready for passthrough — a pure function over the model.

Each `Finding` is one fact with a severity: ``blocker`` (passing it through would
break the host or cannot work), ``warning`` (works, with a cost the user should
know), ``info``. A device is ready when nothing blocks it. The blockers are the
rows of `pcipass.model.rules` that `assignable add` refuses, each with the flag
that lifts it: `show` says what `add` (backend auto, no flags) will do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pcipass.model.device import PASSTHROUGH_DRIVERS, Device, HostModel, Status
from pcipass.model.rules import (
    BY_CODE,
    GROUP_RULE,
    Code,
    Severity,
    group_busy,
    member_violations,
    violations,
)

BLOCKER = Severity.BLOCKER
WARNING = Severity.WARNING
INFO = Severity.INFO


@dataclass(frozen=True)
class Finding:
    code: Code
    severity: Severity
    message: str
    flag: str | None = None
    """For a blocker: the `assignable add` flag that lifts it (None: nothing does)."""

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "override": self.flag}


@dataclass(frozen=True)
class Readiness:
    ready: bool
    findings: tuple[Finding, ...]

    @property
    def blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == BLOCKER)


def assess(model: HostModel, dev: Device, host_refusal: str | None = None) -> Readiness:
    """Every finding for `dev`, blockers first; `host_refusal`: why `assignable add` refuses
    every device of this host (no IOMMU for its backend), a blocker no flag lifts."""
    rules = violations(dev)
    found = (
        [Finding(Code.NO_IOMMU, BLOCKER, host_refusal)] if host_refusal else []
    ) + (
        [_of(v.rule.code, v.hit.finding) for v in rules if v.rule.scope in ("kind", "net", "block")]
        + _group(model, dev)
        + _reset(dev)
        + [_of(v.rule.code, v.hit.finding) for v in rules if v.rule.scope == "sriov"]
        + _vf(model, dev)
        + _holder(dev)
        + _unknown(dev)
    )
    order = {BLOCKER: 0, WARNING: 1, INFO: 2}
    found.sort(key=lambda f: order[f.severity])
    return Readiness(not any(f.severity == BLOCKER for f in found), tuple(found))


def _of(code: Code, message: str) -> Finding:
    """A finding of a rules-table row: its severity and flag come from the table."""
    rule = BY_CODE[code]
    return Finding(code, rule.severity, message, rule.flag if rule.refuses else None)


def _group(model: HostModel, dev: Device) -> list[Finding]:
    """With IOMMU groups (the vfio backend): a group is viable only when every other
    non-bridge member is on vfio-pci, pci-stub or none; `--group` moves the others,
    and then their own blockers count."""
    if dev.iommu_group is None:
        if model.iommu_enabled:
            return [Finding(Code.NO_GROUP, WARNING, f"{dev.bdf} has no IOMMU group")]
        return [
            Finding(
                Code.NO_IOMMU_GROUPS,
                INFO,
                "no IOMMU groups: the IOMMU is off, or Xen owns it (dom0) — ask Xen (xl info)",
            )
        ]
    busy = group_busy(model, [dev])
    if not busy:
        return []
    names = ", ".join(f"{o.bdf} ({o.driver})" for o in busy.values())
    found = [_of(GROUP_RULE.code, f"IOMMU group {dev.iommu_group} also holds {names}: "
                                  "they go to the guest together")]
    for member in busy.values():
        found += [_of(v.rule.code, v.hit.finding)
                  for v in member_violations(dev.iommu_group, str(dev.bdf), member)]
    return found


def _reset(dev: Device) -> list[Finding]:
    r = dev.reset
    if r.flr or r.af_flr:
        return [Finding(Code.RESET_FLR, INFO, "function-level reset available")]
    if r.methods and set(r.methods) <= {"bus", "cxl_bus"}:
        return [
            Finding(
                Code.RESET_BUS_ONLY,
                WARNING,
                "only a bus reset: it also resets every other function below the same bridge",
            )
        ]
    if r.methods:
        return [Finding(Code.RESET_METHOD, INFO, f"kernel reset methods: {', '.join(r.methods)}")]
    if r.flr is None:
        return [
            Finding(
                Code.RESET_UNKNOWN, WARNING, "reset capability unknown (config space unreadable)"
            )
        ]
    return [
        Finding(
            Code.NO_FLR,
            WARNING,
            "no function-level reset: state may leak between guests"
            " (a bus reset also resets its siblings)",
        )
    ]


def _vf(model: HostModel, dev: Device) -> list[Finding]:
    if dev.physfn is not None:
        pf = model.devices.get(dev.physfn)
        if pf is None or pf.driver is None:
            return [Finding(Code.VF_PF_UNBOUND, WARNING, f"its PF {dev.physfn} has no driver")]
    return []


def _holder(dev: Device) -> list[Finding]:
    if dev.status in PASSTHROUGH_DRIVERS.values():
        return [Finding(Code.ASSIGNABLE, INFO, f"already on {dev.driver}")]
    if dev.status is Status.HOST:
        return [Finding(Code.HOST_DRIVER, INFO, f"bound to host driver {dev.driver}")]
    return []


def _unknown(dev: Device) -> list[Finding]:
    if not dev.unknown:
        return []
    return [Finding(Code.UNREADABLE, WARNING, f"could not read: {', '.join(dev.unknown)}")]
