"""Scenario suite: one set of tests, run on the simulated host and inside both labs.

`PCIPASS_TARGET` picks where: `sim` (default: a `SimHost` of the lab's layout, fresh per
test), `kernel-lab` or `xen-lab` (inside `labs/run-scenarios`: the real machine,
`RealHost("/")`, restored to the boot-time state after each test). Every module declares
the targets it applies to with `pytestmark = pytest.mark.targets(...)`; others skip.
Scenarios touch the host only through the `Host` interface.

`pytest.mark.lab_iommu("none")` (or ``"amd"``) marks a scenario that needs a lab booted with
that IOMMU (`labs/run-variants`, which exports `PCIPASS_LAB_IOMMU` into the lab). In a lab,
only the scenarios of the boot's IOMMU are collected: marked ones in a variant boot,
unmarked ones in the default (intel) boot; the others are deselected. On the simulated host
every scenario runs, a marked one on the sim profile of that IOMMU (`LAB_IOMMU_PROFILES`).
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
LAB_IOMMUS = ("intel", "amd", "none")
LAB_IOMMU = os.environ.get("PCIPASS_LAB_IOMMU", "intel")
#: (lab, LAB_IOMMU) → the sim profile of that boot.
LAB_IOMMU_PROFILES = {
    ("xen-lab", "intel"): "xen-lab",
    ("xen-lab", "amd"): "xen-lab-iommu-amd",
    ("xen-lab", "none"): "xen-lab-iommu-none",
    ("kernel-lab", "intel"): "kernel-lab",
    ("kernel-lab", "none"): "kernel-lab-iommu-none",
}
BASELINE_DRIVERS = ((E1000E, "e1000e"), (NVME_PF, "nvme"), (IGB_PF, "igb"))


def pytest_configure(config: pytest.Config) -> None:
    if TARGET not in TARGETS:
        raise pytest.UsageError(f"PCIPASS_TARGET={TARGET!r} is not one of {', '.join(TARGETS)}")
    if LAB_IOMMU not in LAB_IOMMUS:
        raise pytest.UsageError(
            f"PCIPASS_LAB_IOMMU={LAB_IOMMU!r} is not one of {', '.join(LAB_IOMMUS)}")
    config.addinivalue_line("markers", "targets(*names, why=''): where a scenario applies")
    config.addinivalue_line(
        "markers", "lab_iommu(name): needs a lab booted with LAB_IOMMU=name (labs/run-variants)")


def pytest_report_header() -> str:
    return f"pcipass scenarios: PCIPASS_TARGET={TARGET} PCIPASS_LAB_IOMMU={LAB_IOMMU}"


def lab_iommu_of(item: pytest.Item) -> str:
    """The IOMMU of the lab boot a scenario needs (``intel``, the default boot, if unmarked)."""
    marker = item.get_closest_marker("lab_iommu")
    if marker is None:
        return "intel"
    [name] = marker.args
    if name not in LAB_IOMMUS:
        raise pytest.UsageError(f"{item.nodeid}: lab_iommu({name!r}) is not one of "
                                f"{', '.join(LAB_IOMMUS)}")
    return str(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TARGET != "sim":
        other_boot = [i for i in items if lab_iommu_of(i) != LAB_IOMMU]
        if other_boot:
            config.hook.pytest_deselected(items=other_boot)
            items[:] = [i for i in items if lab_iommu_of(i) == LAB_IOMMU]
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
    lab = "xen-lab" if marker is not None and "xen-lab" in marker.args else "kernel-lab"
    iommu = lab_iommu_of(node)
    if (lab, iommu) not in LAB_IOMMU_PROFILES:
        raise pytest.UsageError(f"{node.nodeid}: the {lab} has no LAB_IOMMU={iommu} boot")
    return LAB_IOMMU_PROFILES[lab, iommu]


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
