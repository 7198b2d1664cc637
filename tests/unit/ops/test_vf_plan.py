"""VF settings planners: the settings table's parsers, target refusals, one step per netlink
attribute with its undo, the snapshot before the first change, and `vf reset`."""

from __future__ import annotations

from typing import Any

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError
from pcipass.host.netlink import KEYS, VfState
from pcipass.model.device import Device, HostModel, NetInterface, SriovPF, Status
from pcipass.ops import vf as ops_vf
from pcipass.run.plan import Action, CheckKind

PF, NVME = "0000:03:00.0", "0000:01:00.0"
VFS = ("0000:03:10.0", "0000:03:10.2")
NEW = VfState(0, "00:00:00:00:00:00", 0, 0, True, False, "auto", 0, 0)


def model(num: int = 2, driver: str | None = "igb", net: bool = True) -> HostModel:
    sriov = SriovPF(7, num, 0x80, 2, 0x10CA, True, tuple(PciAddress.parse(v) for v in VFS[:num]))
    nets = (NetInterface("enp3s0", "down", "52:54:00:12:34:57"),) if net else ()
    pf = Device(PciAddress.parse(PF), 0x8086, 0x10C9, driver=driver, sriov=sriov, net=nets,
                status=Status.HOST)
    vfs = [Device(PciAddress.parse(b), 0x8086, 0x10CA, driver="igbvf",
                  physfn=PciAddress.parse(PF), status=Status.HOST) for b in VFS[:num]]
    return HostModel({d.bdf: d for d in (pf, *vfs)}, {}, True)


def states(**vf1: Any) -> list[VfState]:
    return [NEW, VfState(**(NEW.settings() | {"vf": 1} | vf1))]


def plan_for(values: dict[str, str], saved: dict[str, Any] | None = None,
             **vf1: Any) -> Any:
    t = ops_vf.target(model(), PF, 1)
    return ops_vf.set_plan(t, ops_vf.SetRequest(PF, 1, values), states(**vf1), saved)


def test_the_table_names_every_netlink_setting_once() -> None:
    assert [s.key for s in ops_vf.SETTINGS] == list(KEYS)
    assert len({s.flag for s in ops_vf.SETTINGS}) == len(KEYS)


@pytest.mark.parametrize(("key", "text", "value"), [
    ("mac", "02:AA:bb:00:00:01", "02:aa:bb:00:00:01"),
    ("vlan", "4094", 4094), ("vlan", "0", 0), ("qos", "7", 7),
    ("spoofchk", "off", False), ("trust", "on", True), ("link_state", "disable", "disable"),
    ("max_tx_rate", "1000", 1000),
])
def test_parsers_take_the_range(key: str, text: str, value: Any) -> None:
    assert ops_vf.parse_values({key: text}) == {key: value}


@pytest.mark.parametrize(("key", "text", "said"), [
    ("mac", "01:00:5e:00:00:01", "multicast"), ("mac", "ff:ff:ff:ff:ff:ff", "multicast"),
    ("mac", "00:00:00:00:00:00", "no address"), ("mac", "02:11:22:33:44", "not a MAC"),
    ("mac", "02-11-22-33-44-55", "not a MAC"), ("vlan", "4095", "0 to 4094"),
    ("vlan", "-1", "0 to 4094"), ("qos", "8", "0 to 7"), ("trust", "yes", "on, off"),
    ("link_state", "up", "auto, enable, disable"), ("min_tx_rate", "x", "Mb/s"),
])
def test_parsers_refuse_bad_values(key: str, text: str, said: str) -> None:
    with pytest.raises(InputError, match=said):
        ops_vf.parse_values({key: text})


def test_nothing_to_set_is_refused() -> None:
    with pytest.raises(InputError, match="nothing to set"):
        ops_vf.parse_values({})


def test_targets_refused() -> None:
    with pytest.raises(InputError, match=r"has no VF 2 \(VFs 0-1\)"):
        ops_vf.target(model(), PF, 2)
    with pytest.raises(InputError, match="no VF enabled"):
        ops_vf.target(model(0), PF, 0)
    with pytest.raises(InputError, match="is an SR-IOV VF, not a PF"):
        ops_vf.target(model(), VFS[0], 0)
    with pytest.raises(InputError, match="has no network interface"):
        ops_vf.target(model(net=False), PF, 0)
    with pytest.raises(OperationError, match="has no driver bound"):
        ops_vf.target(model(driver=None), PF, 0)
    assert ops_vf.target(model(), "enp3s0", 1).bdf == VFS[1]


