"""`sriov enable --method module`: reload the PF's driver with its VF parameter. Pure.

`modprobe -r DRIVER` then `modprobe DRIVER max_vfs=N` (`pcipass.model.vf_params` says which
drivers take which parameter; the others are refused). Unloading takes down every device
the module drives and removes the PF's VFs, so the plan is refused while a VF is in use,
and, unless `--reload-other-devices`, while the module drives any other device. The
parameter applies to every PF the module probes. Undo reloads the module without the
parameter and writes the previous VF count back through `sriov_numvfs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pcipass.errors import InputError, OperationError
from pcipass.host import paths
from pcipass.model.device import Device
from pcipass.model.vf_params import SYSFS_INSTEAD, vf_param
from pcipass.ops.assign import HostFacts
from pcipass.ops.sriov import (
    EnableRequest,
    autoprobe_step,
    check_count,
    count_checks,
    forget_removed,
    need_driver,
    refuse_removal,
    sriov_pf,
    write_count,
)
from pcipass.run.plan import Action, Check, CheckKind, Plan, Step

RELOAD_OTHERS = "--reload-other-devices"


def refuse_reload_without_module(method: str, reload_others: bool) -> None:
    """An `InputError` when `RELOAD_OTHERS` comes with a method other than module."""
    if reload_others and method != "module":
        raise InputError(f"{RELOAD_OTHERS} applies to --method module only",
                         f"add --method module, or leave out {RELOAD_OTHERS}")


def module_plan(facts: HostFacts, req: EnableRequest,
                saved: Mapping[str, Mapping[str, Any]] | None = None) -> Plan:
    """The plan that reloads the PF's driver with `req.vfs` VFs, or a refusal; `saved`: the
    VF settings pcipass saved, forgotten for every VF the reload removes."""
    pf = sriov_pf(facts.model, req.pf)
    assert pf.sriov is not None  # sriov_pf checked it
    check_count(pf, req.vfs)
    need_driver(pf)
    driver = pf.driver or ""
    param = vf_count_param(driver, req.vfs)
    module = facts.modules.get(driver)
    if module is None:
        raise OperationError(
            f"{driver} (the driver of {pf.bdf}) is built into the kernel: it cannot be reloaded",
            f"{SYSFS_INSTEAD}, or boot with {driver}.{param}={req.vfs}")
    bdf = str(pf.bdf)
    current = pf.sriov.num_vfs or 0
    command = f"sriov enable {bdf} --vfs {req.vfs} --method module"
    if current == req.vfs and req.autoprobe in (None, pf.sriov.drivers_autoprobe):
        return Plan(command, (), (f"{bdf} already has {current} VFs enabled",))
    others = _others(facts, pf, module)
    for dev in (pf, *others):
        if dev.sriov is not None and dev.sriov.num_vfs:
            refuse_removal(facts, dev, f"reload {module} (`modprobe -r {module}` removes "
                           f"the VFs of {dev.bdf})")
    if others and not req.reload_others:
        raise OperationError(
            f"refusing to reload {module}: `modprobe -r {module}` also takes down "
            + "; ".join(_describe(d) for d in others),
            f"pass {RELOAD_OTHERS} to reload them too, or {SYSFS_INSTEAD}")
    steps: list[Step] = []
    lost: tuple[str, ...] = ()
    for dev in (pf, *others):
        if dev.sriov is not None and dev.sriov.num_vfs:
            forget, note = forget_removed(dev, saved or {})
            steps += forget
            lost += note
    steps.append(_unload(module, pf, others))
    probe = pf.sriov.drivers_autoprobe
    if req.autoprobe is not None and req.autoprobe != probe:
        steps.append(autoprobe_step(pf, req.autoprobe))
        probe = req.autoprobe
    steps.append(_load(module, f"{param}={req.vfs}", pf, others, req.vfs, probe))
    pfs = [d for d in others if d.sriov is not None]
    notes = (f"{param}={req.vfs} applies to every PF {module} drives: "
             + ", ".join(str(d.bdf) for d in pfs) + " will have VFs too",) if pfs else ()
    return Plan(command, tuple(steps), (*notes, *lost))


def vf_count_param(driver: str, vfs: int) -> str:
    """The driver's VF parameter, or an `InputError` when it has none or `vfs` is too many."""
    entry = vf_param(driver)
    if entry is None:
        raise InputError(f"pcipass does not know whether {driver} takes a VF count as a module "
                         "parameter (it knows igb and ixgbe)", SYSFS_INSTEAD)
    if entry.param is None:
        raise InputError(f"{driver} takes no max_vfs parameter: the kernel would load it with "
                         f"\"{driver}: unknown parameter 'max_vfs' ignored\" and make no VF",
                         entry.why)
    if vfs > entry.limit:
        raise InputError(f"--vfs {vfs} is more than {driver}'s {entry.param} takes "
                         f"({entry.limit}); above it {driver} {entry.above}",
                         f"use 1-{entry.limit}, or {SYSFS_INSTEAD}")
    return entry.param


