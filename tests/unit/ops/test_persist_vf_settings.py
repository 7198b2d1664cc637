"""Per-VF settings in the declared state: `[[vfs.vf]]` read by `vf set`'s parsers (errors
with line and key), declared by `state set-vf` and `vf set --persist`, converged by
`apply` after the VF counts, reported by `plan` and `boot status`."""

from __future__ import annotations

import pytest

from helpers.cli import Cli
from pcipass.errors import InputError
from pcipass.model.declared import parse, render
from pcipass.ops.persist_store import declare_vfs, load
from pcipass.sim.host import SimHost

PF, VF0, VF1 = "0000:03:00.0", "0000:03:10.0", "0000:03:10.2"
TEXT = '''version = 1
[[vfs]]
pf = "0000:03:00.0"
id = "8086:10c9"
subsystem = "1af4:1100"
count = 2

[[vfs.vf]]
index = 1
mac = "02:00:00:00:00:11"
vlan = 10
spoofchk = false
'''


def test_the_file_reads_back_as_written() -> None:
    declared = parse(TEXT)
    vf = declared.vfs[0].settings[0]
    assert (vf.index, vf.values) == (1, (("mac", "02:00:00:00:00:11"), ("vlan", 10),
                                         ("spoofchk", False)))
    assert parse(render(declared)) == declared


