"""pcipass_state, run in-process as Ansible runs it, on a simulated Xen host: check mode
plans and writes nothing, apply converges, a second run is ok, and every bad input or
refusal fails the task with one line and nothing written."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
import yaml

from conftest import RunModule
from helpers.cli import pcipass
from helpers.fleet import tree_digest
from pcipass.model.declared import STATE_FILE
from pcipass.ops.persist_store import declare_vfs
from pcipass.sim.host import SimHost

state = importlib.import_module("ansible_collections.pcipass.host.plugins.modules.pcipass_state")
common = importlib.import_module(
    "ansible_collections.pcipass.host.plugins.module_utils.pcipass_common")
declare = importlib.import_module(
    "ansible_collections.pcipass.host.plugins.module_utils.pcipass_declare")

PF = "0000:05:00.0"
GUEST_VFS = ["0000:05:10.0", "0000:05:10.2", "0000:05:10.4", "0000:05:10.6"]
ROOT_DISK = "0000:00:17.0"  # the AHCI controller of sda, which holds /
OTHER_PF = "0000:05:00.1"


def example(sim: SimHost, **extra: Any) -> dict[str, Any]:
    """The README's task: 7 VFs on the 82599 PF, its VFs 0-3 on pciback."""
    return {"sim": str(sim.directory), "vfs": [{"pf": PF, "id": "8086:10fb", "count": 7}],
            "assignable": [{"pf": PF, "vfs": "0-3", "backend": "xen"}], **extra}


def driver(sim: SimHost, bdf: str) -> str | None:
    return sim.link_name(f"sys/bus/pci/devices/{bdf}/driver")


def test_check_mode_returns_the_plan_and_touches_nothing(sim: SimHost,
                                                         run_module: RunModule) -> None:
    before = tree_digest(sim.directory)
    result = run_module(state, example(sim), check=True, diff=True)
    assert tree_digest(sim.directory) == before
    assert result["changed"] is True and result["converged"] is False
    steps = [s["shell"] for s in result["plan"]["plans"][0]["steps"]]
    assert steps == [f"echo 7 > /sys/bus/pci/devices/{PF}/sriov_numvfs"]
    assert [p["bdf"] for p in result["plan"]["pending"]] == GUEST_VFS
    declared, steps_diff = result["diff"]
    assert "count = 7" in declared["after"] and "count = 7" not in declared["before"]
    assert f"echo 7 > /sys/bus/pci/devices/{PF}/sriov_numvfs" in steps_diff["prepared"]
    assert "(VF 3 of 0000:05:00.0): declared once the VF exists" in steps_diff["prepared"]


def test_diff_before_is_the_file_as_it_is(sim: SimHost, run_module: RunModule) -> None:
    absent = run_module(state, example(sim, apply=False), check=True, diff=True)
    assert absent["diff"][0]["before"] == ""  # no host.toml yet: created, as --dry-run says
    run_module(state, example(sim, apply=False))
    text = sim.try_read_text(STATE_FILE)
    assert text is not None
    edited = text.replace("count = 7", "count = 7  # ask Bob first")
    sim.write_state_file(STATE_FILE, edited)
    other = run_module(state, {"sim": str(sim.directory), "apply": False,
                               "vfs": [{"pf": OTHER_PF, "count": 2}]}, check=True, diff=True)
    assert other["diff"][0]["before"] == edited  # the comment the write drops is shown going
    assert "ask Bob" not in other["diff"][0]["after"]
    same = run_module(state, example(sim, apply=False), check=True, diff=True)
    assert same["changed"] is False and same["diff"][0]["after"] == edited  # not rewritten


