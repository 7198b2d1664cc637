"""Where pcipass keeps its own state on a host (journal, lock, device records)."""

from __future__ import annotations

STATE_DIR = "var/lib/pcipass"
"""Host path (under the root) of pcipass's state directory."""
