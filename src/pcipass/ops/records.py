"""pcipass's memory of where each assignable device came from.

A record keeps a device's original driver (and its module), its original
`driver_override`, the backend it was handed to and its name. Records live in
one JSON file in the state directory (replaced atomically, fsync'd), so they
survive reboots and other tools. For Xen, libxl's own memory is read too:
xenstore `/libxl/pci/DDDD-BB-DD-F/{driver_path,name,domid}` (and
`/libxl/pciback/...` before Xen 4.15), through `xenstore-read`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from pcipass.errors import OperationError
from pcipass.host.base import CommandFailed, Host
from pcipass.run.state_dir import STATE_DIR

RECORDS = f"{STATE_DIR}/records.json"


@dataclass(frozen=True)
class XenDevice:
    """libxl's memory of one device in xenstore `/libxl/pci/<key>/`."""

    driver: str | None = None
    name: str | None = None
    domid: int | None = None


@dataclass(frozen=True)
class Record:
    """What a device had before pcipass (or xl) made it assignable."""

    bdf: str
    driver: str | None
    module: str | None = None
    driver_override: str | None = None
    backend: str = "vfio"
    name: str | None = None
    source: str = "pcipass"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Record:
        fields = {k: obj.get(k) for k in ("bdf", "driver", "module", "driver_override", "name")}
        return cls(
            bdf=str(fields["bdf"]),
            driver=fields["driver"],
            module=fields["module"],
            driver_override=fields["driver_override"],
            backend=str(obj.get("backend", "vfio")),
            name=fields["name"],
            source=str(obj.get("source", "pcipass")),
        )


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
                loaded = json.loads(text) if text else {}
                if not isinstance(loaded, dict):
                    raise ValueError("not an object of BDF → record")
                bad = next((k for k, v in loaded.items() if not isinstance(v, dict)), None)
                if bad is not None:
                    raise ValueError(f"the record of {bad} is not an object")
            except ValueError as exc:
                # never read as empty: the next save would overwrite the original drivers
                raise OperationError(
                    f"the record file /{RECORDS} is damaged ({exc})",
                    "restore it from a backup or fix the JSON by hand",
                ) from exc
            self._cache = loaded
        return self._cache

    def _store(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            self.host.write_state_file(RECORDS, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise OperationError(
                f"cannot write /{RECORDS}: {exc.strerror or exc}",
                "run pcipass as root, or check that the state directory is writable",
            ) from exc
        self._cache, self._dirty = data, False


# -- libxl's memory in xenstore ----------------------------------------------
def xenstore_read(host: Host, path: str) -> str | None:
    """One xenstore value, or None if the key (or xenstore) is absent."""
    try:
        result = host.run(["xenstore-read", path])
    except CommandFailed:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def xenstore_list(host: Host, path: str) -> list[str]:
    """Children of a xenstore node; empty if absent."""
    try:
        result = host.run(["xenstore-list", path])
    except CommandFailed:
        return []
    return result.stdout.split() if result.returncode == 0 else []


def xen_devices(host: Host) -> dict[str, XenDevice]:
    """Every device libxl keeps keys for (old `pciback` node first, `pci` wins): BDF → facts."""
    out: dict[str, XenDevice] = {}
    for node in ("pciback", "pci"):
        for key in xenstore_list(host, f"/libxl/{node}"):
            parts = key.split("-")
            if len(parts) != 4:
                continue
            bdf = f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"
            base = f"/libxl/{node}/{key}"
            path = xenstore_read(host, f"{base}/driver_path")
            domid = xenstore_read(host, f"{base}/domid") if node == "pci" else None
            prev = out.get(bdf, XenDevice())
            out[bdf] = XenDevice(
                driver=os.path.basename(path.rstrip("/")) if path else prev.driver,
                name=(xenstore_read(host, f"{base}/name") if node == "pci" else None) or prev.name,
                domid=int(domid) if domid and domid.isdigit() else None,
            )
    return out
