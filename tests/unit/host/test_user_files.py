"""A user's files through `Host`: paths under the root, regular files only, bounded reads,
one atomic writer that keeps owner, group, mode, symlinks and hard links."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcipass.errors import InputError, OperationError
from pcipass.host.real import RealHost

OLD, NEW = b"name = 'g'\n", b"name = 'g'\npci = [ '05:00.0' ]\n"


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail, not hang, if a read blocks (a FIFO opened for reading waits for a writer)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("the read blocked")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_paths_map_under_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    (root / "etc/xen").mkdir(parents=True)
    (root / "etc/xen/g.cfg").write_bytes(OLD)
    host = RealHost(root)
    assert host.read_user_file("/etc/xen/g.cfg", 100) == OLD
    monkeypatch.chdir("/etc")  # a relative path: made absolute from the cwd, then mapped
    assert host.read_user_file("xen/g.cfg", 100) == OLD
    (root / "etc/xen/auto").mkdir()
    (root / "etc/xen/auto/g.cfg").symlink_to("/etc/xen/g.cfg")  # absolute: inside the root
    assert host.read_user_file("/etc/xen/auto/g.cfg", 100) == OLD
    with pytest.raises(InputError, match=r"^/etc/xen/x\.cfg \(.*/root/etc/xen/x\.cfg\) does not"):
        host.read_user_file("/etc/xen/x.cfg", 100)


@pytest.mark.usefixtures("alarm")
def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    host = RealHost("/")
    for path, kind in [(fifo, "a FIFO"), (Path("/dev/zero"), "a character device"),
                       (tmp_path, "a directory")]:  # fmt: skip
        with pytest.raises(InputError, match=f"is {kind}, not a regular file"):
            host.read_user_file(path, 1 << 20)


def test_the_limit_holds_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"#" * (8 << 20))
    (tmp_path / "fits").write_bytes(b"#" * 1000)
    host = RealHost("/")
    assert len(host.read_user_file(tmp_path / "fits", 1000)) == 1000
    read = os.read
    total = 0

    def counting(fd: int, n: int) -> bytes:
        nonlocal total
        data = read(fd, n)
        total += len(data)
        return data

    monkeypatch.setattr(os, "read", counting)
    with pytest.raises(InputError, match="is over 999 bytes"):
        host.read_user_file(tmp_path / "fits", 999)
    total = 0
    with pytest.raises(InputError, match="over 1048576 bytes"):
        host.read_user_file(big, 1 << 20)
    assert total == (1 << 20) + 1


def test_replace_keeps_owner_group_mode_and_a_backup(tmp_path: Path) -> None:
    cfg = tmp_path / "g.cfg"
    cfg.write_bytes(OLD)
    os.chown(cfg, 1234, 5678)
    cfg.chmod(0o640)
    backup = RealHost("/").replace_user_file(cfg, OLD, NEW)
    assert cfg.read_bytes() == NEW and backup == tmp_path / "g.cfg.pcipass-bak"
    assert backup.read_bytes() == OLD
    for path in (cfg, backup):
        st = path.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o640)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.cfg", "g.cfg.pcipass-bak"]


def test_replace_keeps_hard_links(tmp_path: Path) -> None:
    cfg = tmp_path / "g.cfg"
    cfg.write_bytes(OLD)
    (tmp_path / "other").mkdir()
    twin = tmp_path / "other" / "g.cfg"
    os.link(cfg, twin)
    inode = cfg.stat().st_ino
    backup = RealHost("/").replace_user_file(cfg, OLD, NEW)
    assert twin.read_bytes() == NEW and cfg.stat().st_ino == inode and cfg.stat().st_nlink == 2
    assert backup.read_bytes() == OLD and backup.stat().st_nlink == 1


def test_replace_through_a_symlink_edits_its_target(tmp_path: Path) -> None:
    real = tmp_path / "etc/xen/g.cfg"
    real.parent.mkdir(parents=True)
    real.write_bytes(OLD)
    (tmp_path / "etc/xen/auto").mkdir()
    link = tmp_path / "etc/xen/auto/g.cfg"
    link.symlink_to("../g.cfg")
    backup = RealHost(tmp_path).replace_user_file("/etc/xen/auto/g.cfg", OLD, NEW)
    assert link.is_symlink() and real.read_bytes() == NEW
    assert backup == real.with_name("g.cfg.pcipass-bak") and backup.read_bytes() == OLD


def test_replace_refuses_a_file_changed_meanwhile(tmp_path: Path) -> None:
    cfg = tmp_path / "g.cfg"
    cfg.write_bytes(OLD + b"# edited\n")
    with pytest.raises(OperationError, match="changed while pcipass was editing it"):
        RealHost("/").replace_user_file(cfg, OLD, NEW)
    assert [p.name for p in tmp_path.iterdir()] == ["g.cfg"]
