"""The boot files on a host: what differs from the wanted text, the plan that installs
them and runs the programs that follow (`update-initramfs -u`), `systemctl enable`, and
`boot status`.

A boot file is written (or removed when no longer wanted) by a `put-file` step, atomic and
journalled, undone by putting the old text back; only when it is absent or carries
pcipass's mark in its first line: anything else in its place is refused before anything
is written. The programs are steps of the same plan (refused on another host's tree by
the host layer), so a failing `update-initramfs` puts the files back as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pcipass.errors import InputError
from pcipass.host import paths
from pcipass.host.base import Host
from pcipass.model.declared import Declared
from pcipass.ops.assign import HostFacts
from pcipass.ops.boot import (
    MARK,
    MODPROBE_FILE,
    UDEV_FILE,
    UNIT_FILE,
    UNIT_NAME,
    UNIT_WANTS,
    boot_files,
)
from pcipass.ops.persist import BLOCKING, Status, VfLinks, states
from pcipass.run.plan import Action, Check, CheckKind, Plan, Step, put_file, text_diff

MAX_BOOT_FILE = 1 << 20


@dataclass(frozen=True)
class FileChange:
    """One boot file: its text now (None: absent) and wanted (None: to be removed)."""

    path: str
    old: str | None
    new: str | None
    what: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> list[str]:
        """The unified diff of the change (empty when none)."""
        return text_diff(self.path, self.old, self.new)

    @property
    def action(self) -> str:
        """keep, create, replace or remove."""
        if not self.changed:
            return "keep"
        return "create" if self.old is None else "remove" if self.new is None else "replace"

    def to_json(self) -> dict[str, Any]:
        return {"path": "/" + self.path, "what": self.what, "action": self.action,
                "diff": self.diff()}


def owned_text(host: Host, path: str) -> str | None:
    """The text of boot file `path` (None: absent), refused unless it is pcipass's."""
    if not host.exists(path):
        return None
    data = host.read_user_file("/" + path, MAX_BOOT_FILE).decode("utf-8", errors="replace")
    if data.split("\n", 1)[0] != MARK:
        raise InputError(f"{host.name_of(path)} exists and is not pcipass's (its first line "
                         "is not pcipass's mark)",
                         "move it away or fold it into the declared state; pcipass never "
                         "replaces a file it did not write")
    return data


def changes(host: Host, facts: HostFacts, declared: Declared) -> list[FileChange]:
    """Every boot file as it is and as the declared state wants it."""
    return [FileChange(f.path, owned_text(host, f.path), f.text, f.what)
            for f in boot_files(facts, declared)]


def initrd(host: Host) -> str | None:
    """Host path of the running kernel's initramfs, when it has one."""
    release = host.try_read_text(paths.OSRELEASE)
    path = f"boot/initrd.img-{release}"
    return path if release and host.exists(path) else None


def pciback_builtin(host: Host) -> bool:
    """Whether the running kernel has xen-pciback built in (its modules.builtin lists it):
    then modprobe.d never reaches it, and only dom0's command line hides a device."""
    release = host.try_read_text(paths.OSRELEASE)
    index = host.try_read_text(f"lib/modules/{release}/modules.builtin") if release else None
    return any(line.strip().rsplit("/", 1)[-1] in ("xen-pciback.ko", "xen_pciback.ko")
               for line in (index or "").splitlines())


BUILTIN_PCIBACK = ("xen-pciback is built into this kernel (modules.builtin): "
                   f"/{MODPROBE_FILE} does not reach it, only xen-pciback.hide=(BDF) on dom0's "
                   "command line does (pcipass does not edit the boot loader's files)")


def boot_plan(host: Host, found: list[FileChange]) -> Plan:
    """One plan: a `put-file` step per changed boot file, then `update-initramfs -u` when
    modprobe.d changed and the kernel has an initramfs (which keeps a copy of modprobe.d,
    and may hold the hidden device's driver)."""
    steps = [put_file(c.path, c.new, c.old, f"{_VERBS[c.action]} the {c.what} file")
             for c in found if c.changed]
    image = initrd(host)
    modprobe = next(c for c in found if c.path == MODPROBE_FILE)
    if modprobe.changed and image is not None:
        steps.append(Step(Action.RUN, f"refresh the initramfs: it keeps a copy of "
                          f"/{MODPROBE_FILE}", argv=("update-initramfs", "-u"),
                          expect=(Check(CheckKind.EXISTS, path=image),),
                          unless=()))  # the image exists before too: recovery reruns it
    notes = (BUILTIN_PCIBACK,) if modprobe.new is not None and pciback_builtin(host) else ()
    return Plan("apply boot", tuple(steps), notes)


_VERBS = {"create": "install", "replace": "update", "remove": "remove"}


def enable_plan(host: Host) -> Plan:
    """`systemctl enable` the boot unit (nothing when it is enabled), or a refusal."""
    if not host.exists(UNIT_FILE):
        raise InputError(f"the boot unit /{UNIT_FILE} is not installed",
                         "`pcipass apply` installs it once something is declared")
    if host.exists(UNIT_WANTS):
        return Plan(f"boot enable {UNIT_NAME}", (), (f"{UNIT_NAME} is already enabled",))
    step = Step(Action.RUN, f"start {UNIT_NAME} at every boot",
                argv=("systemctl", "enable", UNIT_NAME),
                expect=(Check(CheckKind.EXISTS, path=UNIT_WANTS),))
    return Plan(f"boot enable {UNIT_NAME}", (step,))


# -- boot status ---------------------------------------------------------------------
@dataclass(frozen=True)
class BootState:
    """One declared item: now, at the next boot, and the verdict."""

    kind: str
    bdf: str
    now: str
    next_boot: str
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "bdf": self.bdf, "now": self.now,
                "next_boot": self.next_boot, "verdict": self.verdict}


ACTIVE, AT_BOOT, DIFFERS = "active now", "applies at next boot", "differs"


def boot_status(host: Host, facts: HostFacts, declared: Declared,
                links: VfLinks | None = None) -> list[BootState]:
    """Per declared item: whether it holds now, and what the installed files do at boot
    (`links`: the PFs' VF settings; the boot unit applies those)."""
    found = {c.path: c for c in changes(host, facts, declared)}
    unit = found[UNIT_FILE]
    enabled = host.exists(UNIT_WANTS)
    by_unit = "by the boot unit" if not unit.changed and enabled else None
    why_not = "the boot unit is not installed (`pcipass apply`)" if unit.changed else \
        "the boot unit is not enabled (`pcipass boot enable`)"
    claims = {a.bdf: a for a in declared.assignable if a.claim_at_boot}
    builtin = any(a.backend == "xen" for a in claims.values()) and pciback_builtin(host)
    result: list[BootState] = []
    for item in states(facts, declared, links):
        mechanism = by_unit
        if item.kind == "assignable" and item.bdf in claims:
            xen = claims[item.bdf].backend == "xen"
            file = found[MODPROBE_FILE if xen else UDEV_FILE]
            mechanism = f"claimed early by /{file.path}" if not file.changed else None
            why = f"/{file.path} is not up to date (`pcipass apply`)"
            if xen and builtin:
                mechanism, why = None, BUILTIN_PCIBACK
        else:
            why = why_not
        holds = item.status is Status.HOLDS
        if item.status in BLOCKING:
            next_boot, verdict = f"not applied ({item.detail})", DIFFERS
        else:
            next_boot = mechanism or f"lost: {why}"
            verdict = ACTIVE if holds else AT_BOOT if mechanism else DIFFERS
        result.append(BootState(item.kind, item.bdf, item.detail, next_boot, verdict))
    return result
