"""pcipass's memory of where each assignable device came from, and libxl's, as data.

A `Record` keeps a device's original driver (and its module), its original
`driver_override`, the backend it was handed to and its name; `RecordStore`
(`pcipass.run.records`) keeps them on disk. `XenDevice` is what libxl keeps in
xenstore about a device (`pcipass.host.xen.xen_devices` reads it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pcipass.host.xen import XenDevice

__all__ = ["Record", "XenDevice"]


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
