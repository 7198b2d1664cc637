"""xl's PCI_SPEC_STRING and BDF grammars, read exactly as Xen 4.17's libxlutil reads them.

Public API (strict mode, for commands acting on user input):

* `parse_spec(text) -> PciSpec` — a `pci=[...]` / `xl pci-attach` spec; raises `InputError`.
* `parse_bdf(text) -> PciAddress` — the `xl pci-assignable-add/-remove` grammar.
* `format_spec(spec) -> str` — the canonical spec, which xl reads back identically.
* `with_defaults(spec, Flags(...))` — the spec under a config's `pci_*` globals.

`check_spec(text, strict=..., defaults=...)` and `check_bdf(text, strict=...)` never raise:
they return a `SpecCheck` with the `PciSpec` xl would use (or the error) and the warnings.
In compatible mode (`strict=False`) every silent trap of libxlutil (flags read with
`atoi`, text silently dropped after `bdf=`, numbers truncated to 32 bits, duplicate
keys, ...) is a warning; in strict mode it is an error. Inputs on which libxlutil
reads an uninitialised `%n` (a BDF without `.F`, e.g. `05:00`) are errors in both modes,
and the message shows the corrected form.

This is a port of `parse_bdf`, `parse_vslot`, `parse_key_val` and
`xlu_pci_parse_spec_string` in tools/libs/util/libxlu_pci.c (RELEASE-4.17.x), with
glibc's `sscanf("%x")`, `atoi` and `strcasecmp` semantics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pcipass.address import MAX_BUS, MAX_DEV, MAX_DOMAIN, MAX_FUNC, PciAddress
from pcipass.errors import InputError


@dataclass(frozen=True)
class SpecFlag:
    """One 0/1 option of a PCI_SPEC_STRING: its key, the xl.cfg `pci_*` global that
    presets it for every device, when xl_parse.c reads that global, and what it does."""

    key: str
    global_key: str
    xl_reads: int
    doc: str


#: The flags, in the order `format_spec` writes them and `spec check --json` lists them.
SPEC_FLAGS: tuple[SpecFlag, ...] = (
    SpecFlag("permissive", "pci_permissive", 2,
             "pciback lets the guest write config-space registers it does not know"),
    SpecFlag("msitranslate", "pci_msitranslate", 0,
             "qemu-traditional translates the guest's MSI to INTx"),
    SpecFlag("seize", "pci_seize", 3, "xl makes the device assignable itself when it is not"),
    SpecFlag("power_mgmt", "pci_power_mgmt", 1, "an HVM guest may use the device's PM states"),
)
FLAG_KEYS: tuple[str, ...] = tuple(f.key for f in SPEC_FLAGS)
#: The `pci_*` globals in the order xl_parse.c reads them (its warnings come in this order).
GLOBAL_KEYS: tuple[str, ...] = tuple(
    f.global_key for f in sorted(SPEC_FLAGS, key=lambda f: f.xl_reads)
)
#: Not a 0/1 flag: `strict` or `relaxed` per device; no `pci_*` global (xl's `rdm=` has one,
#: see `xlcfg.effective_pci`).
RDM_POLICY = "rdm_policy"
RDM_POLICIES = ("strict", "relaxed")
MAX_VSLOT = 0x1F
_KEYS = ("bdf", "vslot", *FLAG_KEYS, RDM_POLICY, "name")
_SPACE = " \t\n\v\f\r"
_HEX = "0123456789abcdefABCDEF"
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_SPEC_FIX = "write e.g. 0000:05:00.0, 05:00.0@3,permissive=1 or bdf=05:00.1,seize=1"


@dataclass(frozen=True)
class Flags:
    """Per-device options that domain-wide `pci_*` globals can preset."""

    permissive: bool = False
    msitranslate: bool = False
    seize: bool = False
    power_mgmt: bool = False
    rdm_policy: str | None = None

    @classmethod
    def preset(cls, flags: Mapping[str, bool], rdm_policy: str | None = None) -> Flags:
        """Flags from `SPEC_FLAGS` keys → values (a key not given stays off)."""
        unknown = set(flags) - set(FLAG_KEYS)
        if unknown:
            raise ValueError(f"not a spec flag: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = dict(flags)
        return cls(**values, rdm_policy=rdm_policy)


DEFAULT_FLAGS = Flags()


@dataclass(frozen=True)
class PciSpec:
    """What xl uses for one device: the host function(s), the guest slot and the options.

    `address` is None for a `name=` spec (xl then looks the device up by name).
    `vslot` is None when xl picks the guest slot. `rdm_policy` is None when it is
    inherited (libxl then uses "strict"). `explicit` names the keys the text set.
    """

    address: PciAddress | None
    all_functions: bool = False
    vslot: int | None = None
    permissive: bool = False
    msitranslate: bool = False
    seize: bool = False
    power_mgmt: bool = False
    rdm_policy: str | None = None
    name: str | None = None
    explicit: frozenset[str] = field(default=frozenset(), compare=False)

    def as_json(self) -> dict[str, object]:
        """The spec as the stable JSON keys of `spec check --json`."""
        a = self.address
        return {
            "domain": a.domain if a else None,
            "bus": a.bus if a else None,
            "dev": a.dev if a else None,
            "func": a.func if a else None,
            "all_functions": self.all_functions,
            "vslot": self.vslot,
            **{k: int(getattr(self, k)) for k in FLAG_KEYS},
            RDM_POLICY: self.rdm_policy,
            "name": self.name,
        }


@dataclass(frozen=True)
class SpecCheck:
    """The outcome of reading one input: `spec` (None when xl would reject it), why, warnings.

    `undefined` is True when libxlutil's answer depends on uninitialised memory.
    """

    input: str
    spec: PciSpec | None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    undefined: bool = False

    @property
    def ok(self) -> bool:
        return self.spec is not None

    def as_json(self) -> dict[str, object]:
        """One `spec check --json` object (see issue 2, item 5)."""
        body = self.spec.as_json() if self.spec else dict.fromkeys(_EMPTY_KEYS)
        if self.spec is None:
            body.update(all_functions=None)
        return {
            "input": self.input,
            "ok": self.ok,
            **body,
            "error": self.error,
            "warnings": list(self.warnings),
        }


_EMPTY_KEYS = PciSpec(address=None).as_json().keys()


class _Reject(Exception):
    """libxlutil rejects the input (or strict mode refuses a trap)."""

    def __init__(self, message: str, undefined: bool = False, trap: bool = False) -> None:
        super().__init__(message)
        self.undefined = undefined
        self.trap = trap


@dataclass
class _Hex:
    """One `sscanf("%x")` conversion: the stored value and where it stopped."""

    value: int
    end: int
    plain: bool  # only hex digits, no blanks/sign/0x, no truncation


def _scan_hex(s: str, i: int) -> _Hex | None:
    """glibc `%x`: blanks, sign, optional 0x, hex digits; the value truncated to 32 bits."""
    start = i
    while i < len(s) and s[i] in _SPACE:
        i += 1
    neg = False
    if i < len(s) and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    digits_from = i
    if s[i : i + 2] in ("0x", "0X"):
        i += 2
        digits_from = i
    elif i >= len(s) or s[i] not in _HEX:
        return None
    while i < len(s) and s[i] in _HEX:
        i += 1
    magnitude = int(s[digits_from:i] or "0", 16)
    wide = _U64 if magnitude > _U64 else (-magnitude if neg else magnitude) & _U64
    plain = digits_from == start and magnitude <= _U32 and i > start
    return _Hex(wide & _U32, i, plain)


def _atoi(s: str) -> int:
    """glibc `atoi`: `(int)strtol(s, NULL, 10)`, saturating at the `long` range."""
    i = 0
    while i < len(s) and s[i] in _SPACE:
        i += 1
    neg = i < len(s) and s[i] == "-"
    if i < len(s) and s[i] in "+-":
        i += 1
    j = i
    while j < len(s) and s[j].isascii() and s[j].isdigit():
        j += 1
    value = int(s[i:j] or "0")
    value = -value if neg else value
    value = max(-(2**63), min(2**63 - 1, value))
    value &= _U32
    return value - 2**32 if value >= 2**31 else value


@dataclass
class _Bdf:
    address: PciAddress
    all_functions: bool
    end: int


class _Reader:
    """One libxlutil call: collects warnings, raises `_Reject` on errors and strict traps."""

    def __init__(self, text: str, strict: bool) -> None:
        self.text = text
        self.strict = strict
        self.warnings: list[str] = []

    def trap(self, message: str) -> None:
        if self.strict:
            raise _Reject(f"{message} (refused in strict mode)", trap=True)
        if message not in self.warnings:
            self.warnings.append(message)

    def bdf(self, s: str) -> _Bdf:
        """`parse_bdf`: `[DDDD:]BB:DD.F` or `.*`, stopping after the function."""
        i = colons = 0
        while i < len(s) and (s[i] in _HEX or s[i] == ":"):
            colons += s[i] == ":"
            i += 1
        if colons not in (1, 2):
            raise _Reject(f"no PCI address [DDDD:]BB:DD.F at the start of {s!r}")
        nums: list[_Hex] = []
        i = 0
        for k in range(colons + 1):
            h = _scan_hex(s, i)
            if h is None:
                raise _Reject(f"bad number in PCI address {s!r}")
            nums.append(h)
            i = h.end
            sep = ":" if k < colons else "."
            if s[i : i + 1] != sep:
                if k < colons:
                    raise _Reject(f"expected ':' in PCI address {s!r}")
                dot_missing = True
                break
            i += 1
        else:
            dot_missing = False
        domain = nums[0].value if colons == 2 else 0
        bus, dev = nums[-2].value, nums[-1].value
        if domain > MAX_DOMAIN or bus > MAX_BUS or dev > MAX_DEV:
            raise _Reject(
                f"PCI address {s!r} is out of range (domain <= ffff, bus <= ff, device <= 1f)"
            )
        if dot_missing:
            fixed = f"{domain:04x}:{bus:02x}:{dev:02x}"
            raise _Reject(
                f"{s!r} has no '.' and function after the device, and xl reads "
                f"uninitialised memory there (undefined result) — write {fixed}.0 for one "
                f"function or {fixed}.* for all",
                undefined=True,
            )
        plain = all(n.plain for n in nums)
        if s[i : i + 1] == "*":
            func, all_functions, i = 0, True, i + 1
        else:
            h = _scan_hex(s, i)
            if h is None or h.value > MAX_FUNC:
                raise _Reject(f"bad function number in PCI address {s!r} (0-7 or *)")
            func, all_functions, i, plain = h.value, False, h.end, plain and h.plain
        address = PciAddress(domain, bus, dev, func)
        if not plain:
            self.trap(
                f"PCI address {s[:i]!r} uses blanks, a sign, 0x or more than 32 bits; "
                f"xl reads it as {address}"
            )
        return _Bdf(address, all_functions, i)

    def vslot(self, s: str) -> tuple[int, int]:
        """`parse_vslot`: a hex guest slot 0..1f; returns (slot, end)."""
        h = _scan_hex(s, 0)
        if h is None:
            raise _Reject(f"bad virtual slot {s.split(',')[0]!r}: a hex number 1..1f")
        if h.value > MAX_VSLOT:
            raise _Reject(
                f"virtual slot {s[: h.end]!r} is read as hex {h.value:#x} = {h.value}, over the "
                "limit 0x1f (xl's vslot is always hex)"
            )
        if not h.plain:
            self.trap(f"virtual slot {s[: h.end]!r} is not plain hex; xl reads it as {h.value:x}")
        if h.value == 0:
            self.trap("virtual slot 0 means 'pick a slot automatically', as if none were given")
        return h.value, h.end

    def spec(self, defaults: Flags) -> PciSpec:
        """`xlu_pci_parse_spec_string` on top of `defaults` (xl's pci_* globals)."""
        s = self.text
        seen: set[str] = set()
        flags = {k: getattr(defaults, k) for k in FLAG_KEYS}
        rdm_policy = defaults.rdm_policy
        address: PciAddress | None = None
        all_functions = False
        vslot = 0
        name: str | None = None
        bdf_present = name_present = False
        i = 0
        try:
            positional: _Bdf | None = self.bdf(s)
        except _Reject as exc:
            if exc.undefined or exc.trap or "=" not in s.split(",", 1)[0]:
                raise  # xl rejects it too: the keyword form needs key= first
            positional = None
        if positional is not None:
            address, all_functions, i = positional.address, positional.all_functions, positional.end
            bdf_present = True
            seen.add("bdf")
            if s[i : i + 1] == "@":
                vslot, used = self.vslot(s[i + 1 :])
                seen.add("vslot")
                i += 1 + used
            if s[i : i + 1] == ",":
                i += 1
            elif i < len(s):
                raise _Reject(f"unexpected {s[i:]!r} after the PCI address (expected ',' or '@')")
        while i < len(s):
            eq = s.find("=", i)
            if eq < 0:
                raise _Reject(f"{s[i:]!r} is not key=value (bare flags are not allowed)")
            key = s[i:eq]
            comma = s.find(",", eq + 1)
            end = len(s) if comma < 0 else comma
            val = s[eq + 1 : end]
            i = end + 1 if comma >= 0 else end
            if key not in _KEYS:
                raise _Reject(
                    f"unknown PCI_SPEC_STRING option {key!r} (keys: {', '.join(_KEYS)}; "
                    "case-sensitive, no blanks)"
                )
            if key in seen:
                self.trap(f"{key!r} is given more than once; xl uses the last one")
            seen.add(key)
            if key == "bdf":
                b = self.bdf(val)
                address, all_functions, bdf_present = b.address, b.all_functions, True
                if b.end < len(val):
                    self.trap(f"xl silently ignores {val[b.end :]!r} after bdf={val[: b.end]}")
            elif key == "vslot":
                vslot, used = self.vslot(val)
                if used < len(val):
                    self.trap(f"xl silently ignores {val[used:]!r} after vslot={val[:used]}")
            elif key in FLAG_KEYS:
                flags[key] = _atoi(val) != 0
                if val not in ("0", "1"):
                    self.trap(f"{key}={val} is read with atoi as {int(flags[key])}; write 0 or 1")
            elif key == RDM_POLICY:
                rdm_policy = self.rdm_policy(val, rdm_policy)
            else:
                name, name_present = val, True
                if not val:
                    self.trap("name= is empty; xl accepts it and looks up a device named ''")
        if bdf_present and name_present:
            raise _Reject("a spec takes either a PCI address (bdf) or name=, not both")
        if not (bdf_present or name_present):
            raise _Reject("no device: give a PCI address (BB:DD.F) or name=")
        return PciSpec(
            address=address if bdf_present else None,
            all_functions=all_functions if bdf_present else False,
            vslot=vslot or None,
            rdm_policy=rdm_policy,
            name=name if name_present else None,
            explicit=frozenset(seen),
            **flags,
        )

    def rdm_policy(self, val: str, current: str | None) -> str | None:
        """`libxl_rdm_reserve_policy_from_string`: strcasecmp against invalid/strict/relaxed."""
        lowered = val.lower() if val.isascii() else val
        if lowered == "invalid":
            self.trap("rdm_policy=invalid is accepted by xl and means 'inherit' (strict)")
            return None
        if lowered not in RDM_POLICIES:
            raise _Reject(f"unknown rdm_policy {val!r}: strict or relaxed")
        if val != lowered:
            self.trap(f"rdm_policy={val} is matched case-insensitively; write {lowered}")
        return lowered


def _check(text: str, strict: bool, run: str, defaults: Flags) -> SpecCheck:
    reader = _Reader(text, strict)
    try:
        if "\0" in text:
            raise _Reject("the input contains a NUL byte")
        if run == "bdf":
            b = reader.bdf(text)
            if b.all_functions:
                reader.trap(
                    "'.*' in an assignable BDF: xl pci-assignable-add/-remove act on "
                    f"function {b.address.func} only"
                )
            if b.end < len(text):
                reader.trap(f"xl silently ignores {text[b.end :]!r} after the BDF")
            spec = PciSpec(b.address, all_functions=b.all_functions)
        else:
            spec = reader.spec(defaults)
    except _Reject as exc:
        return SpecCheck(text, None, str(exc), tuple(reader.warnings), exc.undefined)
    return SpecCheck(text, spec, None, tuple(reader.warnings))


def check_spec(text: str, *, strict: bool = True, defaults: Flags = DEFAULT_FLAGS) -> SpecCheck:
    """Read a PCI_SPEC_STRING as xl does (on top of `defaults`, xl's pci_* globals)."""
    return _check(text, strict, "spec", defaults)


def check_bdf(text: str, *, strict: bool = True) -> SpecCheck:
    """Read a BDF as `xl pci-assignable-add/-remove` do (`xlu_pci_parse_bdf`)."""
    return _check(text, strict, "bdf", DEFAULT_FLAGS)


def parse_spec(text: str, *, defaults: Flags = DEFAULT_FLAGS) -> PciSpec:
    """Strict: the spec xl would use, or `InputError` (also for every silent trap)."""
    result = check_spec(text, strict=True, defaults=defaults)
    if result.spec is None:
        raise InputError.about(f"PCI spec {text!r}", result.error or "", _SPEC_FIX)
    return result.spec


def parse_bdf(text: str) -> PciAddress:
    """Strict: a single function `[DDDD:]BB:DD.F` as xl pci-assignable-* read it."""
    result = check_bdf(text, strict=True)
    if result.spec is None or result.spec.address is None:
        raise InputError.about(
            f"PCI address {text!r}", result.error or "", "write e.g. 0000:05:00.0"
        )
    return result.spec.address


def format_spec(spec: PciSpec) -> str:
    """The canonical spec: xl reads it back to the same `PciSpec`.

    Flags are written when true or when the spec set them explicitly (so that a
    `permissive=0` keeps overriding a `pci_permissive = 1` global).
    """
    if spec.address is not None:
        a = spec.address
        parts = [f"{a.slot}.*" if spec.all_functions else str(a)]
        if spec.vslot:
            parts[0] += f"@{spec.vslot:x}"
    else:
        parts = [f"name={spec.name or ''}"]
        if spec.vslot:
            parts.append(f"vslot={spec.vslot:x}")
    for key in FLAG_KEYS:
        value = getattr(spec, key)
        if value or key in spec.explicit:
            parts.append(f"{key}={int(value)}")
    if spec.rdm_policy is not None:
        parts.append(f"rdm_policy={spec.rdm_policy}")
    return ",".join(parts)


def with_defaults(spec: PciSpec, defaults: Flags) -> PciSpec:
    """`spec` as xl uses it under the given pci_* globals: keys not in the text inherit them."""
    values = {k: getattr(defaults, k) for k in FLAG_KEYS if k not in spec.explicit}
    if RDM_POLICY not in spec.explicit:
        return replace(spec, rdm_policy=defaults.rdm_policy, **values)
    return replace(spec, **values)
