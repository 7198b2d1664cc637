"""Round-trip edits of an xl domain config: add/remove `pci` entries, set the `pci_*` globals.

Every byte outside the edited value stays as it was (comments, order, quoting, layout).
Each `plan_*` function takes the file's bytes and returns the new bytes; it re-reads the
result with `pcipass.xlcfg` and refuses (InputError) unless every other setting is
unchanged and the pci list is exactly the intended one. An edit never changes what another
entry means: a function already named (directly or by a slot's `BB:DD.*` entry) is not
added again, and one function of a `BB:DD.*` entry is removed only by rewriting the slot as
its remaining functions when asked (`slot_functions`). Files are read and written through
`Host.read_user_file` / `Host.replace_user_file` (backup, atomic replace).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pcipass.address import PciAddress
from pcipass.errors import InputError, OperationError
from pcipass.spec import PciSpec, check_spec, format_spec, parse_spec, with_defaults
from pcipass.xlcfg import (
    GLOBAL_KEYS,
    Assignment,
    CfgSyntaxError,
    PciList,
    Span,
    XlConfig,
    effective_pci,
    global_flags,
    parse_config,
    same_device,
)

SlotFunctions = Callable[[str], list[int]]
"""The host's function numbers in a slot `DDDD:BB:DD` (empty when it has none or is unknown)."""
_NOT_EDITABLE = "edit it by hand, or fix it so that `pcipass config check` passes"


def parse_editable(text: str) -> XlConfig:
    """`text` parsed as xl parses it, or the editor's refusal of a config xl cannot parse
    (an `InputError`)."""
    try:
        return parse_config(text)
    except CfgSyntaxError as exc:
        raise InputError(f"refusing to edit a config xl cannot parse: {exc.what}", exc.fix) from exc


def _last(cfg: XlConfig, name: str) -> Assignment | None:
    found = [s for s in cfg.statements if s.name == name]
    if not found:
        return None
    if found[-1].op == "+=":
        raise InputError(f"{name} is built with '+=' in this config", _NOT_EDITABLE)
    return found[-1]


def _quote(text: str, quote: str) -> str:
    escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")
    return quote + escaped + quote


def _verify(old: XlConfig, new_text: str, changed: str, devices: list[PciSpec] | None) -> None:
    """The edit must leave every other setting alone and give exactly the intended devices."""
    new = parse_editable(new_text)
    others_old = {k: v for k, v in old.settings.items() if k != changed}
    others_new = {k: v.value for k, v in new.settings.items() if k != changed}
    if {k: v.value for k, v in others_old.items()} != others_new:
        raise OperationError("the edit would change other settings; nothing was written",
                             "please report this config as a pcipass bug")  # fmt: skip
    if devices is not None:
        got = effective_pci(new)
        if got.error or [d.as_json() for d in got.devices] != [d.as_json() for d in devices]:
            raise OperationError(
                "the edited pci list does not read back as intended; nothing was written",
                "please report this config as a pcipass bug",
            )


def _current(cfg: XlConfig) -> PciList:
    result = effective_pci(cfg)
    if not result.ok:
        raise InputError(f"the config's pci list is not valid for xl: {result.error}",
                         _NOT_EDITABLE)  # fmt: skip
    if not result.plain_list:
        raise InputError("the config's pci value is not a plain list of strings", _NOT_EDITABLE)
    return result


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def plan_add(data: bytes, specs: list[str]) -> bytes:
    """Append pci entries (strict specs, written in canonical form); refuse a function that
    an entry already names, directly or through a slot's `BB:DD.*` entry."""
    text = data.decode("latin-1")
    cfg = parse_editable(text)
    current = _current(cfg)
    devices = list(current.devices)
    new_specs = [parse_spec(s) for s in specs]
    taken = list(zip(current.items, devices, strict=False))
    for given, spec in zip(specs, new_specs, strict=True):
        for entry, dev in taken:
            if same_device(dev, spec):
                raise InputError(
                    f"pci already has an entry for {given!r}: {entry!r}",
                    "remove it first with `pcipass config pci remove`",
                )
        taken.append((given, spec))
    stmt = _last(cfg, "pci")
    if stmt is not None and isinstance(stmt.value, str):
        raise InputError("pci is a single string here, not a list", _NOT_EDITABLE)
    quote = text[stmt.value_span.items[0].start] if stmt and stmt.value_span.items else "'"
    items = [_quote(format_spec(s).encode("utf-8").decode("latin-1"), quote) for s in new_specs]
    if stmt is None:
        sep = "" if not text or text.endswith("\n") else "\n"
        new_text = f"{text}{sep}pci = [ {', '.join(items)} ]\n"
    else:
        new_text = _insert_items(text, stmt.value_span, items)
    flags = global_flags(cfg, [])
    _verify(cfg, new_text, "pci", devices + [with_defaults(s, flags) for s in new_specs])
    return new_text.encode("latin-1")


