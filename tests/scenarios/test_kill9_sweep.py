"""Kill -9 sweep: SIGKILL pcipass before every step (and after the last) of `assignable add`
and `assignable remove -r`; after `pcipass recover` no device may be left without a driver
and no original-driver record may be lost. The kill comes from the executor's test hook
`PCIPASS_TEST_KILL=before:N|after:N`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
from lab_layout import E1000E, dev
from waits import driver_of

from helpers.cli import pcipass, where
from pcipass.host.base import Host
from pcipass.ops.persist_store import load

pytestmark = pytest.mark.targets("sim", "kernel-lab")
ADD = ("assignable", "add", "--backend", "vfio", E1000E)
REMOVE = ("assignable", "remove", "-r", E1000E)
RECORDS = "var/lib/pcipass/records.json"



def killed_at(host: Host, when: str, step: int, args: tuple[str, ...]) -> None:
    """Run pcipass in a child that SIGKILLs itself at `when:step`."""
    env = dict(os.environ, PCIPASS_TEST_KILL=f"{when}:{step}")
    proc = subprocess.run([sys.executable, "-m", "pcipass", *where(host), *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def step_count(host: Host, args: tuple[str, ...]) -> int:
    code, out, err = pcipass("--json", *args, "--dry-run", host=host)
    assert code == 0, err
    return len(json.loads(out)["steps"])


def record_of(host: Host) -> dict[str, object] | None:
    text = host.try_read_text(RECORDS)
    return json.loads(text).get(E1000E) if text else None


def assert_consistent(host: Host) -> str:
    """The device has a driver; unless it is back on e1000e its record is intact."""
    driver = driver_of(host, E1000E)
    assert driver in ("e1000e", "vfio-pci"), f"{E1000E} left on {driver}"
    if driver == "vfio-pci":
        rec = record_of(host)
        assert rec is not None and rec["driver"] == "e1000e", rec
        assert host.try_read_text(dev(E1000E, "driver_override")) == "vfio-pci"
    else:
        assert host.try_read_text(dev(E1000E, "driver_override")) == "(null)"
    return driver


def back_to_e1000e(host: Host) -> None:
    if driver_of(host, E1000E) == "vfio-pci":
        code, _, err = pcipass(*REMOVE, host=host)
        assert code == 0, err
    assert driver_of(host, E1000E) == "e1000e"


def sweep(host: Host, args: tuple[str, ...], finished: str,
          again: Callable[[Host, str], None]) -> None:
    """Kill before each step (the plan is re-planned each time: the first add also loads
    vfio-pci), then after the last one; recover; check; `again` checks the rest and sets
    the host up for the next kill."""
    k, total = 1, step_count(host, args)
    while k <= total + 1:
        when, at = ("before", k) if k <= total else ("after", total)
        killed_at(host, when, at, args)
        code, _, err = pcipass("recover", host=host)
        assert code == 0, err
        assert assert_consistent(host) == finished, (when, k)
        again(host, f"{when}:{k}")
        k, total = k + 1, step_count(host, args)


def declared(host: Host) -> list[str]:
    """The devices host.toml declares assignable (a half-written file fails to parse)."""
    return [a.bdf for a in load(host).assignable]


def test_sweep_add(host: Host) -> None:
    sweep(host, ADD, "vfio-pci", lambda h, _: back_to_e1000e(h))


def test_sweep_remove_rebind(host: Host) -> None:
    def again(h: Host, _: str) -> None:
        back_to_e1000e(h)
        assert pcipass(*ADD, host=h)[0] == 0

    assert pcipass(*ADD, host=host)[0] == 0
    sweep(host, REMOVE, "e1000e", again)
    back_to_e1000e(host)


def test_sweep_add_persist(host: Host) -> None:
    """`--persist`: the device's change and the host.toml edit are one plan, so recovery
    finishes both; the file is whole after every kill."""
    def again(h: Host, kill: str) -> None:
        assert declared(h) == [E1000E], kill
        code, _, err = pcipass(*REMOVE, "--persist", host=h)
        assert code == 0, err
        assert declared(h) == [] and driver_of(h, E1000E) == "e1000e"

    sweep(host, (*ADD, "--persist"), "vfio-pci", again)


def test_rollback_after_kill(host: Host) -> None:
    killed_at(host, "after", 3, ADD)
    code, _, err = pcipass("recover", "--rollback", host=host)
    assert code == 0, err
    assert assert_consistent(host) == "e1000e"
    assert record_of(host) is None


def test_next_command_finishes_the_interrupted_one(host: Host) -> None:
    killed_at(host, "before", 3, ADD)
    code, _, err = pcipass(*REMOVE, host=host)
    assert code == 0, err
    assert "finished an interrupted operation" in err
    assert assert_consistent(host) == "e1000e"
