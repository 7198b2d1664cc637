"""`pcipass reset`: FLR, then PM reset, then secondary bus reset — never a bus reset
that would hit other devices in use. Pure: returns the plan.

The kernel's `reset` file tries the methods listed in `reset_method` in order;
the plan narrows that list to the safe methods in FLR → PM → bus order, writes
`1` to `reset`, and puts the original list back.
"""

from __future__ import annotations

from pcipass.errors import InputError, OperationError
from pcipass.host import paths
from pcipass.model import drivers
from pcipass.model.device import Device, HostModel
from pcipass.ops.guards import blocking, detach_hint, reset_refusals
from pcipass.run.plan import Action, Check, CheckKind, Plan, Step

ORDER = ("flr", "af_flr", "pm", "bus")


def supported_methods(dev: Device) -> list[str]:
    """Reset methods the device offers, in FLR → PM → bus order."""
    if dev.reset.methods is not None:
        return [m for m in ORDER if m in dev.reset.methods]
    found = []
    if dev.reset.flr:
        found.append("flr")
    if dev.reset.af_flr:
        found.append("af_flr")
    if dev.reset.pm_no_soft_reset is False:
        found.append("pm")
    if dev.parent is not None:
        found.append("bus")
    return found


def bus_neighbours_in_use(model: HostModel, dev: Device) -> list[Device]:
    """Other functions on the same bus (same parent bridge) that a host driver holds."""
    return [
        d for d in model.devices.values()
        if d.bdf != dev.bdf and d.parent == dev.parent and d.bdf.bus == dev.bdf.bus
        and not drivers.idle(d.driver)
    ]


def reset_plan(
    model: HostModel, bdf: str, domid: int | None = None, overrides: frozenset[str] = frozenset()
) -> Plan:
    """The plan that resets `bdf`, or a refusal naming why it cannot be done safely.
    A device the host itself uses (root disk, mounts, the NIC with the host's address)
    is refused like `assignable add` refuses it, unless `overrides` has its flag; a
    platform function (host bridge, ISA/LPC bridge, SMBus, ...) always is."""
    dev = next((d for d in model.devices.values() if str(d.bdf) == bdf), None)
    if dev is None:
        raise InputError(f"no PCI device {bdf} on this host", "see `pcipass list`")
    if domid is not None:
        raise OperationError(f"{bdf} is attached to domain {domid}",
                             detach_hint(domid, bdf))
    in_use = blocking(reset_refusals(dev), overrides)
    if in_use:
        first = in_use[0]
        fix = f"pass {first.flag} to reset it anyway" if first.flag else "it cannot be overridden"
        raise OperationError(f"refusing to reset {first.line()}", fix)
    if dev.is_bridge:
        raise OperationError(f"{bdf} is a bridge; pcipass resets endpoints only",
                             "reset the devices below it instead")
    if not dev.reset.reset_file:
        raise OperationError(f"the kernel offers no reset for {bdf} (no sysfs `reset` file)",
                             "the device has no FLR, PM or bus reset the kernel can use")
    methods = supported_methods(dev)
    busy = bus_neighbours_in_use(model, dev)
    if "bus" in methods and busy:
        if methods == ["bus"]:
            names = ", ".join(f"{d.bdf} (on {d.driver})" for d in busy)
            raise OperationError(
                f"{bdf} can only be reset with a bus reset, which would also reset {names}",
                "free those devices first (pcipass assignable add, or unload their driver)",
            )
        methods.remove("bus")
    if not methods:
        raise OperationError(f"{bdf} supports no reset method", "nothing pcipass can do")
    reset = Step(Action.WRITE, f"reset {bdf} ({' → '.join(methods)})", bdf=bdf,
                 path=paths.dev(bdf, "reset"), data="1")
    if dev.reset.methods is None:
        return Plan(f"reset {bdf}", (reset,))
    old = " ".join(dev.reset.methods)
    narrow = " ".join(methods)
    if narrow == old:
        return Plan(f"reset {bdf}", (reset,))
    path = paths.dev(bdf, "reset_method")
    restore = Step(Action.WRITE, f"restore reset_method of {bdf}", bdf=bdf, path=path, data=old,
                   expect=(Check(CheckKind.TEXT, path=path, value=old),))
    return Plan(f"reset {bdf}", (
        Step(Action.WRITE, f"allow only {narrow} for {bdf}", bdf=bdf, path=path, data=narrow,
             expect=(Check(CheckKind.TEXT, path=path, value=narrow),), undo=(restore,)),
        reset,
        restore,
    ))
