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

import json
import re
from typing import Any

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.host import paths
from pcipass.host.user_files import host_path
from pcipass.sim.xen import guest
from pcipass.sim.xen.context import XlContext, libxl_pci_path
from pcipass.spec import PciSpec, check_spec
from pcipass.xlcfg import effective_pci, parse_config

BACKEND = "/local/domain/0/backend/pci"


def _short(bdf: str) -> str:
    """libxl's "%x:%x:%x.%x" form of a BDF."""
    dom, bus, dev, fn = (int(x, 16) for x in re.split(r"[:.]", bdf))
    return f"{dom:x}:{bus:x}:{dev:x}.{fn:x}"


def _domain_operand(ctx: XlContext, cmd: str, args: list[str], count: int = 1) -> int | None:
    """xl's prologue for a domain verb: the usage check (`count` arguments), then the domain;
    None when xl has already complained."""
    return find_domain(ctx, args[0]) if ctx.has_args(cmd, args, count) else None


def _device_operands(ctx: XlContext, cmd: str, args: list[str]) -> tuple[int, str] | None:
    """The prologue of `xl pci-attach/-detach DOMAIN PCI_SPEC_STRING`."""
    domid = _domain_operand(ctx, cmd, args, 2)
    bdf = None if domid is None else ctx.parse_bdf_arg(cmd, args[1], "PCI_SPEC_STRING")
    return None if domid is None or bdf is None else (domid, bdf)


def _spec(text: str) -> PciSpec | None:
    """The spec xl reads from `text` (lenient, as xl)."""
    return check_spec(text, strict=False).spec


