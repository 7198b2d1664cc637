"""pcipass.xlcfg_edit: edits keep every other byte, read back as intended, write atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcipass.errors import InputError
from pcipass.xlcfg import effective_pci, parse_config
from pcipass.xlcfg_edit import plan_add, plan_remove, plan_set, write_config

CFG = b"""# guest
name = "g"   # the name
pci = [
    '05:00.0',   # NIC
    "06:00.0,seize=1"
]
pci_permissive = 1
"""


def _devices(data: bytes) -> list[str]:
    return [str(d.address) for d in effective_pci(parse_config(data)).devices]


def test_add_keeps_other_bytes_and_reads_back() -> None:
    new = plan_add(CFG, ["07:00.1@3", "permissive=0,bdf=08:00.0"])
    assert _devices(new) == ["0000:05:00.0", "0000:06:00.0", "0000:07:00.1", "0000:08:00.0"]
    assert new.startswith(CFG[: CFG.index(b'"06:00.0,seize=1"') + 17])
    assert new.endswith(b"]\npci_permissive = 1\n")
    added = effective_pci(parse_config(new)).devices
    assert added[2].permissive and not added[3].permissive  # global applies, override kept


def test_add_creates_list_and_refuses_duplicates() -> None:
    assert _devices(plan_add(b"name = 'x'", ["05:00.0"])) == ["0000:05:00.0"]
    with pytest.raises(InputError):
        plan_add(CFG, ["0000:05:00.0"])
    with pytest.raises(InputError):
        plan_add(CFG, ["05:00.0,permissive=yes"])  # strict mode


def test_remove_and_set() -> None:
    new = plan_remove(CFG, ["0000:05:00.0"])
    assert _devices(new) == ["0000:06:00.0"]
    assert new == CFG.replace(b"'05:00.0',   ", b"")  # the item goes, its comment stays
    inline = b"pci = [ '05:00.0', '06:00.0' ]\n"
    assert plan_remove(inline, ["06:00.0"]) == b"pci = [ '05:00.0' ]\n"
    assert plan_set(CFG, "pci_permissive", "0") == CFG.replace(b"= 1\n", b"= 0\n")
    assert plan_set(CFG, "pci_seize", "1") == CFG + b"pci_seize = 1\n"
    with pytest.raises(InputError):
        plan_set(CFG, "pci_seize", "yes")
    with pytest.raises(InputError):
        plan_remove(CFG, ["09:00.0"])


@pytest.mark.parametrize(
    "data", [b"pci = [ '05:00.0' ]\r\n", b"pci = [ '05:00.0' ]\npci += [ '06:00.0' ]\n",
             b"pci = [ 'bogus' ]\n", b"pci = [ ['x'] ]\n"],
)  # fmt: skip
def test_refuses_configs_it_cannot_round_trip(data: bytes) -> None:
    with pytest.raises(InputError):
        plan_add(data, ["07:00.0"])


def test_write_is_atomic_with_backup(tmp_path: Path) -> None:
    path = tmp_path / "g.cfg"
    path.write_bytes(CFG)
    path.chmod(0o640)
    new = plan_add(CFG, ["07:00.0"])
    backup = write_config(path, CFG, new)
    assert path.read_bytes() == new and backup.read_bytes() == CFG
    assert backup.name == "g.cfg.pcipass-bak" and (path.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.cfg", "g.cfg.pcipass-bak"]


def test_write_through_a_symlink_edits_its_target(tmp_path: Path) -> None:
    real = tmp_path / "g.cfg"
    real.write_bytes(CFG)
    (tmp_path / "auto").mkdir()
    link = tmp_path / "auto" / "g.cfg"
    link.symlink_to("../g.cfg")
    new = plan_add(CFG, ["07:00.0"])
    backup = write_config(link, CFG, new)
    assert link.is_symlink() and real.read_bytes() == new
    assert backup == real.with_name("g.cfg.pcipass-bak") and backup.read_bytes() == CFG


def test_remove_takes_a_slot_or_a_name() -> None:
    cfg = b"pci = [ '05:00.0', '06:00.*', '06:01.2', 'name=nic0' ]\n"
    assert plan_remove(cfg, ["06:00.*"]) == b"pci = [ '05:00.0', '06:01.2', 'name=nic0' ]\n"
    assert plan_remove(cfg, ["06:00.3"]) == b"pci = [ '05:00.0', '06:01.2', 'name=nic0' ]\n"
    assert plan_remove(cfg, ["nic0"]) == b"pci = [ '05:00.0', '06:00.*', '06:01.2' ]\n"
    assert plan_remove(cfg, ["name=nic0", "06:01.*"]) == b"pci = [ '05:00.0', '06:00.*' ]\n"
    with pytest.raises(InputError, match="no entry for 'nic9'"):
        plan_remove(cfg, ["nic9"])
