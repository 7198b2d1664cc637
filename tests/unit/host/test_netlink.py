"""The netlink boundary's pure parts: decoding IFLA_VF_INFO as the lab's kernel sent it,
the pyroute2 message for a change, the `ip link` words; and a host tree is never asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcipass.host.base import NotThisMachine
from pcipass.host.netlink import describe, state_of, vf_message
from pcipass.host.real import RealHost

# One VF of igb's RTM_GETLINK answer in the kernel lab (pyroute2 0.7.2, decoded), after
# `vf 1 mac 02:aa:bb:cc:dd:02 vlan 10 qos 2 max_tx_rate 100`.
LAB_VF1 = {
    "IFLA_VF_MAC": {"vf": 1, "mac": "02:aa:bb:cc:dd:02"},
    "IFLA_VF_VLAN": {"vf": 1, "vlan": 10, "qos": 2},
    "IFLA_VF_RATE": {"vf": 1, "min_tx_rate": 0, "max_tx_rate": 100},
    "IFLA_VF_TX_RATE": {"vf": 1, "tx_rate": 100},
    "IFLA_VF_SPOOFCHK": {"vf": 1, "spoofchk": 1},
    "IFLA_VF_LINK_STATE": {"vf": 1, "link_state": 0},
    "IFLA_VF_RSS_QUERY_EN": {"vf": 1, "rss_query_en": 4294967295},
    "IFLA_VF_TRUST": {"vf": 1, "trust": 0},
}


def test_state_of_decodes_the_labs_answer() -> None:
    state = state_of(1, LAB_VF1)
    assert state.settings() == {"mac": "02:aa:bb:cc:dd:02", "vlan": 10, "qos": 2,
                                "spoofchk": True, "trust": False, "link_state": "auto",
                                "min_tx_rate": 0, "max_tx_rate": 100}


def test_unreported_settings_are_none() -> None:
    state = state_of(0, {"IFLA_VF_MAC": {"vf": 0, "mac": "02:00:00:00:00:01"},
                         "IFLA_VF_SPOOFCHK": {"vf": 0, "spoofchk": 4294967295}})
    assert (state.spoofchk, state.trust, state.vlan, state.max_tx_rate) == \
        (None, None, None, None)


def test_vf_message_sends_vlan_with_qos_and_rates_together() -> None:
    assert vf_message(1, {"qos": 3, "trust": True, "link_state": "disable"}) == \
        {"vf": 1, "vlan": {"vlan": 0, "qos": 3}, "trust": 1, "link_state": 2}
    assert vf_message(0, {"max_tx_rate": 100, "mac": "02:00:00:00:00:01"}) == \
        {"vf": 0, "mac": "02:00:00:00:00:01", "rate": {"min_tx_rate": 0, "max_tx_rate": 100}}


def test_describe_speaks_ip_link() -> None:
    assert describe({"spoofchk": False, "link_state": "auto", "vlan": 5, "qos": 0}) == \
        "vlan 5 qos 0 spoofchk off state auto"


def test_a_host_tree_is_never_asked(tmp_path: Path) -> None:
    host = RealHost(tmp_path)
    assert host.vf_states("enp3s0") is None
    with pytest.raises(NotThisMachine, match="ip link set enp3s0 vf 0 vlan 3"):
        host.set_vf("enp3s0", 0, {"vlan": 3})
