"""`pcipass --sim DIR assignable ...` on the bundled Xen host: the whole workflow, the
guards, and bad input (one line, exit 1/2, nothing changed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import Cli
from pcipass.sim.host import SimHost, create_sim

GPU, AUDIO, NVME, NIC, SATA, X520 = (
    "0000:01:00.0", "0000:01:00.1", "0000:02:00.0", "0000:03:00.0", "0000:00:17.0", "0000:05:00.0"
)


@pytest.fixture
def sim(tmp_path: Path) -> SimHost:
    return create_sim(tmp_path / "sim", profile="xen-host")


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory: pytest.TempPathFactory) -> SimHost:
    """One host for the tests that must leave it as it was (refusals, dry runs)."""
    return create_sim(tmp_path_factory.mktemp("unchanged") / "sim", profile="xen-host")


def driver(sim: SimHost, bdf: str) -> str | None:
    return sim.link_name(f"sys/bus/pci/devices/{bdf}/driver")


def snapshot(sim: SimHost) -> dict[str, str | None]:
    return {b: driver(sim, b) for b in (GPU, AUDIO, NVME, NIC, SATA, X520)}


def test_slot_wildcard_add_list_remove(sim: SimHost, cli: Cli) -> None:
    before = snapshot(sim)
    code, out, err = cli("assignable", "add", "01:00.*", host=sim)
    assert code == 0, err
    assert (driver(sim, GPU), driver(sim, AUDIO)) == ("pciback", "pciback")
    xl = sim.run(["xl", "pci-assignable-list"]).stdout.split()
    assert xl == [GPU, AUDIO]
    code, out, _ = cli("--json", "assignable", "list", host=sim)
    rows = json.loads(out)["assignable"]
    assert [(r["bdf"], r["original_driver"], r["source"]) for r in rows] == [
        (GPU, before[GPU], "pcipass"), (AUDIO, before[AUDIO], "pcipass")]
    code, _, err = cli("assignable", "remove", "-r", GPU, AUDIO, host=sim)
    assert code == 0, err
    assert snapshot(sim) == before
    assert cli("assignable", "list", host=sim)[1] == ""


def test_names_and_xl_spellings(sim: SimHost, cli: Cli) -> None:
    before = snapshot(sim)
    assert cli("pci-assignable-add", "-n", "gpu", GPU, host=sim)[0] == 0
    code, out, _ = cli("pci-assignable-list", "-n", host=sim)
    assert out == sim.run(["xl", "pci-assignable-list", "-n"]).stdout == f"{GPU} gpu\n"
    code, out, _ = cli("assignable", "list", "--names", host=sim)
    assert out.splitlines()[1].split()[:2] == [GPU, "gpu"]
    code, _, err = cli("pci-assignable-remove", "-r", "gpu", host=sim)
    assert code == 0, err
    assert snapshot(sim) == before


def test_dry_run_shows_xl_and_changes_nothing(
    unchanged: SimHost, cli: Cli
) -> None:
    sim = unchanged
    before = snapshot(sim)
    code, out, _ = cli("assignable", "add", "--dry-run", GPU, host=sim)
    assert code == 0
    assert f"xl pci-assignable-add {GPU}" in out.splitlines()
    assert snapshot(sim) == before
    assert sim.try_read_text("var/lib/pcipass/records.json") is None


@pytest.mark.parametrize(
    ("bdf", "words", "flag"),
    [
        (SATA, "root filesystem", "--force-storage"),
        (NVME, "/srv/images", "--force-storage"),
        (NIC, "default route (eno1)", "--force-net"),
    ],
)
def test_guards(unchanged: SimHost, cli: Cli, bdf: str, words: str,
                flag: str) -> None:
    sim = unchanged
    before = snapshot(sim)
    code, _, err = cli("assignable", "add", bdf, host=sim)
    assert code == 1 and words in err and flag in err
    assert err.count("\n") == 1
    assert snapshot(sim) == before


def test_pf_with_vfs_lists_them(sim: SimHost, cli: Cli) -> None:
    sim.write(f"sys/bus/pci/devices/{X520}/sriov_numvfs", "2")
    code, _, err = cli("assignable", "add", "05:00.*", host=sim)
    assert code == 1 and "0000:05:10.0" in err and "--force-vfs" in err
    assert "0000:05:00.* includes a function that cannot move" in err
    assert driver(sim, X520) == "ixgbe"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("add", "0000:09:00.0"), 2, "no PCI device"),
        (("add", "01:00.8"), 2, "not a PCI address"),
        (("add", GPU, "0000:09:00.0"), 2, "no PCI device"),
        (("add", "-n", "x", GPU, AUDIO), 2, "exactly one"),
        (("add", "--backend", "vfio", GPU), 1, "needs an IOMMU"),
        (("remove", "-r", GPU), 1, "not assignable"),
        (("remove", "nosuch"), 2, "neither a PCI address"),
    ],
)
def test_bad_input(unchanged: SimHost, cli: Cli,
                   args: tuple[str, ...], code: int, words: str) -> None:
    sim = unchanged
    before = snapshot(sim)
    got, out, err = cli("assignable", *args, host=sim)
    assert got == code, err
    assert words in err and err.startswith("pcipass: error: ") and err.count("\n") == 1
    assert out == ""
    assert snapshot(sim) == before


def test_already_assignable_warns_and_succeeds_like_xl(
    sim: SimHost, cli: Cli
) -> None:
    assert cli("assignable", "add", GPU, host=sim)[0] == 0
    xl = sim.run(["xl", "pci-assignable-add", GPU])
    assert xl.returncode == 0 and f"{GPU} already assigned to pciback" in xl.stderr
    code, out, err = cli("assignable", "add", GPU, host=sim)
    assert (code, out) == (0, "")
    assert err == f"pcipass: warning: {GPU} already assigned to pciback\n"
    code, out, err = cli("--json", "assignable", "add", GPU, AUDIO, host=sim)
    assert code == 0, err
    assert json.loads(out)["warnings"][0] == f"{GPU} already assigned to pciback"
    assert (driver(sim, GPU), driver(sim, AUDIO)) == ("pciback", "pciback")


def test_json_outcome_and_recover_with_nothing(
    sim: SimHost, cli: Cli
) -> None:
    code, out, _ = cli("--json", "assignable", "add", GPU, host=sim)
    result = json.loads(out)
    assert code == 0 and result["state"] == "done"
    assert f"xl pci-assignable-add {GPU}" in result["steps"]
    assert cli("--json", "recover", host=sim)[1].strip() == '{"recovered": null}'


def test_reset_dry_run(unchanged: SimHost, cli: Cli) -> None:
    sim = unchanged
    code, out, err = cli("reset", "--dry-run", X520, host=sim)
    assert code == 0, err
    assert f"echo flr > /sys/bus/pci/devices/{X520}/reset_method" in out
    assert f"echo 1 > /sys/bus/pci/devices/{X520}/reset" in out


def test_short_addresses_work_for_add_and_remove(
    sim: SimHost, cli: Cli
) -> None:
    assert cli("assignable", "add", "5:00.0", host=sim)[0] == 0
    assert driver(sim, X520) == "pciback"
    code, _, err = cli("assignable", "remove", "-r", "05:00.0", host=sim)
    assert code == 0, err
    assert driver(sim, X520) == "ixgbe"
    code, _, err = cli("assignable", "remove", "-r", "05:00.0", host=sim)
    assert code == 1 and "is not assignable (it is on ixgbe)" in err
    code, _, err = cli("assignable", "remove", "07:00.0", host=sim)
    assert code == 2 and "no PCI device 0000:07:00.0" in err


def test_vf_with_autoprobe_off_goes_back_to_its_driver(
    sim: SimHost, cli: Cli
) -> None:
    """pciback's driver_override on such a VF is cleared before xl's -r binds the old driver."""
    pf, vf = "0000:05:00.1", "0000:05:10.1"
    sim.write(f"sys/bus/pci/devices/{pf}/sriov_drivers_autoprobe", "0")
    sim.write(f"sys/bus/pci/devices/{pf}/sriov_numvfs", "2")
    sim.write(f"sys/bus/pci/devices/{vf}/driver_override", "ixgbevf")
    sim.write("sys/bus/pci/drivers_probe", vf)
    sim.write(f"sys/bus/pci/devices/{vf}/driver_override", "\n")
    assert driver(sim, vf) == "ixgbevf"
    code, _, err = cli("assignable", "add", vf, host=sim)
    assert code == 0, err
    assert driver(sim, vf) == "pciback"
    code, _, err = cli("assignable", "remove", "-r", vf, host=sim)
    assert code == 0, err
    assert driver(sim, vf) == "ixgbevf"
    assert sim.try_read_text(f"sys/bus/pci/devices/{vf}/driver_override") == "(null)"


@pytest.mark.parametrize("spec", ["0000:05:00.0@3", "05:00.0,permissive=1", "05:00.*,seize=1"])
def test_guest_options_in_add_are_refused_not_dropped(
    unchanged: SimHost, cli: Cli, spec: str
) -> None:
    before = snapshot(unchanged)
    code, out, err = cli("assignable", "add", spec, host=unchanged)
    assert code == 2 and out == ""
    assert "give just the address here" in err and err.count("\n") == 1
    assert snapshot(unchanged) == before


def test_reset_refuses_the_hosts_own_nic_and_disk_unless_forced(
    unchanged: SimHost, cli: Cli
) -> None:
    code, _, err = cli("reset", NIC, host=unchanged)
    assert code == 1 and "refusing to reset 0000:03:00.0: it carries the default route" in err
    assert "--force-net" in err
    code, _, err = cli("reset", NVME, host=unchanged)
    assert code == 1 and "backs mounted filesystems" in err and "--force-storage" in err
    code, out, _ = cli("reset", NIC, "--force-net", "--dry-run", host=unchanged)
    assert code == 0 and f"/sys/bus/pci/devices/{NIC}/reset" in out
