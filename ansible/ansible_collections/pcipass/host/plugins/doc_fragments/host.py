# Copyright: (c) 2026, pcipass contributors
# MIT License (see the pcipass repository's pyproject.toml)
"""The options every pcipass module shares: which host it works on."""

from __future__ import annotations


class ModuleDocFragment:
    """The host options (`sim`, `root`), as in pcipass's `--sim DIR` / `--root DIR`."""

    DOCUMENTATION = r"""
options:
  sim:
    description:
      - A simulated host made by C(pcipass sim init DIR) on the managed host, instead of the
        managed host itself (pcipass's C(--sim DIR)).
      - Tests and demos run whole plays against simulated hosts, one directory per
        inventory host.
    type: path
  root:
    description:
      - Another host's tree on the managed host (an unpacked C(pcipass snapshot), for
        example), as pcipass's C(--root DIR). Every host path is read, and pcipass's own
        files written, under it, and no program (C(xl), C(modprobe)) is run because of it,
        so a change that needs one is refused.
      - A directory without C(sys/bus/pci) is refused with nothing created.
      - Default is the managed host itself (C(/)).
    type: path
requirements:
  - pcipass (the Python library, on the managed host; Python 3.11 or later)
notes:
  - The module calls the pcipass library on the managed host and never parses its output.
  - C(sim) and C(root) are mutually exclusive.
"""
