"""Plans: rendering for --dry-run and a lossless JSON round trip."""

from __future__ import annotations

from pcipass.run.plan import Check, Plan, Step, bind, forget, probe, record, set_override, unbind

BDF = "0000:05:00.0"


def test_render_shows_exact_writes() -> None:
    plan = Plan(
        "assignable add",
        (
            unbind(BDF, "e1000e"),
            set_override(BDF, "vfio-pci", None),
            probe(BDF, "vfio-pci"),
            set_override(BDF, None, "vfio-pci"),
            Step("run", "xl", argv=("xl", "pci-assignable-add", BDF)),
            Step("modprobe", "load", data="vfio-pci"),
        ),
    )
    assert plan.render() == [
        f"echo {BDF} > /sys/bus/pci/drivers/e1000e/unbind",
        f"echo vfio-pci > /sys/bus/pci/devices/{BDF}/driver_override",
        f"echo {BDF} > /sys/bus/pci/drivers_probe",
        f"echo > /sys/bus/pci/devices/{BDF}/driver_override",
        f"xl pci-assignable-add {BDF}",
        "modprobe vfio-pci",
    ]


def test_steps_carry_expectations_and_undo() -> None:
    step = unbind(BDF, "e1000e")
    assert step.expect == (Check("driver", BDF, value=None),)
    assert step.undo[0].path == "sys/bus/pci/drivers/e1000e/bind"
    assert step.undo[0].expect == (Check("driver", BDF, value="e1000e"),)
    over = set_override(BDF, "vfio-pci", "pciback")
    assert over.undo[0].data == "pciback"
    assert bind(BDF, "nvme").undo[0].path.endswith("nvme/unbind")


def test_record_undo_depends_on_whether_it_existed() -> None:
    payload = {"driver": "e1000e"}
    assert record(BDF, payload, previous={"driver": "igb"}).undo[0].payload == {"driver": "igb"}
    assert record(BDF, payload).undo[0].action == "forget"
    assert forget(BDF, payload).undo[0].payload == payload


def test_json_round_trip() -> None:
    plan = Plan(
        "x",
        (record(BDF, {"driver": "e1000e"}), unbind(BDF, "e1000e")),
        notes=("n",),
    )
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert again.steps[0].payload == {"driver": "e1000e"}
    assert not Plan("empty")


def test_kinds_are_enums_and_an_unknown_one_is_refused() -> None:
    import json

    import pytest

    from pcipass.run.plan import Action, CheckKind

    step = Step.from_json(json.loads(json.dumps(unbind(BDF, "e1000e").to_json())))
    assert step.action is Action.WRITE and step.expect[0].kind is CheckKind.DRIVER
    assert json.loads(json.dumps(step.to_json()))["action"] == "write"
    with pytest.raises(ValueError, match="'rm-rf'"):
        Step.from_json({"action": "rm-rf", "why": "x"})
    with pytest.raises(ValueError, match="'maybe'"):
        Check.from_json({"kind": "maybe"})
