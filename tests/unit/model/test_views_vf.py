"""The VF netlink settings in the SR-IOV views: `sriov list`'s VLAN/SPOOFCHK/TRUST and
`vf show`'s table, from the PF's VF states (unknown without them)."""

from __future__ import annotations

from pcipass.address import PciAddress
from pcipass.host.netlink import VfState
from pcipass.model import views
from pcipass.model.device import Device, HostModel, NetInterface, SriovPF, Status

PF, VFS = "0000:03:00.0", ("0000:03:10.0", "0000:03:10.2")
LINKS = [VfState(0, "00:00:00:00:00:00", 0, 0, True, False, "auto", 0, 0),
         VfState(1, "02:11:22:33:44:55", 100, 3, False, True, "auto", 0, 0)]


def model() -> tuple[HostModel, Device]:
    sriov = SriovPF(7, 2, 0x80, 2, 0x10CA, True, tuple(PciAddress.parse(v) for v in VFS))
    pf = Device(PciAddress.parse(PF), 0x8086, 0x10C9, driver="igb", sriov=sriov,
                net=(NetInterface("enp3s0", "down", "52:54:00:12:34:57"),), status=Status.HOST)
    vfs = [Device(PciAddress.parse(b), 0x8086, 0x10CA, driver="igbvf",
                  physfn=PciAddress.parse(PF), status=Status.HOST) for b in VFS]
    return HostModel({d.bdf: d for d in (pf, *vfs)}, {}, True), pf


def test_sriov_list_shows_admin_mac_vlan_spoofchk_trust_from_netlink() -> None:
    m, pf = model()
    vfs = views.sriov_json(m, pf, LINKS)["vfs"]
    assert [(v["admin_mac"], v["vlan"], v["spoofchk"], v["trust"]) for v in vfs] == \
        [(None, 0, True, False), ("02:11:22:33:44:55", 100, False, True)]  # 00:..: none set
    rows = views.sriov_rows(m, pf, LINKS)
    assert [[r[c] for c in views.SRIOV_LINK_COLUMNS] for r in rows[1:]] == \
        [["-", "0", "on", "off"], ["02:11:22:33:44:55", "100", "off", "on"]]


def test_without_netlink_the_settings_are_unknown() -> None:
    m, pf = model()
    assert {(v["vlan"], v["trust"]) for v in views.sriov_json(m, pf)["vfs"]} == {(None, None)}
    assert views.sriov_rows(m, pf)[1]["TRUST"] == "-"


def test_vf_show_rows_follow_the_field_table() -> None:
    m, pf = model()
    doc = views.vf_show_json(m, pf, "enp3s0", LINKS, frozenset({VFS[1]}))
    assert list(doc) == list(views.VF_SHOW_KEYS)
    assert list(doc["vfs"][1]) == [f.key for f in views.VF_SHOW_FIELDS]
    assert views.vf_show_rows(doc)[1] == ["1", VFS[1], "02:11:22:33:44:55", "100", "3", "off",
                                          "on", "auto", "0", "0", "yes"]
