"""The simulated PF's VF settings against what the kernel lab measured on igb (82576)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from helpers.sims import fresh, template
from pcipass.host.netlink import NoSuchLink, VfSetFailed
from pcipass.sim.host import SimHost

PF, VF1 = "0000:03:00.0", "0000:03:10.2"
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template(tmp_path_factory, "kernel-lab")


@pytest.fixture
def sim(tpl: Path, tmp_path: Path) -> SimHost:
    host = fresh(tpl, tmp_path)
    host.write(NUMVFS, "2")
    return host


def test_new_vfs_read_as_measured(sim: SimHost) -> None:
    states = sim.vf_states("enp3s0")
    assert states is not None and [s.vf for s in states] == [0, 1]
    assert states[1].settings() == {
        "mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoofchk": True, "trust": False,
        "link_state": "auto", "min_tx_rate": 0, "max_tx_rate": 0}


@pytest.mark.parametrize(("settings", "err"), [
    ({"mac": "01:00:5e:00:00:01"}, errno.EINVAL),
    ({"mac": "ff:ff:ff:ff:ff:ff"}, errno.EINVAL),
    ({"vlan": 4094, "qos": 8}, errno.EINVAL),
    ({"link_state": "auto"}, errno.EOPNOTSUPP),
    ({"min_tx_rate": 10, "max_tx_rate": 0}, errno.EINVAL),
    ({"min_tx_rate": 0, "max_tx_rate": 100}, errno.EINVAL),  # the PF is down
])
def test_igb_refuses_with_the_measured_errno(sim: SimHost, settings: dict[str, object],
                                             err: int) -> None:
    with pytest.raises(VfSetFailed) as caught:
        sim.set_vf("enp3s0", 1, settings)
    assert caught.value.errno == err


def test_igb_takes_what_the_lab_took(sim: SimHost) -> None:
    sim.set_vf("enp3s0", 1, {"vlan": 4095, "qos": 0})
    sim.set_vf("enp3s0", 0, {"vlan": 0, "qos": 3})
    sim.set_vf("enp3s0", 0, {"mac": "00:00:00:00:00:00"})
    states = sim.vf_states("enp3s0") or []
    assert [(s.vlan, s.qos) for s in states] == [(0, 3), (4095, 0)]


def test_a_vf_past_the_count_and_an_unknown_link(sim: SimHost) -> None:
    with pytest.raises(VfSetFailed) as caught:
        sim.set_vf("enp3s0", 2, {"trust": True})
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(NoSuchLink):
        sim.vf_states("enp9s0")


def test_a_message_stops_at_its_first_refusal(sim: SimHost) -> None:
    """Measured: MAC + link-state in one message sets the MAC, then answers EOPNOTSUPP."""
    with pytest.raises(VfSetFailed):
        sim.set_vf("enp3s0", 1, {"mac": "02:aa:bb:cc:dd:02", "link_state": "enable"})
    assert (sim.vf_states("enp3s0") or [])[1].mac == "02:aa:bb:cc:dd:02"


def test_settings_survive_a_driver_change_and_go_with_the_vfs(sim: SimHost) -> None:
    sim.set_vf("enp3s0", 1, {"mac": "02:aa:bb:cc:dd:01", "vlan": 10, "qos": 2})
    sim.write(f"sys/bus/pci/devices/{VF1}/driver/unbind", VF1)
    assert (sim.vf_states("enp3s0") or [])[1].vlan == 10
    sim.write(NUMVFS, "0")
    sim.write(NUMVFS, "2")
    assert (sim.vf_states("enp3s0") or [])[1].mac == "00:00:00:00:00:00"
