"""Attach/detach planners: requests → plans (xl pci-attach/-detach, verified by xl pci-list),
the refusals made before anything is done, and the `domain list` JSON against docs/json.md."""

from __future__ import annotations

import pytest
from tests.unit.model.test_views import documented

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError, PcipassError
from pcipass.host.xen import XlDomain, XlPci
from pcipass.model.device import Device, HostModel
from pcipass.ops.assign import HostFacts
from pcipass.ops.attach import (
    PERMISSIVE,
    AttachRequest,
    DetachRequest,
    attach_plan,
    detach_plan,
    domain_json,
)
from pcipass.ops.records import XenDevice
from pcipass.run.plan import Check, CheckKind

NIC, NVME, VF1, VF2 = "0000:02:00.0", "0000:01:00.0", "0000:03:10.0", "0000:03:10.1"
DOM0 = XlDomain(0, "Domain-0", "r-----")
GUEST = XlDomain(3, "guest", "-b----", "pv", "enabled")
NOPT = XlDomain(4, "nopt", "-b----", "pv", "disabled")
GONE = XlDomain(5, "dying", "--ps-d", "pv", "enabled")


def device(bdf: str, driver: str | None) -> Device:
    return Device(PciAddress.parse(bdf), 0x8086, 0x10D3, driver=driver)


def facts(*devices: Device, directio: bool | None = True, **kw: object) -> HostFacts:
    devs = devices or (device(NIC, "pciback"), device(NVME, "nvme"))
    return HostFacts(HostModel({d.bdf: d for d in devs}, {}, False), dom0=True,
                     xen_directio=directio, drivers=frozenset({"pciback", "nvme", "e1000e"}),
                     modules={"nvme": "nvme"}, **kw)  # type: ignore[arg-type]


DOMAINS = (DOM0, GUEST, NOPT, GONE)


def test_attach_is_one_xl_call_verified_by_pci_list_and_undone_by_detach() -> None:
    plan = attach_plan(facts(), DOMAINS, AttachRequest("guest", (f"{NIC[5:]},permissive=1",)))
    assert plan.render() == [f"xl pci-attach 3 {NIC},permissive=1"]
    step = plan.steps[0]
    assert step.expect == (Check(CheckKind.XL_ATTACHED, NIC, path="3", value="listed"),
                           Check(CheckKind.LISTED, path=PERMISSIVE, value=NIC))
    assert [u.render() for u in step.undo] == [f"xl pci-detach -f 3 {NIC}"]
    assert any("only for trusted guests" in n for n in plan.notes)


def test_attach_by_id_and_permissive_flag_and_qemu_traditional_options_warned() -> None:
    plan = attach_plan(facts(), DOMAINS, AttachRequest("3", (f"{NIC},msitranslate=1",),
                                                       permissive=True))
    assert plan.render() == [f"xl pci-attach 3 {NIC},permissive=1,msitranslate=1"]
    assert any("msitranslate=1 has no effect" in n for n in plan.notes)


def test_seize_puts_the_assignable_add_plan_first_and_xl_gets_no_seize() -> None:
    plan = attach_plan(facts(), DOMAINS, AttachRequest("guest", (f"{NVME},seize=1",)))
    assert plan.render() == [
        f"remember {NVME}: driver=nvme, driver_override=None, backend=xen, name=None",
        f"xl pci-assignable-add {NVME}",
        "xenstore-write /libxl/pci/0000-01-00-0/driver_path /sys/bus/pci/drivers/nvme",
        f"xl pci-attach 3 {NVME}",
    ]


@pytest.mark.parametrize(("request_", "error", "said"), [
    (AttachRequest("nosuch", (NIC,)), InputError, "no domain 'nosuch'"),
    (AttachRequest("0", (NIC,)), InputError, "is the host itself"),
    (AttachRequest("Domain-0", (NIC,)), InputError, "is the host itself"),
    (AttachRequest("dying", (NIC,)), OperationError, "is not running"),
    (AttachRequest("guest", ()), InputError, "no device given"),
    (AttachRequest("guest", (NVME,)), OperationError, "not assignable"),
    (AttachRequest("nopt", (NIC,)), OperationError, 'passthrough = "enabled"'),
    (AttachRequest("guest", (f"{NIC},bogus=1",)), InputError, "unknown PCI_SPEC_STRING"),
])
def test_attach_refusals(request_: AttachRequest, error: type[PcipassError], said: str) -> None:
    with pytest.raises(error) as refused:
        attach_plan(facts(), DOMAINS, request_)
    assert said in refused.value.line()


