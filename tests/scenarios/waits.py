"""Polling helpers: the real kernel probes drivers asynchronously (udev loads igbvf,
nvme gives up on offline VFs after a while); the simulated host answers at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lab_layout import dev

from pcipass.host.base import Host

T = TypeVar("T")


def wait_for(read: Callable[[], T], want: Callable[[T], bool], timeout: float = 30.0) -> T:
    """Re-read until `want(value)` holds or `timeout` passes; return the last value."""
    deadline = time.monotonic() + timeout
    value = read()
    while not want(value) and time.monotonic() < deadline:
        time.sleep(0.25)
        value = read()
    return value


def driver_of(host: Host, bdf: str) -> str | None:
    """The name of the driver bound to a device, from its `driver` link."""
    return host.link_name(dev(bdf, "driver"))


def wait_driver(host: Host, bdf: str, expected: str | None, timeout: float = 30.0) -> str | None:
    """Wait until the device's driver is `expected` (None: unbound); return what it is."""
    return wait_for(lambda: driver_of(host, bdf), lambda d: d == expected, timeout)
