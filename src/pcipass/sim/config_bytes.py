"""A simulated PCI function's config space as bytes: the header, the capability list (PM,
MSI-X, PCIe with its port type and FLR bit, bridge subsystem IDs) and, in 4096-byte spaces, the
extended capabilities (ARI, SR-IOV, ACS) — what `pcipass.model.config_space.parse` reads back.
"""

from __future__ import annotations

import struct

from pcipass.model.config_space import PCIE_TYPE_TABLE
from pcipass.sim.layout import PciFunction

_PCIE_CODES = {t.sim_key: t.code for t in PCIE_TYPE_TABLE}  # PciFunction.pcie_type → code


def encode_config_space(fn: PciFunction) -> bytes:
    """The function's config space: header, capability list, extended capabilities."""
    size = fn.config_size or (4096 if fn.pcie_type else 256)
    cfg = bytearray(size)
    vendor, device = (0xFFFF, 0xFFFF) if fn.physfn else (fn.vendor, fn.device)
    struct.pack_into("<HHHH", cfg, 0, vendor, device, 0x0406, 0x0010)
    cfg[8] = fn.revision
    cfg[9:12] = bytes([fn.class_code & 0xFF, (fn.class_code >> 8) & 0xFF, fn.class_code >> 16])
    cfg[0x0E] = (1 if fn.is_bridge else 0) | (0x80 if fn.multifunction else 0)
    if fn.is_bridge:
        cfg[0x18:0x1B] = bytes([fn.bus, fn.secondary_bus or 0, fn.subordinate_bus or 0])
    else:
        struct.pack_into("<HH", cfg, 0x2C, fn.subsystem_vendor, fn.subsystem_device)
    for i, (start, _end, flags) in enumerate(fn.bars[: 2 if fn.is_bridge else 6]):
        struct.pack_into("<I", cfg, 0x10 + 4 * i, (start & 0xFFFFFFF0) | (flags & 0xF))
    cfg[0x3C] = fn.irq & 0xFF
    cfg[0x3D] = 1 if fn.irq else 0
    caps: list[tuple[int, bytes]] = []
    if fn.pm:
        pmcsr = 0x0008 if fn.pm_no_soft_reset else 0x0000
        caps.append((0x01, struct.pack("<HHB", 0x0003, pmcsr, 0) + b"\0"))
    if fn.msix_vectors:
        caps.append((0x11, struct.pack("<HII", fn.msix_vectors - 1, 0x0000_0000, 0x0000_0800)))
    if fn.pcie_type is not None:
        flags = 0x0002 | _PCIE_CODES[fn.pcie_type] << 4
        devcap = 0x0000_8000 | (1 << 28 if fn.flr else 0)
        body = struct.pack("<HI", flags, devcap) + bytes(0x3C - 8)
        caps.append((0x10, body))
    if fn.is_bridge and fn.subsystem_vendor:
        caps.append((0x0D, struct.pack("<HHH", 0, fn.subsystem_vendor, fn.subsystem_device)))
    pos = 0x40
    if caps:
        cfg[0x34] = pos
    for i, (cap_id, body) in enumerate(caps):
        nxt = pos + 2 + len(body)
        nxt = (nxt + 3) & ~3
        cfg[pos] = cap_id
        cfg[pos + 1] = nxt if i + 1 < len(caps) else 0
        cfg[pos + 2 : pos + 2 + len(body)] = body
        pos = nxt
    if size > 256:
        _write_ext_caps(cfg, fn)
    return bytes(cfg)


def _write_ext_caps(cfg: bytearray, fn: PciFunction) -> None:
    ext: list[tuple[int, bytes]] = []
    if fn.ari:
        ext.append((0x000E, struct.pack("<HH", 0, 0)))
    if fn.sriov is not None:
        s = fn.sriov
        ctrl = (0x0019 if s.num_vfs else 0) | (0x0010 if fn.ari else 0)
        body = struct.pack(
            "<IHHHHHHHHHHII",
            0,  # SR-IOV capabilities
            ctrl,
            0,  # status
            s.total_vfs,  # initial VFs
            s.total_vfs,
            s.num_vfs,
            0,  # function dependency link
            s.offset,
            s.stride,
            0,  # reserved
            s.vf_device,
            0x553,  # supported page sizes
            0x1,  # system page size
        ) + bytes(0x40 - 4 - 32)
        ext.append((0x0010, body))
    if fn.acs:
        ext.append((0x000D, struct.pack("<HH", 0x005F, 0x001D)))
    pos = 0x100
    for i, (cap_id, body) in enumerate(ext):
        nxt = (pos + 4 + len(body) + 7) & ~7
        header = cap_id | 1 << 16 | ((nxt if i + 1 < len(ext) else 0) << 20)
        struct.pack_into("<I", cfg, pos, header)
        cfg[pos + 4 : pos + 4 + len(body)] = body
        pos = nxt
