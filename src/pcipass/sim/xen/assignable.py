"""`xl pci-assignable-add/-list/-remove` as libxl 4.17 runs them (tools/libs/light/libxl_pci.c,
tools/xl/xl_pci.c), step by step, with libxl's messages, source line numbers and exit codes as
the project's Xen lab shows them; the sysfs writes go through the simulated kernel.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
from dataclasses import asdict

from pcipass.host import paths
from pcipass.sim.kernel.state import WriteError
from pcipass.sim.xen.context import XlContext, libxl_pci_path, read_bdf

PCIBACK = f"/{paths.drv('pciback')}"


def sysfs_write_bdf(ctx: XlContext, path: str, bdf: str) -> int | None:
    """libxl's sysfs_write_bdf: 0, the errno of a refused write, or None if the file is missing
    (errors logged with errno text)."""
    rel = path.lstrip("/")
    if not os.path.exists(ctx.kernel.root / rel):
        ctx.log("error", 371, "sysfs_write_bdf", f"Couldn't open {path}: No such file or directory")
        return None
    try:
        ctx.kernel.write(rel, bdf)
    except WriteError as exc:
        msg = os.strerror(exc.errno)
        ctx.log("error", 380, "sysfs_write_bdf", f"write to {path} returned -1: {msg}")
        return exc.errno
    return 0


def _pciback_loaded(ctx: XlContext, line: int) -> bool:
    if os.path.isdir(ctx.kernel.root / PCIBACK.lstrip("/")):
        return True
    ctx.log("error", line, "pciback_dev_is_assigned", "Looks like pciback driver is not loaded")
    return False


def _has_slot(ctx: XlContext, bdf: str) -> bool:
    return bdf in ctx.kernel.state.pciback_slots


def _driver_realpath(ctx: XlContext, bdf: str) -> str | None:
    link = ctx.kernel.root / paths.dev(bdf, "driver")
    if not os.path.lexists(link):
        return None
    real = os.path.realpath(link)
    return "/" + os.path.relpath(real, os.path.realpath(ctx.kernel.root))


# -- pci-assignable-add --------------------------------------------------------
def add(ctx: XlContext, args: list[str]) -> None:
    """xl pci-assignable-add [-n NAME] BDF."""
    name: str | None = None
    rest: list[str] = []
    it = iter(args)
    for a in it:
        if a in ("-n", "--name"):
            name = next(it, None)
        elif a.startswith("--name="):
            name = a.split("=", 1)[1]
        else:
            rest.append(a)
    if not ctx.has_args("pci-assignable-add", rest):
        return
    bdf = ctx.parse_bdf_arg("pci-assignable-add", rest[0], "BDF")
    if bdf is not None:
        ctx.res.code = 0 if _add(ctx, bdf, name) else 1


def _add(ctx: XlContext, bdf: str, name: str | None) -> bool:
    func = "libxl__device_pci_assignable_add"
    if name is not None:
        if len(name) > 64:
            ctx.log("error", 777, func, "Name too long")
            return False
        if not all("!" <= c <= "~" for c in name):
            ctx.log("error", 783, func, "Names may only include printable characters")
            return False
    if not os.path.lexists(ctx.kernel.root / paths.dev(bdf)):
        ctx.log("error", 792, func, f"Couldn't lstat /{paths.dev(bdf)}: "
                "No such file or directory")  # fmt: skip
        return False
    if not _pciback_loaded(ctx, 693):
        return False
    if ctx.kernel.driver_of(bdf) == "pciback":
        ctx.log("warning", 802, func, f"{bdf} already assigned to pciback")
    else:
        driver_path = _driver_realpath(ctx, bdf)
        if driver_path is not None and sysfs_write_bdf(ctx, f"{driver_path}/unbind", bdf) != 0:
            return False
        _killed_after(ctx, "unbind")
        if driver_path:
            ctx.xs.write(libxl_pci_path(bdf, "driver_path"), driver_path)
            _killed_after(ctx, "driver_path")
        elif (old := ctx.xs.read(libxl_pci_path(bdf, "driver_path"))) is not None:
            ctx.log("info", 819, func, f"{bdf} not bound to a driver, will be rebound to {old}")
        else:
            ctx.log("warning", 822, func, f"{bdf} not bound to a driver, will not be rebound.")
        if not _pciback_assign(ctx, bdf):
            ctx.log("error", 830, func, "Couldn't bind device to pciback!")
            return False
        _killed_after(ctx, "bind")
    if name is not None:
        ctx.xs.write(libxl_pci_path(bdf, "name"), name)
    else:
        ctx.xs.rm(libxl_pci_path(bdf, "name"))
    if not ctx.xen["iommu"]:
        ctx.log("error", 848, func, f"failed to quarantine {bdf}")
        return False
    if bdf not in ctx.xen["quarantined"]:
        ctx.xen["quarantined"].append(bdf)
    return True


def _killed_after(ctx: XlContext, step: str) -> None:
    """Test hook: `PCIPASS_TEST_KILL=xl-add:<step>` (unbind, driver_path, bind) SIGKILLs
    the process right after that inner step of libxl's assignable_add, before the
    quarantine, keeping what was done so far as real xl would (the state is saved first)."""
    if os.environ.get("PCIPASS_TEST_KILL") != f"xl-add:{step}":
        return
    state = ctx.kernel.root.parent / "sim.json"
    data = json.loads(state.read_text(encoding="utf-8"))
    data["kernel"], data["xen"] = asdict(ctx.kernel.state), ctx.xen
    state.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.kill(os.getpid(), signal.SIGKILL)


def _pciback_assign(ctx: XlContext, bdf: str) -> bool:
    steps = [] if _has_slot(ctx, bdf) else [(723, "new_slot")]
    for line, attr in [*steps, (729, "bind")]:
        err = sysfs_write_bdf(ctx, f"{PCIBACK}/{attr}", bdf)
        if err != 0:
            ctx.log("error", line, "pciback_dev_assign",
                    f"Couldn't bind device to pciback!: {os.strerror(err or 0)}")  # fmt: skip
            return False
    return True


# -- pci-assignable-list ------------------------------------------------------------
def list_assignable(ctx: XlContext, args: list[str]) -> None:
    """xl pci-assignable-list [-n]: pciback's devices that no domain holds."""
    show_names = any(a in ("-n", "--show-names") for a in args)
    pciback = ctx.kernel.root / PCIBACK.lstrip("/")
    if not pciback.is_dir():
        ctx.log("error", 444, "libxl_device_pci_assignable_list",
                "Looks like pciback driver not loaded")  # fmt: skip
        return
    for entry in sorted(os.listdir(pciback)):
        bdf = read_bdf(entry)
        if bdf is None or bdf != entry:
            continue
        if ctx.xs.read(libxl_pci_path(bdf, "domid")) is not None:
            continue
        label = (ctx.xs.read(libxl_pci_path(bdf, "name")) or "") if show_names else ""
        ctx.res.out.append(f"{bdf} {label}")


