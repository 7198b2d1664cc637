"""Everything `doctor` reads, gathered once through the `Host` into plain values.

The checks (`pcipass.ops.doctor.checks`, `.devices`) only look at a `DoctorFacts`. A
program that cannot be asked (another host's tree under `--root`, a missing tool, no
permission) leaves its text None with the reason in `why`, and the checks that need
it say "unknown" with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pcipass.host import paths
from pcipass.host.base import CommandFailed, Host, NotThisMachine
from pcipass.host.xen import XenDevice, xen_devices, xenstore_read
from pcipass.model.device import Device, HostModel
from pcipass.ops.doctor.logs import GrubVar, grub_vars

GRUB_DEFAULTS = "etc/default/grub"
GRUB_DROPINS = "etc/default/grub.d"
MODPROBE_DIRS = ("etc/modprobe.d", "lib/modprobe.d", "usr/lib/modprobe.d")
#: Where a host tree may keep the kernel's log when `dmesg` cannot be asked.
KERNEL_LOG_FILES = ("var/log/kern.log", "var/log/dmesg")
DEV_VFIO = "dev/vfio/vfio"
PCIBACK_PERMISSIVE = paths.drv("pciback", "permissive")
#: Module parameters the checks read (module → parameters).
PARAMS = {
    "xen_pciback": ("permissive", "hide"),
    "vfio_iommu_type1": ("allow_unsafe_interrupts",),
}


@dataclass(frozen=True)
class Output:
    """A program's text, or None with the reason it is not known."""

    text: str | None
    why: str = ""
    refused: bool = False
    """True when the host cannot be asked at all (another host's tree)."""


@dataclass(frozen=True)
class Amount:
    """A quantity read from the host, or None with the reason it is not known."""

    value: int | None
    why: str = ""
    fix: str = ""
    refused: bool = False
    """True when the host cannot be asked at all (another host's tree)."""


@dataclass(frozen=True)
class DoctorFacts:
    """What `doctor` read from one host."""

    kind: str
    """``xen`` (a dom0), ``domu`` (a Xen guest) or ``kvm`` (Linux without Xen)."""
    model: HostModel
    devices: tuple[Device, ...] = ()
    """The devices named on the command line."""
    xen_capabilities: str | None = None
    xl_info: Output = Output(None)
    xl_dmesg: Output = Output(None)
    xenstored: Output = Output(None)
    xen_free_below_4gib: Amount = Amount(None)
    """Bytes Xen has free below 4 GiB (`Host.xen_free_below_4gib`)."""
    cmdline: str | None = None
    class_iommu: tuple[str, ...] = ()
    iommu_groups: int = 0
    kernel_log: Output = Output(None)
    modules: frozenset[str] | None = None
    """Every module of the running kernel (modules.dep and modules.builtin, ``_`` for ``-``),
    None when the kernel's module index cannot be read."""
    builtin: frozenset[str] = frozenset()
    loaded: frozenset[str] = frozenset()
    """Entries of sys/module (loaded modules and built-in ones with parameters)."""
    drivers: frozenset[str] = frozenset()
    params: Mapping[str, str | None] = field(default_factory=dict)
    """``module.param`` → value from sys/module (None: not readable)."""
    dev_vfio: bool = False
    permissive: tuple[str, ...] = ()
    """BDFs in pciback's per-device permissive list."""
    grub: tuple[GrubVar, ...] = ()
    grub_files: tuple[str, ...] = ()
    modprobe: Mapping[str, str] = field(default_factory=dict)
    """modprobe.d file → its text."""
    xen: Mapping[str, XenDevice] = field(default_factory=dict)


def _run(host: Host, argv: list[str]) -> Output:
    """A program's stdout, or None and why not."""
    try:
        result = host.run(argv)
    except NotThisMachine:
        return Output(None, f"`{' '.join(argv)}` runs only on the host itself, not on a tree",
                      refused=True)
    except CommandFailed as exc:
        return Output(None, f"`{' '.join(argv)}` could not run: {exc.what}")
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        return Output(None, f"`{' '.join(argv)}` failed: {said[-1] if said else result.returncode}")
    return Output(result.stdout)


def host_kind(host: Host) -> tuple[str, str | None]:
    """(kind, proc/xen/capabilities) of the host: a Xen guest only when xenfs says so (the
    capabilities without control_d); without xenfs, Xen when /sys/hypervisor/type reads
    xen or `xl info` answers (dom0 with xenfs unmounted), else Linux without Xen."""
    caps = host.try_read_text(paths.XEN_CAPABILITIES)
    if caps is not None:
        return ("xen" if "control_d" in caps else "domu"), caps
    if (host.try_read_text(paths.HYPERVISOR_TYPE) or "").strip() == "xen":
        return "xen", None
    if host.runs_programs and _run(host, ["xl", "info"]).text is not None:
        return "xen", None
    return "kvm", None


