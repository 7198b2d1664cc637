"""Simulated Xen domains: `xl create`, `list`, `pci-list`, `pci-attach`, `pci-detach`, `destroy`.

Just enough of libxl for pcipass's bookkeeping to be exercised: a domain has a name, a domid
and the PCI devices it holds. Attaching follows libxl__device_pci_add: the device must be on
pciback (else "is not assignable"), Xen moves it from quarantine (DOMID_IO) to the domain, and
libxl writes ``/libxl/pci/<bdf>/domid`` and the backend keys under
``/local/domain/0/backend/pci/<domid>/0``. While a domain holds a device,
``xl pci-assignable-remove`` fails to de-quarantine it, as in Xen. Guests do not run: no
console, no pcifront; a domain lives until `xl destroy`. Texts and exit codes are those the
project's Xen lab shows (xl exits with -rc of libxl: 3 ERROR_FAIL, 6 ERROR_INVAL).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host.user_files import host_path
from pcipass.xlcfg import effective_pci, parse_config

if TYPE_CHECKING:
    from pcipass.sim.xen import Xl

BACKEND = "/local/domain/0/backend/pci"


def _short(bdf: str) -> str:
    """libxl's "%x:%x:%x.%x" form of a BDF."""
    dom, bus, dev, fn = (int(x, 16) for x in re.split(r"[:.]", bdf))
    return f"{dom:x}:{bus:x}:{dev:x}.{fn:x}"


def libxl_pci_path(bdf: str, node: str | None = None) -> str:
    """libxl's xenstore node of a device, `/libxl/pci/DDDD-BB-DD-F[/node]`."""
    base = f"/libxl/pci/{PciAddress.parse(bdf).xenstore}"
    return f"{base}/{node}" if node else base


