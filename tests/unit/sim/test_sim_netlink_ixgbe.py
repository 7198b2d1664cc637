"""The simulated ixgbe's VF rates follow Linux's ixgbe_ndo_set_vf_bw (ixgbe_sriov.c)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from pcipass.host.netlink import VfSetFailed
from pcipass.sim.host import SimHost, create_sim

PF = "0000:05:00.0"


@pytest.fixture
def sim(tmp_path: Path) -> SimHost:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    host.write(f"sys/bus/pci/devices/{PF}/sriov_numvfs", "2")
    return host


def ifname(host: SimHost) -> str:
    names = sorted(p.name for p in (host.root / f"sys/bus/pci/devices/{PF}/net").iterdir())
    return names[0]


@pytest.mark.parametrize("settings", [
    {"min_tx_rate": 100, "max_tx_rate": 500},
    {"min_tx_rate": 0, "max_tx_rate": 10},
    {"min_tx_rate": 0, "max_tx_rate": 10001},
])
def test_ixgbe_refuses_what_its_driver_refuses(sim: SimHost, settings: dict[str, Any]) -> None:
    with pytest.raises(VfSetFailed) as exc:
        sim.set_vf(ifname(sim), 1, settings)
    assert exc.value.errno == errno.EINVAL


def test_ixgbe_takes_a_maximum_of_11_or_more_with_its_link_up(sim: SimHost) -> None:
    name = ifname(sim)
    sim.set_vf(name, 1, {"min_tx_rate": 0, "max_tx_rate": 11})
    assert (sim.vf_states(name) or [])[1].max_tx_rate == 11
    (sim.root / f"sys/class/net/{name}/operstate").write_text("down\n")  # the link drops
    with pytest.raises(VfSetFailed):
        sim.set_vf(name, 1, {"min_tx_rate": 0, "max_tx_rate": 0})
