"""`domain list` and attach tell "xl answered: none" from "xl could not be asked" (a --root
tree, xl failing, xenstore not read), and the executor's xl-attached check fails when the
domain's backend keys (what `xl pci-list` lists) cannot be read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from helpers.cli import pcipass
from pcipass.host.base import RunResult
from pcipass.host.xen import XlUnavailable, backend_pci, read_domains
from pcipass.run.executor import holds
from pcipass.run.plan import Check, CheckKind
from pcipass.run.records import RecordStore
from pcipass.sim.host import SimHost, create_sim

NIC = "0000:05:00.1"


def _xen(tmp_path: Path) -> SimHost:
    host = create_sim(tmp_path / "sim", profile="xen-host")
    cfg = host.root / "etc/xen/web.cfg"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('name = "web"\nmemory = 512\ntype = "pv"\npassthrough = "enabled"\n')
    assert host.run(["xl", "create", "/etc/xen/web.cfg"]).returncode == 0
    return host


class XenstoreFails(SimHost):
    """The simulated host, whose xenstore cannot be opened in-process nor by its programs."""

    def xenstore(self) -> None:  # type: ignore[override]
        return None

    def run(self, argv: list[str], timeout: float = 30.0) -> RunResult:
        if argv[0].startswith("xenstore-"):
            return RunResult(tuple(argv), 1, "", "xs_open: No such file or directory")
        return super().run(argv, timeout)


@pytest.mark.parametrize("json", [[], ["--json"]])
def test_domain_list_on_a_root_tree_fails_saying_it_runs_on_the_host(
        tmp_path: Path, json: list[str]) -> None:
    host = _xen(tmp_path)
    r = pcipass("--root", str(host.root), *json, "domain", "list")
    assert r.code == 1 and r.out == "", r
    assert len(r.err.splitlines()) == 1 and "only on the host itself" in r.err, r.err


def test_attach_on_a_root_tree_fails_instead_of_saying_no_domain(tmp_path: Path) -> None:
    host = _xen(tmp_path)
    r = pcipass("--root", str(host.root), "attach", "web", NIC, "--dry-run")
    assert r.code == 1 and "only on the host itself" in r.err, r


def test_an_unread_xenstore_is_not_a_domain_holding_nothing(tmp_path: Path) -> None:
    host = _xen(tmp_path)
    failing = XenstoreFails(host.directory)
    with pytest.raises(XlUnavailable, match="xenstore could not be read"):
        read_domains(failing)
    unlisted = Check(CheckKind.XL_ATTACHED, NIC, path="1", value="unlisted")
    assert holds(host, RecordStore(host), unlisted)
    assert not holds(failing, RecordStore(failing), unlisted)


def test_domain_list_0_shows_dom0(tmp_path: Path) -> None:
    host = _xen(tmp_path)
    r = pcipass("--json", "domain", "list", "0", host=host)
    assert r.code == 0, r
    assert [d["domid"] for d in r.json()["domains"]] == [0]


class HvmBackend:
    """A xenstore holding one HVM guest's backend with a vdevfn."""

    def read(self, path: str) -> str | None:
        return self.tree(["/"]).get(path)

    def tree(self, paths: Sequence[str]) -> dict[str, str]:
        base = "/local/domain/0/backend/pci/1/0"
        keys = {"num_devs": "1", "dev-0": NIC, "vdevfn-0": "28",
                "opts-0": "msitranslate=0,power_mgmt=0,permissive=0,rdm_policy=strict"}
        return {f"{base}/{k}": v for k, v in keys.items()}


class Backend(SimHost):
    """The simulated host, whose xenstore is `HvmBackend`."""

    def xenstore(self) -> HvmBackend:  # type: ignore[override]
        return HvmBackend()


def test_backend_pci_reads_the_guest_slot_from_vdevfn(tmp_path: Path) -> None:
    host = _xen(tmp_path)
    [pci] = backend_pci(Backend(host.directory), 1)
    assert (pci.bdf, pci.vslot, dict(pci.options)["rdm_policy"]) == (NIC, 5, "strict")
