"""What `doctor` reads out of texts: Xen's console ring and command line, the kernel log,
GRUB's defaults files and modprobe.d. Pure: text in, plain values out.

The summary lines are Xen 4.17's and Linux 6.1's own (`pcipass.ops.doctor.checks` names
the sources);
a line that is not in the text is "not said" (None), never "off": Xen's console ring
(16 KiB by default) and the kernel's log buffer rotate.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

#: Xen `iommu=` values that turn the IOMMU off (docs/misc/xen-command-line.pandoc `### iommu`).
IOMMU_OFF = frozenset({"0", "no", "off", "false", "disable"})


def said(text: str | None, on: tuple[str, ...], off: tuple[str, ...] = ()) -> bool | None:
    """True if a line of `text` contains an `on` text, False if one contains an `off` text
    (the last such line wins: a later line is the newer state), None if neither is there."""
    if text is None:
        return None
    found: bool | None = None
    for line in text.splitlines():
        if any(o in line for o in on):
            found = True
        elif any(o in line for o in off):
            found = False
    return found


def evidence_line(text: str | None, *needles: str) -> str | None:
    """The last line of `text` holding one of `needles`, stripped of Xen's ``(XEN) `` and the
    kernel's ``[  1.23]`` prefixes (None if none does)."""
    if text is None:
        return None
    hit = None
    for line in text.splitlines():
        if any(n in line for n in needles):
            hit = line
    if hit is None:
        return None
    return re.sub(r"^(\(XEN\)\s*(\[[^\]]*\]\s*)?|\[\s*[\d.]+\]\s*)", "", hit).strip()


def xl_info_field(info: str | None, key: str) -> str | None:
    """One ``key : value`` field of `xl info` (None if absent)."""
    for line in (info or "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            return value.strip()
    return None


def options(cmdline: str | None, name: str) -> list[str]:
    """The values of every ``name=value`` word on a command line, in order."""
    words = (cmdline or "").split()
    return [w.split("=", 1)[1] for w in words if w.startswith(f"{name}=")]


def xen_iommu_options(cmdline: str | None) -> list[str]:
    """Xen's ``iommu=`` sub-options (``iommu=verbose,no-intremap`` → two), in order."""
    return [o for value in options(cmdline, "iommu") for o in value.split(",") if o]


@dataclass(frozen=True)
class GrubVar:
    """One assignment in a GRUB defaults file."""

    file: str
    line: int
    name: str
    value: str


_ASSIGN = re.compile(r"^\s*(?:export\s+)?(GRUB_[A-Z0-9_]+)=(.*)$")


def grub_vars(file: str, text: str) -> list[GrubVar]:
    """The ``GRUB_*=`` assignments of a defaults file (shell quoting undone; a value that
    does not parse is kept as written)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        m = _ASSIGN.match(line)
        if m is None:
            continue
        try:
            value = " ".join(shlex.split(m[2], comments=True))
        except ValueError:
            value = m[2]
        out.append(GrubVar(file, number, m[1], value))
    return out


def modprobe_options(text: str, module: str) -> list[str]:
    """The option words of every ``options MODULE ...`` line (``-`` and ``_`` are one)."""
    want = module.replace("-", "_")
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) > 2 and words[0] == "options" and words[1].replace("-", "_") == want:
            out += words[2:]
    return out


_HIDE_BDF = re.compile(r"\(([0-9a-fA-F:.]+)\)")


def hidden_bdfs(hide: str) -> list[str]:
    """The addresses in a pciback ``hide=(DDDD:BB:DD.F)(BB:DD.F)...`` value, with domain."""
    out = []
    for bdf in _HIDE_BDF.findall(hide):
        out.append(bdf.lower() if bdf.count(":") == 2 else f"0000:{bdf.lower()}")
    return out
