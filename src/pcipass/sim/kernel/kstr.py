"""The kernel's string readers for sysfs writes and module parameters.

kstrtoul/kstrtobool, sysfs_streq, sscanf("%x ..."), vfio-pci's ``ids=`` and pciback's slots.
"""

from __future__ import annotations

import errno
import re

from pcipass.sim.kernel.state import ANY, WriteError


def parse_hex_fields(text: str, limit: int) -> list[int]:
    """sscanf("%x %x ...") semantics: leading fields that parse, stop at the first that does not."""
    out: list[int] = []
    for tok in text.split()[:limit]:
        body = tok[2:] if tok.lower().startswith("0x") else tok
        m = re.match(r"[0-9a-fA-F]+", body)
        if not m:
            break
        out.append(int(m.group(0), 16))
        if m.group(0) != body:
            break
    return out


def sysfs_str(data: str) -> str:
    """A BDF as the kernel compares it (sysfs_streq: one trailing newline ignored)."""
    return data[:-1] if data.endswith("\n") else data


def kstrtoul(text: str) -> int | None:
    """The kernel's kstrtoul(s, 0): optional '+', 0x hex / 0 octal / decimal, nothing else."""
    m = re.fullmatch(r"\+?(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))", text)
    if not m:
        return None
    if m.group(1):
        return int(m.group(1), 16)
    return int(m.group(2), 8) if m.group(2) else int(m.group(3))


def ulong_arg(data: str) -> int:
    """A ``kstrtoul(buf, 0, &val)`` store (remove, rescan, reset): the value, else EINVAL."""
    value = kstrtoul(sysfs_str(data))
    if value is None:
        raise WriteError(errno.EINVAL)
    return value


def param_text(default: str | None, value: str) -> str:
    """How sysfs shows a module parameter: bools (default Y/N) as Y/N, others verbatim."""
    if default in ("Y", "N"):
        flag = kstrtobool(value)
        return value if flag is None else ("Y" if flag else "N")
    return value


def parse_ids_param(text: str) -> list[list[int]]:
    """vfio-pci's ``ids=vendor:device[:subvendor[:subdevice[:class[:class_mask]]]],...``;
    entries that do not parse are skipped (the module logs "incorrect ids field")."""
    out = []
    for entry in text.split(","):
        fields = entry.split(":")
        try:
            nums = [int(f, 16) for f in fields]
        except ValueError:
            continue
        if 2 <= len(nums) <= 6:
            out.append((nums + [ANY, ANY, 0, 0][len(nums) - 2 :])[:6])
    return out


def kstrtobool(text: str) -> bool | None:
    """The kernel's kstrtobool: y/Y/1/on true, n/N/0/off false (by the first characters)."""
    low = text.lower()
    if low[:1] in ("y", "1", "t"):
        return True
    if low[:1] in ("n", "0", "f"):
        return False
    if low.startswith("on"):
        return True
    if low.startswith("of"):
        return False
    return None


def parse_slot(text: str) -> tuple[int, int, int, int] | None:
    """pciback's str_to_slot: ``[DDDD:]BB:DD.F``, ``DD.*`` or ``*.*`` wildcards (-1)."""
    hexnum = r"[0-9a-fA-F]+"
    m = re.fullmatch(
        rf"(?:({hexnum}):)?({hexnum}):(?:({hexnum})\.({hexnum}|\*)|(\*)\.\*)", text.strip()
    )
    if not m:
        return None
    dom = int(m.group(1), 16) if m.group(1) else 0
    bus = int(m.group(2), 16)
    if m.group(5):
        return dom, bus, -1, -1
    func = -1 if m.group(4) == "*" else int(m.group(4), 16)
    return dom, bus, int(m.group(3), 16), func


def parse_hide(text: str) -> list[tuple[int, int, int, int]] | None:
    """xen-pciback's ``hide=(slot)(slot)...`` parameter, or None if it does not parse."""
    groups = re.findall(r"\s*\(([^()]*)\)\s*", text)
    if "".join(f"({g})" for g in groups) != re.sub(r"\s+", "", text):
        return None
    slots = [parse_slot(g) for g in groups]
    return None if any(s is None for s in slots) else [s for s in slots if s is not None]