def _kernel_log(host: Host) -> Output:
    out = _run(host, ["dmesg"])
    if out.text is not None or host.runs_programs:
        return out
    for rel in KERNEL_LOG_FILES:
        text = host.try_read_text(rel)
        if text is not None:
            return Output(text, f"from /{rel}")
    return Output(None, f"{out.why}, and the tree has no {' or '.join(KERNEL_LOG_FILES)}")


def _modules(host: Host) -> tuple[frozenset[str] | None, frozenset[str]]:
    release = host.try_read_text(paths.OSRELEASE)
    if not release:
        return None, frozenset()
    base = f"lib/modules/{release}"
    dep = host.try_read_text(f"{base}/modules.dep")
    builtin_text = host.try_read_text(f"{base}/modules.builtin")
    if dep is None and builtin_text is None:
        return None, frozenset()

    def names(text: str | None, sep: str) -> set[str]:
        out = set()
        for line in (text or "").splitlines():
            path = line.split(sep, 1)[0].strip()
            if path.endswith(".ko") or ".ko." in path:
                out.add(path.rsplit("/", 1)[-1].split(".ko", 1)[0].replace("-", "_"))
        return out

    builtin = frozenset(names(builtin_text, "\n"))
    return frozenset(names(dep, ":") | builtin), builtin


def _grub(host: Host) -> tuple[tuple[GrubVar, ...], tuple[str, ...]]:
    """GRUB's defaults in grub-mkconfig's order: etc/default/grub, then grub.d/*.cfg."""
    files = [GRUB_DEFAULTS] + [f"{GRUB_DROPINS}/{n}" for n in host.listdir(GRUB_DROPINS)
                               if n.endswith(".cfg")]
    found: list[GrubVar] = []
    read = []
    for rel in files:
        text = host.try_read_text(rel)
        if text is not None:
            read.append(rel)
            found += grub_vars(f"/{rel}", text)
    return tuple(found), tuple(read)


def _modprobe(host: Host) -> dict[str, str]:
    out = {}
    for directory in MODPROBE_DIRS:
        for name in host.listdir(directory):
            if name.endswith(".conf"):
                text = host.try_read_text(f"{directory}/{name}")
                if text is not None:
                    out[f"/{directory}/{name}"] = text
    return out


def _xenstored(host: Host) -> Output:
    """xenstored's answer for dom0's name (libxl's xencommons writes "Domain-0")."""
    if not host.runs_programs:
        return Output(None, "xenstored can be asked only on the host itself", refused=True)
    name = xenstore_read(host, "/local/domain/0/name")
    return Output(name) if name is not None else Output(
        None, "`xenstore-read /local/domain/0/name` did not answer")


def _free_below_4gib(host: Host) -> Amount:
    try:
        return Amount(host.xen_free_below_4gib())
    except NotThisMachine:
        return Amount(None, "Xen's heap (xc_availheap) can be asked only on the host itself",
                      refused=True)
    except CommandFailed as exc:
        return Amount(None, exc.what, exc.fix)


def gather(host: Host, model: HostModel, devices: tuple[Device, ...] = ()) -> DoctorFacts:
    """Read every fact the checks need from `host` (`model`: its discovered devices)."""
    kind, caps = host_kind(host)
    xen = kind == "xen"
    modules, builtin = _modules(host)
    grub, grub_files = _grub(host)
    params = {
        f"{m}.{p}": host.try_read_text(f"{paths.MODULES}/{m}/parameters/{p}")
        for m, ps in PARAMS.items() for p in ps
    }
    permissive = (host.try_read_text(PCIBACK_PERMISSIVE) or "").split()
    return DoctorFacts(
        kind=kind,
        model=model,
        devices=devices,
        xen_capabilities=caps,
        xl_info=_run(host, ["xl", "info"]) if xen else Output(None),
        xl_dmesg=_run(host, ["xl", "dmesg"]) if xen else Output(None),
        xenstored=_xenstored(host) if xen else Output(None),
        xen_free_below_4gib=_free_below_4gib(host) if xen else Amount(None),
        cmdline=host.try_read_text(paths.CMDLINE),
        class_iommu=tuple(host.listdir(paths.CLASS_IOMMU)),
        iommu_groups=len(host.listdir(paths.IOMMU_GROUPS)),
        kernel_log=_kernel_log(host),
        modules=modules,
        builtin=builtin,
        loaded=frozenset(host.listdir(paths.MODULES)),
        drivers=frozenset(host.listdir(paths.PCI_DRIVERS)),
        params=params,
        dev_vfio=host.exists(DEV_VFIO),
        permissive=tuple(permissive),
        grub=grub,
        grub_files=grub_files,
        modprobe=_modprobe(host),
        xen=xen_devices(host) if xen and host.runs_programs else {},
    )
