"""A plan: the ordered host changes of one command, as plain data.

Every `Step` says what it writes (or runs), which state to expect afterwards
(re-read from the host, never trusted from the write's success), and which
steps undo it. `--dry-run` renders the plan; the journal stores it; the
executor runs it. Expectations make steps idempotent for recovery: a step
whose expected state already holds needs not run again.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pcipass.errors import InputError
from pcipass.host import paths
from pcipass.host.netlink import describe as describe_vf

if TYPE_CHECKING:
    from pcipass.host.base import Host


class CheckKind(StrEnum):
    """What a `Check` re-reads (see `Check`)."""

    DRIVER = "driver"
    TEXT = "text"
    EXISTS = "exists"
    ABSENT = "absent"
    RECORD = "record"
    XL_ASSIGNABLE = "xl-assignable"
    XENSTORE = "xenstore"
    VF = "vf"
    VF_SAVED = "vf-saved"
    XL_ATTACHED = "xl-attached"
    LISTED = "listed"
    FILE = "file"


class Action(StrEnum):
    """What a `Step` does (see `Step`)."""

    WRITE = "write"
    RUN = "run"
    MODPROBE = "modprobe"
    RECORD = "record"
    FORGET = "forget"
    VF_SET = "vf-set"
    VF_SAVE = "vf-save"
    VF_FORGET = "vf-forget"
    PUT_FILE = "put-file"


EMPTY_OVERRIDE = "(null)"
"""What the kernel reads back from a cleared `driver_override`."""


@dataclass(frozen=True)
class Check:
    """One fact to re-read after a step.

    `driver`: the device `bdf`'s driver link names `value` (None: no driver).
    `text`: the file `path` reads `value` (None: empty or `(null)`).
    `exists` / `absent`: `path` exists or not. `record`: pcipass holds a record
    for `bdf` (`value` "present") or not ("absent"). Xen's own state:
    `xl-assignable`: `xl pci-assignable-list` lists `bdf` (`value` "listed") or not
    ("unlisted"); `xenstore`: the xenstore key `path` reads `value` (None: absent).
    `vf`: the PF interface reports the VF setting `path` (`vf_check_path`) as `value`
    (`pcipass.host.netlink.text`); `vf-saved`: pcipass holds the original settings of
    VF `bdf` (`value` "present") or not ("absent").
    `xl-attached`: `xl pci-list DOMID` (`path`) lists `bdf` (`value` "listed" or "unlisted").
    `listed`: one line of the file `path` is `value` (pciback's `permissive` list).
    `file`: the file `path` holds bytes whose sha256 is `value` (None: the file is absent).
    """

    kind: CheckKind
    bdf: str = ""
    path: str = ""
    value: str | None = None

    def describe(self) -> str:
        if self.kind == CheckKind.DRIVER:
            return f"{self.bdf} on {self.value}" if self.value else f"{self.bdf} without driver"
        if self.kind == CheckKind.TEXT:
            return f"/{self.path} reads {self.value or '(empty)'}"
        if self.kind == CheckKind.RECORD:
            return f"record of {self.bdf} {self.value}"
        if self.kind == CheckKind.XL_ASSIGNABLE:
            return f"{self.bdf} {self.value} by `xl pci-assignable-list`"
        if self.kind == CheckKind.XL_ATTACHED:
            return f"{self.bdf} {self.value} by `xl pci-list {self.path}`"
        if self.kind == CheckKind.LISTED:
            return f"/{self.path} lists {self.value}"
        if self.kind == CheckKind.XENSTORE:
            return f"xenstore {self.path} reads {self.value}" if self.value else \
                f"xenstore {self.path} absent"
        if self.kind == CheckKind.VF:
            return f"{' '.join(self.path.split('/'))} {self.value}"
        if self.kind == CheckKind.VF_SAVED:
            return f"saved settings of {self.bdf} {self.value}"
        if self.kind == CheckKind.FILE:
            return f"/{self.path} holds the planned text (sha256 {self.value[:12]}...)" \
                if self.value else f"/{self.path} is absent"
        return f"/{self.path} {'exists' if self.kind == CheckKind.EXISTS else 'is absent'}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "bdf": self.bdf, "path": self.path, "value": self.value}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Check:
        kind = CheckKind(obj["kind"])
        return cls(kind, obj.get("bdf", ""), obj.get("path", ""), obj.get("value"))


@dataclass(frozen=True)
class Step:
    """One host change.

    `write`: write `data` to host file `path`. `run`: run `argv` (exit 0 required).
    `modprobe`: load module `data`. `record` / `forget`: store or drop pcipass's
    memory of device `bdf` (`record` carries it in `payload`). `vf-set`: send VF settings
    (`payload`: `ifname`, `vf`, `settings`) through the PF over netlink; `vf-save` /
    `vf-forget`: store or drop the original settings of VF `bdf` (`payload`).
    `put-file`: replace the whole file `path` atomically (`payload`: `new` text, None to
    remove it; `old` text, None when it was absent; `user`: a user's file such as an xl
    config, replaced keeping its owner and mode, with a backup); see `put_file`.

    Recovery and rollback skip a step whose `unless` checks hold (None: its
    `expect`; an empty tuple: never skip, for a step that is harmless to repeat
    and part of whose effect cannot be re-read, such as Xen's quarantine).
    """

    action: Action
    why: str
    bdf: str = ""
    path: str = ""
    data: str = ""
    argv: tuple[str, ...] = ()
    payload: dict[str, Any] | None = field(default=None, compare=False)
    expect: tuple[Check, ...] = ()
    undo: tuple[Step, ...] = ()
    unless: tuple[Check, ...] | None = None

    @property
    def skip_when(self) -> tuple[Check, ...]:
        """The checks whose holding makes the step unnecessary (empty: always take it)."""
        return self.expect if self.unless is None else self.unless

    def render(self) -> str:
        """The exact change, as a shell user would write it."""
        if self.action == Action.WRITE:
            if not self.data.strip():
                return f"echo > /{self.path}"
            return f"echo {shlex.quote(self.data.strip())} > /{self.path}"
        if self.action == Action.RUN:
            return " ".join(self.argv)
        if self.action == Action.MODPROBE:
            return f"modprobe {self.data}"
        if self.action == Action.RECORD:
            return f"remember {self.bdf}: {_payload_summary(self.payload or {})}"
        if self.action == Action.VF_SET:
            p = self.payload or {}
            return f"ip link set {p.get('ifname')} vf {p.get('vf')} " + \
                describe_vf(p.get("settings", {}))
        if self.action == Action.VF_SAVE:
            return f"remember the VF settings of {self.bdf}"
        if self.action == Action.VF_FORGET:
            return f"forget the saved VF settings of {self.bdf}"
        if self.action == Action.PUT_FILE:
            new = (self.payload or {}).get("new")
            lines = len(new.splitlines()) if new is not None else 0
            return f"rm /{self.path}" if new is None else \
                f"write /{self.path} ({lines} line{'' if lines == 1 else 's'})"
        return f"forget the record of {self.bdf}"

    def diff(self) -> list[str]:
        """A `put-file` step's unified diff (empty for other steps)."""
        if self.action != Action.PUT_FILE:
            return []
        p = self.payload or {}
        return text_diff(self.path, p.get("old"), p.get("new"))

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "why": self.why,
            "bdf": self.bdf,
            "path": self.path,
            "data": self.data,
            "argv": list(self.argv),
            "payload": self.payload,
            "expect": [c.to_json() for c in self.expect],
            "undo": [u.to_json() for u in self.undo],
            "unless": None if self.unless is None else [c.to_json() for c in self.unless],
            "shell": self.render(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Step:
        return cls(
            action=Action(obj["action"]),
            why=obj.get("why", ""),
            bdf=obj.get("bdf", ""),
            path=obj.get("path", ""),
            data=obj.get("data", ""),
            argv=tuple(obj.get("argv", ())),
            payload=obj.get("payload"),
            expect=tuple(Check.from_json(c) for c in obj.get("expect", ())),
            undo=tuple(cls.from_json(u) for u in obj.get("undo", ())),
            unless=None if obj.get("unless") is None
            else tuple(Check.from_json(c) for c in obj["unless"]),
        )


@dataclass(frozen=True)
class Plan:
    """The steps of one command, in order, plus what it is for."""

    command: str
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.steps)

    def render(self) -> list[str]:
        """`--dry-run` text: one line per change, in order (a file's diff after its line)."""
        return [line for step in self.steps for line in (step.render(), *step.diff())]

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "steps": [s.to_json() for s in self.steps],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Plan:
        return cls(
            command=obj.get("command", ""),
            steps=tuple(Step.from_json(s) for s in obj.get("steps", ())),
            notes=tuple(obj.get("notes", ())),
        )


def vf_check_path(ifname: str, vf: int, key: str) -> str:
    """The `path` of a `vf` check: PF interface, VF index and netlink key."""
    return f"{ifname}/vf/{vf}/{key}"


def text_diff(path: str, old: str | None, new: str | None) -> list[str]:
    """The unified diff of host file `path` from `old` to `new` (None: absent)."""
    import difflib  # noqa: PLC0415 - only files are diffed

    return list(difflib.unified_diff(
        (old or "").splitlines(), (new or "").splitlines(),
        "/dev/null" if old is None else f"a/{path}",
        "/dev/null" if new is None else f"b/{path}", lineterm=""))


def _payload_summary(payload: dict[str, Any]) -> str:
    keys = ("driver", "driver_override", "backend", "name")
    return ", ".join(f"{k}={payload.get(k)}" for k in keys if k in payload)


# -- step builders shared by the ops ------------------------------------------
def bind(bdf: str, driver: str, why: str = "") -> Step:
    """Write the BDF to `drivers/DRIVER/bind`; undone by unbinding."""
    return Step(
        Action.WRITE,
        why or f"bind {bdf} to {driver}",
        bdf=bdf,
        path=paths.drv(driver, "bind"),
        data=bdf,
        expect=(Check(CheckKind.DRIVER, bdf, value=driver),),
        undo=(_plain_unbind(bdf, driver),),
    )


def unbind(bdf: str, driver: str, why: str = "") -> Step:
    """Write the BDF to `drivers/DRIVER/unbind`; undone by binding it back."""
    return Step(
        Action.WRITE,
        why or f"unbind {bdf} from {driver}",
        bdf=bdf,
        path=paths.drv(driver, "unbind"),
        data=bdf,
        expect=(Check(CheckKind.DRIVER, bdf, value=None),),
        undo=(_plain_bind(bdf, driver),),
    )


def probe(bdf: str, driver: str, why: str = "") -> Step:
    """Write the BDF to `drivers_probe`, expecting `driver` to take it (via its override)."""
    return Step(
        Action.WRITE,
        why or f"probe {bdf} (driver_override {driver})",
        bdf=bdf,
        path=paths.DRIVERS_PROBE,
        data=bdf,
        expect=(Check(CheckKind.DRIVER, bdf, value=driver),),
        undo=(_plain_unbind(bdf, driver),),
    )


def set_override(bdf: str, new: str | None, old: str | None, why: str = "") -> Step:
    """Write `driver_override` (None clears it); undone by writing the old value back."""
    default = f"set driver_override of {bdf} to {new}" if new else f"clear driver_override of {bdf}"
    return Step(
        Action.WRITE,
        why or default,
        bdf=bdf,
        path=paths.dev(bdf, "driver_override"),
        data=new or "\n",
        expect=(Check(CheckKind.TEXT, path=paths.dev(bdf, "driver_override"), value=new),),
        undo=(
            Step(
                Action.WRITE,
                f"restore driver_override of {bdf}",
                bdf=bdf,
                path=paths.dev(bdf, "driver_override"),
                data=old or "\n",
                expect=(Check(CheckKind.TEXT, path=paths.dev(bdf, "driver_override"), value=old),),
            ),
        ),
    )


def record(bdf: str, payload: dict[str, Any], previous: dict[str, Any] | None = None) -> Step:
    """Store the device's record; undone by restoring `previous` (or forgetting it)."""
    undo = (_restore(bdf, previous),) if previous is not None else (forget(bdf, payload, False),)
    return Step(
        Action.RECORD,
        f"remember where {bdf} came from",
        bdf=bdf,
        payload=payload,
        expect=(Check(CheckKind.RECORD, bdf, value="present"),),
        undo=undo,
    )


def forget(bdf: str, payload: dict[str, Any], restore: bool = True) -> Step:
    """Drop the device's record; undone by storing `payload` again."""
    undo = (_restore(bdf, payload),) if restore else ()
    return Step(
        Action.FORGET,
        f"forget the record of {bdf}",
        bdf=bdf,
        expect=(Check(CheckKind.RECORD, bdf, value="absent"),),
        undo=undo,
    )


def _restore(bdf: str, payload: dict[str, Any]) -> Step:
    """Store `payload` as the record again. No expected state: "a record is present" also
    holds for the record that replaced `payload`, and would skip the undo; storing the
    same payload twice is harmless."""
    return Step(Action.RECORD, f"restore the record of {bdf}", bdf=bdf, payload=payload)


def _plain_bind(bdf: str, driver: str) -> Step:
    return Step(
        Action.WRITE,
        f"bind {bdf} to {driver}",
        bdf=bdf,
        path=paths.drv(driver, "bind"),
        data=bdf,
        expect=(Check(CheckKind.DRIVER, bdf, value=driver),),
    )


def _plain_unbind(bdf: str, driver: str) -> Step:
    return Step(
        Action.WRITE,
        f"unbind {bdf} from {driver}",
        bdf=bdf,
        path=paths.drv(driver, "unbind"),
        data=bdf,
        expect=(Check(CheckKind.DRIVER, bdf, value=None),),
    )


# -- whole files ---------------------------------------------------------------
MAX_FILE_BYTES = 1 << 20
"""The largest file a `put-file` step replaces (and its `file` check reads)."""


def digest(data: bytes | None) -> str | None:
    """The `file` check's value for a file's bytes (None: absent)."""
    import hashlib  # noqa: PLC0415 - only files are digested: keep the start fast

    return None if data is None else hashlib.sha256(data).hexdigest()


def text_digest(text: str | None) -> str | None:
    """The `file` check's value for a text (None: absent)."""
    return digest(None if text is None else text.encode("utf-8"))


def read_file(host: Host, path: str) -> bytes | None:
    """The bytes of host file `path` (None: absent), read as a user's file is (every link
    resolved inside the root, regular files only, at most `MAX_FILE_BYTES`)."""
    if not host.exists(path):
        return None
    return host.read_user_file("/" + path.lstrip("/"), MAX_FILE_BYTES)


def put_file(path: str, new: str | None, old: str | None, why: str, user: bool = False,
             undo_why: str = "") -> Step:
    """Replace host file `path` (`old`: its text now, None = absent) by `new` (None: remove
    it); undone by putting `old` back. A user's file (`user`) is only ever replaced."""
    path = path.lstrip("/")
    if user and (new is None or old is None):
        raise ValueError("a user's file is replaced, never created or removed")
    back = Step(Action.PUT_FILE, undo_why or f"put /{path} back as it was", path=path,
                payload={"new": old, "old": new, "user": user},
                expect=(Check(CheckKind.FILE, path=path, value=text_digest(old)),))
    return Step(Action.PUT_FILE, why, path=path,
                payload={"new": new, "old": old, "user": user},
                expect=(Check(CheckKind.FILE, path=path, value=text_digest(new)),),
                undo=(back,))


def file_step(host: Host, path: str, new: str | None, why: str, user: bool = False) -> Step:
    """The step that makes host file `path` hold `new` (None: absent), its text now read
    from `host` for the undo step; an `InputError` when it is not UTF-8 text. A user's
    relative path is taken from the current directory (the journal keeps it absolute)."""
    path = os.path.abspath(path) if user else path
    data = read_file(host, path)
    try:
        old = None if data is None else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{host.name_of(path)} is not UTF-8 text (byte {exc.start})",
                         "fix or remove the file") from exc
    return put_file(path, new, old, why, user)