def test_no_iommu_and_not_dom0_refused_first() -> None:
    with pytest.raises(OperationError, match="Xen reports no IOMMU"):
        attach_plan(facts(directio=False), DOMAINS, AttachRequest("nosuch", (NIC,)))
    with pytest.raises(OperationError, match="needs a Xen dom0"):
        attach_plan(HostFacts(facts().model), DOMAINS, AttachRequest("guest", (NIC,)))


def test_held_by_another_domain_refused_held_by_this_one_is_a_note() -> None:
    held = XlDomain(3, "guest", "-b----", "pv", "enabled", (XlPci(NIC),))
    with pytest.raises(OperationError, match="attached to domain 3"):
        attach_plan(facts(), (DOM0, held, XlDomain(6, "b", "-b----", "pv", "enabled")),
                    AttachRequest("b", (NIC,)))
    plan = attach_plan(facts(), (DOM0, held), AttachRequest("guest", (NIC,)))
    assert not plan and plan.notes == (f"{NIC} is already attached to guest",)
    xen = {NIC: XenDevice(domid=9)}  # only libxl's xenstore key says so
    with pytest.raises(OperationError, match="attached to domain 9"):
        attach_plan(facts(xen=xen), DOMAINS, AttachRequest("guest", (NIC,)))


def test_a_slot_needs_every_function_assignable() -> None:
    both = facts(device(VF1, "pciback"), device(VF2, "igbvf"))
    with pytest.raises(OperationError, match=f"not assignable: {VF2}"):
        attach_plan(both, DOMAINS, AttachRequest("guest", ("03:10.*",)))
    ok = facts(device(VF1, "pciback"), device(VF2, "pciback"))
    assert attach_plan(ok, DOMAINS, AttachRequest("guest", ("03:10.*",))).render() == [
        f"xl pci-attach 3 {VF2}", f"xl pci-attach 3 {VF1}"]  # function 0 last


def test_detach_leaves_it_assignable_and_give_back_runs_the_remove_plan() -> None:
    opts = (("msitranslate", "0"), ("permissive", "1"))
    held = XlDomain(3, "guest", "-b----", "pv", "enabled", (XlPci(NIC, None, opts),))
    xen = {NIC: XenDevice(driver="e1000e", domid=3)}
    plan = detach_plan(facts(xen=xen), (DOM0, held), DetachRequest("guest", (NIC,)))
    assert plan.render() == [f"xl pci-detach 3 {NIC}"]
    assert [u.render() for u in plan.steps[0].undo] == [f"xl pci-attach 3 {NIC},permissive=1"]
    plan = detach_plan(facts(xen=xen), (DOM0, held),
                       DetachRequest("guest", (NIC,), force=True, give_back=True))
    assert plan.render() == [f"xl pci-detach -f 3 {NIC}", f"xl pci-assignable-remove -r {NIC}"]
    with pytest.raises(OperationError, match="not attached to guest"):
        detach_plan(facts(), DOMAINS, DetachRequest("guest", (NIC,)))


def test_domain_json_keys_are_documented() -> None:
    doc = domain_json(XlDomain(3, "g", "-b----", "pv", "enabled", (XlPci(NIC),)), frozenset())
    assert documented("pcipass domain list", 0) == set(doc)
    pci = doc["pci"]
    assert isinstance(pci, list)
    assert documented("pcipass domain list", 1) == set(pci[0])


def test_a_device_pciback_still_lists_as_permissive_is_warned_when_attached_without() -> None:
    plan = attach_plan(facts(), DOMAINS, AttachRequest("guest", (NIC,)), frozenset({NIC}))
    assert plan.render() == [f"xl pci-attach 3 {NIC}"]
    said = [n for n in plan.notes if "still in pciback's permissive list" in n]
    assert len(said) == 1 and f"pcipass assignable remove {NIC}" in said[0], plan.notes
    asked = attach_plan(facts(), DOMAINS, AttachRequest("guest", (NIC,), permissive=True),
                        frozenset({NIC}))
    assert not any("still in pciback" in n for n in asked.notes), asked.notes


def test_detach_undo_attaches_again_with_every_option_and_the_guest_slot_it_had() -> None:
    opts = (("msitranslate", "0"), ("power_mgmt", "1"), ("permissive", "1"),
            ("rdm_policy", "relaxed"))
    held = XlDomain(3, "guest", "-b----", "hvm", "enabled", (XlPci(NIC, None, opts, vslot=5),))
    plan = detach_plan(facts(), (DOM0, held), DetachRequest("guest", (NIC,)))
    assert [u.render() for u in plan.steps[0].undo] == [
        f"xl pci-attach 3 {NIC}@5,permissive=1,power_mgmt=1,rdm_policy=relaxed"]