def test_apply_converges_and_a_second_run_is_ok(sim: SimHost, run_module: RunModule) -> None:
    first = run_module(state, example(sim))
    assert first["changed"] is True and first["converged"] is True
    assert sim.try_read_text(f"sys/bus/pci/devices/{PF}/sriov_numvfs") == "7"
    assert [driver(sim, v) for v in GUEST_VFS] == ["pciback"] * 4
    assert driver(sim, "0000:05:11.0") == "ixgbevf"  # VF 4 stays with the host
    assert [a["bdf"] for a in first["declared"]["assignable"]] == GUEST_VFS
    assert [f["path"] for f in first["files"]] == ["/etc/systemd/system/pcipass-apply.service"]
    assert pcipass("plan", "--json", host=sim).json()["converged"] is True
    text = sim.try_read_text(STATE_FILE)
    second = run_module(state, example(sim), diff=True)
    assert second["changed"] is False and second["applied"] == [] and second["converged"]
    assert sim.try_read_text(STATE_FILE) == text
    assert second["diff"][0]["before"] == second["diff"][0]["after"]


def test_a_guard_fails_the_task_with_pcipass_s_line_before_anything_is_written(
        sim: SimHost, run_module: RunModule) -> None:
    before = tree_digest(sim.directory)
    result = run_module(state, example(sim, assignable=[{"device": ROOT_DISK,
                                                         "backend": "xen"}]))
    assert "holds the root filesystem" in result["msg"]
    assert result["pcipass_error"] == "operation"
    assert tree_digest(sim.directory) == before
    assert pcipass("state", "add-assignable", ROOT_DISK, "--backend", "xen", host=sim).code == 0
    cli = pcipass("apply", host=sim)  # the same declaration, applied by the CLI
    assert cli.code == 1 and f"pcipass: error: {result['msg']}\n" == cli.err


def test_another_card_at_the_address_fails_with_nothing_changed(sim: SimHost,
                                                                run_module: RunModule) -> None:
    before = tree_digest(sim.directory)
    result = run_module(state, {"sim": str(sim.directory),
                                "vfs": [{"pf": PF, "id": "15b3:1017", "count": 2}]})
    assert result["msg"].startswith(f"PF {PF} is 8086:10fb, not the 15b3:1017 the task declares")
    assert result["pcipass_error"] == "input"
    assert tree_digest(sim.directory) == before


@pytest.mark.parametrize(("args", "message"), [
    ({"vfs": [{"pf": PF, "count": "seven"}]},
     "we were unable to convert to int"),
    ({"vfs": [{"pf": PF, "count": 2, "colour": "red"}]},
     "Unsupported parameters for (basic.py) module: vfs.colour"),
    ({"assignable": [{"device": PF, "pf": PF, "vfs": "0"}]},
     "parameters are mutually exclusive: device|pf, device|vfs found in assignable"),
    ({"assignable": [{"backend": "xen"}]},
     "one of the following is required: device, pf found in assignable"),
    ({"assignable": [{"device": PF, "backend": "kvm"}]},
     "value of backend must be one of: auto, xen, vfio, got: kvm found in assignable"),
    ({"assignable": [{"pf": PF, "vfs": "0-1", "name": "nic"}]},
     "name 'nic' is for one device, and vfs '0-1' names 2"),
    ({"vfs": [{"pf": PF, "count": 2}], "assignable": [{"pf": PF, "vfs": "2"}]},
     f"VF 2 of {PF} is past the 2 VFs the host will have"),
    ({"vfs": [{"pf": PF, "count": 64}]}, f"64 VFs is not possible on {PF}"),
    ({"vfs": [{"pf": "0000:03:00.0", "count": 2}]}, "0000:03:00.0 is not an SR-IOV PF"),
    ({"assignable": [{"device": ""}]}, "no PCI device has a network interface named ''"),
    ({"vfs": [{"pf": PF, "count": 2, "settings": [{"index": -1, "vlan": 5}]}]},
     f"VF -1 is not a VF index of {PF}"),
    ({"vfs": [{"pf": PF, "count": 2}, {"pf": "enp5s0f0", "count": 4}]},
     f"vfs names {PF} twice"),
    ({"vfs": [{"pf": PF, "count": 2, "settings": [{"index": 0, "mac": "02:00:00:00:00:01"},
                                                  {"index": 0, "vlan": 5}]}]},
     f"settings of {PF} name VF 0 twice"),
    ({"assignable": [{"device": "0000:01:00.0", "backend": "xen"},
                     {"device": "01:00.0", "backend": "vfio"}]},
     "assignable names 0000:01:00.0 twice"),
    ({"vfs": [{"pf": PF, "count": 2}], "assignable": [{"pf": PF, "vfs": "0-1"},
                                                      {"pf": PF, "vfs": "1"}]},
     "assignable names 0000:05:10.2 twice"),
])
def test_bad_input_fails_with_one_line_and_nothing_written(
        sim: SimHost, run_module: RunModule, args: dict[str, Any], message: str) -> None:
    before = tree_digest(sim.directory)
    result = run_module(state, {"sim": str(sim.directory), **args})
    assert message in result["msg"] and "\n" not in result["msg"]
    assert tree_digest(sim.directory) == before


