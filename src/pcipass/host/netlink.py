"""A PF's VF settings over rtnetlink (pyroute2), the one place pcipass speaks netlink.

`read_vfs` is `RTM_GETLINK` with the VF extension (`ext_mask=1`, RTEXT_FILTER_VF) and
returns each VF's `VfState` from `IFLA_VFINFO_LIST`; `set_vf` is one `RTM_SETLINK`
carrying one `IFLA_VF_INFO`. The kernel's refusal is raised as `VfSetFailed` with its errno
(the driver decides: igb, for one, has no link-state and no minimum rate). pyroute2 is
imported on first use: only this machine's netlink needs it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from pcipass.errors import OperationError

#: IFLA_VF_LINK_STATE_AUTO / _ENABLE / _DISABLE (include/uapi/linux/if_link.h).
LINK_STATES: dict[int, str] = {0: "auto", 1: "enable", 2: "disable"}
LINK_STATE_CODES: dict[str, int] = {name: code for code, name in LINK_STATES.items()}
#: The settings a `VfState` holds, in `ip link show`'s order (the keys of `set_vf`).
KEYS = ("mac", "vlan", "qos", "spoofchk", "trust", "link_state", "min_tx_rate", "max_tx_rate")
#: Netlink carries u32 "not reported" for spoofchk/trust on drivers without them.
UNREPORTED = 0xFFFFFFFF


@dataclass(frozen=True)
class VfState:
    """One VF as its PF reports it (None: the driver does not report the setting)."""

    vf: int
    mac: str | None = None
    vlan: int | None = None
    qos: int | None = None
    spoofchk: bool | None = None
    trust: bool | None = None
    link_state: str | None = None
    min_tx_rate: int | None = None
    max_tx_rate: int | None = None

    def settings(self) -> dict[str, Any]:
        """The settings as `set_vf` takes them (key → value)."""
        return {k: getattr(self, k) for k in KEYS}


class VfSetFailed(OperationError):
    """The kernel refused a VF setting; `errno` is its answer."""

    def __init__(self, ifname: str, vf: int, what: str, err: int) -> None:
        name = errno.errorcode.get(err, str(err))
        super().__init__(
            f"{ifname} refused {what} for VF {vf}: {name} ({os.strerror(err)})",
            "the PF's driver does not take that setting; see `dmesg` for its reason",
        )
        self.errno = err


class NoSuchLink(OperationError):
    """The PF's interface is not (or no longer) on this machine."""

    def __init__(self, ifname: str) -> None:
        super().__init__(f"no network interface {ifname} on this machine",
                         "check `ip link`; the PF's driver names its interface")


def text(value: Any) -> str | None:
    """A setting as checks and tables show it: on/off for flags, lower-case MACs."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value).lower()


def describe(settings: dict[str, Any]) -> str:
    """Settings as `ip link set DEV vf N ...` words (`mac 02:.. vlan 10 qos 0 ...`)."""
    words: list[str] = []
    for key in KEYS:
        if key not in settings:
            continue
        value = settings[key]
        word = {"link_state": "state"}.get(key, key)
        words += [word, str(text(value))]
    return " ".join(words)


def state_of(vf: int, attrs: dict[str, dict[str, Any]]) -> VfState:
    """A `VfState` from one decoded IFLA_VF_INFO (attribute name → its fields)."""

    def field(attr: str, key: str) -> Any:
        value = attrs.get(attr, {}).get(key)
        return None if value is None or value == UNREPORTED else value

    mac = field("IFLA_VF_MAC", "mac")
    spoof, trust, link = (field("IFLA_VF_SPOOFCHK", "spoofchk"),
                          field("IFLA_VF_TRUST", "trust"),
                          field("IFLA_VF_LINK_STATE", "link_state"))
    rate = attrs.get("IFLA_VF_RATE")
    return VfState(
        vf=vf,
        mac=str(mac).lower() if mac is not None else None,
        vlan=field("IFLA_VF_VLAN", "vlan"),
        qos=field("IFLA_VF_VLAN", "qos"),
        spoofchk=None if spoof is None else bool(spoof),
        trust=None if trust is None else bool(trust),
        link_state=None if link is None else LINK_STATES.get(link, str(link)),
        min_tx_rate=field("IFLA_VF_RATE", "min_tx_rate") if rate else None,
        max_tx_rate=field("IFLA_VF_RATE", "max_tx_rate") if rate else None,
    )


def read_vfs(ifname: str) -> list[VfState]:
    """Every VF of the PF interface `ifname`, in VF order (`NoSuchLink` if it is gone)."""
    from pyroute2 import IPRoute  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy

    with IPRoute() as ipr:
        index = _index(ipr, ifname)
        msg = ipr.get_links(index, ext_mask=1)[0]
    vflist = msg.get_attr("IFLA_VFINFO_LIST")
    states: list[VfState] = []
    for info in vflist.get_attrs("IFLA_VF_INFO") if vflist is not None else []:
        attrs = {name: dict(value) for name, value in info["attrs"]
                 if name not in ("IFLA_VF_STATS", "IFLA_VF_VLAN_LIST")}
        vf = attrs.get("IFLA_VF_MAC", {}).get("vf", len(states))
        states.append(state_of(int(vf), attrs))
    return sorted(states, key=lambda s: s.vf)


def vf_message(vf: int, settings: dict[str, Any]) -> dict[str, Any]:
    """pyroute2's `vf=` argument for `settings`: vlan with qos, min with max rate."""
    spec: dict[str, Any] = {"vf": vf}
    if "mac" in settings:
        spec["mac"] = settings["mac"]
    if "vlan" in settings or "qos" in settings:
        spec["vlan"] = {"vlan": settings.get("vlan", 0), "qos": settings.get("qos", 0)}
    for key in ("spoofchk", "trust"):
        if key in settings:
            spec[key] = int(bool(settings[key]))
    if "link_state" in settings:
        spec["link_state"] = LINK_STATE_CODES[settings["link_state"]]
    if "min_tx_rate" in settings or "max_tx_rate" in settings:
        spec["rate"] = {"min_tx_rate": settings.get("min_tx_rate", 0),
                        "max_tx_rate": settings.get("max_tx_rate", 0)}
    return spec


def set_vf(ifname: str, vf: int, settings: dict[str, Any]) -> None:
    """Apply `settings` to VF `vf` of `ifname` in one RTM_SETLINK (`VfSetFailed`)."""
    from pyroute2 import IPRoute  # noqa: PLC0415
    from pyroute2.netlink.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415
        NetlinkError,
    )

    with IPRoute() as ipr:
        index = _index(ipr, ifname)
        try:
            ipr.link("set", index=index, vf=vf_message(vf, settings))
        except NetlinkError as exc:
            raise VfSetFailed(ifname, vf, describe(settings), exc.code) from exc


def _index(ipr: Any, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise NoSuchLink(ifname)
    return int(found[0])
