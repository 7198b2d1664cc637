"""The device-field table drives `list`, `show` and the JSON; docs/json.md documents
exactly its keys (no key undocumented, no documented key missing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.model_hosts import build
from pcipass.host.real import RealHost
from pcipass.model import views
from pcipass.model.device import HostModel
from pcipass.model.discovery import discover

DOC = Path(__file__).resolve().parents[3] / "docs" / "json.md"


def documented(section: str, table: int) -> set[str]:
    """The keys in the first column of table number `table` of `section` in docs/json.md."""
    text = DOC.read_text()
    body = text.split(f"## `{section}", 1)[1].split("\n## ", 1)[0]
    tables = re.findall(r"((?:^\|.*\n)+)", body, re.M)
    rows = tables[table].splitlines()[2:]
    return {key for row in rows for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> HostModel:
    return discover(RealHost(build(tmp_path_factory.mktemp("host"))))


def test_docs_list_the_listing_keys() -> None:
    assert documented("pcipass list", 0) == set(views.LISTING_KEYS)


def test_docs_list_every_device_key() -> None:
    assert documented("pcipass list", 1) == {f.key for f in views.DEVICE_FIELDS}


def test_docs_list_every_show_key() -> None:
    added = {f.key for f in views.SHOW_FIELDS} - views.SHOW_ROWS_OF_DEVICE_FIELDS
    assert documented("pcipass show", 0) == added | {"pci_ids", "pci_ids_from"}


def test_json_keys_are_the_table(model: HostModel) -> None:
    dev = next(iter(model.devices.values()))
    assert list(views.device_json(dev)) == [f.key for f in views.DEVICE_FIELDS]
    shown = views.show_json(model, dev)
    assert list(shown)[: len(views.DEVICE_FIELDS)] == [f.key for f in views.DEVICE_FIELDS]
    assert set(shown) == {f.key for f in views.DEVICE_FIELDS} | documented("pcipass show", 0)


def test_list_columns_and_show_rows_come_from_the_table(model: HostModel) -> None:
    assert views.list_header() == ("BDF", "CLASS", "DEVICE", "DRIVER", "GROUP", "STATUS")
    dev = model.devices[min(model.devices)]
    row = views.list_row(dev)
    assert row[0] == str(dev.bdf) and row[2] == views.description(dev)
    labels = [label for label, _ in views.show_rows(views.subject(model, dev))]
    assert labels[:4] == ["device", "subsystem", "revision", "driver"]
    assert {f.row for f in views.SHOW_FIELDS if f.row} >= set(labels)


def test_docs_list_every_sriov_key() -> None:
    assert documented("pcipass sriov list", 0) == {f.key for f in views.SRIOV_PF_FIELDS} | {"vfs"}
    assert documented("pcipass sriov list", 1) == {f.key for f in views.SRIOV_VF_FIELDS}


def test_docs_list_every_vf_show_key() -> None:
    assert documented("pcipass vf show", 0) == set(views.VF_SHOW_KEYS)
    assert documented("pcipass vf show", 1) == {f.key for f in views.VF_SHOW_FIELDS}