# -- pci-assignable-remove ------------------------------------------------------------
def remove(ctx: XlContext, args: list[str]) -> None:
    """xl pci-assignable-remove [-r] BDF|NAME."""
    rebind = "-r" in args
    rest = [a for a in args if a != "-r"]
    if not ctx.has_args("pci-assignable-remove", rest):
        return
    bdf = _name2bdf(ctx, rest[0]) or ctx.parse_bdf_arg("pci-assignable-remove", rest[0], "BDF")
    if bdf is not None:
        ctx.res.code = 0 if _remove(ctx, bdf, rebind) else 1


def _name2bdf(ctx: XlContext, name: str) -> str | None:
    for key in ctx.xs.directory("/libxl/pci") or []:
        m = re.fullmatch(r"([0-9a-f]{4})-([0-9a-f]{2})-([0-9a-f]{2})-([0-7])", key)
        if m and ctx.xs.read(f"/libxl/pci/{key}/name") == name:
            return f"{m.group(1)}:{m.group(2)}:{m.group(3)}.{m.group(4)}"
    return None


def _remove(ctx: XlContext, bdf: str, rebind: bool) -> bool:
    func = "libxl__device_pci_assignable_remove"
    if bdf not in ctx.xen["quarantined"]:
        ctx.log("error", 906, func, f"failed to de-quarantine {bdf}")
        return False
    ctx.xen["quarantined"].remove(bdf)
    if not _pciback_loaded(ctx, 693):
        return False
    if ctx.kernel.driver_of(bdf) == "pciback":
        sysfs_write_bdf(ctx, f"{PCIBACK}/unbind", bdf)
        if _has_slot(ctx, bdf):
            sysfs_write_bdf(ctx, f"{PCIBACK}/remove_slot", bdf)
    else:
        ctx.log("warning", 917, func, "Not bound to pciback")
    driver_path = ctx.xs.read(libxl_pci_path(bdf, "driver_path"))
    if driver_path is not None and rebind:
        ctx.log("info", 925, func, f"Rebinding to driver at {driver_path}")
        err = sysfs_write_bdf(ctx, f"{driver_path}/bind", bdf)
        if err != 0:
            ctx.log("error", 930, func, f"Couldn't bind device to {driver_path}: "
                    f"{os.strerror(err or errno.ENODEV)}")  # fmt: skip
            return False
        ctx.xs.rm(libxl_pci_path(bdf, "driver_path"))
    elif driver_path is None and rebind:
        ctx.log("warning", 938, func, "Couldn't find path for original driver; not rebinding")
    ctx.xs.rm(libxl_pci_path(bdf, "name"))
    return True