def test_sim_and_root_are_exclusive_and_root_must_be_a_host_tree(
        sim: SimHost, run_module: RunModule, tmp_path: Any) -> None:
    both = run_module(state, {"sim": str(sim.directory), "root": str(tmp_path)})
    assert both["msg"] == "parameters are mutually exclusive: sim|root"
    empty = run_module(state, {"root": str(tmp_path)})
    assert empty["msg"].startswith(f"root={tmp_path} is not a host tree: it has no sys/bus/pci")


def test_pcipass_missing_or_too_old(sim: SimHost, run_module: RunModule,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "PCIPASS_IMPORT_ERROR", "ModuleNotFoundError: pcipass")
    missing = run_module(state, example(sim))
    assert missing["msg"].startswith("Failed to import the required Python library (pcipass)")
    monkeypatch.undo()
    monkeypatch.setattr(common.pcipass, "__version__", "0.0.9")
    old = run_module(state, example(sim))
    assert "pcipass 0.0.9 at" in old["msg"] and "needs pcipass 0.1.0 or later" in old["msg"]
    monkeypatch.undo()
    monkeypatch.setattr(common, "NEEDED", (*common.NEEDED, "pcipass.ops.fleet_state"))
    lacking = run_module(state, example(sim))
    assert "it has no pcipass.ops.fleet_state" in lacking["msg"]
    monkeypatch.setattr(common, "NEEDED", (*common.NEEDED[:-1], "pcipass.xlcfg_edit:fleet"))
    unnamed = run_module(state, example(sim))
    assert "it has no pcipass.xlcfg_edit.fleet" in unnamed["msg"]