def _others(facts: HostFacts, pf: Device, module: str) -> list[Device]:
    """The other devices bound to a driver of `module` (reloading it takes them down)."""
    return [d for _, d in sorted(facts.model.devices.items())
            if d.bdf != pf.bdf and d.driver and facts.modules.get(d.driver) == module]


def _describe(dev: Device) -> str:
    """`BDF (on DRIVER, interface eno1 carries the host's traffic)`."""
    parts = [f"on {dev.driver}"]
    for net in dev.net:
        parts.append(f"interface {net.name}"
                     + (" carries the host's traffic" if net.carries_traffic else ""))
    return f"{dev.bdf} ({', '.join(parts)})"


def _on(dev: Device) -> Check:
    return Check(CheckKind.DRIVER, str(dev.bdf), value=dev.driver)


def _run(why: str, bdf: str, argv: tuple[str, ...], expect: tuple[Check, ...],
         undo: tuple[Step, ...] = ()) -> Step:
    return Step(Action.RUN, why, bdf=bdf, argv=argv, expect=expect, undo=undo)


def _unload(module: str, pf: Device, others: list[Device]) -> Step:
    """`modprobe -r MODULE`: the driver, the PF's VFs and the other devices' driver go.
    Undone by loading it without the parameter, then writing each PF's previous count."""
    bdf = str(pf.bdf)
    gone = tuple(Check(CheckKind.DRIVER, str(d.bdf), value=None) for d in (pf, *others))
    back: list[Step] = [_run(f"load {module} again without a VF parameter", bdf,
                             ("modprobe", module), tuple(_on(d) for d in (pf, *others)))]
    for dev in (pf, *others):
        if dev.sriov is not None and dev.sriov.num_vfs:
            restore = write_count(dev, dev.sriov.num_vfs, 0, dev.sriov.drivers_autoprobe)
            back.append(replace(restore, why=f"enable the previous {dev.sriov.num_vfs} VFs "
                                f"on {dev.bdf}", undo=()))
    current = pf.sriov.num_vfs or 0 if pf.sriov is not None else 0
    return _run(f"unload {module} (it drives {bdf})", bdf, ("modprobe", "-r", module),
                (*gone, _unloaded(pf), *count_checks(pf, 0, current, None)), tuple(back))


def _unloaded(pf: Device) -> Check:
    """The PF's driver is gone from sysfs (its module is unloaded)."""
    return Check(CheckKind.ABSENT, path=paths.drv(pf.driver or ""))


def _load(module: str, param: str, pf: Device, others: list[Device], vfs: int,
          autoprobe: bool | None) -> Step:
    """`modprobe MODULE max_vfs=N`: the PF (and the others) back on the driver, N VFs.
    Undone by unloading it again."""
    bdf = str(pf.bdf)
    expect = (*(_on(d) for d in (pf, *others)), *count_checks(pf, vfs, 0, autoprobe))
    undo = _run(f"unload {module} again", bdf, ("modprobe", "-r", module),
                (Check(CheckKind.DRIVER, bdf, value=None), _unloaded(pf)))
    return _run(f"load {module} with {param}: {bdf} creates {vfs} VFs", bdf,
                ("modprobe", module, param), expect, (undo,))
