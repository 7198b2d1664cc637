"""Assign planners: requests → plans, and every refusal as one clear error."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError
from pcipass.model.device import Device, HostModel, SriovPF
from pcipass.model.resolve import REMOVE
from pcipass.ops.assign import (
    AddRequest,
    HostFacts,
    add_plan,
    assignable,
    choose_backend,
    remove_plan,
    resolve_targets,
)
from pcipass.ops.records import Record, XenDevice
from pcipass.run.plan import Check

NIC, PF, VF = "0000:02:00.0", "0000:01:00.0", "0000:01:00.1"
LPC, SATA, ROOTPORT = "0000:00:1f.0", "0000:00:1f.2", "0000:00:1c.0"


def device(bdf: str, driver: str | None, group: int | None = None, **kw: object) -> Device:
    return Device(PciAddress.parse(bdf), 0x8086, 0x10D3, driver=driver, iommu_group=group, **kw)  # type: ignore[arg-type]


def model(*devices: Device, iommu: bool = True) -> HostModel:
    groups: dict[int, list[PciAddress]] = {}
    for d in devices:
        if d.iommu_group is not None:
            groups.setdefault(d.iommu_group, []).append(d.bdf)
    return HostModel({d.bdf: d for d in devices}, {g: tuple(m) for g, m in groups.items()}, iommu)


def kernel_facts(*extra: Device, **kw: object) -> HostFacts:
    devs = (
        device(NIC, "e1000e", 2),
        device(LPC, "lpc_ich", 3),
        device(SATA, "ahci", 3),
        device(ROOTPORT, "pcieport", 3, header_type=1),
        *extra,
    )
    return HostFacts(model(*devs), drivers=frozenset({"e1000e", "lpc_ich", "ahci", "vfio-pci"}),
                     modules={"e1000e": "e1000e"}, **kw)  # type: ignore[arg-type]


def test_vfio_add_is_unbind_override_probe_after_recording() -> None:
    plan = add_plan(kernel_facts(), AddRequest((NIC,), "vfio"))
    assert plan.render() == [
        f"remember {NIC}: driver=e1000e, driver_override=None, backend=vfio, name=None",
        f"echo {NIC} > /sys/bus/pci/drivers/e1000e/unbind",
        f"echo vfio-pci > /sys/bus/pci/devices/{NIC}/driver_override",
        f"echo {NIC} > /sys/bus/pci/drivers_probe",
    ]
    assert plan.steps[0].payload == {"driver": "e1000e", "module": "e1000e",
                                     "driver_override": None, "backend": "vfio",
                                     "name": None, "source": "pcipass"}


def test_vfio_loads_the_module_when_missing() -> None:
    facts = replace(kernel_facts(), drivers=frozenset({"e1000e"}))
    plan = add_plan(facts, AddRequest((NIC,), "vfio"))
    assert plan.render()[0] == "modprobe vfio-pci"


def test_vfio_needs_an_iommu() -> None:
    facts = HostFacts(model(device(NIC, "e1000e"), iommu=False))
    with pytest.raises(OperationError, match="needs an IOMMU"):
        add_plan(facts, AddRequest((NIC,), "vfio"))


def test_group_viability_names_blockers_and_group_moves_them() -> None:
    with pytest.raises(OperationError, match=r"not viable.*0000:00:1f.2 \(on ahci\)") as err:
        add_plan(kernel_facts(), AddRequest((LPC,), "vfio"))
    assert "--group" in err.value.fix
    plan = add_plan(kernel_facts(), AddRequest((LPC,), "vfio", group=True))
    text = "\n".join(plan.render())
    assert f"echo {SATA} > /sys/bus/pci/drivers/ahci/unbind" in text
    assert "pcieport" not in text  # bridges stay


def test_unknown_device_and_already_assigned() -> None:
    with pytest.raises(InputError, match="no PCI device 0000:09:00.0"):
        add_plan(kernel_facts(), AddRequest(("0000:09:00.0",), "vfio"))
    facts = kernel_facts(device("0000:05:00.0", "vfio-pci", 9))
    plan = add_plan(facts, AddRequest(("0000:05:00.0",), "vfio"))  # as xl: a warning
    assert (plan.steps, plan.notes) == ((), ("0000:05:00.0 already assigned to vfio-pci",))
    with pytest.raises(OperationError, match="already assignable"):
        add_plan(replace(facts, dom0=True), AddRequest(("0000:05:00.0",), "xen"))


def test_guard_refusal_and_override() -> None:
    from pcipass.model.device import NetInterface

    nic = device("0000:06:00.0", "igb", 8, net=(NetInterface("eth0", default_route=True),))
    with pytest.raises(OperationError, match="default route") as err:
        add_plan(kernel_facts(nic), AddRequest(("0000:06:00.0",), "vfio"))
    assert "--force-net" in err.value.fix
    assert add_plan(kernel_facts(nic),
                    AddRequest(("0000:06:00.0",), "vfio", overrides=frozenset({"--force-net"})))


def xen_facts(*extra: Device, **kw: object) -> HostFacts:
    pf = device(PF, "nvme", sriov=SriovPF(4, 1, 1, 1, 0x10, False, (PciAddress.parse(VF),)))
    vf = device(VF, None, physfn=PciAddress.parse(PF))
    devs = (device(NIC, "e1000e"), pf, vf, *extra)
    return HostFacts(model(*devs, iommu=False), drivers=frozenset({"e1000e", "nvme", "pciback"}),
                     dom0=True, xen_directio=True, **kw)  # type: ignore[arg-type]


def test_xen_add_goes_through_xl_with_name() -> None:
    plan = add_plan(xen_facts(), AddRequest((NIC,), "xen", name="nic0"))
    assert plan.render()[1] == f"xl pci-assignable-add -n nic0 {NIC}"
    assert plan.steps[1].undo[-1].argv == ("xl", "pci-assignable-remove", "-r", NIC)


def test_xen_add_verifies_xl_and_libxl_state_and_undoes_a_half_done_add() -> None:
    """xl's list and libxl's driver_path are checked; recovery always re-runs xl (the
    quarantine cannot be re-read); the undo lets xl finish before it gives the device back."""
    plan = add_plan(xen_facts(), AddRequest((NIC,), "xen"))
    key = "/libxl/pci/0000-02-00-0/driver_path"
    assert plan.render()[1:] == [
        f"xl pci-assignable-add {NIC}",
        f"xenstore-write {key} /sys/bus/pci/drivers/e1000e",
    ]
    add, remembered = plan.steps[1:]
    assert {c.kind for c in add.expect} == {"driver", "xl-assignable"}
    assert add.skip_when == ()
    assert remembered.expect == (Check("xenstore", path=key, value="/sys/bus/pci/drivers/e1000e"),)
    finish, rewrite, give_back = add.undo
    assert finish.argv == ("xl", "pci-assignable-add", NIC)
    original = (Check("driver", NIC, value="e1000e"),)
    assert finish.skip_when == original and rewrite.skip_when == original
    assert rewrite.argv == remembered.argv
    assert give_back.argv == ("xl", "pci-assignable-remove", "-r", NIC)


def test_xen_vf_with_autoprobe_off_gets_pciback_override() -> None:
    plan = add_plan(xen_facts(), AddRequest((VF,), "xen"))
    assert plan.render()[1:] == [
        f"echo pciback > /sys/bus/pci/devices/{VF}/driver_override",
        f"xl pci-assignable-add {VF}",
    ]  # no driver: no driver_path to remember


def test_xen_refuses_without_dom0_or_iommu() -> None:
    with pytest.raises(OperationError, match="not one"):
        add_plan(kernel_facts(), AddRequest((NIC,), "xen"))
    with pytest.raises(OperationError, match="no IOMMU"):
        add_plan(replace(xen_facts(), xen_directio=False), AddRequest((NIC,), "xen"))


def test_names_checked_like_xl() -> None:
    with pytest.raises(InputError, match="exactly one"):
        add_plan(xen_facts(), AddRequest((NIC, VF), "xen", name="x"))
    with pytest.raises(InputError, match="bad device name"):
        add_plan(xen_facts(), AddRequest((NIC,), "xen", name="a b"))
    facts = xen_facts(xen={VF: XenDevice(name="x")})
    with pytest.raises(InputError, match="already used"):
        add_plan(facts, AddRequest((NIC,), "xen", name="x"))


def test_xen_remove_uses_xl_driver_path_and_restores_override() -> None:
    on_pciback = device(NIC, "pciback", driver_override="pciback")
    rec = Record(NIC, "e1000e", backend="xen", name="nic0")
    facts = replace(xen_facts(), model=model(on_pciback),
                    records={NIC: rec}, xen={NIC: XenDevice("e1000e", "nic0")})
    assert resolve_targets(facts, ["nic0"], REMOVE) == ((NIC,), frozenset())
    plan = remove_plan(facts, [NIC], rebind=True)
    assert plan.render() == [  # the override first: with it, the kernel refuses xl's -r bind
        f"echo > /sys/bus/pci/devices/{NIC}/driver_override",
        f"xl pci-assignable-remove -r {NIC}",
        f"forget the record of {NIC}",
    ]
    restore_override, give_back = plan.steps[1].undo
    assert (restore_override.path, restore_override.data) == (
        f"sys/bus/pci/devices/{NIC}/driver_override", "pciback")
    assert give_back.argv == ("xl", "pci-assignable-add", "-n", "nic0", NIC)
    assert remove_plan(facts, [NIC], rebind=False).render()[1] == f"xl pci-assignable-remove {NIC}"


def test_xen_remove_of_a_vf_with_autoprobe_off_lets_xl_rebind_it() -> None:
    """The kernel binds such a VF only to the driver its override names."""
    pf = device(PF, "ixgbe", sriov=SriovPF(7, 1, 0x80, 2, 0x10ED, False, (PciAddress.parse(VF),)))
    vf = device(VF, "pciback", physfn=PciAddress.parse(PF), driver_override="pciback")
    facts = replace(xen_facts(), model=model(pf, vf),
                    records={VF: Record(VF, "ixgbevf", backend="xen")},
                    xen={VF: XenDevice("ixgbevf")})
    plan = remove_plan(facts, [VF], rebind=True)
    assert plan.render() == [
        f"echo ixgbevf > /sys/bus/pci/devices/{VF}/driver_override",
        f"xl pci-assignable-remove -r {VF}",
        f"echo > /sys/bus/pci/devices/{VF}/driver_override",
        f"forget the record of {VF}",
    ]
    assert [u.data for u in plan.steps[1].undo if u.action == "write"] == ["pciback"]


def test_xen_remove_refuses_device_in_a_domain() -> None:
    facts = replace(xen_facts(), model=model(device(NIC, "pciback")),
                    xen={NIC: XenDevice("e1000e", None, 3)})
    with pytest.raises(OperationError, match="attached to domain 3"):
        remove_plan(facts, [NIC], rebind=True)
    assert assignable(facts) == []


def test_vfio_remove_rebinds_recorded_driver() -> None:
    dev = device(NIC, "vfio-pci", 2, driver_override="vfio-pci")
    facts = replace(kernel_facts(), model=model(dev),
                    records={NIC: Record(NIC, "e1000e", "e1000e", None, "vfio")})
    assert remove_plan(facts, [NIC], rebind=True).render() == [
        f"echo {NIC} > /sys/bus/pci/drivers/vfio-pci/unbind",
        f"echo > /sys/bus/pci/devices/{NIC}/driver_override",
        f"echo {NIC} > /sys/bus/pci/drivers/e1000e/bind",
        f"forget the record of {NIC}",
    ]
    rows = assignable(facts)
    assert [(r.bdf, r.backend, r.original_driver, r.source) for r in rows] == [
        (NIC, "vfio", "e1000e", "pcipass")
    ]


def test_remove_of_a_device_never_assignable() -> None:
    with pytest.raises(OperationError, match="is not assignable"):
        remove_plan(kernel_facts(), [NIC], rebind=True)
    with pytest.raises(InputError, match="neither a PCI address nor the name"):
        resolve_targets(kernel_facts(), ["nosuch"], REMOVE)


def test_auto_backend() -> None:
    assert choose_backend("auto", xen_facts()) == "xen"
    assert choose_backend("auto", kernel_facts()) == "vfio"


def test_stale_records_are_ignored() -> None:
    from pcipass.ops.assign import live_records

    recs = {NIC: Record(NIC, "e1000e", backend="xen", name="nic0")}
    on_host = model(device(NIC, "e1000e"))
    on_pciback = model(device(NIC, "pciback"))
    assert live_records(on_host, recs) == {}
    assert live_records(on_pciback, recs) == recs
    assert live_records(on_pciback, recs, {NIC: XenDevice("e1000e", "nic1")}) == {}
    assert live_records(on_pciback, recs, {NIC: XenDevice("e1000e", "nic0")}) == recs
    # `remove nic0` without -r: xl dropped the name, the device waits unbound for `remove -r`
    unbound = model(device(NIC, None))
    assert live_records(unbound, recs, {NIC: XenDevice("e1000e", None)}) == recs