def _insert_items(text: str, span: Span, items: list[str]) -> str:
    close = span.closing
    if not span.items:
        inner = text[span.start + 1 : close]
        pad = " " if inner.endswith((" ", "\t")) else ""
        return text[:close] + ", ".join(items) + pad + text[close:]
    last = span.items[-1]
    after = last.end
    while after < close and text[after] in " \t":
        after += 1
    trailing_comma = text[after : after + 1] == ","
    eol = text.find("\n", last.end, close)
    if eol >= 0 and text[_line_start(text, last.start) : last.start].strip() == "":
        indent = text[_line_start(text, last.start) : last.start]
        if trailing_comma:
            body = "".join(f"{indent}{item},\n" for item in items)
            return text[: eol + 1] + body + text[eol + 1 :]
        body = ",\n".join(f"{indent}{item}" for item in items) + "\n"
        return text[: last.end] + "," + text[last.end : eol + 1] + body + text[eol + 1 :]
    if trailing_comma:
        return text[: after + 1] + " " + ", ".join(items) + "," + text[after + 1 :]
    return text[: last.end] + ", " + ", ".join(items) + text[last.end :]


def _target(text: str) -> PciSpec:
    """What `remove` was asked for: a function, a whole slot (`BB:DD.*`) or a name
    (`nic0` or `name=nic0`), in xl's spec grammar."""
    stripped = text.strip()
    if stripped and "=" not in stripped and ":" not in stripped:
        stripped = f"name={stripped}"
    return parse_spec(stripped)


def _matches(entry: PciSpec, target: PciSpec) -> bool:
    """Whether a pci entry is (part of) what `target` names; a `.*` entry matches every
    function of its slot, a `.*` target every entry in its slot."""
    return same_device(entry, target)


def plan_remove(
    data: bytes, items: list[str], slot_functions: SlotFunctions | None = None
) -> bytes:
    """Remove the pci entries for these functions, slots (`BB:DD.*`) or names.

    A function inside a `BB:DD.*` entry is refused, unless `slot_functions` (the host's
    functions of a slot) is given: the entry is then rewritten as its remaining functions,
    each with the entry's options (they become separate guest devices)."""
    text = data.decode("latin-1")
    cfg = parse_editable(text)
    current = _current(cfg)
    devices, entries = list(current.devices), current.items
    targets = [_target(item) for item in items]
    stmt = _last(cfg, "pci")
    if stmt is None:
        raise InputError("the config has no pci list", "nothing to remove")
    for item, target in zip(items, targets, strict=True):
        if not any(_matches(d, target) for d in devices):
            raise InputError(f"pci has no entry for {item!r}", "see `pcipass config check FILE`")
    removed: set[int] = set()
    rewritten: dict[int, list[int]] = {}
    for i, dev in enumerate(devices):
        hits = [(item, t) for item, t in zip(items, targets, strict=True) if _matches(dev, t)]
        if not hits:
            continue
        if not dev.all_functions or any(t.all_functions for _, t in hits):
            removed.add(i)
            continue
        if slot_functions is None:
            item, slot = hits[0][0], dev.address.slot if dev.address else ""
            raise InputError(
                f"{item!r} is one function of the entry {entries[i]!r}, which passes every "
                f"function of slot {slot}",
                f"remove the whole slot ({slot}.*), or pass --split-slot to rewrite the entry "
                "as its other functions",
            )
        dropped = {t.address.func for _, t in hits if t.address is not None}
        rest = _remaining(entries[i], dev, dropped, slot_functions)
        if rest:
            rewritten[i] = rest
        else:
            removed.add(i)
    keep: list[PciSpec] = []
    for i, dev in enumerate(devices):
        if i in rewritten:
            keep.extend(_one_function(dev, f) for f in rewritten[i])
        elif i not in removed:
            keep.append(dev)
    spans = stmt.value_span.items
    for index in sorted(removed | set(rewritten), reverse=True):
        if index in rewritten:
            text = _rewrite_item(text, spans[index], entries[index], rewritten[index])
        else:
            text = _remove_item(text, spans, index)
    _verify(cfg, text, "pci", keep)
    return text.encode("latin-1")


