"""`show` ⇔ `assignable add`: for every device of every bundled simulated host and of
odd hand-built hosts, `show`'s verdict is what `add` does (backend auto, no flags):
ready ⇔ accepted; each blocker `show` names ⇔ a refusal `add` gives, same code, same
flag; and passing exactly the flags `show` names makes `add` accept, unless a blocker
has none.

Left out on purpose: devices already on pciback/vfio-pci/pci-stub (`add` answers
"already assignable", a state, not a rule of the table) — the only ones skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from helpers.cli import pcipass
from helpers.model_hosts import build, xen_host
from pcipass.host.base import Host
from pcipass.host.real import RealHost
from pcipass.model import drivers
from pcipass.model.discovery import discover
from pcipass.ops.assign import AddRequest, add_plan, choose_backend
from pcipass.ops.facts import gather_facts
from pcipass.ops.guards import Refused
from pcipass.sim.host import create_sim
from pcipass.sim.layout import Disk, HostSpec, MountSpec, NetIf, PciFunction, Route
from pcipass.sim.profiles import PROFILES

#: Profiles of a lab booted without an IOMMU: `add` refuses every device there for the host
#: (OperationError: no IOMMU) and `show` names that refusal as each device's first blocker
#: (test_no_iommu_host_refuses_every_device); scenario-tested in test_iommu_variants.py.
WITHOUT_IOMMU = ("kernel-lab-iommu-none", "xen-lab-iommu-none")


def odd_host() -> HostSpec:
    """What the profiles lack: a platform function sharing a group with an endpoint and
    with a free one, a NIC with an address but no default route, a disk both mounted
    and swapped, an RTC, a CardBus bridge, and a group of two NICs (one with an
    address) and an SMBus controller left unbound; and one free NIC."""
    fns = (
        PciFunction("0000:00:00.0", 0x8086, 0x1237, 0x060000, pcie_type=None),
        PciFunction("0000:00:1f.0", 0x8086, 0x2918, 0x060100, driver="lpc_ich", iommu_group=7),
        PciFunction("0000:00:1f.2", 0x8086, 0x2922, 0x010601, driver="ahci", iommu_group=7),
        PciFunction("0000:00:1f.6", 0x8086, 0x10D3, 0x020000, driver="e1000e", iommu_group=7,
                    net=(NetIf("eth7", "aa:bb:cc:00:00:07"),)),
        PciFunction("0000:00:1e.0", 0x8086, 0x1234, 0x080300, driver="rtc_cmos", iommu_group=8),
        PciFunction("0000:00:1d.0", 0x1180, 0x0476, 0x060700, driver="yenta", iommu_group=9),
        PciFunction("0000:00:1c.0", 0x8086, 0x10D3, 0x020000, driver="e1000e", iommu_group=10,
                    net=(NetIf("eth1", "aa:bb:cc:00:00:01"),)),
        PciFunction("0000:00:1c.1", 0x8086, 0x10D3, 0x020000, driver="e1000e", iommu_group=10),
        PciFunction("0000:00:1c.3", 0x8086, 0x2930, 0x0C0500, iommu_group=10),
        PciFunction("0000:00:1b.0", 0x144D, 0xA808, 0x010802, driver="nvme", iommu_group=11,
                    flr=True, nvme_controller="nvme0",
                    disks=(Disk("nvme0n1", ("nvme0n1p1", "nvme0n1p2")),)),
        PciFunction("0000:00:1a.0", 0x8086, 0x10D3, 0x020000, driver="e1000e", iommu_group=12,
                    flr=True, net=(NetIf("eth2", "aa:bb:cc:00:00:02", operstate="down"),)),
    )
    return HostSpec(
        fns,
        mounts=(MountSpec("/dev/nvme0n1p1", "/srv"), MountSpec("/dev/sda1", "/")),
        swaps=("/dev/nvme0n1p2",),
        routes=(Route("eth1", "10.0.0.0", mask="255.255.255.0"),),
    )


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Host]:
    out: dict[str, Host] = {}
    for name in PROFILES:
        out[name] = create_sim(tmp_path_factory.mktemp(name), name)
    trees = {
        "model-host": xen_host(),
        "model-host-no-vfs": xen_host(num_vfs=0),
        "odd-host": odd_host(),
    }
    for name, spec in trees.items():
        out[name] = RealHost(build(tmp_path_factory.mktemp(name), spec))
    return out


def devices(host: Host) -> Iterator[str]:
    listed = pcipass("--json", "list", host=host).json()
    for dev in listed["devices"] if isinstance(listed, dict) else listed:
        if not drivers.is_stub(dev["driver"]):
            yield dev["bdf"]


def refusals(host: Host, bdf: str) -> set[tuple[str, str, str | None]]:
    """Every refusal of a plain `add` of `bdf`: (code, device refused, flag)."""
    facts = gather_facts(host, discover(host, names=False))
    try:
        add_plan(facts, AddRequest((bdf,), choose_backend("auto", facts)))
    except Refused as err:
        return {(r.code, r.bdf, r.flag) for r in err.refusals}
    return set()


def add(host: Host, bdf: str, flags: tuple[str, ...]) -> int:
    return pcipass("assignable", "add", "--dry-run", *flags, bdf, host=host).code


def test_every_host_has_both_verdicts(hosts: dict[str, Host]) -> None:
    """The sweep below is not vacuous: each bundled profile and the odd hosts give both."""
    for name, host in hosts.items():
        if name in WITHOUT_IOMMU:
            continue
        ready = {pcipass("--json", "show", b, host=host).json()["ready"] for b in devices(host)}
        assert ready == {True, False}, name


def test_show_is_what_add_does(hosts: dict[str, Host]) -> None:
    checked = 0
    for name, host in hosts.items():
        if name in WITHOUT_IOMMU:
            continue
        for bdf in devices(host):
            shown = pcipass("--json", "show", bdf, host=host).json()
            blockers = [f for f in shown["findings"] if f["severity"] == "blocker"]
            where = f"{name} {bdf}: show says {shown['findings']}"
            assert shown["ready"] == (add(host, bdf, ()) == 0), where
            # every blocker is a refusal with the same code and flag, and back
            said = {(f["code"], f["override"]) for f in blockers}
            refused = refusals(host, bdf)
            assert said == {(code, flag) for code, _, flag in refused}, where
            assert len(blockers) == len(refused), where
            flags = tuple(sorted({f["override"] for f in blockers} - {None}))
            stuck = any(f["override"] is None for f in blockers)
            # the flags show names lift the refusals exactly, each one needed
            assert (add(host, bdf, flags) == 0) == (not stuck), where
            if flags and not stuck:
                for fewer in itertools.combinations(flags, len(flags) - 1):
                    assert add(host, bdf, fewer) == 1, (where, fewer)
            checked += 1
    assert checked > 60


def test_no_iommu_host_refuses_every_device(hosts: dict[str, Host]) -> None:
    """Without an IOMMU `add` refuses the host before any device rule, with one line; `show`
    gives every device that line as its first blocker, which no flag lifts."""
    for name in WITHOUT_IOMMU:
        host = hosts[name]
        for bdf in devices(host):
            shown = pcipass("--json", "show", bdf, host=host).json()
            first = shown["findings"][0]
            assert not shown["ready"], (name, bdf)
            assert (first["code"], first["severity"], first["override"]) == \
                ("no-iommu", "blocker", None), (name, bdf)
            refused = pcipass("assignable", "add", "--dry-run", bdf, host=host)
            assert refused.code == 1, (name, bdf)
            assert refused.err.strip() == f"pcipass: error: {first['message']}", (name, bdf)


def test_platform_functions_are_refused_and_named(hosts: dict[str, Host]) -> None:
    """Issue 9: the host bridge, ISA/LPC and SMBus are refused, by `--group` too."""
    xen = hosts["xen-host"]
    for bdf, what in (("0000:00:00.0", "host bridge"), ("0000:00:1f.0", "ISA/LPC bridge"),
                      ("0000:00:1f.4", "SMBus controller")):
        result = pcipass("assignable", "add", "--dry-run", bdf, host=xen)
        assert result.code == 1 and what in result.err and "cannot be overridden" in result.err
    lab = hosts["kernel-lab"]
    result = pcipass("assignable", "add", "--group", "--dry-run", "0000:00:1f.2", host=lab)
    assert result.code == 1
    assert "0000:00:1f.0: it is a platform function (ISA/LPC bridge)" in result.err
    assert "shares IOMMU group" in result.err and "0000:00:1f.2" in result.err
    odd = hosts["odd-host"]
    # an unbound SMBus in the group needs not move: the NICs go, with --group
    assert add(odd, "0000:00:1c.0", ("--force-net",)) == 1
    result = pcipass("assignable", "add", "--dry-run", "--group", "--force-net", "0000:00:1c.0",
                     host=odd)
    assert result.code == 0 and "0000:00:1c.1" in result.out and "0000:00:1c.3" not in result.out


def test_reset_refuses_platform_functions(hosts: dict[str, Host]) -> None:
    xen = hosts["xen-host"]
    for bdf in ("0000:00:00.0", "0000:00:1f.0", "0000:00:1f.4"):
        result = pcipass("reset", "--dry-run", bdf, host=xen)
        assert result.code == 1, result
        assert f"refusing to reset {bdf}: it is " in result.err, result.err
        assert "cannot be overridden" in result.err, result.err
