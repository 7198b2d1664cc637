"""The per-device checks of `doctor`: `pcipass.model`'s own answers (rules, readiness,
usage, IOMMU groups), worded as rows. Pure."""

from __future__ import annotations

from pcipass.model import drivers
from pcipass.model.device import Device
from pcipass.model.readiness import assess
from pcipass.model.rules import BY_CODE, Code, Severity, group_busy, violations
from pcipass.ops.doctor.facts import DoctorFacts
from pcipass.ops.doctor.logs import hidden_bdfs, modprobe_options, options
from pcipass.ops.doctor.verdict import Verdict, failed, passed, unknown, warned

RESET_CODES = (Code.RESET_FLR, Code.RESET_METHOD, Code.RESET_BUS_ONLY, Code.RESET_UNKNOWN,
               Code.NO_FLR)


def _users(dev: Device) -> str:
    """Who uses the function: its interfaces and disks, as `show` names them."""
    used = [f"{n.name} ({n.operstate or '?'})" for n in dev.net]
    used += [b.name + (f" mounted on {', '.join(m.target for m in b.mounts)}" if b.mounts else "")
             for b in dev.block]
    return ", ".join(used)


def driver(f: DoctorFacts, dev: Device) -> Verdict:
    found = [v for v in violations(dev) if v.rule.scope in ("kind", "net", "block")]
    who = f"driver {dev.driver or 'none'}" + (f", used by {_users(dev)}" if dev.net or dev.block
                                              else "")
    blockers = [v for v in found if v.rule.severity is Severity.BLOCKER]
    if blockers:
        flag = blockers[0].rule.flag
        return failed(f"{who}: " + "; ".join(v.hit.finding for v in blockers),
                      f"free it first, or `pcipass assignable add {flag}` if you mean it"
                      if flag else "this function cannot be passed through")
    if found:
        return warned(f"{who}: " + "; ".join(v.hit.finding for v in found),
                      "check that the host does not need it")
    return passed(who)


def reset(f: DoctorFacts, dev: Device) -> Verdict:
    found = [x for x in assess(f.model, dev).findings if x.code in RESET_CODES]
    evidence = "; ".join(x.message for x in found)
    if dev.reset.methods and not any(x.code is Code.RESET_METHOD for x in found):
        evidence += f" (reset_method: {', '.join(dev.reset.methods)})"
    if any(x.severity is Severity.WARNING for x in found):
        return warned(evidence, "prefer a function with FLR; otherwise give it to one "
                      "guest only, and reboot the host before giving it to another")
    return passed(evidence)


PCIE_TO_PCI = "pcie-to-pci-bridge"


def _upstream(f: DoctorFacts, dev: Device) -> list[Device]:
    """The bridges above `dev`, nearest first."""
    found: list[Device] = []
    at = dev.parent
    while at is not None and (up := f.model.devices.get(at)) is not None and up not in found:
        found.append(up)
        at = up.parent
    return found


def _below(f: DoctorFacts, bridge: Device) -> list[Device]:
    """Every function below `bridge`, in address order."""
    return [d for _, d in sorted(f.model.devices.items())
            if bridge in _upstream(f, d)]


def xen_group(f: DoctorFacts, dev: Device) -> Verdict:
    """Xen's co-assignment: functions behind one PCIe-to-PCI bridge share its requester ID
    and go to one domain together; phantom functions are not checked."""
    bridge = next((b for b in _upstream(f, dev) if b.pcie_type == PCIE_TO_PCI), None)
    if bridge is not None:
        others = [str(d.bdf) for d in _below(f, bridge) if d.bdf != dev.bdf]
        return warned(f"behind the PCIe-to-PCI bridge {bridge.bdf}: Xen assigns it with "
                      + (", ".join(others) if others else "the bridge's requester ID")
                      + " (one requester ID); phantom functions not checked",
                      "assign those devices to the same guest, or none of them elsewhere")
    unread = any(b.pcie_type is None for b in _upstream(f, dev))
    return unknown("dom0: Xen's co-assignment rules are not checked (phantom functions"
                   + (", and devices behind a PCIe-to-PCI bridge: a bridge above it has no "
                      "PCIe type read" if unread else "; no PCIe-to-PCI bridge above it")
                   + "); Linux has no IOMMU groups here")


