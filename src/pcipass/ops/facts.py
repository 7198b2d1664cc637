"""Host facts: what the planners need, read from the host before planning.

`gather_facts` reads pcipass's records, the loaded PCI drivers and their modules,
the network interfaces, and Xen's view of the devices in a dom0 (a Xen host where
`xl info` answers: a domU has no working xl).
"""

from __future__ import annotations

from pcipass.host import paths
from pcipass.host.base import Host
from pcipass.host.xen import xen_devices, xen_directio, xl_info
from pcipass.model.device import HostModel
from pcipass.model.discovery import discover
from pcipass.ops.assign import HostFacts, live_records
from pcipass.run.records import RecordStore


def gather_facts(host: Host, model: HostModel | None = None) -> HostFacts:
    """The facts for planning on `host` (`model`: already discovered, else read without names)."""
    if model is None:
        model = discover(host, names=False)
    drivers = frozenset(host.listdir(paths.PCI_DRIVERS))
    modules = {
        d: m for d in drivers if (m := host.link_name(paths.drv(d, "module")))
    }
    info = xl_info(host)
    dom0 = info is not None
    xen = xen_devices(host) if dom0 else {}
    return HostFacts(
        model=model,
        records=live_records(model, RecordStore(host).all(), xen),
        drivers=drivers,
        modules=modules,
        dom0=dom0,
        xen_directio=xen_directio(info) if info is not None else None,
        xen=xen,
        interfaces=frozenset(host.listdir(paths.CLASS_NET)),
    )
