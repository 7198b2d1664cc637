"""`XlContext`: what every simulated `xl` verb works on, and the helpers they share.

The simulated kernel, the Xen state (`xenstore.new_xen_state`), its xenstore and the command's
`Output`; libxl's log line, xl's usage complaint, and the BDF argument read with xl's grammar.
"""

from __future__ import annotations

from typing import Any

from pcipass.address import PciAddress
from pcipass.sim.kernel import SimKernel
from pcipass.sim.output import Output
from pcipass.sim.xen.xenstore import Xenstore
from pcipass.spec import check_bdf, check_spec


def libxl_pci_path(bdf: str, node: str | None = None) -> str:
    """libxl's xenstore node of a device, `/libxl/pci/DDDD-BB-DD-F[/node]`."""
    base = f"/libxl/pci/{PciAddress.parse(bdf).xenstore}"
    return f"{base}/{node}" if node else base


def read_bdf(text: str, what: str = "BDF") -> str | None:
    """A device as xl reads `text`: xlu_pci_parse_bdf (``BDF``: ``[DDDD:]BB:DD.F``, anything after
    the function ignored) or xlu_pci_parse_spec_string (``PCI_SPEC_STRING``); None if xl refuses
    it. `pcipass.spec` is that grammar, read leniently (what xl accepts, not what pcipass would)."""
    check = (
        check_spec(text, strict=False)
        if what == "PCI_SPEC_STRING"
        else check_bdf(text, strict=False)
    )
    address = check.spec.address if check.spec is not None else None
    return None if address is None else str(address)


class XlContext:
    """One `xl` invocation: the kernel and Xen state it changes and what it prints."""

    def __init__(self, kernel: SimKernel, xen: dict[str, Any]) -> None:
        self.kernel = kernel
        self.xen = xen
        self.xs = Xenstore(xen)
        self.res = Output()

    def log(self, level: str, line: int, func: str, msg: str) -> None:
        """A libxl log line from libxl_pci.c."""
        self.res.err.append(f"libxl: {level}: libxl_pci.c:{line}:{func}: {msg}")

    def has_args(self, cmd: str, args: list[str], count: int = 1) -> bool:
        """xl's argument count check: False, with xl's usage complaint and exit 2, if short."""
        if len(args) >= count:
            return True
        plural = "s" if count > 1 else ""
        self.fail(2, f"'xl {cmd}' requires at least {count} argument{plural}.", "")
        return False

    def fail(self, code: int, *lines: str) -> None:
        """Print `lines` on stderr and exit with `code`."""
        self.res.err.extend(lines)
        self.res.code = code

    def parse_bdf_arg(self, cmd: str, text: str, what: str) -> str | None:
        """A device argument as xl reads it; None (with xl's "malformed" line, exit 2) if bad.

        `what` is the grammar xl names: ``BDF`` (pci-assignable-*) or ``PCI_SPEC_STRING``.
        """
        bdf = read_bdf(text, what)
        if bdf is None:
            quoted = f"'{text}'" if cmd == "pci-assignable-remove" else f'"{text}"'
            self.fail(2, f"{cmd}: malformed {what} {quoted}")
        return bdf
