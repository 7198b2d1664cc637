"""Scenario suite: one set of tests, run on the simulated host and inside both labs.

`PCIPASS_TARGET` picks where: `sim` (default: a `SimHost` of the lab's layout, fresh per
test), `kernel-lab` or `xen-lab` (inside `labs/run-scenarios`: the real machine,
`RealHost("/")`, restored to the boot-time state after each test). Every module declares
the targets it applies to with `pytestmark = pytest.mark.targets(...)`; others skip.
Scenarios touch the host only through the `Host` interface.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_layout import E1000E, IGB_PF, NVME_PF, dev, drv

from pcipass.host.base import Host
from pcipass.host.real import RealHost
from pcipass.run.state_dir import STATE_DIR
from pcipass.sim.host import create_sim

TARGETS = ("sim", "kernel-lab", "xen-lab")
TARGET = os.environ.get("PCIPASS_TARGET", "sim")
BASELINE_DRIVERS = ((E1000E, "e1000e"), (NVME_PF, "nvme"), (IGB_PF, "igb"))


def pytest_configure(config: pytest.Config) -> None:
    if TARGET not in TARGETS:
        raise pytest.UsageError(f"PCIPASS_TARGET={TARGET!r} is not one of {', '.join(TARGETS)}")
    config.addinivalue_line("markers", "targets(*names, why=''): where a scenario applies")


def pytest_report_header() -> str:
    return f"pcipass scenarios: PCIPASS_TARGET={TARGET}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("targets")
        if marker is None:
            continue
        if TARGET not in marker.args:
            why = marker.kwargs.get("why", "")
            reason = f"applies to {', '.join(marker.args)}" + (f": {why}" if why else "")
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def target() -> str:
    return TARGET


def _sim_profile(node: pytest.Item) -> str:
    marker = node.get_closest_marker("targets")
    return "xen-lab" if marker is not None and "xen-lab" in marker.args else "kernel-lab"


@pytest.fixture
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Host]:
    """The host the scenario runs against."""
    if TARGET == "sim":
        yield create_sim(tmp_path / "sim", profile=_sim_profile(request.node))
        return
    real = RealHost("/")
    yield real
    restore_baseline(real)


def restore_baseline(host: Host) -> None:
    """Put a lab back to its boot-time state: no domUs, nothing assignable, no
    driver_override, original drivers bound, no VFs, no pcipass state (records, journal),
    so every scenario starts as it does on a fresh simulated host."""
    if TARGET == "xen-lab":
        for line in host.run(["xl", "list"]).stdout.splitlines()[2:]:
            host.run(["xl", "destroy", line.split()[0]])
        for bdf in host.run(["xl", "pci-assignable-list"]).stdout.split():
            host.run(["xl", "pci-assignable-remove", "-r", bdf])
    for bdf, driver in BASELINE_DRIVERS:
        if host.try_read_text(dev(bdf, "driver_override")) not in (None, "(null)"):
            host.write(dev(bdf, "driver_override"), "\n")
        current = host.link_name(dev(bdf, "driver"))
        if current == driver:
            continue
        if current is not None:
            host.write(dev(bdf, "driver/unbind"), bdf)
        if not host.exists(drv(driver)):
            host.modprobe(driver)
        if host.link_name(dev(bdf, "driver")) is None:
            host.write("sys/bus/pci/drivers_probe", bdf)
    for pf in (NVME_PF, IGB_PF):
        if host.try_read_text(dev(pf, "sriov_numvfs")) not in ("0", None):
            host.write(dev(pf, "sriov_numvfs"), "0")
        host.write(dev(pf, "sriov_drivers_autoprobe"), "1")
    host.remove_tree(STATE_DIR)
