"""How a device left by an unfinished operation is described, and the commands to give it back."""

from __future__ import annotations

from pcipass.run.leftover import DeviceState

BDF = "0000:02:00.0"
KEY = "/libxl/pci/0000-02-00-0/driver_path"


def state(**kw: object) -> DeviceState:
    base: dict[str, object] = dict(bdf=BDF, driver="pciback", override=None, listed=True,
                                   driver_path=None, original="e1000e", original_override=None)
    base.update(kw)
    return DeviceState(**base)  # type: ignore[arg-type]


def test_xen_half_done_is_given_back_through_xl_after_letting_it_finish() -> None:
    left = state()
    assert left.describe() == ("on pciback, listed by xl, no driver_path in xenstore, "
                               "originally on e1000e")
    assert [c.split("   #")[0] for c in left.hand_back()] == [
        f"xl pci-assignable-add {BDF}",
        f"xenstore-write {KEY} /sys/bus/pci/drivers/e1000e",
        f"xl pci-assignable-remove -r {BDF}",
    ]
    kept = state(driver_path="/sys/bus/pci/drivers/e1000e")
    assert f"xenstore-write {KEY} /sys/bus/pci/drivers/e1000e" not in kept.hand_back()


def test_vfio_and_unbound_devices_go_back_through_sysfs() -> None:
    left = state(driver="vfio-pci", override="vfio-pci", listed=None)
    assert left.describe() == "on vfio-pci, driver_override vfio-pci, originally on e1000e"
    assert left.hand_back() == [
        f"echo > /sys/bus/pci/devices/{BDF}/driver_override",
        f"echo {BDF} > /sys/bus/pci/drivers/vfio-pci/unbind",
        f"echo {BDF} > /sys/bus/pci/drivers/e1000e/bind",
    ]
    assert state(driver=None, listed=False).hand_back() == [
        f"echo {BDF} > /sys/bus/pci/drivers/e1000e/bind"]
    assert state(driver="e1000e").hand_back() == []


def test_obstacles_name_their_fix() -> None:
    blocked = state(driver=None, override="none")
    assert blocked.obstacle() == (f"its driver_override none keeps e1000e from binding: "
                                  f"`echo > /sys/bus/pci/devices/{BDF}/driver_override`")
    assert state(original_loaded=False).obstacle() == "e1000e is not loaded: `modprobe e1000e`"
    assert state().obstacle() == ""
