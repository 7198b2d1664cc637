"""Requests → plans for `vf set` and `vf reset`: a VF's settings on its PF. Pure.

`SETTINGS` is the one table of VF settings: the CLI's flags, the netlink keys, the parsers
and their ranges come from it. A change is one `vf-set` step per netlink attribute (MAC;
VLAN with its QoS; spoof checking; trust; link state; the rates together), because the
kernel applies a message's attributes in turn and stops at the first it refuses: separate
steps let the executor undo the ones taken. Before a VF's first change its settings as the
PF reports them are saved (`vf-save`, as sriov-cni keeps OrigVfState); `vf reset` restores
exactly those and forgets them. What the PF's driver is known to refuse (`DRIVER_REFUSES`,
measured in the kernel lab) is refused before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pcipass.errors import InputError, OperationError
from pcipass.host.netlink import KEYS, VfState
from pcipass.host.netlink import text as setting_text
from pcipass.model.device import Device, HostModel
from pcipass.model.views import vf_items
from pcipass.ops.sriov import forget_step, sriov_pf
from pcipass.run.plan import Action, Check, CheckKind, Plan, Step, vf_check_path

MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
U32 = 0xFFFFFFFF
DIGITS = re.compile(r"[0-9]{1,10}", re.ASCII)
"""A setting's number: ASCII digits only (no sign, `_`, spaces or other scripts' digits)."""


def parse_mac(text: str) -> str:
    """A unicast, non-zero MAC in lower case."""
    if not MAC_RE.match(text):
        raise InputError(f"--mac {text!r} is not a MAC address",
                         "give six hex octets, e.g. 02:11:22:33:44:55")
    mac = text.lower()
    if int(mac[:2], 16) & 1:
        raise InputError(f"--mac {mac} is a multicast address",
                         "a VF needs a unicast MAC (the first octet even, e.g. 02:...)")
    if mac == "00:00:00:00:00:00":
        raise InputError("--mac 00:00:00:00:00:00 is no address",
                         "give a unicast MAC; `pcipass vf reset` restores the original")
    return mac


def _number(flag: str, low: int, high: int, unit: str = "") -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text) if DIGITS.fullmatch(text) else None
        if value is None or not low <= value <= high:
            raise InputError(f"{flag} {text!r} is not a number from {low} to {high}{unit}",
                             f"use {low}-{high}{unit}")
        return value
    return parse


def _choice(flag: str, words: dict[str, Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if text not in words:
            raise InputError(f"{flag} {text!r} is not one of {', '.join(words)}",
                             f"use {' or '.join(words)}")
        return words[text]
    return parse


ON_OFF = {"on": True, "off": False}


@dataclass(frozen=True)
class VfSetting:
    """One VF setting: its CLI flag, netlink key, parser, the `ip link` word group it
    travels in, and its help."""

    flag: str
    key: str
    parse: Callable[[str], Any]
    group: str
    metavar: str
    help: str


SETTINGS: tuple[VfSetting, ...] = (
    VfSetting("--mac", "mac", parse_mac, "mac", "MAC", "The VF's MAC (unicast, not zero)."),
    VfSetting("--vlan", "vlan", _number("--vlan", 0, 4094), "vlan", "ID",
              "Port VLAN 0-4094 (0: none); sent with --qos."),
    VfSetting("--qos", "qos", _number("--qos", 0, 7), "vlan", "N",
              "802.1p priority 0-7 of the port VLAN."),
    VfSetting("--spoofchk", "spoofchk", _choice("--spoofchk", ON_OFF), "spoofchk", "on|off",
              "Source-MAC spoof checking."),
    VfSetting("--trust", "trust", _choice("--trust", ON_OFF), "trust", "on|off",
              "Trusted VF (may change its MAC, promiscuous mode)."),
    VfSetting("--link-state", "link_state",
              _choice("--link-state", {w: w for w in ("auto", "enable", "disable")}),
              "link_state", "auto|enable|disable", "The VF's link: follow the PF, up, down."),
    VfSetting("--min-rate", "min_tx_rate", _number("--min-rate", 0, U32, " Mb/s"), "rate",
              "MBPS", "Minimum TX rate in Mb/s (0: none); sent with --max-rate."),
    VfSetting("--max-rate", "max_tx_rate", _number("--max-rate", 0, U32, " Mb/s"), "rate",
              "MBPS", "Maximum TX rate in Mb/s (0: unlimited)."),
)
BY_KEY = {s.key: s for s in SETTINGS}
GROUPS = tuple(dict.fromkeys(s.group for s in SETTINGS))
assert set(BY_KEY) == set(KEYS), "SETTINGS and netlink.KEYS name the same settings"

#: What a PF driver refuses: the netlink key, the values refused (`REFUSED` names them) and
#: the kernel's errno name. igb: measured in the kernel lab (82576, Linux 6.1). ixgbe: read
#: in Linux's ixgbe_ndo_set_vf_bw (drivers/net/ethernet/intel/ixgbe/ixgbe_sriov.c), which
#: also answers EINVAL to any rate while the link is down or not at 10 Gb/s (left to the
#: kernel: the model does not know the link's speed).
DRIVER_REFUSES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "igb": (("link_state", "any", "EOPNOTSUPP"), ("min_tx_rate", "nonzero", "EINVAL")),
    "ixgbe": (("min_tx_rate", "nonzero", "EINVAL"), ("max_tx_rate", "1-10", "EINVAL")),
}
REFUSED: dict[str, tuple[str, str, Callable[[Any], bool]]] = {
    "any": ("has no VF {flag} setting", "leave out {flag}", lambda v: True),
    "nonzero": ("has no VF {flag} setting", "leave out {flag}", bool),
    "1-10": ("refuses {flag} 1-10 (its least rate limit is 11 Mb/s)",
             "give {flag} 0 (unlimited) or 11 or more", lambda v: 0 < int(v) <= 10),
}
"""A refused-values name → the refusal's words, its fix and the test of a value."""


