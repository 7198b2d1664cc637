"""The declared state's file: what parses, what is refused (with the line and the key),
and that what pcipass writes reads back as the same state."""

from __future__ import annotations

import tomllib

import pytest

from pcipass.errors import InputError
from pcipass.model.declared import (
    AssignableItem,
    Declared,
    Ids,
    VfsItem,
    parse,
    render,
    to_json,
)

NIC_IDS = Ids(0x8086, 0x10D3, 0x8086, 0x0000)
PF_IDS = Ids(0x8086, 0x10C9, 0x1AF4, 0x1100)
GOOD = """\
version = 1

[[assignable]]
bdf = "02:00.0"
id = "8086:10d3"
subsystem = "8086:0000"
backend = "vfio"
name = "nic0"

[[vfs]]
pf = "0000:03:00.0"
id = "8086:10c9"
subsystem = "1af4:1100"
count = 2
autoprobe = false
"""


def test_a_hand_written_file_parses_with_addresses_normalised() -> None:
    assert parse(GOOD) == Declared(
        (AssignableItem("0000:02:00.0", NIC_IDS, "vfio", "nic0", False),),
        (VfsItem("0000:03:00.0", PF_IDS, 2, False),),
    )


def test_an_empty_file_declares_nothing() -> None:
    assert parse("") == Declared()


@pytest.mark.parametrize("name", ["nic0", 'a"b\\c', "tab\there", "del\x7f", "new\nline",
                                  "ü😀"])
def test_what_is_written_reads_back_the_same(name: str) -> None:
    state = Declared(
        (AssignableItem("0000:02:00.0", NIC_IDS, "xen", name, True),
         AssignableItem("0000:03:10.0", Ids(0x8086, 0x10CA, 0x1AF4, 0x1100), "vfio")),
        (VfsItem("0000:03:00.0", PF_IDS, 0), VfsItem("0000:01:00.0", PF_IDS, 4, True),
         VfsItem("0000:05:00.0", PF_IDS, 2, method="module", reload_others=True)),
    )
    text = render(state)
    assert text.startswith("# pcipass's declared host state")
    assert tomllib.loads(text)["version"] == 1
    assert parse(text) == state


@pytest.mark.parametrize(("edit", "said"), [
    (("count = 2", "count = 2\ncolour = 1"), "line 15: [[vfs]] #1 unknown key 'colour'"),
    (("backend = ", "bakend = "), "line 7: [[assignable]] #1 unknown key 'bakend'"),
    (("version = 1", "version = 1\nextra = 1"), "line 2: unknown key 'extra'"),
    (("[[vfs]]", "[[hidden]]\nbdf = \"02:00.0\"\n\n[[vfs]]"), "line 10: unknown key 'hidden'"),
    (("version = 1", "version = 2"), "line 1: version 2 is not 1"),
    (("count = 2", "count = -1"), "line 14: [[vfs]] #1 count -1 is negative"),
    (("count = 2", 'count = "2"'), "line 14: [[vfs]] #1 count must be an integer, not '2'"),
    (("count = 2", "count = true"), "line 14: [[vfs]] #1 count must be an integer, not True"),
    (("autoprobe = false", "autoprobe = 0"),
     "line 15: [[vfs]] #1 autoprobe must be a boolean, not 0"),
    (('backend = "vfio"', 'backend = "kvm"'), "line 7: [[assignable]] #1 backend 'kvm' is "
                                              "unknown"),
    (('bdf = "02:00.0"', 'bdf = "nic"'), "line 4: [[assignable]] #1 bdf 'nic' is not a PCI "
                                        "address"),
    (('id = "8086:10d3"', 'id = "8086-10d3"'), "line 5: [[assignable]] #1 id '8086-10d3' is "
                                              "not VVVV:DDDD"),
    (('id = "8086:10c9"', 'id = "808:10c9"'), "line 12: [[vfs]] #1 id '808:10c9' is not VVVV:DDDD"),
    (('subsystem = "1af4:1100"\n', ""), "line 10: [[vfs]] #1 has no 'subsystem'"),
    (("count = 2", "count = 2\ncount = 3"), "does not parse"),
    (("count = 2", 'count = 2\nmethod = "udev"'),
     "line 15: [[vfs]] #1 method 'udev' is unknown"),
    (("count = 2", "count = 2\nreload_other_devices = true"),
     'line 15: [[vfs]] #1 reload_other_devices applies to method "module" only'),
    (('name = "nic0"', "name = nic0"), "does not parse: Invalid value (at line 8, column 8)"),
])
def test_a_bad_file_is_one_error_naming_line_and_key(edit: tuple[str, str], said: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(GOOD.replace(*edit), "/etc/pcipass/host.toml")
    assert caught.value.line().startswith("/etc/pcipass/host.toml")
    assert said in caught.value.line()


def test_a_device_declared_twice_is_refused_at_its_second_entry() -> None:
    twice = GOOD + GOOD.split("\n\n")[1].replace('"nic0"', '"nic1"')
    with pytest.raises(InputError, match=r"line 17: \[\[assignable\]\] #2 0000:02:00.0 is "
                                         "declared twice"):
        parse(twice)


def test_a_table_that_is_not_an_array_of_tables_is_refused() -> None:
    with pytest.raises(InputError, match="'vfs' must be an array of tables"):
        parse('vfs = "all"\n')


def test_edits_replace_the_entry_of_the_same_address() -> None:
    state = parse(GOOD)
    item = AssignableItem("0000:02:00.0", NIC_IDS, "xen")
    assert state.with_assignable(item).assignable == (item,)
    assert state.with_vfs(VfsItem("0000:03:00.0", PF_IDS, 5)).vfs[0].count == 5
    assert state.without("0000:03:00.0") == Declared(state.assignable, ())
    assert state.addresses() == ["0000:02:00.0", "0000:03:00.0"]


def test_json_has_one_entry_per_item() -> None:
    doc = to_json(parse(GOOD))
    assert doc["assignable"] == [{"bdf": "0000:02:00.0", "id": "8086:10d3",
                                  "subsystem": "8086:0000", "backend": "vfio", "name": "nic0",
                                  "claim_at_boot": False}]
    assert doc["vfs"] == [{"pf": "0000:03:00.0", "id": "8086:10c9", "subsystem": "1af4:1100",
                           "count": 2, "autoprobe": False, "method": "sysfs",
                           "reload_other_devices": False, "vf": []}]