def domains(xen: dict[str, Any]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = xen.setdefault("domains", {})
    return table


def find_domain(xl: Xl, ident: str) -> int | None:
    """xl's find_domain: a domid or a name; prints xl's complaint and returns None if unknown."""
    if ident.isdigit():
        return int(ident)
    if ident == "Domain-0":
        return 0
    for domid, dom in domains(xl.xen).items():
        if dom["name"] == ident:
            return int(domid)
    xl.res.err.append(f"{ident} is an invalid domain identifier (rc=-6)")
    xl.res.code = 1
    return None


def _add_failed(xl: Xl, domid: int, bdf: str, reason: tuple[int, str, str]) -> None:
    line, func, msg = reason
    xl.log("error", line, func, (f"Domain {domid}:" if domid else "") + msg)
    _add_done_failed(xl, domid, bdf)


def _add_done_failed(xl: Xl, domid: int, bdf: str) -> None:
    who = f"Domain {domid}:" if domid else ""
    msg = f"{who}libxl__device_pci_add failed for PCI device {_short(bdf)} (rc -3)"
    xl.log("error", 1809, "device_pci_add_done", msg)


def _attach(xl: Xl, domid: int, bdf: str) -> bool:
    """libxl__device_pci_add for a simulated domain: checks, Xen reassignment, xenstore keys."""
    dom = domains(xl.xen).get(str(domid))
    if dom is None:
        for _ in range(3):
            xl.res.err.append(
                "libxl: error: libxl_dom.c:37:libxl__domain_type: "
                f"unable to get domain type for domid={domid}"
            )
        _add_done_failed(xl, domid, bdf)
        return False
    if xl.kernel.driver_of(bdf) != "pciback":
        msg = f"PCI device {_short(bdf)} is not assignable"
        _add_failed(xl, domid, bdf, (1677, "libxl__device_pci_add", msg))
        return False
    if not dom["passthrough"]:
        msg = "xc_assign_device failed: Operation not supported"
        _add_failed(xl, domid, bdf, (1529, "pci_add_dm_done", msg))
        return False
    if bdf in xl.xen["quarantined"]:
        xl.xen["quarantined"].remove(bdf)
    dom["pci"].append(bdf)
    xl.xs.write(libxl_pci_path(bdf, "domid"), str(domid))
    _write_backend(xl, domid)
    return True


def _write_backend(xl: Xl, domid: int) -> None:
    dom = domains(xl.xen)[str(domid)]
    be = f"{BACKEND}/{domid}/0"
    xl.xs.rm(be)
    if not dom["pci"]:
        xl.xs.rm(f"{BACKEND}/{domid}")
        return
    xl.xs.write(f"{be}/num_devs", str(len(dom["pci"])))
    for i, bdf in enumerate(dom["pci"]):
        xl.xs.write(f"{be}/key-{i}", bdf)
        xl.xs.write(f"{be}/dev-{i}", bdf)
        xl.xs.write(f"{be}/opts-{i}", "msitranslate=0,power_mgmt=0,permissive=0,rdm_policy=strict")
        xl.xs.write(f"{be}/state-{i}", "1")


def _detach(xl: Xl, domid: int, bdf: str) -> None:
    """Give a device back to quarantine (DOMID_IO), as libxl does on detach and destroy."""
    dom = domains(xl.xen)[str(domid)]
    dom["pci"].remove(bdf)
    xl.xs.rm(libxl_pci_path(bdf, "domid"))
    if bdf not in xl.xen["quarantined"]:
        xl.xen["quarantined"].append(bdf)
    _write_backend(xl, domid)


def create(xl: Xl, args: list[str]) -> None:
    """xl create FILE: the domain appears at once (no guest runs)."""
    files = [a for a in args if not a.startswith("-")]
    if not files:
        xl.usage("create")
        return
    path = files[0]
    xl.res.err.append(f"Parsing config from {path}")
    try:
        with open(host_path(xl.kernel.root, path), "rb") as f:  # the file `config` edits
            data = f.read()
    except OSError as exc:
        xl.res.err.append(f"Failed to read config file: {path}: {exc.strerror}")
        xl.res.code = 1
        return
    try:
        cfg = parse_config(data)
    except InputError as exc:
        xl.res.err.append(f"{path}: config parsing error: {exc.line()}")
        xl.res.code = 1
        return
    name = cfg.get_string("name")
    if not name:
        xl.res.err.append("Domain name must be specified.")
        xl.res.code = 1
        return
    pci = effective_pci(cfg)
    if not pci.ok:
        xl.res.err.append(f"{pci.error}")
        xl.res.code = 1
        return
    bdfs = [str(s.address) for s in pci.devices if s.address is not None]
    passthrough = bool(bdfs) or cfg.get_string("passthrough") in ("enabled", "sync_pt", "share_pt")
    if passthrough and not xl.xen["iommu"]:
        xl.res.err.append(
            "libxl: error: libxl_create.c:1160:libxl__domain_config_setdefault: "
            "passthrough not supported on this platform"
        )
        xl.res.err.append("")
        xl.res.code = 6
        return
    domid = int(xl.xen.setdefault("next_domid", 1))
    xl.xen["next_domid"] = domid + 1
    memory = cfg.get_long("memory")[1] or 128
    vcpus = cfg.get_long("vcpus")[1] or 1
    domains(xl.xen)[str(domid)] = {
        "name": name,
        "pci": [],
        "passthrough": passthrough,
        "memory": memory,
        "vcpus": vcpus,
    }
    for bdf in bdfs:
        if not _attach(xl, domid, bdf):
            who = f"Domain {domid}:"
            xl.res.err.extend(
                [
                    "libxl: error: libxl_create.c:1921:domcreate_attach_devices: "
                    f"{who}unable to add pci devices",
                    f"libxl: error: libxl_domain.c:1183:libxl__destroy_domid: {who}"
                    "Non-existant domain",
                    "libxl: error: libxl_domain.c:1137:domain_destroy_callback: "
                    f"{who}Unable to destroy guest",
                    f"libxl: error: libxl_domain.c:1064:domain_destroy_cb: {who}"
                    "Destruction of domain failed",
                ]
            )
            _destroy(xl, domid)
            xl.res.code = 3
            return
    xl.xs.write(f"/local/domain/{domid}/name", name)
    xl.xs.write(f"/local/domain/{domid}/domid", str(domid))


def _destroy(xl: Xl, domid: int) -> None:
    for bdf in list(domains(xl.xen)[str(domid)]["pci"]):
        _detach(xl, domid, bdf)
    del domains(xl.xen)[str(domid)]
    xl.xs.rm(f"/local/domain/{domid}")


def destroy(xl: Xl, args: list[str]) -> None:
    if not args:
        xl.usage("destroy")
        return
    domid = find_domain(xl, args[0])
    if domid is None:
        return
    if domid == 0:
        xl.res.err.append("Cannot destroy privileged domain 0.")
        xl.res.code = 1
        return
    if str(domid) not in domains(xl.xen):
        xl.res.err.append(
            f"libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain {domid}:"
            "Non-existant domain"
        )
        xl.res.code = 1
        return
    _destroy(xl, domid)


def pci_attach(xl: Xl, args: list[str]) -> None:
    if len(args) < 2:
        xl.usage("pci-attach", 2)
        return
    domid = find_domain(xl, args[0])
    if domid is None:
        return
    bdf = xl.parse_bdf(args[1])
    if bdf is None:
        xl.res.err.append(f'pci-attach: malformed PCI_SPEC_STRING "{args[1]}"')
        xl.res.code = 2
        return
    if domid == 0:
        if xl.kernel.driver_of(bdf) != "pciback":
            reason = (1677, "libxl__device_pci_add", f"PCI device {_short(bdf)} is not assignable")
        else:
            reason = (1529, "pci_add_dm_done", "xc_assign_device failed: Invalid argument")
        _add_failed(xl, 0, bdf, reason)
        ok = False
    else:
        ok = _attach(xl, domid, bdf)
    if not ok:
        xl.res.err.append(
            "libxl: error: libxl_device.c:1486:device_addrm_aocomplete: unable to add device"
        )
        xl.res.code = 1


def pci_detach(xl: Xl, args: list[str]) -> None:
    rest = [a for a in args if a != "-f"]
    if len(rest) < 2:
        xl.usage("pci-detach", 2)
        return
    domid = find_domain(xl, rest[0])
    if domid is None:
        return
    bdf = xl.parse_bdf(rest[1])
    if bdf is None:
        xl.res.err.append(f'pci-detach: malformed PCI_SPEC_STRING "{rest[1]}"')
        xl.res.code = 2
        return
    dom = domains(xl.xen).get(str(domid))
    if dom is None or bdf not in dom["pci"]:
        # the line number of this libxl message was not measured in the lab
        xl.res.err.append(
            f"libxl: error: libxl_pci.c:do_pci_remove: Domain {domid}:"
            "PCI device not attached to this domain"
        )
        xl.res.code = 1
        return
    _detach(xl, domid, bdf)


def pci_list(xl: Xl, args: list[str]) -> None:
    if not args:
        xl.usage("pci-list")
        return
    domid = find_domain(xl, args[0])
    if domid is None:
        return
    dom = domains(xl.xen).get(str(domid))
    if dom is None or not dom["pci"]:
        return
    xl.res.out.append("Vdev Device")
    xl.res.out.extend(f"{i:02x}.0 {bdf}" for i, bdf in enumerate(dom["pci"]))


def list_domains(xl: Xl, args: list[str]) -> None:
    xl.res.out.append("Name                                        ID   Mem VCPUs\tState\tTime(s)")
    rows = [("Domain-0", 0, 1024, xl.xen["nr_cpus"], "r-----")]
    rows += [
        (d["name"], int(i), d["memory"], d["vcpus"], "-b----")
        for i, d in sorted(domains(xl.xen).items(), key=lambda kv: int(kv[0]))
    ]
    xl.res.out.extend(
        f"{name:<40} {domid:>5} {mem:>5} {vcpus:>5}     {state} {1.0:9.1f}"
        for name, domid, mem, vcpus, state in rows
    )