def test_set_saves_first_then_one_step_per_attribute_with_undo() -> None:
    plan = plan_for({"mac": "02:11:22:33:44:55", "qos": "3", "trust": "on"})
    assert [s.action for s in plan.steps] == [Action.VF_SAVE] + [Action.VF_SET] * 3
    assert plan.steps[0].payload == {"pf": PF, "ifname": "enp3s0", "vf": 1,
                                     "settings": NEW.settings()}
    assert plan.render()[1:] == ["ip link set enp3s0 vf 1 mac 02:11:22:33:44:55",
                                 "ip link set enp3s0 vf 1 vlan 0 qos 3",
                                 "ip link set enp3s0 vf 1 trust on"]
    vlan = plan.steps[2]
    assert [(c.kind, c.path, c.value) for c in vlan.expect] == [
        (CheckKind.VF, "enp3s0/vf/1/vlan", "0"), (CheckKind.VF, "enp3s0/vf/1/qos", "3")]
    assert vlan.undo[0].payload == {"ifname": "enp3s0", "vf": 1,
                                    "settings": {"vlan": 0, "qos": 0}}
    assert plan.steps[0].undo[0].action == Action.VF_FORGET


def test_a_saved_vf_is_not_saved_again_and_same_values_are_no_steps() -> None:
    plan = plan_for({"vlan": "5"}, saved={"settings": {}}, vlan=7, qos=2)
    assert plan.render() == ["ip link set enp3s0 vf 1 vlan 5 qos 2"]
    same = plan_for({"vlan": "7"}, saved={"settings": {}}, vlan=7)
    assert (same.steps, "already has these settings" in same.notes[0]) == ((), True)


def test_known_driver_refusals_are_input_errors() -> None:
    with pytest.raises(InputError, match="EOPNOTSUPP"):
        plan_for({"link_state": "auto"})
    with pytest.raises(InputError, match="--min-rate"):
        plan_for({"min_tx_rate": "10"})
    assert plan_for({"min_tx_rate": "0", "max_tx_rate": "100"}).render()[1] == \
        "ip link set enp3s0 vf 1 min_tx_rate 0 max_tx_rate 100"


def test_unreadable_states_are_refused() -> None:
    t = ops_vf.target(model(), PF, 1)
    with pytest.raises(OperationError, match="cannot be read on a host tree"):
        ops_vf.set_plan(t, ops_vf.SetRequest(PF, 1, {"vlan": "3"}), None, None)
    with pytest.raises(OperationError, match="reports no VF 1"):
        ops_vf.set_plan(t, ops_vf.SetRequest(PF, 1, {"vlan": "3"}), [NEW], None)


def test_reset_restores_the_snapshot_and_forgets_it() -> None:
    t = ops_vf.target(model(), PF, 1)
    saved = {"pf": PF, "ifname": "enp3s0", "vf": 1, "settings": NEW.settings()}
    plan = ops_vf.reset_plan(t, states(mac="02:11:22:33:44:55", spoofchk=False), saved)
    assert plan.render() == ["ip link set enp3s0 vf 1 mac 00:00:00:00:00:00",
                             "ip link set enp3s0 vf 1 spoofchk on",
                             f"forget the saved VF settings of {VFS[1]}"]
    assert plan.steps[-1].undo[0].payload == saved
    empty = ops_vf.reset_plan(t, states(), None)
    assert (empty.steps, "nothing to restore" in empty.notes[0]) == ((), True)


def test_pf_links_asks_only_nic_pfs_with_vfs() -> None:
    asked: list[str] = []

    def read(ifname: str) -> list[VfState]:
        asked.append(ifname)
        return states()

    pfs = [model().devices[PciAddress.parse(PF)], model(0).devices[PciAddress.parse(PF)]]
    links = ops_vf.pf_links(pfs[:1], read)
    assert (links, asked) == ({PF: states()}, ["enp3s0"])
    assert ops_vf.pf_links(pfs[1:], read) == {PF: None} and asked == ["enp3s0"]
