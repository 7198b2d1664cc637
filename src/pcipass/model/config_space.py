"""Capabilities that decide passthrough, parsed from a function's config space bytes.

Offsets and bits are those of ``include/uapi/linux/pci_regs.h``. Sysfs gives
unprivileged readers only the first 64 bytes: then the standard capabilities
(0x40-0xff) are unknown, and the extended ones (0x100-0xfff) are unknown
whenever fewer than 4096 bytes were read. Unknown is `None`, never "absent".
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER_SIZE = 64
STANDARD_SIZE = 256
EXTENDED_SIZE = 4096

CAP_ID_PM = 0x01
CAP_ID_EXP = 0x10
CAP_ID_AF = 0x13
EXT_CAP_ID_ACS = 0x000D
EXT_CAP_ID_ARI = 0x000E
EXT_CAP_ID_SRIOV = 0x0010

@dataclass(frozen=True)
class PcieType:
    """One PCI Express device/port type: its code (PCI_EXP_FLAGS_TYPE >> 4), the name
    pcipass shows (`show`, JSON `pcie_type`) and the key simulated hosts are written with."""

    code: int
    name: str
    sim_key: str


PCIE_TYPE_TABLE: tuple[PcieType, ...] = (
    PcieType(0x0, "endpoint", "endpoint"),
    PcieType(0x1, "legacy-endpoint", "legacy_endpoint"),
    PcieType(0x4, "root-port", "root_port"),
    PcieType(0x5, "switch-upstream", "upstream_port"),
    PcieType(0x6, "switch-downstream", "downstream_port"),
    PcieType(0x7, "pcie-to-pci-bridge", "pcie_to_pci_bridge"),
    PcieType(0x8, "pci-to-pcie-bridge", "pci_to_pcie_bridge"),
    PcieType(0x9, "rc-integrated-endpoint", "rc_endpoint"),
    PcieType(0xA, "rc-event-collector", "rc_event_collector"),
)

#: Type code → the name pcipass shows.
PCIE_TYPES: dict[int, str] = {t.code: t.name for t in PCIE_TYPE_TABLE}

#: ACS capability bits (PCI_ACS_SV ... PCI_ACS_DT), in register order.
ACS_BITS = ("SV", "TB", "RR", "CR", "UF", "EC", "DT")


@dataclass(frozen=True)
class Acs:
    """Access Control Services: what the port can do and what is enabled."""

    capable: tuple[str, ...]
    enabled: tuple[str, ...]

    @property
    def isolates(self) -> bool:
        """Request/completion redirect and upstream forwarding on (what the kernel requires)."""
        return {"SV", "RR", "CR", "UF"} <= set(self.enabled)


@dataclass(frozen=True)
class SriovCap:
    """The SR-IOV extended capability of a physical function."""

    initial_vfs: int
    total_vfs: int
    num_vfs: int
    vf_offset: int
    vf_stride: int
    vf_device_id: int
    vf_enabled: bool


@dataclass(frozen=True)
class ConfigCaps:
    """What config space says; `None` where the bytes read did not cover it."""

    size: int
    standard_known: bool
    extended_known: bool
    header_type: int | None
    multifunction: bool | None
    pcie_type: str | None
    pcie_version: int | None
    flr: bool | None
    pm: bool | None
    pm_no_soft_reset: bool | None
    af_flr: bool | None
    acs: Acs | None
    ari: bool | None
    sriov: SriovCap | None
    has_sriov: bool | None

    @property
    def is_pcie(self) -> bool | None:
        """True for a PCI Express function; None when the capability list was not read."""
        return (self.pcie_type is not None) if self.standard_known else None


def _u8(cfg: bytes, off: int) -> int:
    return cfg[off]


def _u16(cfg: bytes, off: int) -> int:
    return int.from_bytes(cfg[off : off + 2], "little")


def _u32(cfg: bytes, off: int) -> int:
    return int.from_bytes(cfg[off : off + 4], "little")


def standard_caps(cfg: bytes) -> dict[int, int]:
    """Capability ID → offset of the first instance, walking the list from 0x34."""
    found: dict[int, int] = {}
    if len(cfg) < STANDARD_SIZE or not _u16(cfg, 0x06) & 0x10:
        return found
    ptr = _u8(cfg, 0x14 if _u8(cfg, 0x0E) & 0x7F == 2 else 0x34) & 0xFC
    for _ in range(48):  # the kernel's guard against loops (PCI_FIND_CAP_TTL)
        if ptr < HEADER_SIZE:
            break
        cap_id = _u8(cfg, ptr)
        if cap_id == 0xFF:
            break
        found.setdefault(cap_id, ptr)
        ptr = _u8(cfg, ptr + 1) & 0xFC
    return found


def extended_caps(cfg: bytes) -> dict[int, int]:
    """Extended capability ID → offset, walking the list from 0x100."""
    found: dict[int, int] = {}
    if len(cfg) < EXTENDED_SIZE:
        return found
    ptr = 0x100
    for _ in range((EXTENDED_SIZE - STANDARD_SIZE) // 8):
        header = _u32(cfg, ptr)
        if header in (0, 0xFFFFFFFF):
            break
        found.setdefault(header & 0xFFFF, ptr)
        ptr = (header >> 20) & 0xFFC
        if ptr < STANDARD_SIZE:
            break
    return found


def _acs(cfg: bytes, off: int) -> Acs:
    cap, ctl = _u16(cfg, off + 4), _u16(cfg, off + 6)
    return Acs(
        capable=tuple(n for i, n in enumerate(ACS_BITS) if cap >> i & 1),
        enabled=tuple(n for i, n in enumerate(ACS_BITS) if ctl >> i & 1),
    )


def _sriov(cfg: bytes, off: int) -> SriovCap:
    return SriovCap(
        initial_vfs=_u16(cfg, off + 0x0C),
        total_vfs=_u16(cfg, off + 0x0E),
        num_vfs=_u16(cfg, off + 0x10),
        vf_offset=_u16(cfg, off + 0x14),
        vf_stride=_u16(cfg, off + 0x16),
        vf_device_id=_u16(cfg, off + 0x1A),
        vf_enabled=bool(_u16(cfg, off + 0x08) & 0x1),
    )


def _af_flr(cfg: bytes, off: int | None) -> bool:
    """AF FLR needs both Transactions Pending and FLR capability bits (as the kernel)."""
    return off is not None and (_u8(cfg, off + 3) & 0x3) == 0x3


def parse(cfg: bytes) -> ConfigCaps:
    """Everything pcipass needs from one function's config space (any length)."""
    size = len(cfg)
    header = _u8(cfg, 0x0E) if size > 0x0E else None
    std_known = size >= STANDARD_SIZE
    ext_known = size >= EXTENDED_SIZE
    std = standard_caps(cfg)
    exp = std.get(CAP_ID_EXP)
    pcie_type = pcie_version = None
    flr = None
    if exp is not None:
        flags = _u16(cfg, exp + 2)
        pcie_version = flags & 0xF
        pcie_type = PCIE_TYPES.get(flags >> 4 & 0xF, f"type-{flags >> 4 & 0xF:x}")
        flr = bool(_u32(cfg, exp + 4) >> 28 & 1)
    elif std_known:
        flr = False
    pm = std.get(CAP_ID_PM)
    af = std.get(CAP_ID_AF)
    # Extended capabilities exist only on PCIe functions; a conventional one has none.
    ext = extended_caps(cfg) if exp is not None else {}
    ext_answer = ext_known or (std_known and exp is None)
    acs_off, sriov_off = ext.get(EXT_CAP_ID_ACS), ext.get(EXT_CAP_ID_SRIOV)
    return ConfigCaps(
        size=size,
        standard_known=std_known,
        extended_known=ext_answer,
        header_type=None if header is None else header & 0x7F,
        multifunction=None if header is None else bool(header & 0x80),
        pcie_type=pcie_type,
        pcie_version=pcie_version,
        flr=flr,
        pm=(pm is not None) if std_known else None,
        pm_no_soft_reset=bool(_u16(cfg, pm + 4) & 0x8) if pm is not None else None,
        af_flr=_af_flr(cfg, af) if std_known else None,
        acs=_acs(cfg, acs_off) if acs_off is not None else None,
        ari=(EXT_CAP_ID_ARI in ext) if ext_answer else None,
        sriov=_sriov(cfg, sriov_off) if sriov_off is not None else None,
        has_sriov=(sriov_off is not None) if ext_answer else None,
    )
