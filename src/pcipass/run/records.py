"""`RecordStore`: the device records of one host, in one JSON file in the state directory.

The file is replaced atomically and fsync'd (`Host.write_state_file`), so records
survive reboots and other tools. A file that cannot be read as records is
reported as damaged, never read as empty: the next save would overwrite the
original drivers.
"""

from __future__ import annotations

import json
from typing import Any

from pcipass.errors import OperationError
from pcipass.host.base import STATE_FIX, Host
from pcipass.ops.records import Record
from pcipass.run.state_dir import STATE_DIR

RECORDS = f"{STATE_DIR}/records.json"
_NULLABLE = ("driver", "module", "driver_override", "name")
_REQUIRED_IF_PRESENT = ("bdf", "backend", "source")


class RecordStore:
    """The records of one host; implements the executor's `RecordKeeper`."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._cache: dict[str, dict[str, Any]] | None = None
        self._dirty = False

    def all(self) -> dict[str, Record]:
        return {bdf: Record.from_json(obj) for bdf, obj in sorted(self._load().items())}

    def get(self, bdf: str) -> Record | None:
        obj = self._load().get(bdf)
        return Record.from_json(obj) if obj is not None else None

    def has(self, bdf: str) -> bool:
        return bdf in self._load()

    def save(self, bdf: str, payload: dict[str, Any], defer: bool = False) -> None:
        """Store a record (with `defer`, only in memory until `flush`)."""
        data = dict(self._load())
        data[bdf] = dict(payload, bdf=bdf)
        self._update(data, defer)

    def drop(self, bdf: str, defer: bool = False) -> None:
        """Forget a record (with `defer`, only in memory until `flush`)."""
        data = dict(self._load())
        if data.pop(bdf, None) is not None:
            self._update(data, defer)

    def flush(self) -> None:
        """Make deferred changes durable (one atomic, fsync'd write)."""
        if self._dirty and self._cache is not None:
            self._store(self._cache)

    def _update(self, data: dict[str, dict[str, Any]], defer: bool) -> None:
        if defer:
            self._cache, self._dirty = data, True
        else:
            self._store(data)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._cache is None:
            text = self.host.try_read_text(RECORDS)
            try:
                loaded = _check(json.loads(text) if text else {})
            except ValueError as exc:
                raise OperationError(
                    f"the record file {self.host.name_of(RECORDS)} is damaged ({exc})",
                    "restore it from a backup or fix the JSON by hand",
                ) from exc
            self._cache = loaded
        return self._cache

    def _store(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            self.host.write_state_file(RECORDS, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise OperationError(
                f"cannot write {self.host.name_of(RECORDS)}: {exc.strerror or exc}", STATE_FIX
            ) from exc
        self._cache, self._dirty = data, False


def _check(loaded: object) -> dict[str, dict[str, Any]]:
    """`loaded` as BDF → record object; `ValueError` naming what is wrong."""
    if not isinstance(loaded, dict):
        raise ValueError("not an object of BDF → record")
    for bdf, obj in loaded.items():
        if not isinstance(obj, dict):
            raise ValueError(f"the record of {bdf} is not an object")
        bad = next((k for k in _NULLABLE if not isinstance(obj.get(k), str | None)), None)
        bad = bad or next(
            (k for k in _REQUIRED_IF_PRESENT if not isinstance(obj.get(k, ""), str)), None
        )
        if bad is not None:
            raise ValueError(f"the record of {bdf} has {bad}={obj[bad]!r}, not a string")
    return loaded
