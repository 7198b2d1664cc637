"""`PciAddress`: one PCI function, `DDDD:BB:DD.F` (domain, bus, device, function).

    >>> a = PciAddress.parse("05:00.1")
    >>> str(a), a.xenstore
    ('0000:05:00.1', '0000-05-00-1')
    >>> PciAddress.parse_xenstore("0000-05-00-1") == a
    True

`PciAddress.parse` is strict: plain hex digits only, `[DDDD:]BB:DD.F` with
domain <= 0xffff, bus <= 0xff, device <= 0x1f, function <= 7. It is the form
lspci and sysfs print. For xl's looser spec grammar use `pcipass.spec`.
`PciAddress.try_parse` is the lenient reader for sysfs names and user input (None
when the text is not an address); sysfs domains can exceed xl's 0xffff (Intel VMD
puts devices in domain 0x10000 and up).
Addresses are immutable, hashable and ordered by (domain, bus, dev, func).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pcipass.errors import InputError

MAX_DOMAIN = 0xFFFF  # xl's limit; sysfs allows up to SYSFS_MAX_DOMAIN
SYSFS_MAX_DOMAIN = 0xFFFFFFFF
MAX_BUS = 0xFF
MAX_DEV = 0x1F
MAX_FUNC = 7

_BDF = re.compile(
    r"(?:(?P<domain>[0-9a-fA-F]{1,4}):)?(?P<bus>[0-9a-fA-F]{1,2}):"
    r"(?P<dev>[0-9a-fA-F]{1,2})\.(?P<func>[0-7])"
)
_LOOSE = re.compile(
    r"(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):"
    r"(?P<dev>[0-9a-fA-F]{1,2})\.(?P<func>[0-7])"
)
_XENSTORE = re.compile(
    r"(?P<domain>[0-9a-fA-F]{4})-(?P<bus>[0-9a-fA-F]{2})-(?P<dev>[0-9a-fA-F]{2})-(?P<func>[0-7])"
)
_FIX = "write it as [DDDD:]BB:DD.F in hex, e.g. 0000:05:00.0"


@dataclass(frozen=True, order=True, slots=True)
class PciAddress:
    """A PCI function address; `str()` gives the canonical `DDDD:BB:DD.F`."""

    domain: int
    bus: int
    dev: int
    func: int

    def __post_init__(self) -> None:
        if (
            type(self.domain) is int
            and type(self.bus) is int
            and type(self.dev) is int
            and type(self.func) is int
            and 0 <= self.domain <= SYSFS_MAX_DOMAIN
            and 0 <= self.bus <= MAX_BUS
            and 0 <= self.dev <= MAX_DEV
            and 0 <= self.func <= MAX_FUNC
        ):
            return  # the fast path: discovery builds thousands of these
        limits = (
            ("domain", SYSFS_MAX_DOMAIN), ("bus", MAX_BUS), ("dev", MAX_DEV), ("func", MAX_FUNC)
        )
        for field, limit in limits:
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
                raise InputError(
                    f"PCI address {field} {value!r} is out of range (0..{limit:#x})", _FIX
                )

    @classmethod
    def parse(cls, text: str) -> PciAddress:
        """Parse `[DDDD:]BB:DD.F` (hex); raise `InputError` on anything else."""
        m = _BDF.fullmatch(text)
        if m is None:
            raise InputError(f"not a PCI address: {text!r}", _FIX)
        return cls._from_match(m, text)

    @classmethod
    def try_parse(cls, text: str) -> PciAddress | None:
        """`[DDDD:]BB:DD.F` (a sysfs name, or a user's address; blanks around it are
        ignored) as an address, or None when it is not one."""
        m = _LOOSE.fullmatch(text.strip())
        if m is None or int(m["dev"], 16) > MAX_DEV:
            return None
        domain = int(m["domain"] or "0", 16)
        return cls(domain, int(m["bus"], 16), int(m["dev"], 16), int(m["func"]))

    @classmethod
    def parse_xenstore(cls, text: str) -> PciAddress:
        """Parse libxl's xenstore key form `DDDD-BB-DD-F`."""
        m = _XENSTORE.fullmatch(text)
        if m is None:
            raise InputError(
                f"not a xenstore PCI key: {text!r}", "expected DDDD-BB-DD-F, e.g. 0000-05-00-0"
            )
        return cls._from_match(m, text)

    @classmethod
    def _from_match(cls, m: re.Match[str], text: str) -> PciAddress:
        dev = int(m["dev"], 16)
        if dev > MAX_DEV:
            raise InputError(f"PCI device number {dev:#x} in {text!r} is over 0x1f", _FIX)
        return cls(int(m["domain"] or "0", 16), int(m["bus"], 16), dev, int(m["func"], 16))

    @property
    def slot(self) -> str:
        """`DDDD:BB:DD`, the slot without the function."""
        return f"{self.domain:04x}:{self.bus:02x}:{self.dev:02x}"

    @property
    def xenstore(self) -> str:
        """libxl's xenstore key form `DDDD-BB-DD-F`."""
        return f"{self.domain:04x}-{self.bus:02x}-{self.dev:02x}-{self.func:x}"

    def __str__(self) -> str:
        return f"{self.slot}.{self.func:x}"
