"""A user's own files on a host (xl domain configs): where they are, bounded reads, one writer.

Path mapping: a user's path names a file *of the selected host*. An absolute path P is
`ROOT/P`; a relative path is taken relative to the current directory, made absolute, then
mapped the same way. ROOT is `/` on this machine, DIR with `--root DIR`, and `S/root` with
`--sim S` (the simulated host's tree, where its simulated `xl create` reads too). A symlink
at the final component is followed inside ROOT (an absolute target is ROOT/target).

Only regular files are read; the size limit holds while reading (never stat, then read
all), and a FIFO is opened non-blocking so it cannot hang. `replace` is the one writer:
backup, then tmp + fsync + rename keeping owner, group and mode — or, for a file with hard
links, an in-place rewrite after the backup, so that every link sees the new text.
"""

from __future__ import annotations

import errno
import os
import stat

from pcipass.errors import InputError, OperationError

BACKUP_SUFFIX = ".pcipass-bak"
_MAX_LINKS = 40
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def confine(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """The real path of host path `path` on the tree `root`, every symlink resolved as if
    `root` were `/` (an absolute target starts again at `root`, `..` stops at it), so no
    path in another host's tree can lead onto this machine. ELOOP past 40 links."""
    top = os.path.realpath(root)
    parts = [p for p in os.fspath(path).split("/") if p]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        try:
            target = os.readlink(os.path.join(top, *done, part))
        except OSError:  # not a link, or absent: taken as it is
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.fspath(path))
        if target.startswith("/"):
            done = []
        parts = [p for p in target.split("/") if p] + parts
    return os.path.join(top, *done)


def host_path(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """The real path of a user's `path` on the host whose tree is `root` (see the module doc):
    relative to the current directory, every link resolved inside the tree."""
    if os.path.realpath(root) == "/":
        return os.path.realpath(os.path.abspath(os.fspath(path)))
    try:
        return confine(root, os.path.abspath(os.fspath(path)))
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}", "check the links on its path") from exc


def shown(path: str | os.PathLike[str], real: str) -> str:
    """How messages name the file: the user's path, and the real one when it differs."""
    given = os.fspath(path)
    return given if os.path.abspath(given) == real else f"{given} ({real})"


def _open_regular(real: str, name: str) -> tuple[int, os.stat_result]:
    """An fd of a regular file (opened O_NONBLOCK, so a FIFO cannot hang), or InputError."""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _read_error(exc, name) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise InputError(f"{name} is {kind}, not a regular file", "give the config file's path")
    return fd, st


def _read_error(exc: OSError, name: str) -> InputError:
    if exc.errno == errno.ENOENT:
        return InputError(f"{name} does not exist", "check the path")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return InputError(f"cannot read {name}: permission denied", "run as a user who may")
    return InputError(f"cannot read {name}: {exc.strerror}", "check the path")


def _read_fd(fd: int, limit: int) -> bytes:
    """At most `limit` + 1 bytes: one more than `limit` says the file is larger."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read(root: str | os.PathLike[str], path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a user's regular file, at most `limit`; `InputError` otherwise."""
    real = host_path(root, path)
    name = shown(path, real)
    fd, _ = _open_regular(real, name)
    try:
        data = _read_fd(fd, limit)
    except OSError as exc:
        raise _read_error(exc, name) from exc
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(
            f"{name} is over {limit} bytes; xl configs are small",
            "check the path (is it a config?)",
        )
    return data


def replace(
    root: str | os.PathLike[str], path: str | os.PathLike[str], old: bytes, new: bytes
) -> str:
    """Replace a user's file, whose bytes were `old`, with `new`; return the backup's path.

    `FILE.pcipass-bak` (same owner, group and mode) gets the old bytes first. A symlink stays
    a symlink: the file it points to is edited and the backup kept beside that file. A file
    with one link is replaced by tmp + fsync + rename, keeping owner, group and mode; a file
    with hard links (st_nlink > 1) is rewritten in place after the backup, so that it keeps
    its links (a crash mid-write then leaves the backup to restore by hand).
    """
    real = host_path(root, path)
    name = shown(path, real)
    fd, st = _open_regular(real, name)
    try:
        if _read_fd(fd, len(old)) != old:
            raise OperationError(f"{name} changed while pcipass was editing it", "run it again")
    finally:
        os.close(fd)
    backup = real + BACKUP_SUFFIX
    try:
        _atomic_write(backup, old, st)
        if st.st_nlink > 1 or not _may_chown(st):
            _write_in_place(real, new)
        else:
            _atomic_write(real, new, st)
    except OSError as exc:
        raise OperationError(f"cannot write {name}: {exc.strerror}", "check permissions") from exc
    return backup


def _may_chown(st: os.stat_result) -> bool:
    """Whether a new file can be given `st`'s owner and group (else edit in place)."""
    euid = os.geteuid()
    return euid == 0 or (st.st_uid == euid and st.st_gid in {os.getegid(), *os.getgroups()})


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _atomic_write(real: str, data: bytes, like: os.stat_result) -> None:
    """tmp beside `real` (owner, group and mode of `like`) + fsync + rename + fsync of the dir.

    The owner is kept where this process may set it (root, or a file of its own)."""
    parent = os.path.dirname(real)
    tmp = os.path.join(parent, f".{os.path.basename(real)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            _write_all(fd, data)
            if _may_chown(like):
                os.fchown(fd, like.st_uid, like.st_gid)
            os.fchmod(fd, stat.S_IMODE(like.st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_in_place(real: str, data: bytes) -> None:
    fd = os.open(real, os.O_WRONLY | os.O_CLOEXEC)
    try:
        _write_all(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
