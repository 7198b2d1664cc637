"""`pcipass assignable add/list/remove` on Xen: through xl, interoperable with xl both
ways (names included), the e1000e and an NVMe VF whose PF has autoprobe off."""

from __future__ import annotations

import json

import pytest
from lab_layout import E1000E, NVME_PF, NVME_VFS, dev, xs_key
from waits import driver_of, wait_driver

from helpers.cli import pcipass
from pcipass.host.base import Host

pytestmark = pytest.mark.targets("sim", "xen-lab")



def xl_list(host: Host) -> str:
    result = host.run(["xl", "pci-assignable-list", "-n"])
    assert result.returncode == 0, result.stderr
    return result.stdout


def listed(host: Host) -> dict[str, dict[str, object]]:
    code, out, err = pcipass("--json", "assignable", "list", host=host)
    assert code == 0, err
    return {row["bdf"]: row for row in json.loads(out)["assignable"]}


def test_e1000e_named_add_list_remove_rebind(host: Host) -> None:
    code, _, err = pcipass("assignable", "add", "-n", "nic0", E1000E, host=host)
    assert code == 0, err
    assert driver_of(host, E1000E) == "pciback"
    assert f"{E1000E} nic0" in xl_list(host)
    saved = host.run(["xenstore-read", f"{xs_key(E1000E)}/driver_path"])
    assert saved.stdout.strip() == "/sys/bus/pci/drivers/e1000e"
    row = listed(host)[E1000E]
    assert (row["backend"], row["name"], row["original_driver"], row["source"]) == (
        "xen", "nic0", "e1000e", "pcipass")
    code, _, err = pcipass("assignable", "remove", "-r", "nic0", host=host)
    assert code == 0, err
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    assert E1000E not in xl_list(host)
    assert listed(host) == {}


def test_added_by_pcipass_removed_by_xl(host: Host) -> None:
    assert pcipass("pci-assignable-add", "-n", "nic0", E1000E, host=host)[0] == 0
    removed = host.run(["xl", "pci-assignable-remove", "-r", "nic0"])
    assert removed.returncode == 0, removed.stderr
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"


def test_added_by_xl_removed_by_pcipass(host: Host) -> None:
    # First a round trip that leaves pcipass's record stale: pcipass adds, xl gives back.
    assert pcipass("pci-assignable-add", "-n", "nic0", E1000E, host=host)[0] == 0
    assert host.run(["xl", "pci-assignable-remove", "-r", "nic0"]).returncode == 0
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    added = host.run(["xl", "pci-assignable-add", "-n", "nic1", E1000E])
    assert added.returncode == 0, added.stderr
    row = listed(host)[E1000E]
    assert (row["name"], row["original_driver"], row["source"]) == ("nic1", "e1000e", "xl")
    code, _, err = pcipass("pci-assignable-remove", "-r", "nic1", host=host)
    assert code == 0, err
    assert wait_driver(host, E1000E, "e1000e") == "e1000e"
    assert E1000E not in xl_list(host)


def test_nvme_vf_with_autoprobe_off(host: Host) -> None:
    host.write(dev(NVME_PF, "sriov_drivers_autoprobe"), "0")
    host.write(dev(NVME_PF, "sriov_numvfs"), "2")
    vf = NVME_VFS[0]
    assert driver_of(host, vf) is None
    code, out, err = pcipass("assignable", "add", "--dry-run", vf, host=host)
    assert code == 0 and f"echo pciback > /sys/bus/pci/devices/{vf}/driver_override" in out
    code, _, err = pcipass("assignable", "add", vf, host=host)
    assert code == 0, err
    assert driver_of(host, vf) == "pciback"
    assert vf in xl_list(host)
    code, _, err = pcipass("assignable", "remove", "-r", vf, host=host)
    assert code == 0, err
    assert driver_of(host, vf) is None
    assert host.try_read_text(dev(vf, "driver_override")) == "(null)"
    assert vf not in xl_list(host)


def test_pf_with_vfs_is_refused_and_lists_them(host: Host) -> None:
    host.write(dev(NVME_PF, "sriov_numvfs"), "2")
    code, _, err = pcipass("assignable", "add", NVME_PF, host=host)
    assert code == 1
    assert NVME_VFS[0] in err and "--force-vfs" in err
    assert driver_of(host, NVME_PF) == "nvme"


def test_remove_of_a_device_never_assignable(host: Host) -> None:
    code, _, err = pcipass("assignable", "remove", "-r", E1000E, host=host)
    assert code == 1 and "not assignable" in err
    assert driver_of(host, E1000E) == "e1000e"