def group(f: DoctorFacts, dev: Device) -> Verdict:
    if f.kind != "kvm":
        return xen_group(f, dev)
    if dev.iommu_group is None:
        if f.model.iommu_enabled:
            return warned("no IOMMU group", "check the kernel log for why the IOMMU skipped it")
        return failed("no IOMMU groups on this host", "turn the IOMMU on (iommu-sysfs)")
    members = f.model.group_members(dev)
    busy = group_busy(f.model, [dev])
    shown = f"IOMMU group {dev.iommu_group}: " + (
        ", ".join(str(m) for m in members) + " besides it" if members else "alone")
    if busy:
        names = ", ".join(f"{o.bdf} ({o.driver})" for o in busy.values())
        return failed(f"{shown}; {names} keep it from being viable (\"group "
                      f"{dev.iommu_group} is not viable\")",
                      f"`pcipass assignable add {BY_CODE[Code.GROUP_SHARED].flag} {dev.bdf}` "
                      "moves the whole group to vfio-pci")
    return passed(shown)


def sriov(f: DoctorFacts, dev: Device) -> Verdict:
    if dev.physfn is not None:
        pf = f.model.devices.get(dev.physfn)
        if pf is None or pf.driver is None:
            return warned(f"SR-IOV VF of {dev.physfn}, which has no driver",
                          f"bind the PF {dev.physfn} to its driver first")
        return passed(f"SR-IOV VF of {dev.physfn} ({pf.driver})")
    s = dev.sriov
    if s is None:
        return passed("not an SR-IOV PF")
    shown = f"SR-IOV PF: {s.num_vfs or 0}/{s.total_vfs} VFs enabled"
    hits = [v for v in violations(dev) if v.rule.scope == "sriov"]
    if hits:
        return warned(f"{shown}; {hits[0].hit.finding}",
                      "pass a VF instead, or `pcipass sriov disable` the VFs first")
    return passed(shown)


def _hidden_by(f: DoctorFacts, dev: Device) -> list[str]:
    """What hides `dev` from host drivers at boot (pciback's hide, vfio-pci's ids)."""
    bdf = str(dev.bdf)
    ids = f"{dev.vendor_id or 0:04x}:{dev.device_id or 0:04x}"
    found = []
    for word in ("xen-pciback.hide", "xen_pciback.hide"):
        if any(bdf in hidden_bdfs(v) for v in options(f.cmdline, word)):
            found.append(f"{word}= on /proc/cmdline")
    if bdf in hidden_bdfs(f.params.get("xen_pciback.hide") or ""):
        found.append("/sys/module/xen_pciback/parameters/hide")
    for word in ("vfio-pci.ids", "vfio_pci.ids"):
        if any(ids in v.split(",") for v in options(f.cmdline, word)):
            found.append(f"{word}={ids} on /proc/cmdline")
    for file, text in f.modprobe.items():
        if any(bdf in hidden_bdfs(o[5:]) for o in modprobe_options(text, "xen-pciback")
               if o.startswith("hide=")):
            found.append(f"options xen-pciback hide= in {file}")
        if any(ids in o[4:].split(",") for o in modprobe_options(text, "vfio-pci")
               if o.startswith("ids=")):
            found.append(f"options vfio-pci ids={ids} in {file}")
    return found


def boot(f: DoctorFacts, dev: Device) -> Verdict:
    hidden = _hidden_by(f, dev)
    if not hidden:
        return passed("not hidden at boot: a host driver takes it when the host starts")
    if dev.driver is not None and not drivers.is_stub(dev.driver):
        return warned(f"hidden at boot by {'; '.join(hidden)}, yet bound to {dev.driver}: "
                      "the host driver came first",
                      "load the stub first: `softdep <driver> pre: xen-pciback` (or vfio-pci) "
                      "in /etc/modprobe.d, then update-initramfs -u")
    return passed(f"hidden at boot by {'; '.join(hidden)}")


def domain(f: DoctorFacts, dev: Device) -> Verdict:
    if f.kind != "xen":
        return passed("no Xen domains on this host")
    held = f.xen.get(str(dev.bdf))
    if held is not None and held.domid is not None:
        return warned(f"held by domain {held.domid} (libxl /libxl/pci/.../domid)",
                      f"`xl pci-detach {held.domid} {dev.bdf}` before changing it")
    return passed("no domain holds it")