@dataclass(frozen=True)
class SetRequest:
    """`vf set PF VF --FLAG VALUE...`: the raw texts by netlink key."""

    pf: str
    vf: int
    values: dict[str, str]


@dataclass(frozen=True)
class VfTarget:
    """A VF named as PF + index: the PF, its interface, the VF's index and address."""

    pf: Device
    ifname: str
    index: int
    bdf: str


def pf_netdev(model: HostModel, text: str) -> tuple[Device, str]:
    """The SR-IOV PF `text` names and its network interface (`InputError` without one)."""
    pf = sriov_pf(model, text)
    if pf.driver is None:
        raise OperationError(f"{pf.bdf} has no driver bound, and VF settings go through "
                             "the PF's driver",
                             f"bind it first (e.g. `echo {pf.bdf} > /sys/bus/pci/drivers_probe`)")
    if not pf.net:
        raise InputError(f"{pf.bdf} has no network interface, so its VFs have no netlink "
                         "settings", "VF settings are for NIC PFs (`pcipass sriov list`)")
    return pf, pf.net[0].name


def target(model: HostModel, text: str, index: int) -> VfTarget:
    """VF `index` of the PF `text`, or an `InputError` (past the enabled count)."""
    pf, ifname = pf_netdev(model, text)
    items = {i.index: i for i in vf_items(model, pf)}
    count = pf.sriov.num_vfs if pf.sriov is not None else 0
    if index < 0 or index >= (count or 0) or index not in items:
        have = f"VFs 0-{count - 1}" if count else "no VF enabled"
        raise InputError(f"{pf.bdf} has no VF {index} ({have})",
                         f"`pcipass vf show {pf.bdf}` lists them" if count
                         else f"enable VFs first: `pcipass sriov enable {pf.bdf} --vfs N`")
    return VfTarget(pf, ifname, index, str(items[index].dev.bdf))


def pf_links(pfs: Iterable[Device], read: Callable[[str], list[VfState] | None]
             ) -> dict[str, list[VfState] | None]:
    """For `sriov list`: PF BDF → its VF states (`read`: `Host.vf_states`), asked only of
    PFs with a network interface and VFs enabled (None for the others: unknown)."""
    return {str(pf.bdf): read(pf.net[0].name) if pf.net and pf.sriov and pf.sriov.num_vfs
            else None for pf in pfs}


def parse_values(values: dict[str, str]) -> dict[str, Any]:
    """The requested settings, parsed by `SETTINGS` (`InputError` on the first bad one)."""
    if not values:
        raise InputError("nothing to set", "give one or more of "
                         + ", ".join(s.flag for s in SETTINGS))
    return {key: BY_KEY[key].parse(text) for key, text in values.items()}


def current_of(t: VfTarget, states: list[VfState] | None) -> VfState:
    """The VF's state as its PF reports it (`OperationError` when it cannot be read)."""
    if states is None:
        raise OperationError(f"the VF settings of {t.ifname} cannot be read on a host tree "
                             "(--root)", "run pcipass on that host")
    found = next((s for s in states if s.vf == t.index), None)
    if found is None:
        raise OperationError(f"{t.ifname} reports no VF {t.index} over netlink",
                             "check `ip link show " + t.ifname + "` and dmesg")
    return found


def set_plan(t: VfTarget, req: SetRequest, states: list[VfState] | None,
             saved: dict[str, Any] | None) -> Plan:
    """The plan that gives VF `t` the requested settings (saving its originals first)."""
    wanted = parse_values(req.values)
    _refuse_known(t, wanted)
    current = current_of(t, states)
    _refuse_min_over_max(wanted, current)
    command = f"vf set {t.pf.bdf} {t.index}"
    steps = _set_steps(t, current, wanted, "set")
    if not steps:
        return Plan(command, (), (f"VF {t.index} of {t.ifname} already has these settings",))
    save = [] if saved is not None else [_save(t, current)]
    return Plan(command, (*save, *steps))


