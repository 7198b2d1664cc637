"""What Xen knows, asked through a `Host`: `xl info` in a dom0, libxl's keys in xenstore.

On another host's tree (`--root`) no program can be asked: dom0-ness comes from the
tree (``proc/xen/capabilities``), `xl info` says nothing and xenstore is empty. The
domain readers (`xl list`, `xl pci-list`) raise `XlUnavailable` instead: "xl could not be
asked" is not "no domain holds anything".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from pcipass.errors import OperationError
from pcipass.host import paths
from pcipass.host.base import CommandFailed, Host, NotThisMachine, RunResult


@dataclass(frozen=True)
class XenDevice:
    """libxl's memory of one device in xenstore `/libxl/pci/<key>/`."""

    driver: str | None = None
    name: str | None = None
    domid: int | None = None


def xl_info(host: Host) -> str | None:
    """`xl info` output in a dom0 (empty on a dom0's tree, where xl cannot be asked), None
    elsewhere or when xl does not answer (a domU has no working xl)."""
    caps = host.try_read_text(paths.XEN_CAPABILITIES) or ""
    if "control_d" not in caps and host.try_read_text(paths.HYPERVISOR_TYPE) != "xen":
        return None
    try:
        result = host.run(["xl", "info"])
    except NotThisMachine:
        return "" if "control_d" in caps else None
    except CommandFailed:
        return None
    return result.stdout if result.returncode == 0 else None


def xen_directio(info: str) -> bool | None:
    """Whether `xl info` virt_caps says Xen can pass devices through (None: not said)."""
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "virt_caps":
            return "directio" in value
    return None


def xenstore_read(host: Host, path: str) -> str | None:
    """One xenstore value, or None if the key (or xenstore) is absent: in-process
    (`Host.xenstore`), else `xenstore-read`."""
    xs = host.xenstore()
    if xs is not None:
        try:
            return xs.read(path)
        except OSError:  # xenstored failed: as `xenstore-read` failing
            return None
    try:
        result = host.run(["xenstore-read", path])
    except CommandFailed:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def unsanitise(text: str) -> str:
    """A value as xenstore holds it, from the quoted form `xenstore-ls` (and `xenstore-read`)
    print: `\\\\`, `\\t`, `\\n`, `\\r`, `\\xNN` and `\\NNN` (octal) escapes undone
    (xenstore_client.c `sanitise_value`)."""
    if "\\" not in text:
        return text
    simple = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}

    def one(m: re.Match[str]) -> str:
        esc = m[1]
        if esc in simple:
            return simple[esc]
        return chr(int(esc[1:], 16) if esc[0] == "x" else int(esc, 8))

    return re.sub(r"\\(x[0-9a-fA-F]{2}|[0-7]{3}|.)", one, text)


def xenstore_tree(host: Host, *paths: str) -> dict[str, str]:
    """Every key under `paths` (full path → value); {} when xenstore cannot be asked."""
    return _tree(host, paths) or {}


def _tree(host: Host, paths: tuple[str, ...]) -> dict[str, str] | None:
    """Every key under `paths`, in-process (`Host.xenstore`), else in one `xenstore-ls -f
    PATH...` call; None when xenstore could not be asked (an absent path is no failure).

    xenstore-ls stops at the first path that does not exist (`xs_directory (PATH): No such
    file or directory`, exit 1), keeping what it printed before: the paths after it are then
    asked again, so an absent path costs one more call and hides nothing."""
    xs = host.xenstore()
    if xs is not None:
        try:
            return xs.tree(paths)
        except OSError:  # xenstored failed, not an absent key: nothing is concluded
            return None
    found: dict[str, str] = {}
    left = list(paths)
    while left:
        try:
            result = host.run(["xenstore-ls", "-f", *left])
        except CommandFailed:
            return None
        for line in result.stdout.splitlines():
            path, sep, value = line.partition(" = ")
            if sep and value.startswith('"') and value.endswith('"'):
                found[path] = unsanitise(value[1:-1])
        if result.returncode == 0:
            return found
        failed = next((i for i, p in enumerate(left) if f"({p})" in result.stderr), None)
        if failed is None:  # not an absent path: xenstore itself failed
            return None
        left = left[failed + 1:]
    return found


