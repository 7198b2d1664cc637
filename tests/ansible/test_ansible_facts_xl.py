"""pcipass_facts and pcipass_xl_pci, run in-process as Ansible runs them, on a simulated
Xen host: the facts are the CLI's JSON documents; xl config edits are idempotent, keep every
other byte, and write nothing in check mode."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

from conftest import RunModule
from helpers.cli import pcipass
from helpers.fleet import tree_digest
from pcipass.sim.host import SimHost

facts = importlib.import_module("ansible_collections.pcipass.host.plugins.modules.pcipass_facts")
xl_pci = importlib.import_module(
    "ansible_collections.pcipass.host.plugins.modules.pcipass_xl_pci")

CFG = "/etc/xen/guest1.cfg"
TEXT = '# guest one\nname = "guest1"\nmemory = 1024\npci = [ "0000:03:00.0" ]  # its NIC\n'


def test_facts_are_the_cli_documents(sim: SimHost, run_module: RunModule) -> None:
    assert pcipass("sriov", "enable", "0000:05:00.0", "--vfs", "2", host=sim).code == 0
    before = tree_digest(sim.directory)
    result = run_module(facts, {"sim": str(sim.directory), "doctor_devices": ["enp5s0f0"]},
                        check=True)
    assert tree_digest(sim.directory) == before and result["changed"] is False
    found = result["ansible_facts"]["pcipass"]
    assert found["devices"] == pcipass("list", "--json", host=sim).json()["devices"]
    ixgbe = [d["bdf"] for d in found["devices"] if d["device_id"] == "10fb"]
    assert ixgbe == ["0000:05:00.0", "0000:05:00.1"]
    cli_sriov = pcipass("sriov", "list", "--json", host=sim).json()["sriov"]
    assert [{k: v for k, v in pf.items() if k not in ("vendor_id", "device_id")}
            for pf in found["sriov"]] == cli_sriov
    assert [(pf["vendor_id"], pf["device_id"], pf["num_vfs"]) for pf in found["sriov"]] == \
        [("8086", "10fb", 2), ("8086", "10fb", 0)]
    doctor = pcipass("doctor", "--json", "enp5s0f0", host=sim)
    assert found["doctor"]["checks"] == doctor.json()["checks"]
    statuses = {c["status"] for c in found["doctor"]["checks"]}
    assert found["doctor"]["verdict"] == ("fail" if doctor.code == 1 else
                                          "warn" if "warn" in statuses else "pass")
    assert found["host"]["kind"] == "xen" and found["host"]["dom0"] is True
    assert found["assignable"] == [] and found["declared"] == {"assignable": [], "vfs": []}


def test_every_returned_key_is_documented(sim: SimHost, run_module: RunModule) -> None:
    assert pcipass("sriov", "enable", "0000:05:00.0", "--vfs", "2", host=sim).code == 0
    found = run_module(facts, {"sim": str(sim.directory)})["ansible_facts"]["pcipass"]
    documented = yaml.safe_load(facts.RETURN)["ansible_facts"]["contains"]["pcipass"]["contains"]
    assert set(found) == set(documented)
    for key, value in (("host", found["host"]), ("devices", found["devices"][0]),
                       ("sriov", found["sriov"][0]), ("sriov", found["sriov"][0]["vfs"][0]),
                       ("doctor", found["doctor"])):
        named = set(re.findall(r"[a-z_0-9]+", str(documented[key]["description"])))
        assert set(value) <= named, (key, set(value) - named)


def test_facts_without_doctor(sim: SimHost, run_module: RunModule) -> None:
    assert pcipass("assignable", "add", "0000:01:00.0", "--backend", "xen", host=sim).code == 0
    found = run_module(facts, {"sim": str(sim.directory), "doctor": False})
    pcipass_facts = found["ansible_facts"]["pcipass"]
    assert pcipass_facts["doctor"] is None and pcipass_facts["host"]["kind"] is None
    assert [a["bdf"] for a in pcipass_facts["assignable"]] == ["0000:01:00.0"]
    unknown = run_module(facts, {"sim": str(sim.directory), "doctor_devices": ["eth9"]})
    assert unknown["failed"] and "eth9" in unknown["msg"]


def _config(sim: SimHost) -> Path:
    path = sim.root / CFG.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_xl_pci_present_is_idempotent_and_keeps_every_other_byte(
        sim: SimHost, run_module: RunModule) -> None:
    path = _config(sim)
    args = {"sim": str(sim.directory), "path": CFG, "device": "0000:05:10.0,permissive=1"}
    checked = run_module(xl_pci, args, check=True, diff=True)
    assert checked["changed"] is True and path.read_text() == TEXT
    assert "backup_file" not in checked
    assert checked["diff"]["after"] == TEXT.replace(
        '"0000:03:00.0" ]', '"0000:03:00.0", "0000:05:10.0,permissive=1" ]')
    added = run_module(xl_pci, args)
    assert path.read_text() == checked["diff"]["after"]
    assert added["backup_file"] == f"{path}.pcipass-bak"
    assert added["pci"] == ["0000:03:00.0", "0000:05:10.0,permissive=1"]
    again = run_module(xl_pci, {**args, "device": "05:10.0,permissive=1"})
    assert again["changed"] is False and path.read_text() == checked["diff"]["after"]


def test_xl_pci_replaces_other_options_and_removes(sim: SimHost, run_module: RunModule) -> None:
    path = _config(sim)
    base = {"sim": str(sim.directory), "path": CFG}
    replaced = run_module(xl_pci, {**base, "device": "0000:03:00.0,permissive=1"})
    assert replaced["changed"] is True and replaced["pci"] == ["0000:03:00.0,permissive=1"]
    removed = run_module(xl_pci, {**base, "device": "03:00.0", "state": "absent"})
    assert removed["changed"] is True and removed["pci"] == []
    assert path.read_text().startswith('# guest one\nname = "guest1"\nmemory = 1024\n')
    gone = run_module(xl_pci, {**base, "device": "03:00.0", "state": "absent"})
    assert gone["changed"] is False


def test_xl_pci_refuses_with_pcipass_s_line(sim: SimHost, run_module: RunModule) -> None:
    path = _config(sim)
    base = {"sim": str(sim.directory), "path": CFG}
    bad = run_module(xl_pci, {**base, "device": "05:00.0,permisive=1"})
    cli = pcipass("config", "pci", "add", CFG, "05:00.0,permisive=1", host=sim)
    assert cli.code == 2 and cli.err == f"pcipass: error: {bad['msg']}\n"
    assert "permisive" in bad["msg"] and bad["pcipass_error"] == "input"
    path.write_text("pci = [ '03:00.0' \n", encoding="utf-8")
    broken = run_module(xl_pci, {**base, "device": "05:00.0"})
    cli = pcipass("config", "pci", "add", CFG, "05:00.0", host=sim)
    assert cli.err == f"pcipass: error: {broken['msg']}\n"
    assert broken["msg"].startswith("refusing to edit a config xl cannot parse")
    missing = run_module(xl_pci, {**base, "path": "/etc/xen/nope.cfg", "device": "05:00.0"})
    assert missing["failed"] and "nope.cfg" in missing["msg"]
