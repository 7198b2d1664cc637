"""`sriov enable --method module`: the reload plan, its checks and undo, every refusal, and a
failed reload undone by the executor on the simulated kernel."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError
from pcipass.host.base import RunResult
from pcipass.model.device import Device, HostModel, NetInterface, SriovPF, Status
from pcipass.ops.assign import HostFacts
from pcipass.ops.facts import gather_facts
from pcipass.ops.records import Record
from pcipass.ops.sriov import EnableRequest
from pcipass.ops.sriov_module import RELOAD_OTHERS, module_plan
from pcipass.run.executor import Executor
from pcipass.run.plan import Check, CheckKind
from pcipass.run.records import RecordStore
from pcipass.sim.host import SimHost, create_sim

PF, MGMT = "0000:03:00.0", "0000:04:00.0"
VFS = ("0000:03:10.0", "0000:03:10.2", "0000:03:10.4")
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"
AUTOPROBE = f"sys/bus/pci/devices/{PF}/sriov_drivers_autoprobe"
MODULES = {"igb": "igb", "igbvf": "igbvf", "ixgbe": "ixgbe", "i40e": "i40e", "ice": "ice",
           "mlx5_core": "mlx5_core", "e1000e": "e1000e", "nvme": "nvme"}


def pf(num: int = 0, driver: str = "igb", total: int = 7) -> Device:
    vfs = tuple(PciAddress.parse(v) for v in VFS[:num])
    return Device(PciAddress.parse(PF), 0x8086, 0x10C9, driver=driver, status=Status.HOST,
                  sriov=SriovPF(total, num, 0x80, 2, 0x10CA, True, vfs))


def vf(bdf: str, driver: str | None = "igbvf") -> Device:
    return Device(PciAddress.parse(bdf), 0x8086, 0x10CA, driver=driver,
                  physfn=PciAddress.parse(PF), status=Status.HOST)


def mgmt(driver: str = "igb") -> Device:
    """The host's management NIC on the PF's module (the demo host's eno1)."""
    net = NetInterface("eno1", "up", default_route=True)
    return Device(PciAddress.parse(MGMT), 0x8086, 0x1533, driver=driver, net=(net,),
                  status=Status.HOST)


def facts(*devices: Device, modules: dict[str, str] | None = None, **kw: object) -> HostFacts:
    model = HostModel({d.bdf: d for d in devices}, {}, True)
    return HostFacts(model, modules=MODULES if modules is None else modules,
                     **kw)  # type: ignore[arg-type]


def req(vfs: int, **kw: object) -> EnableRequest:
    return EnableRequest(PF, vfs, **kw)  # type: ignore[arg-type]


# -- the plan ------------------------------------------------------------------------------
def test_reload_is_unload_then_load_with_max_vfs_checked_by_rereading() -> None:
    plan = module_plan(facts(pf()), req(3))
    assert plan.render() == ["modprobe -r igb", "modprobe igb max_vfs=3"]
    assert plan.command == f"sriov enable {PF} --vfs 3 --method module"
    unload, load = plan.steps
    assert Check(CheckKind.DRIVER, PF, value=None) in unload.expect
    assert Check(CheckKind.ABSENT, path="sys/bus/pci/drivers/igb") in unload.expect
    assert load.expect[:2] == (Check(CheckKind.DRIVER, PF, value="igb"),
                               Check(CheckKind.TEXT, path=NUMVFS, value="3"))
    assert [c.path for c in load.expect[2:]] == [f"sys/bus/pci/devices/{v}" for v in VFS]
    assert [u.render() for u in load.undo] == ["modprobe -r igb"]
    assert [u.render() for u in unload.undo] == ["modprobe igb"]  # no previous VFs to restore


def test_undo_restores_the_previous_count_through_sysfs() -> None:
    plan = module_plan(facts(pf(2), vf(VFS[0]), vf(VFS[1])), req(3))
    unload = plan.steps[0]
    assert [c.path for c in unload.expect if c.kind is CheckKind.ABSENT] == \
        ["sys/bus/pci/drivers/igb", *(f"sys/bus/pci/devices/{v}" for v in VFS[:2])]
    assert [u.render() for u in unload.undo] == ["modprobe igb", f"echo 2 > /{NUMVFS}"]
    assert Check(CheckKind.TEXT, path=NUMVFS, value="2") in unload.undo[1].expect
    assert not unload.undo[1].undo


def test_autoprobe_is_written_while_the_module_is_out() -> None:
    plan = module_plan(facts(pf()), req(2, autoprobe=False))
    assert plan.render() == ["modprobe -r igb", f"echo 0 > /{AUTOPROBE}",
                             "modprobe igb max_vfs=2"]
    assert Check(CheckKind.DRIVER, VFS[1], value=None) in plan.steps[2].expect


def test_the_same_count_changes_nothing() -> None:
    plan = module_plan(facts(pf(2), vf(VFS[0]), vf(VFS[1])), req(2))
    assert not plan and plan.notes == (f"{PF} already has 2 VFs enabled",)


# -- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize(("driver", "fix"), [
    ("i40e", "--method sysfs"), ("ice", "--method sysfs"), ("mlx5_core", "mlxconfig"),
])
def test_drivers_that_ignore_max_vfs_are_refused(driver: str, fix: str) -> None:
    with pytest.raises(InputError) as exc:
        module_plan(facts(pf(driver=driver)), req(2))
    assert f"{driver}: unknown parameter 'max_vfs' ignored" in exc.value.what
    assert fix in exc.value.fix and exc.value.exit_code == 2


