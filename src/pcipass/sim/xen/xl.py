"""The simulated `xl`: its verb table over the assignable and domain verbs, and `xl info`.

Only `SimHost.run` imports this module; the verbs live in `assignable` and `domains` and work
on an `XlContext`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcipass.sim.boot_log import XEN_COMMANDLINE, xen_console
from pcipass.sim.kernel import SimKernel
from pcipass.sim.kernel.state import RELEASE
from pcipass.sim.output import Output
from pcipass.sim.xen import assignable, domains, memory
from pcipass.sim.xen.context import XlContext


def info(ctx: XlContext, args: list[str]) -> None:
    """xl info: the lab's Xen 4.17 host."""
    caps = "pv hvm hvm_directio pv_directio shadow gnttab-v1 gnttab-v2"
    if not ctx.xen["iommu"]:
        caps = "pv hvm shadow gnttab-v1 gnttab-v2"
    mem = ctx.xen["memory_mb"]
    rows = [
        ("host", "xen-sim"),
        ("release", RELEASE),
        ("machine", "x86_64"),
        ("nr_cpus", str(ctx.xen["nr_cpus"])),
        ("nr_nodes", "1"),
        ("virt_caps", caps),
        ("total_memory", str(mem)),
        ("free_memory", str(memory.free_mb(ctx.xen))),
        ("xen_major", "4"),
        ("xen_minor", "17"),
        ("xen_extra", ".7"),
        ("xen_version", "4.17.7"),
        ("xen_caps", "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 "),
        ("xen_commandline", ctx.xen.get("commandline", XEN_COMMANDLINE)),
        ("xl_version", "4.17.7"),
    ]
    ctx.res.out.extend(f"{k:<23}: {v}" for k, v in rows)


def dmesg(ctx: XlContext, args: list[str]) -> None:
    """xl dmesg: Xen's console ring (the boot lines the lab printed, then what happened)."""
    ring = ctx.xen.get("console")
    iommu = ctx.xen.get("iommu_vendor", "intel") if ctx.xen["iommu"] else "none"
    ctx.res.out.extend(ring if ring is not None else xen_console(iommu))


VERBS: dict[str, Callable[[XlContext, list[str]], None]] = {
    "pci-assignable-add": assignable.add,
    "pci-assignable-list": assignable.list_assignable,
    "pci-assignable-remove": assignable.remove,
    "info": info,
    "dmesg": dmesg,
    "create": domains.create,
    "destroy": domains.destroy,
    "list": domains.list_domains,
    "pci-attach": domains.pci_attach,
    "pci-detach": domains.pci_detach,
    "pci-list": domains.pci_list,
}


class Xl:
    """One `xl` invocation over the simulated kernel and Xen state."""

    def __init__(self, kernel: SimKernel, xen: dict[str, Any]) -> None:
        self.ctx = XlContext(kernel, xen)

    def run(self, args: list[str]) -> Output:
        cmd, rest = (args[0], args[1:]) if args else ("", [])
        verb = VERBS.get(cmd)
        if verb is None:
            self.ctx.fail(1, f"command not implemented in the simulated host: xl {cmd}")
        else:
            verb(self.ctx, rest)
        return self.ctx.res