def domains(xen: dict[str, Any]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = xen.setdefault("domains", {})
    return table


def find_domain(ctx: XlContext, ident: str) -> int | None:
    """xl's find_domain: a domid or a name; prints xl's complaint and returns None if unknown."""
    if ident.isdigit():
        return int(ident)
    if ident == "Domain-0":
        return 0
    for domid, dom in domains(ctx.xen).items():
        if dom["name"] == ident:
            return int(domid)
    ctx.res.err.append(f"{ident} is an invalid domain identifier (rc=-6)")
    ctx.res.code = 1
    return None


def _add_failed(ctx: XlContext, domid: int, bdf: str, reason: tuple[int, str, str]) -> None:
    line, func, msg = reason
    ctx.log("error", line, func, (f"Domain {domid}:" if domid else "") + msg)
    _add_done_failed(ctx, domid, bdf)


def _add_done_failed(ctx: XlContext, domid: int, bdf: str) -> None:
    who = f"Domain {domid}:" if domid else ""
    msg = f"{who}libxl__device_pci_add failed for PCI device {_short(bdf)} (rc -3)"
    ctx.log("error", 1809, "device_pci_add_done", msg)


def _attach(ctx: XlContext, domid: int, bdf: str, spec: PciSpec | None = None) -> bool:
    """libxl__device_pci_add for a simulated domain: checks, Xen reassignment, xenstore keys,
    pciback's permissive list (PV: libxl writes the BDF to `pciback/permissive`)."""
    spec = spec or PciSpec(address=PciAddress.parse(bdf))
    dom = domains(ctx.xen).get(str(domid))
    if dom is None:
        for _ in range(3):
            ctx.res.err.append(
                "libxl: error: libxl_dom.c:37:libxl__domain_type: "
                f"unable to get domain type for domid={domid}"
            )
        _add_done_failed(ctx, domid, bdf)
        return False
    holder = ctx.xs.read(libxl_pci_path(bdf, "domid"))
    if ctx.kernel.driver_of(bdf) != "pciback" or holder == str(domid):
        msg = f"PCI device {_short(bdf)} is not assignable"
        _add_failed(ctx, domid, bdf, (1677, "libxl__device_pci_add", msg))
        return False
    if holder is not None:  # Xen refuses a device another domain owns (Xen lab)
        msg = "xc_assign_device failed: Device or resource busy"
        _add_failed(ctx, domid, bdf, (1529, "pci_add_dm_done", msg))
        return False
    if not dom["passthrough"]:
        msg = "xc_assign_device failed: Operation not supported"
        _add_failed(ctx, domid, bdf, (1529, "pci_add_dm_done", msg))
        return False
    if bdf in ctx.xen["quarantined"]:
        ctx.xen["quarantined"].remove(bdf)
    if spec.permissive:
        ctx.kernel.write(paths.drv("pciback", "permissive"), bdf)
    dom["pci"].append(bdf)
    dom.setdefault("opts", {})[bdf] = _opts(spec)
    ctx.xs.write(libxl_pci_path(bdf, "domid"), str(domid))
    guest.changed(ctx, dom)
    _write_backend(ctx, domid)
    return True


def _opts(spec: PciSpec) -> str:
    """libxl's `opts-N`: "msitranslate=%d,power_mgmt=%d,permissive=%d,rdm_policy=%s"."""
    policy = spec.rdm_policy or "strict"
    return (f"msitranslate={int(spec.msitranslate)},power_mgmt={int(spec.power_mgmt)},"
            f"permissive={int(spec.permissive)},rdm_policy={policy}")


def _write_backend(ctx: XlContext, domid: int) -> None:
    dom = domains(ctx.xen)[str(domid)]
    be = f"{BACKEND}/{domid}/0"
    ctx.xs.rm(be)
    if not dom["pci"]:
        ctx.xs.rm(f"{BACKEND}/{domid}")
        return
    ctx.xs.write(f"{be}/domain", dom["name"])
    ctx.xs.write(f"{be}/state", "4")  # the simulated guest takes a hot-plug at once
    ctx.xs.write(f"{be}/num_devs", str(len(dom["pci"])))
    opts = dom.get("opts", {})
    for i, bdf in enumerate(dom["pci"]):
        ctx.xs.write(f"{be}/key-{i}", bdf)
        ctx.xs.write(f"{be}/dev-{i}", bdf)
        ctx.xs.write(f"{be}/opts-{i}", opts.get(bdf, _opts(PciSpec(address=None))))
        ctx.xs.write(f"{be}/state-{i}", "3")
        guest_bdf = dom.get("guest", {}).get("slots", {}).get(bdf)
        if guest_bdf:  # pciback's vpci address, written as "0000:00:01.00" (Xen lab)
            ctx.xs.write(f"{be}/vdev-{i}", f"{guest_bdf[:-1]}{int(guest_bdf[-1]):02x}")


def _detach(ctx: XlContext, domid: int, bdf: str) -> None:
    """Give a device back to quarantine (DOMID_IO), as libxl does on detach and destroy."""
    dom = domains(ctx.xen)[str(domid)]
    dom["pci"].remove(bdf)
    dom.get("opts", {}).pop(bdf, None)
    ctx.xs.rm(libxl_pci_path(bdf, "domid"))
    if bdf not in ctx.xen["quarantined"]:
        ctx.xen["quarantined"].append(bdf)
    guest.changed(ctx, dom)
    _write_backend(ctx, domid)


def create(ctx: XlContext, args: list[str]) -> None:
    """xl create FILE: the domain appears at once (no guest runs)."""
    files = [a for a in args if not a.startswith("-")]
    if not ctx.has_args("create", files):
        return
    path = files[0]
    ctx.res.err.append(f"Parsing config from {path}")
    try:
        with open(host_path(ctx.kernel.root, path), "rb") as f:  # the file `config` edits
            data = f.read()
    except OSError as exc:
        ctx.res.err.append(f"Failed to read config file: {path}: {exc.strerror}")
        ctx.res.code = 1
        return
    try:
        cfg = parse_config(data)
    except InputError as exc:
        ctx.res.err.append(f"{path}: config parsing error: {exc.line()}")
        ctx.res.code = 1
        return
    name = cfg.get_string("name")
    if not name:
        ctx.res.err.append("Domain name must be specified.")
        ctx.res.code = 1
        return
    pci = effective_pci(cfg)
    if not pci.ok:
        ctx.res.err.append(f"{pci.error}")
        ctx.res.code = 1
        return
    specs = [s for s in pci.devices if s.address is not None]
    bdfs = [str(s.address) for s in specs]
    asked = cfg.get_string("passthrough")
    passthrough = bool(bdfs) or asked in ("enabled", "sync_pt", "share_pt")
    if passthrough and not ctx.xen["iommu"]:
        ctx.res.err.append(
            "libxl: error: libxl_create.c:1160:libxl__domain_config_setdefault: "
            "passthrough not supported on this platform"
        )
        ctx.res.err.append("")
        ctx.res.code = 6
        return
    domid = int(ctx.xen.setdefault("next_domid", 1))
    ctx.xen["next_domid"] = domid + 1
    memory = cfg.get_long("memory")[1] or 128
    vcpus = cfg.get_long("vcpus")[1] or 1
    domains(ctx.xen)[str(domid)] = {
        "name": name,
        "pci": [],
        "passthrough": passthrough,
        "asked": asked,
        "type": cfg.get_string("type") or "pv",
        "memory": memory,
        "vcpus": vcpus,
    }
    guest.boot(ctx, domains(ctx.xen)[str(domid)])
    for spec, bdf in zip(specs, bdfs, strict=True):
        if not _attach(ctx, domid, bdf, spec):
            who = f"Domain {domid}:"
            ctx.res.err.extend(
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
            _destroy(ctx, domid)
            ctx.res.code = 3
            return
    ctx.xs.write(f"/local/domain/{domid}/name", name)
    ctx.xs.write(f"/local/domain/{domid}/domid", str(domid))


def _destroy(ctx: XlContext, domid: int) -> None:
    for bdf in list(domains(ctx.xen)[str(domid)]["pci"]):
        _detach(ctx, domid, bdf)
    del domains(ctx.xen)[str(domid)]
    ctx.xs.rm(f"/local/domain/{domid}")


def destroy(ctx: XlContext, args: list[str]) -> None:
    domid = _domain_operand(ctx, "destroy", args)
    if domid is None:
        return
    if domid == 0:
        ctx.res.err.append("Cannot destroy privileged domain 0.")
        ctx.res.code = 1
        return
    if str(domid) not in domains(ctx.xen):
        ctx.res.err.append(
            f"libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain {domid}:"
            "Non-existant domain"
        )
        ctx.res.code = 1
        return
    _destroy(ctx, domid)


def pci_attach(ctx: XlContext, args: list[str]) -> None:
    operands = _device_operands(ctx, "pci-attach", args)
    if operands is None:
        return
    domid, bdf = operands
    if domid == 0:
        if ctx.kernel.driver_of(bdf) != "pciback":
            reason = (1677, "libxl__device_pci_add", f"PCI device {_short(bdf)} is not assignable")
        else:
            reason = (1529, "pci_add_dm_done", "xc_assign_device failed: Invalid argument")
        _add_failed(ctx, 0, bdf, reason)
        ok = False
    else:
        ok = _attach(ctx, domid, bdf, _spec(args[1]))
    if not ok:
        ctx.res.err.append(
            "libxl: error: libxl_device.c:1486:device_addrm_aocomplete: unable to add device"
        )
        ctx.res.code = 1


def pci_detach(ctx: XlContext, args: list[str]) -> None:
    rest = [a for a in args if a != "-f"]
    operands = _device_operands(ctx, "pci-detach", rest)
    if operands is None:
        return
    domid, bdf = operands
    dom = domains(ctx.xen).get(str(domid))
    if dom is None or bdf not in dom["pci"]:  # the Xen lab's one line, also for no device
        ctx.res.err.append(
            "libxl: error: libxl_device.c:1486:device_addrm_aocomplete: unable to remove device"
        )
        ctx.res.code = 1
        return
    _detach(ctx, domid, bdf)


def pci_list(ctx: XlContext, args: list[str]) -> None:
    domid = _domain_operand(ctx, "pci-list", args)
    if domid is None:
        return
    dom = domains(ctx.xen).get(str(domid))
    if dom is None or not dom["pci"]:
        return
    ctx.res.out.append("Vdev Device")
    # a PV guest's devices have no vdevfn in libxl (pciback's vpci picks the guest slot)
    ctx.res.out.extend(f"00.0 {bdf}" for bdf in dom["pci"])


def _long(ctx: XlContext, args: list[str]) -> None:
    """`xl list -l [DOMAIN]`: libxl's JSON of each domU's config (the keys pcipass reads)."""
    wanted = [a for a in args if not a.startswith("-")]
    table = domains(ctx.xen)
    ids = sorted(table, key=int)
    if wanted:
        domid = find_domain(ctx, wanted[0])
        if domid is None:
            return
        ids = [i for i in ids if i == str(domid)]
    doc = [{"domid": int(i), "config": {
        "c_info": {"type": table[i].get("type", "pv"), "name": table[i]["name"],
                   # libxl keeps the key only when the config set it (Xen lab)
                   **({"passthrough": table[i]["asked"]} if table[i].get("asked") else {})},
        "pcidevs": [{"dev": int(b[8:10], 16), "bus": int(b[5:7], 16), "func": int(b[11], 16)}
                    for b in table[i]["pci"]]}} for i in ids]
    ctx.res.out.extend(json.dumps(doc, indent=4).splitlines())


def list_domains(ctx: XlContext, args: list[str]) -> None:
    if "-l" in args or "--long" in args:
        _long(ctx, args)
        return
    ctx.res.out.append("Name                                        ID   Mem VCPUs\tState\tTime(s)")
    rows = [("Domain-0", 0, 1024, ctx.xen["nr_cpus"], "r-----")]
    rows += [
        (d["name"], int(i), d["memory"], d["vcpus"], "-b----")
        for i, d in sorted(domains(ctx.xen).items(), key=lambda kv: int(kv[0]))
    ]
    ctx.res.out.extend(
        f"{name:<40} {domid:>5} {mem:>5} {vcpus:>5}     {state} {1.0:9.1f}"
        for name, domid, mem, vcpus, state in rows
    )