def test_pcipass_without_a_library_it_needs(sim: SimHost, run_module: RunModule,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """pcipass importable (PYTHONPATH, pip --no-deps) but click missing for the interpreter
    Ansible picked: one line naming what is missing, not a module traceback."""
    import sys  # noqa: PLC0415

    monkeypatch.delitem(sys.modules, "pcipass.cli.context")
    monkeypatch.setitem(sys.modules, "click", None)
    result = run_module(state, example(sim))
    assert result["msg"].startswith("pcipass 0.1.0 at ")
    assert "cannot be used: it needs the Python library click" in result["msg"]
    assert sys.executable in result["msg"] and "\n" not in result["msg"]


def test_version_parts() -> None:
    assert common._version("0.1.0") == (0, 1, 0)
    assert common._version("1.2rc3") == (1, 2)
    assert common._version("0.10") > common._version("0.9.5")


def test_apply_false_declares_only(sim: SimHost, run_module: RunModule) -> None:
    result = run_module(state, example(sim, apply=False))
    assert result["changed"] is True and result["converged"] is False
    assert sim.try_read_text(f"sys/bus/pci/devices/{PF}/sriov_numvfs") == "0"
    assert [v["count"] for v in result["declared"]["vfs"]] == [7]
    assert result["declared"]["assignable"] == []  # VFs that do not exist cannot be keyed
    again = run_module(state, example(sim, apply=False, assignable=[]))
    assert again["changed"] is False


def test_the_vf_count_s_method_is_declared(sim: SimHost, run_module: RunModule) -> None:
    task = {"sim": str(sim.directory), "apply": False,
            "vfs": [{"pf": PF, "count": 2, "method": "module", "reload_other_devices": True}]}
    declared = run_module(state, task)["declared"]["vfs"]
    assert [(v["method"], v["reload_other_devices"]) for v in declared] == [("module", True)]
    assert pcipass("state", "show", "--json", host=sim).json()["vfs"][0]["method"] == "module"
    assert run_module(state, task)["changed"] is False
    text = sim.try_read_text(STATE_FILE)
    alone = run_module(state, {**task, "vfs": [{"pf": PF, "count": 2,
                                                "reload_other_devices": True}]})
    assert alone["msg"].startswith("reload_other_devices applies to method: module only")
    assert sim.try_read_text(STATE_FILE) == text


def test_entries_keep_their_place_and_purge_drops_the_rest(sim: SimHost,
                                                           run_module: RunModule) -> None:
    other = "0000:05:00.1"
    two = {"sim": str(sim.directory), "apply": False,
           "vfs": [{"pf": PF, "count": 2}, {"pf": other, "count": 3}]}
    assert run_module(state, two)["changed"] is True
    again = run_module(state, {**two, "vfs": [{"pf": PF, "count": 2}]})
    assert again["changed"] is False  # re-declaring the first entry keeps the file as it is
    purged = run_module(state, {**two, "vfs": [{"pf": other, "count": 3}], "purge": True})
    assert purged["changed"] is True
    assert [v["pf"] for v in purged["declared"]["vfs"]] == [other]


def test_a_failed_apply_puts_the_declared_state_back(sim: SimHost, run_module: RunModule,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.errors import OperationError  # noqa: PLC0415

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OperationError("xl pci-assignable-add failed", "see `xl dmesg`")

    monkeypatch.setattr(declare, "apply", refuse)
    result = run_module(state, example(sim))
    assert result["msg"] == ("xl pci-assignable-add failed (the declared state was put back "
                             "as it was) — see `xl dmesg`")
    assert not sim.exists(STATE_FILE)


def test_an_edit_another_pcipass_makes_while_the_task_plans_is_kept(
        sim: SimHost, run_module: RunModule, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = declare.refuse_unfit

    def meanwhile(*args: Any) -> None:  # after the task read the state file, before it writes
        checked(*args)
        declare_vfs(SimHost(sim.directory), OTHER_PF, 2)  # `pcipass state set-vfs` elsewhere

    monkeypatch.setattr(declare, "refuse_unfit", meanwhile)
    result = run_module(state, example(sim))
    assert sorted(v["pf"] for v in result["declared"]["vfs"]) == [PF, OTHER_PF]
    shown = pcipass("state", "show", "--json", host=sim).json()
    assert sorted((v["pf"], v["count"]) for v in shown["vfs"]) == [(PF, 7), (OTHER_PF, 2)]
    assert [a["bdf"] for a in shown["assignable"]] == GUEST_VFS
    assert sim.try_read_text(f"sys/bus/pci/devices/{OTHER_PF}/sriov_numvfs") == "2"
    assert result["converged"] is True


def test_a_failed_apply_keeps_an_edit_another_pcipass_made_after_the_task_s_write(
        sim: SimHost, run_module: RunModule, monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.errors import OperationError  # noqa: PLC0415

    def edited_then_refused(*_args: Any, **_kwargs: Any) -> None:
        declare_vfs(SimHost(sim.directory), OTHER_PF, 2)
        raise OperationError("xl pci-assignable-add failed", "see `xl dmesg`")

    monkeypatch.setattr(declare, "apply", edited_then_refused)
    result = run_module(state, example(sim))
    assert result["msg"] == ("xl pci-assignable-add failed (the declared state keeps the "
                             "task's items: another pcipass changed it meanwhile) — see `xl "
                             "dmesg`")
    shown = pcipass("state", "show", "--json", host=sim).json()
    assert sorted((v["pf"], v["count"]) for v in shown["vfs"]) == [(PF, 7), (OTHER_PF, 2)]


def test_a_failed_apply_puts_back_the_file_as_it_was_under_the_lock(
        sim: SimHost, run_module: RunModule, monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.errors import OperationError  # noqa: PLC0415

    declare_vfs(sim, OTHER_PF, 2)
    text = sim.try_read_text(STATE_FILE)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OperationError("xl pci-assignable-add failed", "see `xl dmesg`")

    monkeypatch.setattr(declare, "apply", refuse)
    result = run_module(state, example(sim))
    assert result["msg"].endswith("(the declared state was put back as it was) — see `xl dmesg`")
    assert sim.try_read_text(STATE_FILE) == text


def test_a_declared_device_that_was_replaced_stops_the_task(sim: SimHost,
                                                            run_module: RunModule) -> None:
    assert run_module(state, {"sim": str(sim.directory), "apply": False,
                              "vfs": [{"pf": PF, "count": 2}]})["changed"] is True
    text = sim.try_read_text(STATE_FILE)
    assert text is not None
    sim.write_state_file(STATE_FILE, text.replace('id = "8086:10fb"', 'id = "8086:10fc"'))
    result = run_module(state, {"sim": str(sim.directory),
                                "assignable": [{"device": "0000:01:00.0"}]})
    assert result["msg"].startswith("the declared state does not fit the host, nothing was "
                                    f"applied: vfs {PF}: changed")
    assert driver(sim, "0000:01:00.0") == "nouveau"


def test_vf_settings_are_declared_and_applied_after_the_count(sim: SimHost,
                                                              run_module: RunModule) -> None:
    macs = [{"index": i, "mac": f"02:00:0a:00:00:{i:02x}"} for i in range(7)]
    task = example(sim)
    task["vfs"][0]["settings"] = [*macs[:6], {**macs[6], "vlan": 10, "spoofchk": False}]
    checked = run_module(state, task, check=True)
    assert [i["status"] for i in checked["plan"]["items"] if i["kind"] == "vf"] == ["waits"] * 7
    first = run_module(state, task)
    assert first["changed"] is True and first["converged"] is True
    vfs = pcipass("sriov", "list", PF, "--json", host=sim).json()["sriov"][0]["vfs"]
    assert [v["admin_mac"] for v in vfs] == [m["mac"] for m in macs]
    assert (vfs[6]["vlan"], vfs[6]["spoofchk"]) == (10, False)
    assert "spoofchk = false" in (sim.try_read_text(STATE_FILE) or "")
    assert first["declared"]["vfs"][0]["vf"][6] == {"index": 6, "mac": macs[6]["mac"],
                                                    "vlan": 10, "spoofchk": False}
    documented = yaml.safe_load(state.RETURN)["declared"]["contains"]
    for key, entries in first["declared"].items():  # every key is named in RETURN
        doc = documented[key]
        named = {*re.findall(r"[a-z_]+", str(doc["description"])), *doc.get("contains", {})}
        assert set(entries[0]) <= named, (key, entries[0], named)
    assert run_module(state, task)["changed"] is False
    zero = [{"index": 0, "mac": "00:00:00:00:00:00"}]
    bad = run_module(state, {**task, "vfs": [{"pf": PF, "count": 7, "settings": zero}]})
    assert "mac" in bad["msg"].lower() and "\n" not in bad["msg"]
