"""`tree`'s view: bridges with what sits below them, PFs with their VFs, and the IOMMU
groups, as JSON (docs/json.md: tree)."""

from __future__ import annotations

from typing import Any

from pcipass.address import PciAddress
from pcipass.model.device import Device, HostModel
from pcipass.model.views import class_description, description


def _tree_node(
    model: HostModel, dev: Device, kids: dict[PciAddress | None, list[Device]]
) -> dict[str, Any]:
    vfs = set(dev.sriov.vfs) if dev.sriov else set()
    return {
        "bdf": str(dev.bdf),
        "class_description": class_description(dev),
        "description": description(dev),
        "driver": dev.driver,
        "iommu_group": dev.iommu_group,
        "status": dev.status.value,
        "children": [_tree_node(model, c, kids) for c in kids.get(dev.bdf, []) if c.bdf not in vfs],
        "vfs": [
            _tree_node(model, model.devices[b], kids) for b in sorted(vfs) if b in model.devices
        ],
    }


def tree_json(model: HostModel) -> dict[str, Any]:
    """Bridges with what is below them, PFs with their VFs, and IOMMU groups (docs/json.md)."""
    kids: dict[PciAddress | None, list[Device]] = {}
    vf_set = {b for d in model.devices.values() if d.sriov for b in d.sriov.vfs}
    for dev in model.devices.values():
        parent = dev.parent if dev.parent in model.devices else None
        if dev.bdf in vf_set and dev.physfn in model.devices:
            continue  # shown under its PF
        kids.setdefault(parent, []).append(dev)
    return {
        "tree": [_tree_node(model, d, kids) for d in kids.get(None, [])],
        "groups": {str(g): [str(b) for b in m] for g, m in model.groups.items()},
    }