def xen_devices(host: Host) -> dict[str, XenDevice]:
    """Every device libxl keeps keys for (old `pciback` node first, `pci` wins): BDF → facts.

    xenstore `/libxl/pci/DDDD-BB-DD-F/{driver_path,name,domid}` (and `/libxl/pciback/...`
    before Xen 4.15), read in one `xenstore-ls -f /libxl`."""
    keys = xenstore_tree(host, "/libxl")
    out: dict[str, XenDevice] = {}
    for node in ("pciback", "pci"):
        prefix = f"/libxl/{node}/"
        names = {p[len(prefix):].split("/")[0] for p in keys if p.startswith(prefix)}
        for key in sorted(names):
            parts = key.split("-")
            if len(parts) != 4:
                continue
            bdf = f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"
            base = f"{prefix}{key}"
            path = keys.get(f"{base}/driver_path")
            domid = keys.get(f"{base}/domid") if node == "pci" else None
            prev = out.get(bdf, XenDevice())
            out[bdf] = XenDevice(
                driver=os.path.basename(path.rstrip("/")) if path else prev.driver,
                name=(keys.get(f"{base}/name") if node == "pci" else None) or prev.name,
                domid=int(domid) if domid and domid.isdigit() else None,
            )
    return out


# -- domains ------------------------------------------------------------------
BACKEND_PCI = "/local/domain/0/backend/pci"


@dataclass(frozen=True)
class XlPci:
    """One device a domain holds, as pciback's backend keys say: vdev and options."""

    bdf: str
    vdev: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    """`opts-N`, split: msitranslate, power_mgmt, permissive, rdm_policy (libxl's order)."""
    vslot: int | None = None
    """The guest slot the spec asked for (libxl's `vdevfn-N` >> 3, written only when one
    was given); None when pciback or the device model picked it."""
    state: str | None = None
    """Its xenbus state in the backend (`state-N`): 5 (Closing) while libxl removes it."""


@dataclass(frozen=True)
class XlDomain:
    """One row of `xl list`, plus what `xl list -l` says of its type and passthrough."""

    domid: int
    name: str
    state: str
    """xl's state column, `rbpscd` with `-` for each flag not set (e.g. `-b----`)."""
    type: str | None = None
    """`pv`, `pvh` or `hvm` (None: not known, e.g. dom0)."""
    passthrough: str | None = None
    """libxl's `c_info.passthrough`: `disabled` when created without pci=[…] or
    `passthrough = "enabled"` (then xl cannot hot-plug into it), `enabled`, `sync_pt`..."""
    pci: tuple[XlPci, ...] = ()
    """The devices it holds (as `xl pci-list` lists them), with their backend options."""
    backend: str | None = None
    """The xenbus state of its PCI backend (`RECONFIGURING` while its pcifront takes a
    hot-plug; None: it has no PCI backend, or it was not read)."""

    @property
    def flags(self) -> frozenset[str]:
        """The state flags set: r(unning) b(locked) p(aused) s(hutdown) c(rashed) d(ying)."""
        return frozenset(c for c in self.state if c != "-")


class XlUnavailable(OperationError):
    """xl could not be asked (another host's tree, no xl, or xl failed)."""


def ask_xl(host: Host, argv: list[str]) -> RunResult:
    """xl's answer to `argv`, or `XlUnavailable` saying why there is none."""
    said = " ".join(argv)
    try:
        result = host.run(argv)
    except NotThisMachine as err:
        raise XlUnavailable(f"`{said}` cannot be asked about the tree under --root",
                            "Xen domains are read only on the host itself: run pcipass "
                            "in its dom0, without --root") from err
    except CommandFailed as err:
        raise XlUnavailable(f"`{said}` could not run: {err.what}",
                            "run pcipass in a Xen dom0 with xl installed") from err
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise XlUnavailable(f"`{said}` failed: {why}",
                            "check that this is a Xen dom0 and xl works (`xl list`)")
    return result


def xl_domains(host: Host) -> list[XlDomain]:
    """Every domain `xl list` shows (dom0 first); `XlUnavailable` when xl does not answer."""
    result = ask_xl(host, ["xl", "list"])
    found: list[XlDomain] = []
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6 or not fields[-5].isdigit():
            continue
        found.append(XlDomain(domid=int(fields[-5]), name=" ".join(fields[:-5]),
                              state=fields[-2]))
    return found


def xl_domain_config(host: Host, domid: int) -> tuple[str | None, str | None]:
    """(type, passthrough) from `xl list -l DOMID` (libxl's JSON of the domain's config).

    libxl writes `c_info.passthrough` only when the config set it (measured: `"enabled"`
    for `passthrough = "enabled"`, no key otherwise); without it, a domain created without
    pci=[…] (no `pcidevs`) has passthrough disabled, and one created with devices has it
    on (None: not said)."""
    try:
        result = host.run(["xl", "list", "-l", str(domid)])
    except CommandFailed:
        return None, None
    try:
        doc = json.loads(result.stdout) if result.returncode == 0 else []
    except ValueError:
        return None, None
    for entry in doc if isinstance(doc, list) else []:
        config = entry.get("config", {}) if isinstance(entry, dict) else {}
        c_info = config.get("c_info", {}) if isinstance(config, dict) else {}
        if entry.get("domid") != domid or not isinstance(c_info, dict):
            continue
        kind, passthrough = c_info.get("type"), c_info.get("passthrough")
        if passthrough is None:
            passthrough = None if config.get("pcidevs") else "disabled"
        return (kind if isinstance(kind, str) else None,
                passthrough if isinstance(passthrough, str) else None)
    return None, None


