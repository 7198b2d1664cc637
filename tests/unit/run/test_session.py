"""The lock → recover → plan → run session returns data and prints nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcipass.ops.assign import AddRequest, HostFacts, add_plan
from pcipass.run import session
from pcipass.run.plan import Plan
from pcipass.sim.host import create_sim

GPU = "0000:01:00.0"


def build(facts: HostFacts) -> Plan:
    return add_plan(facts, AddRequest((GPU,), "xen"))


def test_dry_run_returns_the_plan_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    result = session.execute(host, build, dry_run=True)
    assert result.outcome is None and result.plan is not None
    assert f"xl pci-assignable-add {GPU}" in result.plan.render()
    assert host.link_name(f"sys/bus/pci/devices/{GPU}/driver") == "nouveau"
    assert capsys.readouterr() == ("", "")


def test_run_returns_the_outcome_and_warnings_go_to_the_callback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    first = session.execute(host, build, dry_run=False)
    assert first.outcome is not None and first.outcome.state == "done"
    warned: list[str] = []
    again = session.execute(host, build, dry_run=False, warn=warned.append)
    assert again.outcome is not None
    assert again.outcome.warnings[0] == f"{GPU} already assigned to pciback"
    assert host.link_name(f"sys/bus/pci/devices/{GPU}/driver") == "pciback"
    assert capsys.readouterr() == ("", "")