@pytest.mark.parametrize(("old", "new", "error"), [
    ("vlan = 10", "vlan = 5000", "line 11: [[vfs.vf]] #1 vlan: --vlan '5000' is not a number "
     "from 0 to 4094"),
    ("index = 1", "index = 2", "line 9: [[vfs.vf]] #1 VF 2 is not below the PF's count 2"),
    ("spoofchk = false", "spoof = false", "line 12: [[vfs.vf]] #1 unknown key 'spoof'"),
    ('mac = "02:00:00:00:00:11"', 'mac = "01:00:00:00:00:11"',
     "line 10: [[vfs.vf]] #1 mac: --mac 01:00:00:00:00:11 is a multicast address"),
    ("vlan = 10", "vlan = [1]", "line 11: [[vfs.vf]] #1 vlan must be a string, an integer or "
     "a boolean"),
])
def test_bad_vf_settings_name_the_line_and_key(old: str, new: str, error: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(TEXT.replace(old, new), "host.toml")
    assert caught.value.what.startswith(f"host.toml {error}")


def test_a_vf_twice_is_refused() -> None:
    twice = TEXT + "\n[[vfs.vf]]\nindex = 1\ntrust = true\n"
    with pytest.raises(InputError, match=r"line 15: \[\[vfs.vf\]\] #2 1 is declared twice"):
        parse(twice, "host.toml")


def test_declare_plan_apply_boot_status(sim: SimHost, cli: Cli) -> None:
    assert cli("state", "set-vfs", PF, "2", host=sim).code == 0
    r = cli("state", "set-vf", PF, "1", "--mac", "02:00:00:00:00:11", "--spoofchk", "off",
            host=sim)
    assert r.code == 0, r.err
    items = {(i["kind"], i["bdf"]): i["status"]
             for i in cli("plan", "--json", host=sim).json()["items"]}
    assert items[("vf", VF1)] == "waits"
    r = cli("apply", host=sim)
    assert r.code == 0, r.err
    assert "ip link set enp3s0 vf 1 mac 02:00:00:00:00:11" in r.out.splitlines()
    shown = {v["vf"]: v for v in cli("vf", "show", PF, "--json", host=sim).json()["vfs"]}
    assert (shown[1]["mac"], shown[1]["spoofchk"]) == ("02:00:00:00:00:11", False)
    assert cli("plan", "--json", host=sim).json()["converged"] is True
    boot = cli("boot", "status", "--json", host=sim).json()["boot"]
    rows = {r["bdf"]: r["verdict"] for r in boot}
    assert rows[VF1] == "active now"
    assert cli("vf", "set", PF, "1", "--mac", "02:00:00:00:00:33", host=sim).code == 0
    items = {i["bdf"]: i for i in cli("plan", "--json", host=sim).json()["items"]}
    assert items[VF1]["status"] == "differs"
    assert items[VF1]["detail"] == "mac 02:00:00:00:00:33, declared 02:00:00:00:00:11"


def test_set_vf_refusals_write_nothing(sim: SimHost, cli: Cli) -> None:
    r = cli("state", "set-vf", PF, "0", "--mac", "02:00:00:00:00:11", host=sim)
    assert r.code == 2 and "has no declared VF count" in r.err
    assert cli("state", "set-vfs", PF, "2", host=sim).code == 0
    for args, said in ((("5", "--trust", "on"), "VF 5 is not below the declared count 2"),
                       (("0", "--link-state", "auto"), "igb (0000:03:00.0) has no VF "
                        "--link-state setting"),
                       (("0",), "nothing to set")):
        r = cli("state", "set-vf", PF, *args, host=sim)
        assert r.code == 2 and said in r.err, r.err
    assert load(sim).vfs[0].settings == ()


def test_vf_set_and_reset_persist(sim: SimHost, cli: Cli) -> None:
    assert cli("sriov", "enable", PF, "--vfs", "2", host=sim).code == 0
    r = cli("vf", "set", PF, "0", "--vlan", "20", "--persist", host=sim)
    assert r.code == 0, r.err
    item = load(sim).vfs[0]  # no VF count was declared: the one the PF has now
    assert (item.count, item.settings[0].index, item.settings[0].values) == (2, 0,
                                                                            (("vlan", 20),))
    r = cli("vf", "reset", PF, "0", "--persist", host=sim)
    assert r.code == 0, r.err
    assert load(sim).vfs[0].settings == ()
    r = cli("state", "set-vf", PF, "1", "--trust", "on", host=sim)
    assert r.code == 0
    assert cli("state", "set-vf", PF, "1", "--clear", host=sim).code == 0
    assert load(sim).vfs[0].settings == ()


def test_fewer_vfs_than_declared_settings_is_refused_unless_asked(sim: SimHost,
                                                                  cli: Cli) -> None:
    assert cli("state", "set-vfs", PF, "3", host=sim).code == 0
    for vf, setting in (("1", "--vlan"), ("2", "--vlan")):
        assert cli("state", "set-vf", PF, vf, setting, f"1{vf}", host=sim).code == 0
    before = load(sim)
    r = cli("state", "set-vfs", PF, "1", host=sim)
    assert r.code == 2
    assert r.err == (f"pcipass: error: 1 VFs on {PF} would drop the declared settings of "
                     "VF 1 (vlan 11), VF 2 (vlan 12) — give --drop-vf-settings to drop them, "
                     "or declare 3 VFs or more\n")
    assert load(sim) == before
    assert cli("state", "set-vfs", PF, "2", "--drop-vf-settings", host=sim).code == 0
    assert [(v.index, v.values) for v in load(sim).vfs[0].settings] == [(1, (("vlan", 11),))]
    assert cli("state", "set-vfs", PF, "4", host=sim).code == 0  # more VFs keep them all
    assert [v.index for v in load(sim).vfs[0].settings] == [1]


def test_the_library_refuses_it_too(sim: SimHost, cli: Cli) -> None:
    assert cli("state", "set-vfs", PF, "2", host=sim).code == 0
    assert cli("state", "set-vf", PF, "1", "--trust", "on", host=sim).code == 0
    with pytest.raises(InputError, match=r"would drop the declared settings of VF 1 \(trust on\)"):
        declare_vfs(sim, PF, 1)
    assert declare_vfs(sim, PF, 1, drop_vf_settings=True).count == 1
    assert load(sim).vfs[0].settings == ()


def test_sriov_persist_refuses_to_drop_settings_too(sim: SimHost, cli: Cli) -> None:
    numvfs = f"sys/bus/pci/devices/{PF}/sriov_numvfs"
    assert cli("sriov", "enable", PF, "--vfs", "2", "--persist", host=sim).code == 0
    assert cli("state", "set-vf", PF, "1", "--vlan", "11", host=sim).code == 0
    before = load(sim)
    drop = (f"pcipass: error: {{}} VFs on {PF} would drop the declared settings of VF 1 "
            "(vlan 11) — give --drop-vf-settings to drop them, or declare 2 VFs or more\n")
    r = cli("sriov", "enable", PF, "--vfs", "1", "--persist", host=sim)
    assert (r.code, r.err) == (2, drop.format(1))
    r = cli("sriov", "disable", PF, "--persist", host=sim)
    assert (r.code, r.err) == (2, drop.format(0))
    assert load(sim) == before and sim.try_read_text(numvfs) == "2"  # nothing was done
    r = cli("sriov", "disable", PF, "--drop-vf-settings", host=sim)
    assert (r.code, r.err) == (2, "pcipass: error: --drop-vf-settings applies to --persist "
                               "only — add --persist, or leave out --drop-vf-settings\n")
    r = cli("sriov", "enable", PF, "--vfs", "1", "--persist", "--drop-vf-settings", host=sim)
    assert r.code == 0, r.err
    assert sim.try_read_text(numvfs) == "1"
    assert [(v.count, v.settings) for v in load(sim).vfs] == [(1, ())]


def test_state_set_vfs_declares_the_method(sim: SimHost, cli: Cli) -> None:
    r = cli("state", "set-vfs", PF, "2", "--reload-other-devices", host=sim)
    assert (r.code, r.err) == (2, "pcipass: error: --reload-other-devices applies to --method "
                               "module only — add --method module, or leave out "
                               "--reload-other-devices\n")
    assert load(sim).vfs == ()
    r = cli("state", "set-vfs", PF, "2", "--method", "module", "--reload-other-devices",
            host=sim)
    assert r.code == 0, r.err
    assert [(v.count, v.method, v.reload_others) for v in load(sim).vfs] == [(2, "module", True)]


def test_state_set_vfs_refuses_a_module_method_the_driver_cannot_take(sim: SimHost,
                                                                      cli: Cli) -> None:
    nvme = "0000:01:00.0"  # nvme has no VF count parameter: `sriov enable --method module` says
    enable = cli("sriov", "enable", nvme, "--vfs", "2", "--method", "module", host=sim)
    assert enable.code == 2
    r = cli("state", "set-vfs", nvme, "2", "--method", "module", host=sim)
    assert (r.code, r.err) == (2, enable.err)
    assert load(sim).vfs == ()  # not declared, so `apply` is not left to refuse it at boot
