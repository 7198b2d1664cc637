"""`VfSnapshots`: the original settings of the VFs pcipass changed, in one JSON file.

Saved before a VF's first `vf set` (as sriov-cni keeps OrigVfState), restored and dropped
by `vf reset`. The file is pcipass's own (state directory, replaced atomically and fsync'd
like the device records); one that cannot be read is reported as damaged, never read as
empty, so that the originals are not overwritten.
"""

from __future__ import annotations

import json
from typing import Any

from pcipass.errors import OperationError
from pcipass.host.base import STATE_FIX, Host
from pcipass.run.state_dir import STATE_DIR

VF_SETTINGS = f"{STATE_DIR}/vf-settings.json"


class VfSnapshots:
    """VF BDF → {pf, ifname, vf, settings} on one host."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def all(self) -> dict[str, dict[str, Any]]:
        text = self.host.try_read_text(VF_SETTINGS)
        try:
            loaded = json.loads(text) if text else {}
            if not isinstance(loaded, dict) or not all(
                    isinstance(v, dict) and isinstance(v.get("settings"), dict)
                    for v in loaded.values()):
                raise ValueError("not an object of VF BDF → saved settings")
        except ValueError as exc:
            raise OperationError(
                f"the saved VF settings {self.host.name_of(VF_SETTINGS)} are damaged ({exc})",
                "restore the file from a backup or fix the JSON by hand",
            ) from exc
        return loaded

    def get(self, bdf: str) -> dict[str, Any] | None:
        return self.all().get(bdf)

    def has(self, bdf: str) -> bool:
        return bdf in self.all()

    def save(self, bdf: str, snapshot: dict[str, Any]) -> None:
        self._store(dict(self.all(), **{bdf: snapshot}))

    def drop(self, bdf: str) -> None:
        data = self.all()
        if data.pop(bdf, None) is not None:
            self._store(data)

    def _store(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            self.host.write_state_file(VF_SETTINGS,
                                       json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise OperationError(
                f"cannot write {self.host.name_of(VF_SETTINGS)}: {exc.strerror or exc}",
                STATE_FIX) from exc
