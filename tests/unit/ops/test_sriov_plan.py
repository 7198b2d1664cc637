"""SR-IOV planners: enable/disable plans over the model, every refusal, and the undo of a
failed change (run by the executor on the simulated kernel)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError
from pcipass.host.base import WriteFailed
from pcipass.model import views
from pcipass.model.device import Device, HostModel, NetInterface, SriovPF, Status
from pcipass.ops.assign import HostFacts
from pcipass.ops.facts import gather_facts
from pcipass.ops.records import Record, XenDevice
from pcipass.ops.sriov import EnableRequest, disable_plan, enable_plan, list_pfs, vf_addresses
from pcipass.run.executor import Executor
from pcipass.run.plan import Check, CheckKind
from pcipass.run.records import RecordStore
from pcipass.sim.host import SimHost, create_sim

PF, NIC = "0000:03:00.0", "0000:02:00.0"
VFS = ("0000:03:10.0", "0000:03:10.2", "0000:03:10.4", "0000:03:10.6")
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"
AUTOPROBE = f"sys/bus/pci/devices/{PF}/sriov_drivers_autoprobe"


def pf(num: int, driver: str | None = "igb", autoprobe: bool = True) -> Device:
    vfs = tuple(PciAddress.parse(v) for v in VFS[:num])
    sriov = SriovPF(7, num, 0x80, 2, 0x10CA, autoprobe, vfs)
    net = (NetInterface("enp3s0", "up", "52:54:00:12:34:57"),)
    return Device(PciAddress.parse(PF), 0x8086, 0x10C9, driver=driver, sriov=sriov, net=net,
                  status=Status.HOST if driver else Status.UNBOUND)


def vf(bdf: str, driver: str | None = "igbvf") -> Device:
    return Device(PciAddress.parse(bdf), 0x8086, 0x10CA, driver=driver,
                  physfn=PciAddress.parse(PF), status=Status.HOST if driver else Status.UNBOUND)


def facts(*devices: Device, **kw: object) -> HostFacts:
    nic = Device(PciAddress.parse(NIC), 0x8086, 0x10D3, driver="e1000e")
    model = HostModel({d.bdf: d for d in (nic, *devices)}, {}, True)
    return HostFacts(model, **kw)  # type: ignore[arg-type]


def enabled(num: int, **drivers: str | None) -> HostFacts:
    """The PF with `num` VFs on igbvf (`drivers`: VF index `vN` → another driver)."""
    vfs = [vf(b, drivers.get(f"v{i}", "igbvf")) for i, b in enumerate(VFS[:num])]
    return facts(pf(num), *vfs)


# -- plans ---------------------------------------------------------------------------------
def test_vf_addresses_follow_offset_and_stride() -> None:
    assert [str(a) for a in vf_addresses(pf(0), 4)] == list(VFS)


def test_enable_from_zero_is_one_write_checked_by_rereading() -> None:
    plan = enable_plan(facts(pf(0)), EnableRequest(PF, 2))
    assert plan.render() == [f"echo 2 > /{NUMVFS}"]
    step = plan.steps[0]
    assert step.expect == (
        Check(CheckKind.TEXT, path=NUMVFS, value="2"),
        Check(CheckKind.EXISTS, path=f"sys/bus/pci/devices/{VFS[0]}"),
        Check(CheckKind.EXISTS, path=f"sys/bus/pci/devices/{VFS[1]}"),
    )
    assert [u.render() for u in step.undo] == [f"echo 0 > /{NUMVFS}"]
    assert Check(CheckKind.TEXT, path=NUMVFS, value="0") in step.undo[0].expect


def test_changing_a_count_writes_zero_first_and_undoes_to_the_old_count() -> None:
    plan = enable_plan(enabled(2), EnableRequest(PF, 4))
    assert plan.render() == [f"echo 0 > /{NUMVFS}", f"echo 4 > /{NUMVFS}"]
    zero, four = plan.steps
    assert Check(CheckKind.ABSENT, path=f"sys/bus/pci/devices/{VFS[1]}") in zero.expect
    assert [u.render() for u in zero.undo] == [f"echo 2 > /{NUMVFS}"]
    assert [u.render() for u in four.undo] == [f"echo 0 > /{NUMVFS}"]
    lower = enable_plan(enabled(4), EnableRequest(PF, 1))
    assert lower.render() == [f"echo 0 > /{NUMVFS}", f"echo 1 > /{NUMVFS}"]


def test_autoprobe_is_written_after_the_old_vfs_went_and_before_the_new_come() -> None:
    plan = enable_plan(enabled(2), EnableRequest(PF, 3, autoprobe=False))
    assert plan.render() == [f"echo 0 > /{NUMVFS}", f"echo 0 > /{AUTOPROBE}",
                             f"echo 3 > /{NUMVFS}"]
    assert [u.render() for u in plan.steps[1].undo] == [f"echo 1 > /{AUTOPROBE}"]
    # autoprobe off: the new VFs must stay driverless
    assert Check(CheckKind.DRIVER, VFS[2], value=None) in plan.steps[2].expect
    same = enable_plan(facts(pf(0)), EnableRequest(PF, 1, autoprobe=True))
    assert same.render() == [f"echo 1 > /{NUMVFS}"]  # autoprobe already on: not written


def test_the_same_count_changes_nothing_and_says_so() -> None:
    plan = enable_plan(enabled(2), EnableRequest(PF, 2))
    assert not plan and plan.notes == (f"{PF} already has 2 VFs enabled",)
    assert not disable_plan(facts(pf(0)), PF)


def test_disable_removes_every_vf_and_is_undone_by_the_old_count() -> None:
    plan = disable_plan(enabled(3), "enp3s0")  # by interface name
    assert plan.render() == [f"echo 0 > /{NUMVFS}"]
    assert [u.render() for u in plan.steps[0].undo] == [f"echo 3 > /{NUMVFS}"]


# -- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize(("count", "said"), [
    (8, "--vfs 8 is more than 0000:03:00.0 supports (sriov_totalvfs 7)"),
    (0, "--vfs 0 enables no VF"),
    (-1, "--vfs -1 enables no VF"),
])
def test_bad_counts_are_input_errors(count: int, said: str) -> None:
    with pytest.raises(InputError, match=r"^" + said.replace("(", r"\(").replace(")", r"\)")):
        enable_plan(facts(pf(0)), EnableRequest(PF, count))


def test_not_a_pf_is_an_input_error_that_names_the_pf() -> None:
    with pytest.raises(InputError, match="is an SR-IOV VF, not a PF") as exc:
        enable_plan(enabled(1), EnableRequest(VFS[0], 1))
    assert PF in exc.value.fix
    with pytest.raises(InputError, match=f"{NIC} is not an SR-IOV PF"):
        disable_plan(facts(pf(0)), NIC)


def test_a_pf_without_driver_is_refused_before_writing() -> None:
    with pytest.raises(OperationError, match="has no driver bound") as exc:
        enable_plan(facts(pf(0, driver=None)), EnableRequest(PF, 2))
    assert exc.value.exit_code == 1


@pytest.mark.parametrize("change", ["lower", "raise", "disable"])
def test_removing_vfs_in_use_is_refused_and_lists_them(change: str) -> None:
    records = {VFS[1]: Record(VFS[1], driver="igbvf", backend="vfio")}
    xen = {VFS[2]: XenDevice(VFS[2], domid=3)}
    base = enabled(3, v0="vfio-pci", v1=None)
    held = HostFacts(base.model, records=records, xen=xen)
    with pytest.raises(OperationError, match="refusing to") as exc:
        if change == "disable":
            disable_plan(held, PF)
        else:
            enable_plan(held, EnableRequest(PF, 1 if change == "lower" else 5))
    what = exc.value.what
    assert f"{VFS[0]} (assignable on vfio-pci)" in what
    assert f"{VFS[1]} (recorded by pcipass)" in what
    assert f"{VFS[2]} (held by domain 3)" in what
    assert "pcipass assignable remove -r" in exc.value.fix


def test_list_is_every_pf_with_its_vfs_by_index() -> None:
    f = enabled(2, v1=None)
    assert [str(d.bdf) for d in list_pfs(f.model)] == [PF]
    doc = views.sriov_json(f.model, list_pfs(f.model, "enp3s0")[0])
    assert (doc["bdf"], doc["driver"], doc["total_vfs"], doc["num_vfs"]) == (PF, "igb", 7, 2)
    assert doc["drivers_autoprobe"] is True and doc["netdev"] == "enp3s0"
    assert doc["vfs"] == [
        {"bdf": VFS[0], "index": 0, "driver": "igbvf", "status": "host-driver",
         "netdev": None, "mac": None, "admin_mac": None, "vlan": None,
         "spoofchk": None, "trust": None},
        {"bdf": VFS[1], "index": 1, "driver": None, "status": "unbound",
         "netdev": None, "mac": None, "admin_mac": None, "vlan": None,
         "spoofchk": None, "trust": None},
    ]  # vlan/spoofchk/trust: netlink, not read here (tests/unit/model/test_views_vf.py)
    with pytest.raises(InputError, match="not an SR-IOV PF"):
        list_pfs(f.model, NIC)


# -- a failed change, run by the executor on the simulated kernel ---------------------------
class FailingSim(SimHost):
    """The simulated kernel, refusing one write to sriov_numvfs (as a driver out of
    resources would: ENOMEM)."""

    fail: str | None = None

    def write(self, rel: str, data: str, timeout: float = 10.0) -> None:
        if rel.endswith("sriov_numvfs") and data == self.fail:
            raise WriteFailed(rel, data, errno.ENOMEM)
        super().write(rel, data, timeout)


def sim(tmp_path: Path) -> FailingSim:
    create_sim(tmp_path / "sim", profile="kernel-lab")
    return FailingSim(tmp_path / "sim")


def test_a_failed_change_leaves_the_previous_count(tmp_path: Path) -> None:
    host = sim(tmp_path)
    host.write(NUMVFS, "2")
    plan = enable_plan(gather_facts(host), EnableRequest(PF, 4, autoprobe=False))
    host.fail = "4"
    with pytest.raises(OperationError, match="ENOMEM"):
        Executor(host, RecordStore(host)).run(plan)
    assert host.try_read_text(NUMVFS) == "2"
    assert host.try_read_text(AUTOPROBE) == "1"  # restored before the old VFs came back
    assert [host.link_name(f"sys/bus/pci/devices/{v}/driver") for v in VFS[:2]] == \
        ["igbvf", "igbvf"]
    assert not host.exists(f"sys/bus/pci/devices/{VFS[2]}")


def test_when_the_old_count_cannot_come_back_the_error_says_so(tmp_path: Path) -> None:
    host = sim(tmp_path)
    host.write(NUMVFS, "2")
    plan = enable_plan(gather_facts(host), EnableRequest(PF, 4))
    host.fail = "4"
    original = host.write

    def write(rel: str, data: str, timeout: float = 10.0) -> None:
        if data == "2" and rel == NUMVFS:
            raise WriteFailed(rel, data, errno.ENOMEM)
        original(rel, data, timeout)

    host.write = write  # type: ignore[method-assign]
    with pytest.raises(OperationError, match=r"cannot undo `sriov enable .*--vfs 4`") as exc:
        Executor(host, RecordStore(host)).run(plan)
    assert "writing '2'" in exc.value.what
    assert host.try_read_text(NUMVFS) == "0"