def _rewrite_item(text: str, span: Span, entry: str, functions: list[int]) -> str:
    """A `.*` entry replaced by one entry per function, with the entry's own options."""
    raw = check_spec(entry, strict=False).spec
    assert raw is not None  # effective_pci read this entry
    quote = text[span.start]
    items = [
        _quote(format_spec(_one_function(raw, f)).encode("utf-8").decode("latin-1"), quote)
        for f in functions
    ]
    return text[: span.start] + ", ".join(items) + text[span.end :]


def _remaining(
    entry: str, dev: PciSpec, dropped: set[int], slot_functions: SlotFunctions | None
) -> list[int]:
    """The functions a `.*` entry keeps once `dropped` go; refuse what cannot be written."""
    assert dev.address is not None and slot_functions is not None
    slot = dev.address.slot
    if dev.vslot:
        raise InputError(
            f"the entry {entry!r} places slot {slot} at guest slot {dev.vslot:x} as one "
            "multi-function device; separate entries cannot keep that",
            "edit the entry by hand (or remove the whole slot)",
        )
    functions = slot_functions(slot)
    if not functions:
        raise InputError(
            f"the host's functions of slot {slot} are unknown (no such device on this host)",
            f"remove the whole slot ({slot}.*) or edit the entry by hand",
        )
    missing = sorted(dropped - set(functions))
    if missing:
        have = ", ".join(f".{f:x}" for f in functions)
        raise InputError(
            f"{slot}.{missing[0]:x} is not a function of slot {slot} on this host ({have})",
            "check the address",
        )
    return sorted(set(functions) - dropped)


def _one_function(spec: PciSpec, func: int) -> PciSpec:
    assert spec.address is not None
    a = spec.address
    return replace(spec, address=PciAddress(a.domain, a.bus, a.dev, func), all_functions=False)


def _remove_item(text: str, spans: tuple[Span, ...], index: int) -> str:
    item = spans[index]
    start, end = item.start, item.end
    after = end
    while after < len(text) and text[after] in " \t":
        after += 1
    has_comma = text[after : after + 1] == ","
    line_start = _line_start(text, start)
    if text[line_start:start].strip() == "":
        rest = after + 1 if has_comma else after
        while rest < len(text) and text[rest] in " \t":
            rest += 1
        if text[rest : rest + 1] == "\n":
            return text[:line_start] + text[rest + 1 :]
    if has_comma:
        stop = after + 1
        while stop < len(text) and text[stop] in " \t":
            stop += 1
        return text[:start] + text[stop:]
    if index > 0:
        comma = text.rfind(",", spans[index - 1].end, start)
        between = text[comma:start]
        if "#" not in between and "\n" not in between:
            return text[:comma] + text[end:]
        return text[:comma] + text[comma + 1 : start] + text[end:]
    return text[:start] + text[end:]


def plan_set(data: bytes, key: str, value: str) -> bytes:
    """Set one of the pci_* globals to 0 or 1, in place if it is already there."""
    if key not in GLOBAL_KEYS:
        raise InputError(f"unknown key {key!r}", f"one of: {', '.join(GLOBAL_KEYS)}")
    if value not in ("0", "1"):
        raise InputError(f"{key} takes 0 or 1, not {value!r}", f"e.g. `{key} 1`")
    text = data.decode("latin-1")
    cfg = parse_editable(text)
    stmt = _last(cfg, key)
    if stmt is None:
        sep = "" if not text or text.endswith("\n") else "\n"
        new_text = f"{text}{sep}{key} = {value}\n"
    else:
        span = stmt.value_span
        new_text = text[: span.start] + value + text[span.end :]
    _verify(cfg, new_text, key, None)
    if parse_editable(new_text).get_long(key)[1] != int(value):
        raise OperationError(f"{key} does not read back as {value}", "please report this bug")
    return new_text.encode("latin-1")


def diff(path: Path, old: bytes, new: bytes) -> str:
    """A unified diff of the change (what --dry-run prints)."""
    return "".join(
        difflib.unified_diff(
            old.decode("utf-8", "replace").splitlines(keepends=True),
            new.decode("utf-8", "replace").splitlines(keepends=True),
            fromfile=str(path),
            tofile=f"{path} (pcipass)",
        )
    )