def reset_plan(t: VfTarget, states: list[VfState] | None,
               saved: dict[str, Any] | None) -> Plan:
    """The plan that restores VF `t`'s saved original settings and forgets them."""
    command = f"vf reset {t.pf.bdf} {t.index}"
    if saved is None:
        return Plan(command, (), (f"no saved settings for VF {t.index} of {t.ifname} "
                                  "(pcipass never changed it): nothing to restore",))
    current = current_of(t, states)
    original = {k: v for k, v in saved.get("settings", {}).items()
                if k in BY_KEY and v is not None}
    steps = _set_steps(t, current, original, "restore")
    return Plan(command, (*steps, _forget(t, saved)))


def refuse_known(pf: Device, wanted: dict[str, Any]) -> None:
    """What PF's driver is known to refuse (`DRIVER_REFUSES`), before any VF exists (a
    declared VF setting): one `InputError`."""
    _refuse_known(VfTarget(pf, "", -1, ""), wanted)


def _refuse_known(t: VfTarget, wanted: dict[str, Any]) -> None:
    for key, refused, errname in DRIVER_REFUSES.get(t.pf.driver or "", ()):
        words, fix, hit = REFUSED[refused]
        if key in wanted and hit(wanted[key]):
            flag = BY_KEY[key].flag
            raise InputError(f"{t.pf.driver} ({t.pf.bdf}) {words.format(flag=flag)} "
                             f"(the kernel answers {errname})", fix.format(flag=flag))


def _refuse_min_over_max(wanted: dict[str, Any], current: VfState) -> None:
    """A minimum rate over the maximum (both set) is no rate at all."""
    now = current.settings()
    low, high = (wanted.get(k, now[k]) or 0 for k in ("min_tx_rate", "max_tx_rate"))
    if ("min_tx_rate" in wanted or "max_tx_rate" in wanted) and low and high and low > high:
        raise InputError(f"--min-rate {low} is over --max-rate {high}",
                         "give a minimum no higher than the maximum (0: none)")


def _set_steps(t: VfTarget, current: VfState, wanted: dict[str, Any], verb: str) -> list[Step]:
    """One step per netlink attribute group whose values differ from `current`."""
    now = current.settings()
    steps = []
    for group in GROUPS:
        keys = [s.key for s in SETTINGS if s.group == group]
        if not any(k in wanted and wanted[k] != now[k] for k in keys):
            continue
        # a group travels whole: the other half keeps its current value (0 if unreported)
        new = {k: wanted[k] if k in wanted else (now[k] or 0) for k in keys}
        old = {k: now[k] for k in keys if now[k] is not None}
        steps.append(_vf_set(t, new, old if len(old) == len(keys) else None, verb))
    return steps


def _checks(t: VfTarget, settings: dict[str, Any]) -> tuple[Check, ...]:
    return tuple(Check(CheckKind.VF, t.bdf, vf_check_path(t.ifname, t.index, k), setting_text(v))
                 for k, v in settings.items())


def _vf_set(t: VfTarget, new: dict[str, Any], old: dict[str, Any] | None, verb: str) -> Step:
    """Send `new`; undone by sending `old` (None: the PF did not report it, no undo)."""
    what = ", ".join(BY_KEY[k].flag.lstrip("-") for k in new)
    payload = {"ifname": t.ifname, "vf": t.index}
    undo = () if old is None else (
        Step(Action.VF_SET, f"restore {what} of VF {t.index} on {t.ifname}", bdf=t.bdf,
             path=t.ifname, payload=dict(payload, settings=old), expect=_checks(t, old)),)
    return Step(Action.VF_SET, f"{verb} {what} of VF {t.index} on {t.ifname}", bdf=t.bdf,
                path=t.ifname, payload=dict(payload, settings=new), expect=_checks(t, new),
                undo=undo)


def _snapshot(t: VfTarget, current: VfState) -> dict[str, Any]:
    return {"pf": str(t.pf.bdf), "ifname": t.ifname, "vf": t.index,
            "settings": current.settings()}


def _saved_check(t: VfTarget, value: str) -> Check:
    return Check(CheckKind.VF_SAVED, t.bdf, value=value)


def _save(t: VfTarget, current: VfState) -> Step:
    """Remember the VF's settings before its first change; undone by forgetting them."""
    return Step(Action.VF_SAVE, f"remember the original settings of VF {t.index} of "
                f"{t.ifname}", bdf=t.bdf, payload=_snapshot(t, current),
                expect=(_saved_check(t, "present"),),
                undo=(Step(Action.VF_FORGET, f"forget the saved settings of {t.bdf}",
                           bdf=t.bdf, expect=(_saved_check(t, "absent"),)),))


def _forget(t: VfTarget, saved: dict[str, Any]) -> Step:
    """Forget the saved settings; undone by saving them again."""
    return forget_step(t.bdf, f"forget the saved settings of VF {t.index} of {t.ifname}", saved)