HEX = frozenset("0123456789abcdefABCDEF")


def backend_pci(host: Host, domid: int) -> list[XlPci]:
    """The devices a domain holds, as `xl pci-list DOMID` lists them: libxl's
    `libxl_device_pci_list` reads dom0's pci backend of the domain,
    `/local/domain/0/backend/pci/DOMID/0/{num_devs,dev-N,vdev-N,vdevfn-N,opts-N}`, and so does
    this, in-process (`XlUnavailable` when xenstore cannot be asked)."""
    return _backend_devices(backend_keys(host, domid))


def pci_list(host: Host, domid: int) -> list[str]:
    """The BDFs `xl pci-list DOMID` would print, read as libxl reads them (`backend_pci`)."""
    return [p.bdf for p in backend_pci(host, domid)]


def backend_keys(host: Host, domid: int) -> dict[str, str]:
    """The keys of the domain's pci backend, relative to it (`num_devs`, `state`, ...); empty
    when it has none, `XlUnavailable` when xenstore cannot be asked."""
    base = f"{BACKEND_PCI}/{domid}/0"
    keys = _tree(host, (base,))
    if keys is None:
        raise XlUnavailable(f"xenstore could not be read ({base})",
                            "run pcipass in a Xen dom0 where xenstored runs")
    return {p[len(base) + 1:]: v for p, v in keys.items() if p.startswith(base + "/")}


def _backend_devices(keys: dict[str, str]) -> list[XlPci]:
    count = int(keys["num_devs"]) if keys.get("num_devs", "").isdigit() else 0
    out: list[XlPci] = []
    for i in range(count):
        bdf = keys.get(f"dev-{i}")
        if not bdf:
            continue
        opts = tuple(tuple(kv.split("=", 1)) for kv in keys.get(f"opts-{i}", "").split(",")
                     if "=" in kv)
        vdevfn = keys.get(f"vdevfn-{i}", "")
        vslot = int(vdevfn, 16) >> 3 if vdevfn and all(c in HEX for c in vdevfn) else None
        out.append(XlPci(bdf=bdf, vdev=keys.get(f"vdev-{i}"),
                         options=tuple((k, v) for k, v in opts), vslot=vslot or None,
                         state=keys.get(f"state-{i}")))
    return out


def read_domains(host: Host, only: str | None = None, config: bool = True) -> list[XlDomain]:
    """Every domain with its type, passthrough and devices: `xl list`, then for each domU
    (or only the one named `only`, by name or id) `xl list -l` (not with `config` False:
    type and passthrough stay None) and its pci backend's keys, in-process (the devices as
    `xl pci-list` lists them, their options, the backend's xenbus state). `XlUnavailable`
    when xl or xenstore does not answer (not "it holds nothing")."""
    found: list[XlDomain] = []
    for row in xl_domains(host):
        if row.domid == 0 or only is not None and only.strip() not in (row.name, str(row.domid)):
            found.append(row)
            continue
        kind, passthrough = xl_domain_config(host, row.domid) if config else (None, None)
        keys = backend_keys(host, row.domid)
        found.append(XlDomain(row.domid, row.name, row.state, kind, passthrough,
                              tuple(_backend_devices(keys)), keys.get("state")))
    return found


#: xenbus states of a PCI backend while its guest's pcifront takes a hot-plug in or out:
#: 7 Reconfiguring, 8 Reconfigured (4 Connected when done). The Xen lab measured libxl's
#: "Backend ... not ready" for the next hot-plug while a slow guest left it in 7 or 8.
RECONFIGURING = ("7", "8")


#: A device's `state-N` while libxl removes it: 5 Closing. libxl (Xen 4.17 libxl_pci.c,
#: libxl__device_pci_remove_xenstore) writes it, waits up to 10 s (100 polls, 0.1 s apart,
#: libxl__wait_for_backend) for the guest's pcifront, and only then removes the device's
#: keys; when the wait runs out it logs "Backend ... not ready", leaves the keys, and
#: pci_remove_done ignores the failure: xl exits 0, and `xl pci-list` keeps the device.
CLOSING = "5"


def left_closing(host: Host, domid: int) -> list[str]:
    """The devices the domain's pci backend still lists as Closing (`CLOSING`)."""
    try:
        held = backend_pci(host, domid)
    except XlUnavailable:
        return []
    return [p.bdf for p in held if p.state == CLOSING]


def backend_state(host: Host, domid: int) -> str | None:
    """The xenbus state of the domain's PCI backend (None: it has none)."""
    return xenstore_read(host, f"{BACKEND_PCI}/{domid}/0/state")
