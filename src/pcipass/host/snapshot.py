"""Capture a host's PCI state into a tar.gz that `--root` can replay, and unpack one.

What is captured (read-only; nothing is written to the host):

- every PCI device directory under ``sys/devices/pci*`` (attribute files, the binary
  ``config``, links such as ``driver``, ``iommu_group``, ``physfn``, ``virtfnN``), with the
  ``net/<if>`` and block-device (``nvme``/``block``, partitions, ``holders``/``slaves``) parts
  the model uses, and the ``sys/bus/pci/devices`` links;
- ``sys/bus/pci/drivers/*`` (device links, ``module`` link, readable files such as pciback's
  ``slots``), ``sys/module/*`` (``parameters``, ``initstate``, ``drivers`` links),
  ``sys/kernel/iommu_groups``, ``sys/class/{net,block,nvme,iommu}``, ``sys/block``,
  virtual net/block devices (bridges, bonds, dm, md), ``sys/hypervisor/type``;
- ``proc/{mounts,swaps,cmdline,modules,xen/capabilities}``, ``proc/net/{route,ipv6_route,
  if_inet6}`` (what the host-use guards read) and pcipass's own ``var/lib/pcipass``;
- names and modules: the host's ``pci.ids`` (as a file) and ``proc/sys/kernel/osrelease`` with
  the ``alias pci:`` lines of ``lib/modules/<release>/modules.alias``;
- ``pcipass-snapshot.json``: format, time, kernel release, counts.

Skipped: BAR and ROM files (``resourceN``, ``rom``), ``vpd``, write-only files (``bind``,
``remove``, ...), anything unreadable. Files are stored at their host paths, so replaying is
``mkdir DIR && tar -xzf FILE -C DIR && pcipass --root DIR list`` (or `extract`).
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pcipass.errors import InputError, OperationError, abbreviate
from pcipass.host import paths
from pcipass.host.base import Host

MANIFEST = "pcipass-snapshot.json"
FORMAT = 1
READ_LIMIT = 65536
AUX_LIMIT = 16 << 20
SKIP_NAMES = re.compile(r"^(resource\d+(_wc)?|rom|vpd|remove|rescan|bind|unbind|new_id|"
                        r"remove_id|drivers_probe|new_slot|remove_slot|label)$")  # fmt: skip
SKIP_DIRS = {"power", "msi_irqs", "statistics", "queues", "queue", "mq", "trace", "integrity",
             "subsystem", "firmware_node", "wakeup", "ptp", "hwmon", "infiniband"}  # fmt: skip
PRESENCE_ONLY = {"reset"}
"""Write-only files whose existence is a fact (a function-level reset method): kept empty."""
PROC_FILES = (paths.MOUNTS, paths.SWAPS, paths.CMDLINE, paths.PROC_MODULES, paths.ROUTE,
              paths.IPV6_ROUTE, paths.IF_INET6, paths.XEN_CAPABILITIES)  # fmt: skip


@dataclass
class Capture:
    """What a snapshot holds (counts), and the members to write."""

    files: int = 0
    links: int = 0
    dirs: int = 0
    skipped: int = 0
    size: int = 0
    members: list[tuple[tarfile.TarInfo, bytes | None]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def summary(self) -> dict[str, int]:
        return {
            "files": self.files,
            "links": self.links,
            "dirs": self.dirs,
            "skipped": self.skipped,
            "bytes": self.size,
        }


class _Walker:
    """Collects members of a host (``/``, an unpacked tree or a simulated host)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.cap = Capture()

    def _info(self, rel: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(rel)
        info.type = kind
        info.mode = mode
        info.mtime = int(time.time())
        info.uname = info.gname = "root"
        return info

    def _add_dir(self, rel: str) -> None:
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in self.cap.seen:
                self.cap.seen.add(sub)
                self.cap.members.append((self._info(sub, tarfile.DIRTYPE, 0o755), None))
                self.cap.dirs += 1

    def add(self, rel: str) -> str | None:
        """Add one path (no recursion); return "dir", "link", "file" or None if skipped."""
        if rel in self.cap.seen:
            return None
        st = self.host.lstat(rel)
        if st is None:
            return None
        if stat.S_ISLNK(st.st_mode):
            target = self.host.readlink(rel)
            if target is None:
                return None
            self._add_dir(os.path.dirname(rel))
            info = self._info(rel, tarfile.SYMTYPE, 0o777)
            info.linkname = target
            self.cap.seen.add(rel)
            self.cap.members.append((info, None))
            self.cap.links += 1
            return "link"
        if stat.S_ISDIR(st.st_mode):
            self._add_dir(rel)
            return "dir"
        if stat.S_ISREG(st.st_mode) and os.path.basename(rel) in PRESENCE_ONLY:
            self.add_bytes(rel, b"", st.st_mode & 0o777)
            return "file"
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o444:
            self.cap.skipped += 1
            return None
        data = self.host.try_read_bytes(rel, READ_LIMIT)
        if data is None:
            self.cap.skipped += 1
            return None
        self.add_bytes(rel, data, st.st_mode & 0o777)
        return "file"

    def add_bytes(self, rel: str, data: bytes, mode: int = 0o644) -> None:
        """Store `data` as the regular file `rel`."""
        self._add_dir(os.path.dirname(rel))
        info = self._info(rel, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.cap.seen.add(rel)
        self.cap.members.append((info, data))
        self.cap.files += 1
        self.cap.size += len(data)

    def read_all(self, rel: str) -> bytes | None:
        """A whole file, symlinks followed (pci.ids, modules.alias), or None."""
        return self.host.try_read_bytes(rel, AUX_LIMIT)

    def listdir(self, rel: str) -> list[str]:
        return self.host.listdir(rel)

    def is_real_dir(self, rel: str) -> bool:
        """A directory, not a link to one."""
        st = self.host.lstat(rel)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def tree(self, rel: str, depth: int = 64) -> None:
        """Add `rel` and, if it is a real directory, what is below it (within the rules)."""
        if self.add(rel) != "dir" or depth == 0:
            return
        for name in self.listdir(rel):
            if name in SKIP_DIRS or SKIP_NAMES.match(name):
                self.cap.skipped += 1
                continue
            self.tree(f"{rel}/{name}", depth - 1)

    def shallow(self, rel: str, subdirs: tuple[str, ...] = ()) -> None:
        """Add `rel`'s files and links, and the named sub-directories (one level)."""
        if self.add(rel) != "dir":
            return
        for name in self.listdir(rel):
            child = f"{rel}/{name}"
            if SKIP_NAMES.match(name):
                continue
            if name in subdirs:
                self.tree(child, 2)
            elif not self.is_real_dir(child):
                self.add(child)


def _pci_device_dirs(w: _Walker) -> Iterator[str]:
    for top in w.listdir(paths.DEVICES):
        if top.startswith("pci"):
            yield f"{paths.DEVICES}/{top}"


def collect(host: Host) -> Capture:
    """Everything a snapshot of `host` holds."""
    w = _Walker(host)
    if not host.is_dir(paths.PCI_DEVICES):
        raise InputError(
            f"{host.root} has no {paths.PCI_DEVICES}", "point --root at a host root such as /"
        )
    for top in _pci_device_dirs(w):
        _walk_devices(w, top)
    for rel in (paths.PCI_DEVICES, paths.IOMMU_GROUPS):
        w.tree(rel, 4)
    for name in w.listdir(paths.PCI_DRIVERS):
        w.shallow(paths.drv(name))
    for f in ("drivers_autoprobe", "slots"):
        w.tree(f"{paths.PCI_BUS}/{f}", 2)
    for name in w.listdir(paths.MODULES):
        w.shallow(f"{paths.MODULES}/{name}", ("parameters", "drivers"))
    for rel in (paths.CLASS_NET, paths.CLASS_BLOCK, paths.CLASS_NVME, paths.CLASS_IOMMU):
        w.tree(rel, 1)
    w.tree(paths.BLOCK, 1)
    for kind, subdirs in (("net", ("brif", "bonding", "brport")),
                          ("block", ("slaves", "holders", "dm", "md"))):  # fmt: skip
        virtual = f"{paths.DEVICES}/virtual/{kind}"
        for name in w.listdir(virtual):
            w.shallow(f"{virtual}/{name}", subdirs)
    w.tree(paths.HYPERVISOR_TYPE, 1)
    for rel in PROC_FILES:  # as files: /proc/mounts is a link to self/mounts on a real host
        data = w.read_all(rel)
        if data is not None:
            w.add_bytes(rel, data)
    _add_names_and_modules(w)
    w.tree("var/lib/pcipass", 4)
    return w.cap


def _add_names_and_modules(w: _Walker) -> None:
    """pci.ids (the first found, as a file) and the kernel release with the PCI lines of its
    ``modules.alias``, so names and candidate modules replay as on the source host."""
    for rel in paths.PCI_IDS_PATHS:
        data = w.read_all(rel)
        if data is not None:
            w.add_bytes(rel, data)
            break
    release = w.read_all(paths.OSRELEASE)
    if release is None:
        return
    w.add_bytes(paths.OSRELEASE, release)
    alias_file = paths.modules_alias(release.decode(errors="replace").strip())
    aliases = w.read_all(alias_file)
    if aliases is not None:
        pci = [ln for ln in aliases.splitlines(keepends=True) if ln.startswith(b"alias pci:")]
        w.add_bytes(alias_file, b"".join(pci))


def _walk_devices(w: _Walker, rel: str) -> None:
    """A PCI host bridge's subtree: device dirs, their net/ and block parts."""
    if w.add(rel) != "dir":
        return
    for name in w.listdir(rel):
        child = f"{rel}/{name}"
        if SKIP_NAMES.match(name) or name in SKIP_DIRS:
            w.cap.skipped += 1
            continue
        if not w.is_real_dir(child):
            w.add(child)
        elif name == "net":
            for ifname in w.listdir(child):
                w.shallow(f"{child}/{ifname}", ("brport", "lower_dev"))
        else:
            _walk_devices(w, child)


def check_name_length(target: str | os.PathLike[str]) -> None:
    """`InputError` for a path the file system cannot hold (with room for a temporary name)."""
    parts = Path(target).parts
    if len(os.fsencode(target)) > 4000 or any(len(os.fsencode(p)) > 200 for p in parts):
        raise InputError(f"the path {abbreviate(os.fspath(target))!r} is too long",
                         "use a shorter name (at most 200 bytes a component)")


def check_target(target: str) -> Path:
    """The snapshot file `target` names; `InputError` unless it can be written (a new file,
    or a regular file to replace, in an existing directory)."""
    if not target.strip():
        raise InputError("the snapshot file name is empty", "give a path such as host.tgz")
    out = Path(target)
    check_name_length(target)
    try:
        st = os.stat(out)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise InputError(f"{target} is {kind}", "give the path of a new .tgz file")
    if not os.path.isdir(out.parent):
        raise InputError(
            f"cannot write {target}: {out.parent} is not a directory",
            "create the directory first, or pick another path",
        )
    return out


def write_snapshot(host: Host, target: str) -> Capture:
    """Capture `host` into the tar.gz `target` (written atomically)."""
    out = check_target(target)
    cap = collect(host)
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kernel": host.try_read_text(paths.OSRELEASE) if host.local else None,
        "source_root": str(host.root),
        **cap.summary(),
    }
    blob = (json.dumps(manifest, indent=1) + "\n").encode()
    tmp = out.with_name(f".{out.name}.tmp.{os.getpid()}")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(blob), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(blob))
            for member, data in cap.members:
                tar.addfile(member, io.BytesIO(data) if data is not None else None)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OperationError(f"cannot write {out}: {exc.strerror}", "pick a writable path") from exc
    return cap


def extract(
    archive: str | os.PathLike[str], directory: str | os.PathLike[str]
) -> dict[str, object]:
    """Unpack a snapshot into `directory` (a host root for `--root`); return its manifest."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            names = tar.getnames()
            if MANIFEST not in names:
                raise InputError(f"{archive} is not a pcipass snapshot", "create one with "
                                 "`pcipass snapshot FILE`")  # fmt: skip
            tar.extractall(directory, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"cannot read snapshot {archive}: {exc}", "check the file") from exc
    manifest: dict[str, object] = json.loads((Path(directory) / MANIFEST).read_text())
    return manifest
