"""What the host uses a device for: its network interfaces and block devices.

Read from ``sys/class/net``, ``sys/class/block`` (each entry resolved to the
PCI function it sits under), ``proc/net/route``, ``proc/net/if_inet6``,
``proc/mounts``, ``proc/swaps`` and ``proc/cmdline`` — so it works the same on
the machine, a snapshot and the simulated host. The guards that refuse to take
the NIC carrying the host's address or the disk holding ``/`` start here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from pcipass.address import PciAddress
from pcipass.host import paths
from pcipass.host.base import Host
from pcipass.model.device import BlockDevice, Mount, NetInterface

_NVME_PATH = re.compile(r"^nvme(\d+)c\d+n(\d+)$")
_BDF_COMPONENT = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def owning_function(path: str) -> PciAddress | None:
    """The PCI function a resolved sysfs path lies under (its last BDF component)."""
    for part in reversed(path.split("/")):
        if _BDF_COMPONENT.match(part):
            return PciAddress.try_parse(part)
    return None


def _hex_ipv4(text: str) -> str:
    value = int(text, 16)
    return ".".join(str(value >> s & 0xFF) for s in (0, 8, 16, 24))


def _prefix_len(mask: str) -> int:
    return bin(int(mask, 16)).count("1")


def ipv4_routes(host: Host) -> dict[str, list[tuple[str, bool]]]:
    """Interface → [(``dest/len``, is_default)] from ``proc/net/route``."""
    out: dict[str, list[tuple[str, bool]]] = {}
    text = host.try_read_text(paths.ROUTE) or ""
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            dest, mask = _hex_ipv4(cols[1]), _prefix_len(cols[7])
        except ValueError:
            continue
        out.setdefault(cols[0], []).append((f"{dest}/{mask}", dest == "0.0.0.0" and mask == 0))
    return out


def ipv6_addresses(host: Host) -> dict[str, list[str]]:
    """Interface → IPv6 addresses (``addr/len``) from ``proc/net/if_inet6``."""
    out: dict[str, list[str]] = {}
    for line in (host.try_read_text(paths.IF_INET6) or "").splitlines():
        cols = line.split()
        if len(cols) < 6 or len(cols[0]) != 32:
            continue
        try:
            addr = ipaddress.IPv6Address(int(cols[0], 16))
        except ValueError:
            continue
        out.setdefault(cols[5], []).append(f"{addr}/{int(cols[2], 16)}")
    return out


def ipv6_default_ifaces(host: Host) -> set[str]:
    """Interfaces with an IPv6 default route (``::/0`` in ``proc/net/ipv6_route``)."""
    found: set[str] = set()
    for line in (host.try_read_text(paths.IPV6_ROUTE) or "").splitlines():
        cols = line.split()
        if len(cols) >= 10 and cols[0] == "0" * 32 and cols[1] == "00" and cols[9] != "lo":
            found.add(cols[9])
    return found


def net_by_function(host: Host) -> dict[PciAddress, tuple[NetInterface, ...]]:
    """Every network interface that sits on a PCI function, with its routes and master."""
    routes = ipv4_routes(host)
    addrs6 = ipv6_addresses(host)
    default6 = ipv6_default_ifaces(host)
    names = host.listdir(paths.CLASS_NET)
    masters = {n: host.link_name(paths.net(n, "master")) for n in names}

    def has_default(name: str | None, depth: int = 0) -> bool:
        if name is None or depth > 4:
            return False
        if name in default6 or any(d for _, d in routes.get(name, [])):
            return True
        return has_default(masters.get(name), depth + 1)

    out: dict[PciAddress, list[NetInterface]] = {}
    for name in names:
        bdf = owning_function(host.resolve(paths.net(name)))
        if bdf is None:
            continue
        own = routes.get(name, [])
        out.setdefault(bdf, []).append(
            NetInterface(
                name=name,
                operstate=host.try_read_text(paths.net(name, "operstate")),
                mac=host.try_read_text(paths.net(name, "address")),
                master=masters[name],
                ipv4_routes=tuple(r for r, _ in own),
                ipv6_addresses=tuple(addrs6.get(name, [])),
                default_route=any(d for _, d in own) or name in default6,
                master_default_route=has_default(masters[name]),
            )
        )
    return {b: tuple(v) for b, v in out.items()}


def mounts(host: Host) -> list[Mount]:
    """``proc/mounts`` (``proc/self/mounts`` on hosts where that is all there is)."""
    text = host.try_read_text(paths.MOUNTS) or host.try_read_text(paths.SELF_MOUNTS) or ""
    found = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 3:
            found.append(Mount(cols[0], cols[1].replace("\\040", " "), cols[2]))
    return found


def _dev_name(source: str, root_arg: str | None, dm_names: dict[str, str]) -> str | None:
    """The kernel block device name a mount or swap source refers to."""
    if source == "/dev/root" and root_arg and root_arg.startswith("/dev/"):
        source = root_arg
    if source.startswith("/dev/mapper/"):
        return dm_names.get(source[len("/dev/mapper/") :])
    if source.startswith("/dev/"):
        return source[len("/dev/") :].replace("/", "!")
    return None


def _holders_closure(host: Host, name: str) -> list[str]:
    """Every device stacked on `name` (dm, md, ...), transitively."""
    seen: list[str] = []
    todo = [name]
    while todo:
        for holder in host.listdir(paths.block(todo.pop(), "holders")):
            if holder not in seen:
                seen.append(holder)
                todo.append(holder)
    return seen


def block_by_function(host: Host) -> dict[PciAddress, tuple[BlockDevice, ...]]:
    """Every disk that sits on a PCI function, with its partitions, mounts, swap and holders."""
    names = host.listdir(paths.CLASS_BLOCK)
    disks: dict[str, set[PciAddress]] = {}
    partitions: dict[str, list[str]] = {}
    for name in names:
        real = host.resolve(paths.block(name))
        if host.exists(paths.block(name, "partition")):
            partitions.setdefault(real.rstrip("/").split("/")[-2], []).append(name)
            continue
        bdf = owning_function(real)
        if bdf is None:
            continue
        path = _NVME_PATH.match(name)
        # With NVMe multipath (Debian's default) the disk nvmeSnN lives under
        # virtual/nvme-subsystem; only its hidden path nvmeScCnN sits under the controller.
        disk = f"nvme{path[1]}n{path[2]}" if path else name
        disks.setdefault(disk if disk in names else name, set()).add(bdf)
    if not disks:
        return {}
    dm_names = {
        dm_name: n
        for n in names
        if n.startswith("dm-") and (dm_name := host.try_read_text(paths.block(n, "dm/name")))
    }
    cmdline = host.try_read_text(paths.CMDLINE) or ""
    root_arg = next((a[5:] for a in cmdline.split() if a.startswith("root=")), None)
    all_mounts = mounts(host)
    swaps = [
        line.split()[0]
        for line in (host.try_read_text(paths.SWAPS) or "").splitlines()[1:]
        if line.split()
    ]
    mounted: dict[str, list[Mount]] = {}
    for m in all_mounts:
        if (dev := _dev_name(m.source, root_arg, dm_names)) is not None:
            mounted.setdefault(dev, []).append(m)
    swapped = {d: s for s in swaps if (d := _dev_name(s, root_arg, dm_names)) is not None}

    out: dict[PciAddress, list[BlockDevice]] = {}
    for disk, bdfs in sorted(disks.items()):
        parts = tuple(sorted(partitions.get(disk, [])))
        holders = _unique(h for d in (disk, *parts) for h in _holders_closure(host, d))
        users = (disk, *parts, *holders)
        found = BlockDevice(
            name=disk,
            partitions=parts,
            mounts=tuple(m for u in users for m in mounted.get(u, [])),
            swap=tuple(swapped[u] for u in users if u in swapped),
            holders=holders,
        )
        for bdf in sorted(bdfs):
            out.setdefault(bdf, []).append(found)
    return {b: tuple(v) for b, v in out.items()}


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
