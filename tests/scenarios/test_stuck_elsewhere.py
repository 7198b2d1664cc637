"""A rollback that cannot finish, met by a command on another device: that command runs (with
a warning) and the operation is left stuck, blocking only its own device."""

from __future__ import annotations

import json

import pytest
from lab_layout import E1000E, IGB_PF, dev
from test_kill9_xl import stopped_inside_xl

from helpers.cli import pcipass
from pcipass.host.base import Host
from pcipass.run.journal import JOURNAL, PROGRESS

pytestmark = pytest.mark.targets("sim", "xen-lab")


def test_an_unrelated_command_runs_past_a_rollback_that_cannot_finish(host: Host) -> None:
    stopped_inside_xl(host)
    host.write(dev(E1000E, "driver_override"), "none")  # e1000e can no longer take it back
    ident = json.loads(host.try_read_text(JOURNAL) or "{}")["id"]
    step = (host.try_read_text(PROGRESS) or "").split()[-2]  # the step it was stopped at
    log = host.append_log(PROGRESS)  # ... and then killed while rolling it back
    log.append(f"{ident} {step} rolling-back\n")
    log.close()

    other = pcipass("assignable", "add", "--backend", "xen", IGB_PF, host=host)
    assert other.code == 0, other.err
    assert "could not be finished" in other.err and E1000E in other.err
    assert pcipass("assignable", "remove", "-r", IGB_PF, host=host).code == 0
    refused = pcipass("assignable", "add", "--backend", "xen", E1000E, host=host)
    assert refused.code == 1 and "half-done" in refused.err, refused.err
    assert pcipass("recover", "--abandon", host=host).code == 0
