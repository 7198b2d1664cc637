"""One edit of an xl domain config on a host: read it (bounded, xl.cfg text only), plan
the new bytes (`pcipass.xlcfg_edit`), and unless a dry run, replace it with a backup."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pcipass.address import PciAddress
from pcipass.host.base import Host
from pcipass.host.paths import PCI_DEVICES
from pcipass.xlcfg import MAX_CONFIG_BYTES, check_config_bytes
from pcipass.xlcfg_edit import diff


@dataclass(frozen=True)
class Edit:
    """What an edit found and did: the bytes before and after, the diff, the backup."""

    old: bytes
    new: bytes
    diff: str
    backup: Path | None


def read_config(host: Host, file: str | os.PathLike[str]) -> bytes:
    """FILE's bytes on `host`, refused (one `InputError`) unless it is an xl.cfg text."""
    data = host.read_user_file(file, MAX_CONFIG_BYTES)
    check_config_bytes(data, str(file))
    return data


def edit_config(host: Host, file: Path, plan: Callable[[bytes], bytes], dry_run: bool) -> Edit:
    """Read FILE, plan its new bytes, and write them (unless `dry_run` or unchanged)."""
    old = read_config(host, file)
    new = plan(old)
    backup = host.replace_user_file(file, old, new) if not dry_run and new != old else None
    return Edit(old, new, diff(file, old, new), backup)


def slot_functions(host: Host, slot: str) -> list[int]:
    """The function numbers `host` has in slot `DDDD:BB:DD` (as libxl finds them)."""
    found = (PciAddress.try_parse(name) for name in host.listdir(PCI_DEVICES))
    return sorted(a.func for a in found if a is not None and a.slot == slot)
