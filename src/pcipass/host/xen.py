"""What Xen knows, asked through a `Host`: `xl info` in a dom0, libxl's keys in xenstore.

On another host's tree (`--root`) no program can be asked: dom0-ness comes from the
tree (``proc/xen/capabilities``), `xl info` says nothing and xenstore is empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pcipass.host import paths
from pcipass.host.base import CommandFailed, Host, NotThisMachine


@dataclass(frozen=True)
class XenDevice:
    """libxl's memory of one device in xenstore `/libxl/pci/<key>/`."""

    driver: str | None = None
    name: str | None = None
    domid: int | None = None


def xl_info(host: Host) -> str | None:
    """`xl info` output in a dom0 (empty on a dom0's tree, where xl cannot be asked), None
    elsewhere or when xl does not answer (a domU has no working xl)."""
    caps = host.try_read_text(paths.XEN_CAPABILITIES) or ""
    if "control_d" not in caps and host.try_read_text(paths.HYPERVISOR_TYPE) != "xen":
        return None
    try:
        result = host.run(["xl", "info"])
    except NotThisMachine:
        return "" if "control_d" in caps else None
    except CommandFailed:
        return None
    return result.stdout if result.returncode == 0 else None


def xen_directio(info: str) -> bool | None:
    """Whether `xl info` virt_caps says Xen can pass devices through (None: not said)."""
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "virt_caps":
            return "directio" in value
    return None


def xenstore_read(host: Host, path: str) -> str | None:
    """One xenstore value, or None if the key (or xenstore) is absent."""
    try:
        result = host.run(["xenstore-read", path])
    except CommandFailed:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def xenstore_list(host: Host, path: str) -> list[str]:
    """Children of a xenstore node; empty if absent."""
    try:
        result = host.run(["xenstore-list", path])
    except CommandFailed:
        return []
    return result.stdout.split() if result.returncode == 0 else []


def xen_devices(host: Host) -> dict[str, XenDevice]:
    """Every device libxl keeps keys for (old `pciback` node first, `pci` wins): BDF → facts.

    xenstore `/libxl/pci/DDDD-BB-DD-F/{driver_path,name,domid}` (and `/libxl/pciback/...`
    before Xen 4.15), through `xenstore-read`."""
    out: dict[str, XenDevice] = {}
    for node in ("pciback", "pci"):
        for key in xenstore_list(host, f"/libxl/{node}"):
            parts = key.split("-")
            if len(parts) != 4:
                continue
            bdf = f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"
            base = f"/libxl/{node}/{key}"
            path = xenstore_read(host, f"{base}/driver_path")
            domid = xenstore_read(host, f"{base}/domid") if node == "pci" else None
            prev = out.get(bdf, XenDevice())
            out[bdf] = XenDevice(
                driver=os.path.basename(path.rstrip("/")) if path else prev.driver,
                name=(xenstore_read(host, f"{base}/name") if node == "pci" else None) or prev.name,
                domid=int(domid) if domid and domid.isdigit() else None,
            )
    return out
