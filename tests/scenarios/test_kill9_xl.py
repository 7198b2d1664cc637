"""An operation interrupted inside `xl pci-assignable-add`: recovery finishes it so the device
is really assignable (listed by xl, libxl's `driver_path` kept, quarantined, so `remove -r`
works), `recover --rollback` undoes it, and a rollback that cannot finish leaves a way out
(`recover --abandon`) without blocking other devices.

The half-done state is what xl leaves when killed after it bound the device to pciback and
before it quarantined it: on pciback (slot + bind, as libxl does), no `driver_path` written,
not quarantined. On every target it is made the same way: pcipass is stopped by the
executor's fault hook right before the xl step, then xl's partial effect is done by hand.
On the simulated host the simulated xl is also killed at each of its inner steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from lab_layout import E1000E, IGB_PF, dev, drv, xs_key
from test_kill9_sweep import killed_at
from waits import driver_of, wait_driver

from helpers.cli import pcipass, where
from pcipass.host.base import Host
from pcipass.run.plan import Plan
from pcipass.run.records import RecordStore
from pcipass.sim.host import SimHost

pytestmark = pytest.mark.targets("sim", "xen-lab")
ADD = ("assignable", "add", "--backend", "xen", E1000E)
DRIVER_PATH = f"{xs_key(E1000E)}/driver_path"


def xl_lists(host: Host, bdf: str) -> bool:
    result = host.run(["xl", "pci-assignable-list"])
    assert result.returncode == 0, result.stderr
    return bdf in result.stdout.split()


def driver_path(host: Host) -> str | None:
    result = host.run(["xenstore-read", DRIVER_PATH])
    return result.stdout.strip() if result.returncode == 0 else None


def stopped_inside_xl(host: Host) -> None:
    """Leave `assignable add E1000E` journalled at its xl step, with xl's work half-done."""
    planned = pcipass("--json", *ADD, "--dry-run", host=host)
    assert planned.code == 0, planned.err
    plan = Plan.from_json(planned.json())
    at = next(i for i, s in enumerate(plan.steps) if s.argv[:2] == ("xl", "pci-assignable-add"))
    killed_at(host, "before", at + 1, ADD)  # a real kill -9 of pcipass at its xl step
    # what xl does before it quarantines: unbind, pciback new_slot + bind (driver_path lost)
    host.write(drv("e1000e", "unbind"), E1000E)
    if E1000E not in (host.try_read_text(drv("pciback", "slots")) or ""):
        host.write(drv("pciback", "new_slot"), E1000E)
    host.write(drv("pciback", "bind"), E1000E)
    assert driver_of(host, E1000E) == "pciback" and driver_path(host) is None


def assert_really_assignable_then_given_back(host: Host) -> None:
    assert driver_of(host, E1000E) == "pciback"
    assert xl_lists(host, E1000E)
    assert driver_path(host) == "/sys/bus/pci/drivers/e1000e"
    back = pcipass("assignable", "remove", "-r", E1000E, host=host)
    assert back.code == 0, back.err
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    assert not xl_lists(host, E1000E) and driver_path(host) is None


def test_recover_finishes_a_half_done_xl_add(host: Host) -> None:
    stopped_inside_xl(host)
    recovered = pcipass("recover", host=host)
    assert recovered.code == 0, recovered.err
    assert "done" in recovered.out
    assert_really_assignable_then_given_back(host)


def test_recover_rollback_undoes_a_half_done_xl_add(host: Host) -> None:
    stopped_inside_xl(host)
    rolled = pcipass("recover", "--rollback", host=host)
    assert rolled.code == 0, rolled.err
    assert "rolled-back" in rolled.out
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    assert not xl_lists(host, E1000E) and driver_path(host) is None
    assert pcipass("recover", host=host).out.strip() == "nothing to recover"
    assert RecordStore(host).get(E1000E) is None


def run_by_hand(host: Host, command: str) -> None:
    """One of the commands `recover --abandon` prints (`echo V > /path`, xl, xenstore-*)."""
    command = command.split("#")[0].strip()
    if command.startswith("echo "):
        value, _, path = command[len("echo "):].partition("> ")
        host.write(path.strip().lstrip("/"), value.strip() or "\n")
        return
    result = host.run(command.split())
    assert result.returncode == 0, (command, result.stderr)


def test_a_stuck_rollback_blocks_only_its_device_and_can_be_abandoned(host: Host) -> None:
    stopped_inside_xl(host)
    host.write(dev(E1000E, "driver_override"), "none")  # e1000e can no longer take it back
    stuck = pcipass("recover", "--rollback", host=host)
    assert stuck.code == 1
    assert E1000E in stuck.err and "found" in stuck.err and "without driver" in stuck.err
    fix = f"driver_override none keeps e1000e from binding: `echo > /{dev(E1000E)}/driver_override`"
    assert fix in stuck.err
    assert "recover --abandon" in stuck.err and "fix what the message says" not in stuck.err

    refused = pcipass("assignable", "add", "--backend", "xen", E1000E, host=host)
    assert refused.code == 1 and "half-done" in refused.err, refused.err
    other = pcipass("assignable", "add", "--backend", "xen", IGB_PF, host=host)
    assert other.code == 0, other.err  # another device is not blocked
    assert pcipass("assignable", "remove", "-r", IGB_PF, host=host).code == 0

    abandoned = pcipass("recover", "--abandon", host=host)
    assert abandoned.code == 0, abandoned.err
    lines = abandoned.out.splitlines()
    assert f"abandoned `assignable add {E1000E}`" in lines[0]
    assert f"{E1000E}: without driver, driver_override none" in abandoned.out
    assert "originally on e1000e" in abandoned.out
    by_hand = [line.strip() for line in lines[lines.index("  give it back by hand:") + 1:]]
    assert by_hand == [
        f"echo > /sys/bus/pci/devices/{E1000E}/driver_override",
        f"echo {E1000E} > /sys/bus/pci/drivers/e1000e/bind",
    ]
    for command in by_hand:
        run_by_hand(host, command)
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    assert pcipass("recover", host=host).out.strip() == "nothing to recover"
    host.run(["xenstore-rm", DRIVER_PATH])  # the key xl kept when its rebind failed
    added = pcipass(*ADD, host=host)  # the device is usable again
    assert added.code == 0, added.err
    assert_really_assignable_then_given_back(host)


@pytest.mark.parametrize("inner", ["unbind", "driver_path", "bind"])
def test_sigkill_inside_simulated_xl_then_recover(host: Host, inner: str) -> None:
    if not isinstance(host, SimHost):  # (a sim-only marker would give a host without Xen)
        pytest.skip("only the simulated xl can be SIGKILLed at a precise inner step")
    env = dict(os.environ, PCIPASS_TEST_KILL=f"xl-add:{inner}")
    proc = subprocess.run([sys.executable, "-m", "pcipass", *where(host), *ADD], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert driver_of(host, E1000E) == ("pciback" if inner == "bind" else None)
    recovered = pcipass("recover", host=host)
    assert recovered.code == 0, recovered.err
    assert_really_assignable_then_given_back(host)
