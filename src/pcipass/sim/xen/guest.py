"""The simulated PV guest's own view of its PCI devices: the console lines labs/xen/domu-init
prints (xenconsoled logs them to /var/log/xen/console/guest-NAME.log), written each time the
set of devices the guest sees changes.

As the Xen lab shows: xen-pcifront puts each device at the first free virtual slot of bus
0000:00, keeping its function (the e1000e at 0000:00:00.0, a VF next at 0000:00:01.x);
once the guest's last device is detached pcifront tears its bus down, and a device attached
after that never appears in the guest (its log says `pciback not responding!!!`).
"""

from __future__ import annotations

from typing import Any

from pcipass.host import paths
from pcipass.sim.kernel.state import RELEASE
from pcipass.sim.xen.context import XlContext

LOG = "var/log/xen/console/guest-{name}.log"


def _append(ctx: XlContext, dom: dict[str, Any], lines: list[str]) -> None:
    path = ctx.kernel.root / LOG.format(name=dom["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))


def boot(ctx: XlContext, dom: dict[str, Any]) -> None:
    """The guest starts: pcifront loaded, no device yet."""
    dom["guest"] = {"slots": {}, "closed": False}
    path = ctx.kernel.root / LOG.format(name=dom["name"])
    path.unlink(missing_ok=True)  # xenconsoled starts a domain's log afresh
    _append(ctx, dom, [f"DOMU: up, kernel {RELEASE}", "DOMU: insmod xen-pcifront.ko ok",
                       "DOMU: t=0s PCI devices: []"])


def _read(ctx: XlContext, bdf: str, attr: str) -> str:
    try:
        return (ctx.kernel.root / paths.dev(bdf, attr)).read_text().strip()
    except OSError:
        return ""


def changed(ctx: XlContext, dom: dict[str, Any]) -> None:
    """The domain's devices changed: the guest's bus follows, and it prints its new view."""
    view = dom.get("guest")
    if view is None:
        return
    slots: dict[str, str] = view["slots"]
    if view["closed"]:
        _append(ctx, dom, ["pcifront pci-0: pciback not responding!!!"])
        return
    for bdf in [b for b in slots if b not in dom["pci"]]:
        del slots[bdf]
    for bdf in dom["pci"]:
        if bdf not in slots:
            used = {int(g[8:10], 16) for g in slots.values()}
            free = next(i for i in range(32) if i not in used)
            slots[bdf] = f"0000:00:{free:02x}.{bdf[-1]}"
    if not slots:
        view["closed"] = True
    seen = sorted(slots.items(), key=lambda kv: kv[1])
    lines = ["DOMU: t=0s PCI devices: [" + "".join(f"{g} " for _, g in seen) + "]"]
    for bdf, gbdf in seen:
        vendor, device = _read(ctx, bdf, "vendor"), _read(ctx, bdf, "device")
        lines.append(f"DOMU-PCI: {gbdf} {vendor.removeprefix('0x')}:"
                     f"{device.removeprefix('0x')} class={_read(ctx, bdf, 'class')}")
    _append(ctx, dom, lines)
