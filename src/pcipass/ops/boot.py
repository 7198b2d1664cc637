"""The files pcipass installs so the declared state holds from boot on. Pure.

Early claiming, before any host driver binds, for the devices declared `claim_at_boot`:
- Xen (xen-pciback is a module on Debian 12 that nothing loads early): a modprobe.d file
  with `options xen-pciback hide=(BDF)...` and `softdep MODULE pre: xen-pciback` for each
  module that matches a hidden device, so loading its driver loads pciback first, which
  takes the device at init. The initramfs keeps a copy of modprobe.d, so a change of that
  file is followed by `update-initramfs -u`.
- KVM: a udev rule per device (matched by address and IDs, never `vfio-pci ids=`, which
  takes every device with the ID) that writes `driver_override=vfio-pci` as the device is
  added, before the driver rules load its module, and loads vfio-pci.
The rest (VF counts, assignable devices not claimed early) is applied by a systemd oneshot
unit running `pcipass apply --boot` once udev has settled, before the toolstacks start.
Every file's first line marks it as pcipass's; a file without the mark is never replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcipass.model import drivers
from pcipass.model.declared import STATE_FILE, AssignableItem, Declared
from pcipass.ops.assign import HostFacts
from pcipass.ops.persist import identity

MARK = "# Written by pcipass from /etc/pcipass/host.toml: `pcipass apply` rewrites it, " \
       "edits are lost."
MODPROBE_FILE = "etc/modprobe.d/pcipass.conf"
UDEV_FILE = "etc/udev/rules.d/70-pcipass.rules"
UNIT_NAME = "pcipass-apply.service"
UNIT_FILE = f"etc/systemd/system/{UNIT_NAME}"
UNIT_WANTS = f"etc/systemd/system/multi-user.target.wants/{UNIT_NAME}"
PCIPASS_EXEC = "/usr/bin/pcipass"
"""Where the unit finds pcipass (the Debian package's path)."""
#: Toolstacks that start guests: the unit runs before them.
TOOLSTACKS = ("xencommons.service", "xendomains.service", "xen.service", "libvirtd.service",
              "libvirt-guests.service")
#: The stub drivers' modules, in both spellings: never a softdep of pciback.
STUBS = frozenset(m for d in drivers.DRIVERS for m in (d.module, d.module.replace("-", "_")))


@dataclass(frozen=True)
class BootFile:
    """One file pcipass owns at boot: its host path and wanted text (None: not wanted)."""

    path: str
    text: str | None
    what: str


def _claims(declared: Declared, backend: str) -> list[AssignableItem]:
    return [a for a in declared.assignable if a.claim_at_boot and a.backend == backend]


def host_modules(facts: HostFacts, bdf: str) -> list[str]:
    """The modules that would drive `bdf` (its modalias's, its driver's, its record's)."""
    dev = facts.device(bdf)
    found = list(dev.modules or ())
    if dev.driver is not None and dev.driver in facts.modules:
        found.append(facts.modules[dev.driver])
    rec = facts.records.get(bdf)
    if rec is not None and rec.module:
        found.append(rec.module)
    return sorted({m for m in found if m not in STUBS})


def modprobe_text(facts: HostFacts, declared: Declared) -> str | None:
    """modprobe.d for the Xen devices claimed at boot (None: there are none)."""
    hidden = [a for a in _claims(declared, "xen") if _present(facts, a)]
    if not hidden:
        return None
    lines = [MARK, f"options {drivers.PCIBACK.module} hide="
             + "".join(f"({a.bdf})" for a in hidden)]
    modules = sorted({m for a in hidden for m in host_modules(facts, a.bdf)})
    lines += [f"softdep {m} pre: {drivers.PCIBACK.module}" for m in modules]
    return "\n".join(lines) + "\n"


def udev_text(facts: HostFacts, declared: Declared) -> str | None:
    """The udev rules for the vfio devices claimed at boot (None: there are none)."""
    claimed = [a for a in _claims(declared, "vfio") if _present(facts, a)]
    if not claimed:
        return None
    lines = [MARK]
    for a in claimed:
        ids = a.ids
        lines.append(
            f'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{a.bdf}", '
            f'ATTR{{vendor}}=="0x{ids.vendor:04x}", ATTR{{device}}=="0x{ids.device:04x}", '
            f'ATTR{{subsystem_vendor}}=="0x{ids.subsystem_vendor:04x}", '
            f'ATTR{{subsystem_device}}=="0x{ids.subsystem_device:04x}", '
            f'ATTR{{driver_override}}="{drivers.VFIO_PCI.name}", '
            f'RUN{{builtin}}+="kmod load {drivers.VFIO_PCI.module}"')
    return "\n".join(lines) + "\n"


def unit_text(declared: Declared) -> str | None:
    """The boot unit (None: nothing is declared)."""
    if not declared.assignable and not declared.vfs:
        return None
    return "\n".join([
        MARK,
        "[Unit]",
        f"Description=pcipass: apply the declared host state (/{STATE_FILE})",
        "Wants=systemd-udev-settle.service",
        "After=systemd-udev-settle.service local-fs.target",
        f"Before={' '.join(TOOLSTACKS)}",
        f"ConditionPathExists=/{STATE_FILE}",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        f"ExecStart={PCIPASS_EXEC} apply --boot",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def _present(facts: HostFacts, item: AssignableItem) -> bool:
    """Only a device that is there with its declared IDs gets a boot-time claim."""
    return identity(facts, item.bdf, item.ids) is None


def boot_files(facts: HostFacts, declared: Declared) -> list[BootFile]:
    """Every file pcipass owns at boot, with the text it should hold."""
    return [
        BootFile(MODPROBE_FILE, modprobe_text(facts, declared), "Xen early claim (pciback)"),
        BootFile(UDEV_FILE, udev_text(facts, declared), "KVM early claim (vfio-pci)"),
        BootFile(UNIT_FILE, unit_text(declared), "boot unit"),
    ]
