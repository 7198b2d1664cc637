"""`--vf INDEXES`: index lists and ranges, against the PF's enabled VFs."""

from __future__ import annotations

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError
from pcipass.model.device import Device, HostModel, SriovPF, Status
from pcipass.ops.sriov import vf_indexes, vfs_by_index

PF = "0000:03:00.0"
VFS = ("0000:03:10.0", "0000:03:10.2", "0000:03:10.4", "0000:03:10.6")


def model(num: int, present: int | None = None) -> HostModel:
    vfs = tuple(PciAddress.parse(v) for v in VFS[:num])
    pf = Device(PciAddress.parse(PF), 0x8086, 0x10C9, driver="igb", status=Status.HOST,
                sriov=SriovPF(7, num, 0x80, 2, 0x10CA, True, vfs))
    devs = [pf, *(Device(a, 0x8086, 0x10CA, driver="igbvf", physfn=pf.bdf)
                  for a in vfs[:present if present is not None else num])]
    return HostModel({d.bdf: d for d in devs}, {}, True)


@pytest.mark.parametrize(("text", "want"), [
    ("0", [0]), ("0-3", [0, 1, 2, 3]), ("0,2-3", [0, 2, 3]), ("3,1,1-2", [1, 2, 3]),
    (" 1 , 2", [1, 2]),
])
def test_indexes_and_ranges(text: str, want: list[int]) -> None:
    assert vf_indexes(text, 7) == want


@pytest.mark.parametrize("text", ["", "a", "-1", "1-", "3-1", "1,,2", "0x1", "1-2-3",
                                  "\u00b2", "\u0663", "1_0", "0-\u0663"])
def test_malformed_lists_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="bad VF index list") as exc:
        vf_indexes(text, 7)
    assert "--vf 0,2-3" in exc.value.fix


@pytest.mark.parametrize("text", ["0-99999999999999999999", "0-100000000", "7", "2,7-9"])
def test_indexes_past_totalvfs_are_refused_before_expanding(text: str) -> None:
    with pytest.raises(InputError, match=r"is past the PF's sriov_totalvfs \(7\)") as exc:
        vf_indexes(text, 7)
    assert exc.value.fix == "give indexes 0-6"


def test_the_enable_hint_never_asks_for_more_than_totalvfs() -> None:
    with pytest.raises(InputError, match="sriov_totalvfs") as exc:
        vfs_by_index(model(2), PF, "0-100000000")
    assert "--vfs" not in exc.value.fix
    with pytest.raises(InputError) as exc:
        vfs_by_index(model(2), PF, "6")
    assert f"sriov enable {PF} --vfs 7`" in exc.value.fix


def test_indexes_become_the_vf_bdfs() -> None:
    assert vfs_by_index(model(4), PF, "0,2-3") == (VFS[0], VFS[2], VFS[3])
    assert vfs_by_index(model(4), "03:00.0", "1") == (VFS[1],)


def test_an_index_past_the_enabled_count_is_refused_with_the_count() -> None:
    with pytest.raises(InputError) as exc:
        vfs_by_index(model(2), PF, "1-3")
    assert exc.value.what == f"VF index 2 is past the 2 VFs enabled on {PF} (indexes 0-1)"
    assert f"sriov enable {PF} --vfs 4" in exc.value.fix
    with pytest.raises(InputError, match=r"past the 0 VFs enabled on .* \(no index\)"):
        vfs_by_index(model(0), PF, "0")


def test_a_vf_enabled_but_not_on_the_bus_is_an_operation_error() -> None:
    with pytest.raises(OperationError, match=f"VF {VFS[1]} of {PF} is enabled but not"):
        vfs_by_index(model(2, present=1), PF, "0-1")


def test_the_pf_must_be_a_pf() -> None:
    with pytest.raises(InputError, match="is an SR-IOV VF, not a PF"):
        vfs_by_index(model(2), VFS[0], "0")
