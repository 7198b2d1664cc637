"""Records of original drivers: persisted, and libxl's xenstore memory read too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import pcipass
from helpers.fakes import FaultyHost, xenstore
from pcipass.errors import OperationError
from pcipass.host.real import RealHost
from pcipass.host.xen import XenDevice, xen_devices
from pcipass.ops.records import Record
from pcipass.run.records import RECORDS, RecordStore
from pcipass.sim.host import create_sim


def test_records_survive_a_new_store(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    store = RecordStore(host)
    store.save("0000:05:00.0", {"driver": "ixgbe", "module": "ixgbe", "backend": "xen",
                                "name": "nic0", "driver_override": None})
    again = RecordStore(RealHost(tmp_path))
    rec = again.get("0000:05:00.0")
    assert rec == Record("0000:05:00.0", "ixgbe", "ixgbe", None, "xen", "nic0")
    assert again.has("0000:05:00.0") and again.all() == {"0000:05:00.0": rec}
    again.drop("0000:05:00.0")
    assert not RecordStore(RealHost(tmp_path)).has("0000:05:00.0")


def test_xenstore_keys_new_and_old(tmp_path: Path) -> None:
    host = FaultyHost(RealHost(tmp_path), programs=xenstore({
        "/libxl/pci/0000-05-00-0/driver_path": "/sys/bus/pci/drivers/ixgbe",
        "/libxl/pci/0000-05-00-0/name": "nic0",
        "/libxl/pci/0000-05-00-0/domid": "3",
        "/libxl/pciback/0000-06-00-0/driver_path": "/sys/bus/pci/drivers/nvme",
    }))
    assert xen_devices(host) == {
        "0000:05:00.0": XenDevice("ixgbe", "nic0", 3),
        "0000:06:00.0": XenDevice("nvme", None, None),
    }


def test_deferred_changes_need_a_flush(tmp_path: Path) -> None:
    store = RecordStore(RealHost(tmp_path))
    store.save("0000:05:00.0", {"driver": "ixgbe"}, defer=True)
    assert store.has("0000:05:00.0")
    assert not RecordStore(RealHost(tmp_path)).has("0000:05:00.0")
    store.flush()
    assert RecordStore(RealHost(tmp_path)).has("0000:05:00.0")


@pytest.mark.parametrize("text", ["{not json", '["x"]', '{"0000:05:00.0": "ixgbe"}'])
def test_damaged_record_file_is_one_clear_error_and_kept(tmp_path: Path, text: str) -> None:
    (tmp_path / RECORDS).parent.mkdir(parents=True)
    (tmp_path / RECORDS).write_text(text)
    with pytest.raises(OperationError, match="is damaged"):
        RecordStore(RealHost(tmp_path)).all()
    with pytest.raises(OperationError, match="is damaged"):
        RecordStore(RealHost(tmp_path)).save("0000:01:00.0", {"driver": "e1000e"})
    assert (tmp_path / RECORDS).read_text() == text


@pytest.mark.parametrize("value", ['{"driver": 5}', '{"name": ["x"]}', '{"backend": null}'])
def test_records_of_the_wrong_types_are_damaged_in_one_line(tmp_path: Path, value: str) -> None:
    host = create_sim(tmp_path / "sim", profile="kernel-lab")
    host.write_state_file(RECORDS, f'{{"0000:01:00.0": {value}}}')
    for args in (["assignable", "list"], ["assignable", "remove", "0000:01:00.0"]):
        res = pcipass(*args, host=host)
        assert res.code == 1 and res.out == ""
        assert res.err == (
            f"pcipass: error: the record file {host.root}/{RECORDS} is damaged (the record of "
            f"0000:01:00.0 has {next(iter(json.loads(value)))}="
            f"{next(iter(json.loads(value).values()))!r}, not a string) — restore it from a "
            "backup or fix the JSON by hand\n"
        )
