"""Compare pcipass's answers with the oracle's, field by field, and the documented grammar."""

from __future__ import annotations

import re
from typing import Any

from pcipass.spec import PciSpec

ALL_FUNCS = 0xFFFFFFFF
RDM = {-1: None, 0: "strict", 1: "relaxed"}
_HEXNUM = re.compile(r"[0-9a-fA-F]+")
_BDF = re.compile(r"(?:([0-9a-fA-F]+):)?([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-9a-fA-F]+|\*)")
FLAGS = ("permissive", "msitranslate", "seize", "power_mgmt")


def expected_fields(answer: dict[str, Any]) -> dict[str, Any]:
    """The oracle's libxl_device_pci in PciSpec terms."""
    named = answer["name"] is not None
    return {
        "address": None if named else (answer["domain"], answer["bus"], answer["dev"],
                                       answer["func"]),
        "all_functions": answer["vfunc_mask"] == ALL_FUNCS,
        "vfunc_mask": answer["vfunc_mask"],
        "vslot": answer["vdevfn"] >> 3 or None,
        "vdevfn_low_bits": answer["vdevfn"] & 7,
        **{k: bool(answer[k]) for k in FLAGS},
        "rdm_policy": RDM[answer["rdm_policy"]],
        "name": answer["name"],
    }  # fmt: skip


def actual_fields(spec: PciSpec) -> dict[str, Any]:
    a = spec.address
    named = spec.name is not None
    return {
        "address": None if a is None else (a.domain, a.bus, a.dev, a.func),
        "all_functions": spec.all_functions,
        "vfunc_mask": 0 if named else (ALL_FUNCS if spec.all_functions else 1),
        "vslot": spec.vslot,
        "vdevfn_low_bits": 0,
        **{k: getattr(spec, k) for k in FLAGS},
        "rdm_policy": spec.rdm_policy,
        "name": spec.name,
    }


def _bdf_ok(text: str, allow_all: bool = True) -> bool:
    m = _BDF.fullmatch(text)
    if m is None or (m[4] == "*" and not allow_all):
        return False
    func_ok = m[4] == "*" or int(m[4], 16) <= 7
    return (
        func_ok
        and int(m[1] or "0", 16) <= 0xFFFF
        and int(m[2], 16) <= 0xFF
        and int(m[3], 16) <= 0x1F
    )


def _vslot_ok(text: str) -> bool:
    return bool(_HEXNUM.fullmatch(text)) and 1 <= int(text, 16) <= 0x1F


def documented(text: str) -> bool:
    """Whether `text` is in xl-pci-configuration(5)'s grammar read literally: plain hex
    numbers in range, flags 0/1, rdm_policy strict|relaxed, vslot 1..1f, each key at most
    once, bdf xor a non-empty name, at most one trailing comma."""
    parts = text.split(",")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    keys: set[str] = set()
    bdf, _, vslot = parts[0].partition("@")
    if _bdf_ok(bdf):
        if "@" in parts[0] and not _vslot_ok(vslot):
            return False
        keys.add("bdf")
        if vslot:
            keys.add("vslot")
        parts = parts[1:]
    for part in parts:
        key, sep, val = part.partition("=")
        if not sep or key in keys:
            return False
        keys.add(key)
        good = {
            "bdf": _bdf_ok,
            "vslot": _vslot_ok,
            "rdm_policy": lambda v: v in ("strict", "relaxed"),
            "name": lambda v: v != "",
            **{k: (lambda v: v in ("0", "1")) for k in FLAGS},
        }.get(key)
        if good is None or not good(val):
            return False
    return ("bdf" in keys) != ("name" in keys)


def documented_bdf(text: str) -> bool:
    """xl pci-assignable-add's documented BDF: `[DDDD:]BB:DD.F`, nothing else."""
    return _bdf_ok(text, allow_all=False)