def test_an_unknown_driver_is_refused() -> None:
    with pytest.raises(InputError, match="does not know whether nvme takes a VF count") as exc:
        module_plan(facts(pf(driver="nvme")), req(2))
    assert "--method sysfs" in exc.value.fix


def test_a_built_in_driver_cannot_be_reloaded() -> None:
    with pytest.raises(OperationError, match="igb .* is built into the kernel") as exc:
        module_plan(facts(pf(), modules={}), req(2))
    assert "igb.max_vfs=2" in exc.value.fix


def test_more_than_the_parameter_takes_is_refused_with_what_the_driver_does() -> None:
    with pytest.raises(InputError, match=r"--vfs 8 is more than igb's max_vfs takes \(7\); "
                       "above it igb caps it at 7"):
        module_plan(facts(pf(total=8)), req(8))  # an I350 PF: 8 VFs by sysfs, 7 by max_vfs
    with pytest.raises(InputError, match="ixgbe makes no VF at all"):
        module_plan(facts(pf(driver="ixgbe", total=64)), req(64))


def test_other_devices_on_the_module_are_named_and_need_the_flag() -> None:
    with pytest.raises(OperationError) as exc:
        module_plan(facts(pf(), mgmt()), req(3))
    assert (f"`modprobe -r igb` also takes down {MGMT} (on igb, interface eno1 carries the "
            "host's traffic)") in exc.value.what
    assert RELOAD_OTHERS in exc.value.fix
    plan = module_plan(facts(pf(), mgmt()), req(3, reload_others=True))
    assert plan.render() == ["modprobe -r igb", "modprobe igb max_vfs=3"]
    assert Check(CheckKind.DRIVER, MGMT, value=None) in plan.steps[0].expect
    assert Check(CheckKind.DRIVER, MGMT, value="igb") in plan.steps[1].expect
    assert Check(CheckKind.DRIVER, MGMT, value="igb") in plan.steps[0].undo[0].expect


def test_other_pfs_on_the_module_get_the_parameter_too() -> None:
    other = replace(pf(), bdf=PciAddress.parse("0000:03:00.1"))
    plan = module_plan(facts(pf(), other), req(2, reload_others=True))
    assert plan.notes == ("max_vfs=2 applies to every PF igb drives: 0000:03:00.1 will have "
                          "VFs too",)


def test_vfs_in_use_are_refused_even_with_the_flag() -> None:
    records = {VFS[1]: Record(VFS[1], driver="igbvf", backend="vfio")}
    held = facts(pf(2), vf(VFS[0], "vfio-pci"), vf(VFS[1], None), records=records)
    with pytest.raises(OperationError, match="refusing to reload igb") as exc:
        module_plan(held, req(3, reload_others=True))
    assert f"{VFS[0]} (assignable on vfio-pci)" in exc.value.what
    assert f"{VFS[1]} (recorded by pcipass)" in exc.value.what


def test_a_pf_without_driver_is_refused() -> None:
    with pytest.raises(OperationError, match="has no driver bound"):
        module_plan(facts(replace(pf(), driver=None)), req(2))


# -- run on the simulated kernel ------------------------------------------------------------
class FailingLoad(SimHost):
    """The simulated host, where loading igb with a parameter fails (as a module the kernel
    rejects would: modprobe exits 1)."""

    def run(self, argv: list[str], timeout: float = 60.0) -> RunResult:
        if argv[:2] == ["modprobe", "igb"] and len(argv) > 2:
            return RunResult(tuple(argv), 1, "", "modprobe: ERROR: could not insert 'igb': "
                             "Invalid argument\n")
        return super().run(argv, timeout)


def test_the_reload_on_the_simulated_kernel(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="kernel-lab")
    host.write(NUMVFS, "2")
    Executor(host, RecordStore(host)).run(module_plan(gather_facts(host), req(3)))
    assert host.try_read_text(NUMVFS) == "3"
    assert [host.link_name(f"sys/bus/pci/devices/{v}/driver") for v in VFS] == ["igbvf"] * 3
    dmesg = host.run(["dmesg"]).stdout.splitlines()
    assert dmesg[-2:] == [
        f"igb {PF}: Enabling SR-IOV VFs using the module parameter is deprecated - please "
        "use the pci sysfs interface.",
        f"igb {PF}: 3 VFs allocated",
    ]


def test_a_failed_load_is_undone_to_the_previous_count(tmp_path: Path) -> None:
    create_sim(tmp_path / "sim", profile="kernel-lab")
    host = FailingLoad(tmp_path / "sim")
    host.write(NUMVFS, "2")
    plan = module_plan(gather_facts(host), req(3))
    with pytest.raises(OperationError, match="Invalid argument; the 1 step"):
        Executor(host, RecordStore(host)).run(plan)
    assert host.link_name(f"sys/bus/pci/devices/{PF}/driver") == "igb"
    assert host.try_read_text(NUMVFS) == "2"
    assert [host.link_name(f"sys/bus/pci/devices/{v}/driver") for v in VFS[:2]] == \
        ["igbvf", "igbvf"]
