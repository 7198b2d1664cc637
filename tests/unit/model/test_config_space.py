"""Capabilities parsed from config space bytes composed here (offsets from pci_regs.h)."""

from __future__ import annotations

import struct

from pcipass.model import config_space as cs
from pcipass.sim.config_bytes import encode_config_space
from pcipass.sim.layout import PciFunction, SriovSpec


def compose(
    *,
    size: int = 4096,
    pcie_type: int | None = 0,
    flr: bool = False,
    pm_no_soft_reset: bool | None = None,
    af: int | None = None,
    ext: list[tuple[int, bytes]] | None = None,
    header_type: int = 0x00,
) -> bytes:
    """A config space: capabilities chained from 0x40, extended ones from 0x100."""
    cfg = bytearray(size)
    struct.pack_into("<HH", cfg, 0, 0x8086, 0x10FB)
    cfg[0x0E] = header_type
    caps: list[tuple[int, bytes]] = []
    if pm_no_soft_reset is not None:
        caps.append((cs.CAP_ID_PM, struct.pack("<HH", 0x0003, 0x0008 if pm_no_soft_reset else 0)))
    if pcie_type is not None:
        devcap = (1 << 28) if flr else 0
        caps.append((cs.CAP_ID_EXP, struct.pack("<HI", 0x0002 | pcie_type << 4, devcap)))
    if af is not None:
        caps.append((cs.CAP_ID_AF, bytes([0x06, af])))
    if caps and size >= 256:
        struct.pack_into("<H", cfg, 0x06, 0x0010)  # status: capability list
        cfg[0x34] = 0x40
        pos = 0x40
        for i, (cap_id, body) in enumerate(caps):
            nxt = pos + 0x20 if i + 1 < len(caps) else 0
            cfg[pos], cfg[pos + 1] = cap_id, nxt
            cfg[pos + 2 : pos + 2 + len(body)] = body
            pos = nxt
    if ext and size >= 4096:
        pos = 0x100
        for i, (cap_id, body) in enumerate(ext):
            nxt = pos + 0x40 if i + 1 < len(ext) else 0
            struct.pack_into("<I", cfg, pos, cap_id | 1 << 16 | nxt << 20)
            cfg[pos + 4 : pos + 4 + len(body)] = body
            pos = nxt
    return bytes(cfg)


def sriov_body(total: int, num: int, offset: int, stride: int, vf_dev: int) -> bytes:
    body = bytearray(0x3C)
    struct.pack_into("<I", body, 0x00, 0)  # IOV capabilities (+0x04 from the header)
    struct.pack_into("<H", body, 0x04, 0x1 if num else 0)  # IOV control: VF enable (+0x08)
    struct.pack_into("<HHH", body, 0x08, total, total, num)  # initial, total, num (+0x0C..)
    struct.pack_into("<HH", body, 0x10, offset, stride)  # (+0x14, +0x16)
    struct.pack_into("<H", body, 0x16, vf_dev)  # (+0x1A)
    return bytes(body)


def test_pcie_endpoint_with_flr_ari_sriov() -> None:
    cfg = compose(
        flr=True,
        pm_no_soft_reset=True,
        ext=[
            (cs.EXT_CAP_ID_ARI, b"\0" * 4),
            (cs.EXT_CAP_ID_SRIOV, sriov_body(63, 2, 0x80, 2, 0x10ED)),
        ],
    )
    caps = cs.parse(cfg)
    assert caps.pcie_type == "endpoint" and caps.pcie_version == 2 and caps.is_pcie
    assert caps.flr is True and caps.pm is True and caps.pm_no_soft_reset is True
    assert caps.af_flr is False and caps.ari is True and caps.has_sriov is True
    assert caps.sriov == cs.SriovCap(63, 63, 2, 0x80, 2, 0x10ED, True)
    assert caps.acs is None


def test_ports_and_acs() -> None:
    acs = struct.pack("<HH", 0b101_1111, 0b000_1101)  # cap SV TB RR CR UF DT; ctl SV RR CR
    caps = cs.parse(compose(pcie_type=4, header_type=0x81, ext=[(cs.EXT_CAP_ID_ACS, acs)]))
    assert caps.pcie_type == "root-port" and caps.header_type == 1 and caps.multifunction
    assert caps.acs is not None
    assert caps.acs.capable == ("SV", "TB", "RR", "CR", "UF", "DT")
    assert caps.acs.enabled == ("SV", "RR", "CR")
    assert not caps.acs.isolates  # UF not enabled
    for code, name in ((5, "switch-upstream"), (6, "switch-downstream"), (8, "pci-to-pcie-bridge")):
        assert cs.parse(compose(pcie_type=code)).pcie_type == name


def test_af_flr_needs_tp_and_flr() -> None:
    assert cs.parse(compose(pcie_type=None, size=256, af=0x03)).af_flr is True
    assert cs.parse(compose(pcie_type=None, size=256, af=0x02)).af_flr is False
    conventional = cs.parse(compose(pcie_type=None, size=256))
    assert conventional.is_pcie is False and conventional.flr is False
    assert conventional.ari is False and conventional.has_sriov is False  # no ext space on PCI


def test_short_reads_are_unknown_not_absent() -> None:
    caps = cs.parse(compose(flr=True)[:64])  # what an unprivileged reader gets
    assert caps.header_type == 0 and caps.standard_known is False
    assert caps.flr is None and caps.pm is None and caps.af_flr is None and caps.is_pcie is None
    assert caps.ari is None and caps.has_sriov is None
    caps = cs.parse(compose(flr=True, ext=[(cs.EXT_CAP_ID_ARI, b"")])[:256])
    assert caps.flr is True and caps.ari is None and caps.has_sriov is None
    assert cs.parse(b"").header_type is None


def test_capability_loops_terminate() -> None:
    cfg = bytearray(compose(flr=True))
    cfg[0x41] = 0x40  # the PCIe capability points at itself
    struct.pack_into("<I", cfg, 0x100, cs.EXT_CAP_ID_ARI | 1 << 16 | 0x100 << 20)
    caps = cs.parse(bytes(cfg))
    assert caps.flr is True and caps.ari is True


def test_agrees_with_the_tree_builder() -> None:
    pf = PciFunction(
        "0000:05:00.0",
        0x8086,
        0x10FB,
        0x020000,
        flr=True,
        ari=True,
        acs=False,
        sriov=SriovSpec(7, 0x10ED, offset=0x80, stride=2, num_vfs=3),
    )
    caps = cs.parse(encode_config_space(pf))
    assert caps.flr and caps.ari and caps.sriov is not None
    assert (caps.sriov.total_vfs, caps.sriov.num_vfs, caps.sriov.vf_offset) == (7, 3, 0x80)
    assert (caps.sriov.vf_stride, caps.sriov.vf_device_id) == (2, 0x10ED)
    port = PciFunction("0000:00:01.0", 0x1B36, 0x000C, 0x060400, pcie_type="root_port", acs=True)
    port_caps = cs.parse(encode_config_space(port))
    assert port_caps.pcie_type == "root-port" and port_caps.acs is not None


def test_one_pcie_type_table_for_the_model_and_the_simulator() -> None:
    names = [t.name for t in cs.PCIE_TYPE_TABLE]
    assert len(set(names)) == len(names) == len({t.sim_key for t in cs.PCIE_TYPE_TABLE})
    for t in cs.PCIE_TYPE_TABLE:
        fn = PciFunction("0000:03:00.0", 0x8086, 0x1234, 0x020000, pcie_type=t.sim_key)
        assert cs.parse(encode_config_space(fn)).pcie_type == t.name
