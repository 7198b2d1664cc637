"""pcipass.xlcfg_edit: edits keep every other byte, read back as intended, change no other entry."""

from __future__ import annotations

import pytest

from pcipass.errors import InputError
from pcipass.xlcfg import effective_pci, parse_config
from pcipass.xlcfg_edit import plan_add, plan_remove, plan_set

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


def test_remove_takes_a_slot_or_a_name() -> None:
    cfg = b"pci = [ '05:00.0', '06:00.*', '06:01.2', 'name=nic0' ]\n"
    assert plan_remove(cfg, ["06:00.*"]) == b"pci = [ '05:00.0', '06:01.2', 'name=nic0' ]\n"
    assert plan_remove(cfg, ["nic0"]) == b"pci = [ '05:00.0', '06:00.*', '06:01.2' ]\n"
    assert plan_remove(cfg, ["name=nic0", "06:01.*"]) == b"pci = [ '05:00.0', '06:00.*' ]\n"
    with pytest.raises(InputError, match="no entry for 'nic9'"):
        plan_remove(cfg, ["nic9"])


SLOT = b"pci = [ '05:00.*@4', '06:00.0' ]\n"


def test_removing_one_function_of_a_slot_entry_is_refused_with_the_fix() -> None:
    for cfg in (SLOT, b"pci = [ '05:00.*,permissive=1', '06:00.0' ]\n"):
        with pytest.raises(InputError, match=r"one function of the entry '05:00\.\*") as exc:
            plan_remove(cfg, ["05:00.0"])
        assert "--split-slot" in exc.value.fix and "0000:05:00.*" in exc.value.fix


def test_split_slot_rewrites_the_entry_as_its_other_functions() -> None:
    cfg = b"pci_permissive = 1\npci = [ '05:00.*,seize=1',  # the NIC\n  '06:00.0' ]\n"
    new = plan_remove(cfg, ["05:00.1"], lambda slot: [0, 1, 2] if slot == "0000:05:00" else [])
    assert new == cfg.replace(
        b"'05:00.*,seize=1'", b"'0000:05:00.0,seize=1', '0000:05:00.2,seize=1'"
    )
    devices = effective_pci(parse_config(new)).devices
    assert [(str(d.address), d.seize, d.permissive) for d in devices] == [
        ("0000:05:00.0", True, True), ("0000:05:00.2", True, True), ("0000:06:00.0", False, True)
    ]  # fmt: skip
    both = plan_remove(cfg, ["05:00.0", "05:00.2"], lambda slot: [0, 2])
    assert both == plan_remove(cfg, ["05:00.*"])  # no function left: the entry goes


@pytest.mark.parametrize(
    ("functions", "needle"),
    [([], "functions of slot 0000:05:00 are unknown"), ([0, 2], "05:00.1 is not a function")],
)
def test_split_slot_refuses_what_it_cannot_know(functions: list[int], needle: str) -> None:
    cfg = b"pci = [ '05:00.*', '06:00.0' ]\n"
    with pytest.raises(InputError, match=needle):
        plan_remove(cfg, ["05:00.1"], lambda slot: functions)
    with pytest.raises(InputError, match="guest slot 4"):
        plan_remove(SLOT, ["05:00.1"], lambda slot: [0, 1])


@pytest.mark.parametrize("spec", ["05:00.1", "0000:05:00.3,permissive=1", "05:00.*"])
def test_add_refuses_a_function_a_slot_entry_already_names(spec: str) -> None:
    with pytest.raises(InputError, match=r"already has an entry for .*'05:00\.\*@4'"):
        plan_add(SLOT, [spec])
    with pytest.raises(InputError, match="already has an entry"):
        plan_add(b"pci = [ '05:00.1' ]\n", ["05:00.*"])
    with pytest.raises(InputError, match="already has an entry"):
        plan_add(b"pci = []\n", ["07:00.0", "07:00.*"])
