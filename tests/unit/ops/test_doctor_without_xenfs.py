"""doctor on a dom0 whose xenfs is not mounted: Xen by other evidence, dom0 `unknown`;
only capabilities without control_d make a Xen guest; never `None` as evidence."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import pcipass
from pcipass.model.device import HostModel
from pcipass.ops.doctor import host_checks as h
from pcipass.ops.doctor.facts import DoctorFacts, host_kind
from pcipass.ops.doctor.verdict import Status
from pcipass.sim.host import create_sim


def xen(kind: str, caps: str | None) -> DoctorFacts:
    return DoctorFacts(kind=kind, model=HostModel({}, {}, True), xen_capabilities=caps)


def test_a_dom0_without_xenfs_is_xen_by_the_hypervisor_type(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    (host.root / "proc/xen/capabilities").unlink()
    assert host_kind(host) == ("xen", None)
    doc = pcipass("doctor", "--json", host=host).json()
    row = next(r for r in doc["checks"] if r["check"] == "dom0")
    assert (row["status"], "xenfs" in row["evidence"], "mount -t xenfs" in row["fix"]) == \
        ("unknown", True, True)
    assert all("None" not in r["evidence"] for r in doc["checks"])


def test_xl_info_answering_is_xen_without_the_hypervisor_type(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    (host.root / "proc/xen/capabilities").unlink()
    (host.root / "sys/hypervisor/type").unlink()
    assert host_kind(host) == ("xen", None)


def test_only_capabilities_without_control_d_are_a_guest(tmp_path: Path) -> None:
    host = create_sim(tmp_path / "sim", profile="kernel-lab")
    assert host_kind(host) == ("kvm", None)
    (host.root / "proc/xen").mkdir(parents=True, exist_ok=True)
    (host.root / "proc/xen/capabilities").write_text("")
    assert host_kind(host) == ("domu", "")
    verdict = h.dom0(xen("domu", ""))
    assert (verdict.status, "capabilities is empty" in verdict.evidence) == (Status.FAIL, True)
    assert h.dom0(xen("xen", None)).status == Status.UNKNOWN
    assert h.dom0(xen("xen", "control_d\n")).evidence == "/proc/xen/capabilities: control_d"
