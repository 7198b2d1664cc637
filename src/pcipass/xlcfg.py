"""xl domain config files (xl.cfg) read with Xen 4.17's lexical rules, and xl's pci list.

* `parse_config(data) -> XlConfig` — port of libxlu_cfg_l.l / libxlu_cfg_y.y / libxlu_cfg.c:
  lower-case keys, `=`/`+=`, `;` or newline separators, '...'/"..." strings with xl's
  (partly broken) escapes, numbers kept as text, nested lists, last assignment wins.
  Raises `CfgSyntaxError` where `xlu_cfg_readdata` fails (xl: "Failed to parse config").
* `effective_pci(cfg, strict=...) -> PciList` — what `parse_config_data()` in xl_parse.c
  does: read `pci_msitranslate/power_mgmt/permissive/seize` with `xlu_cfg_get_long` into
  ints, then for each `pci` list item copy them into a fresh device and parse the spec on top.
* `check_config_bytes(data, name)` — refuses a file that is not xl.cfg text (binary, not
  UTF-8); the file itself is read through `Host.read_user_file` (at most `MAX_CONFIG_BYTES`).

Internally the text is the file's bytes decoded as latin-1 (one char per byte, like flex).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pcipass.errors import InputError
from pcipass.spec import GLOBAL_KEYS as GLOBAL_KEYS  # re-exported: the editor and CLI use it
from pcipass.spec import SPEC_FLAGS, Flags, PciSpec, check_spec

MAX_CONFIG_BYTES = 1 << 20
ESRCH, EINVAL, ERANGE = 3, 22, 34
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

_IDENT = re.compile(r"[a-z][._0-9a-z]*")
_NUMBER = re.compile(r"[0-9][0-9a-fx]*")
_COMMENT = re.compile(r"#[^\n]*\n")
_STRINGS = {
    "'": re.compile(r"'(?:[^'\\\n]|\\[^\n])*'"),
    '"': re.compile(r'"(?:[^"\\\n]|\\[^\n])*"'),
}
_PUNCT = {",", "[", "]", "=", ";"}
_SIMPLE_ESCAPES = {
    '"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f",
    "n": "\n", "r": "\r", "t": "\t", "v": "\v",
}  # fmt: skip

CfgValue = str | tuple["CfgValue", ...]
"""A config value: a string (numbers stay text, as in libxlutil) or a tuple of values."""


class CfgSyntaxError(InputError):
    """The file is not valid xl.cfg: xl would say "Failed to parse config" and exit 1."""

    def __init__(self, line: int, message: str, likely_python: bool = False) -> None:
        hint = "xl.cfg is not Python: " if likely_python else ""
        super().__init__(
            f"config parsing error at line {line}: {message}",
            f"{hint}fix the file (see xl.cfg(5): lower-case keys, quoted strings, LF line ends)",
        )
        self.lineno = line


@dataclass(frozen=True)
class Token:
    """One scanner token; `start`/`end` are offsets into the text."""

    kind: str  # IDENT NUMBER STRING NEWLINE EOF , [ ] = += ;
    text: str  # raw text (for STRING: the dequoted value)
    start: int
    end: int
    line: int


@dataclass(frozen=True)
class Span:
    """Where a value sits in the file (character offsets into the latin-1 text)."""

    start: int
    end: int
    items: tuple[Span, ...] = ()  # for a list: each item's span
    closing: int = -1  # for a list: offset of its ']'


@dataclass(frozen=True)
class Assignment:
    """One `key = value` / `key += value` statement as written."""

    name: str
    op: str
    value: CfgValue
    line: int
    start: int  # offset of the key
    value_span: Span
    end: int  # offset after the value


@dataclass(frozen=True)
class Setting:
    """What a lookup finds: the effective value after `+=` concatenation."""

    name: str
    op: str
    value: CfgValue
    line: int


@dataclass
class XlConfig:
    """A parsed xl.cfg: every statement in order, and the settings lookups see."""

    text: str
    statements: list[Assignment] = field(default_factory=list)
    settings: dict[str, Setting] = field(default_factory=dict)

    def get_string(self, name: str) -> str | None:
        s = self.settings.get(name)
        return s.value if s is not None and isinstance(s.value, str) else None

    def get_long(self, name: str) -> tuple[int, int | None, str | None]:
        """`xlu_cfg_get_long`: (errno, value, warning) — 0 ok, ESRCH absent, EINVAL, ERANGE."""
        s = self.settings.get(name)
        if s is None:
            return ESRCH, None, None
        where = f"line {s.line}: {name}"
        if not isinstance(s.value, str):
            return EINVAL, None, f"{where} is a list but should be a single value"
        if s.op == "+=":
            return EINVAL, None, f"{where}: can't use += with numbers"
        value, ok_end = _strtol0(s.value)
        if value is None:
            return ERANGE, None, f"{where} could not be parsed as a number: out of range"
        if not ok_end:
            return EINVAL, None, f"{where} is not a valid number"
        return 0, value, None

    def get_list(self, name: str) -> tuple[int, tuple[CfgValue, ...]]:
        """`xlu_cfg_get_list`: (errno, items)."""
        s = self.settings.get(name)
        if s is None:
            return ESRCH, ()
        if isinstance(s.value, str):
            return EINVAL, ()
        return 0, s.value


def _strtol0(s: str) -> tuple[int | None, bool]:
    """glibc `strtol(s, &ep, 0)`: (value or None on ERANGE, whether it used the whole text)."""
    i = 0
    while i < len(s) and s[i] in " \t\n\v\f\r":
        i += 1
    neg = i < len(s) and s[i] == "-"
    if i < len(s) and s[i] in "+-":
        i += 1
    if s[i : i + 2].lower() == "0x" and s[i + 2 : i + 3] in tuple("0123456789abcdefABCDEF"):
        base, i = 16, i + 2
        digits = "0123456789abcdefABCDEF"
    elif s[i : i + 1] == "0":
        base, digits = 8, "01234567"
    else:
        base, digits = 10, "0123456789"
    j = i
    while j < len(s) and s[j] in digits:
        j += 1
    if j == i:
        return 0, False
    value = int(s[i:j], base)
    value = -value if neg else value
    if not _LONG_MIN <= value <= _LONG_MAX:
        return None, False
    return value, j == len(s)


def _dequote(raw: str, line: int) -> str:
    """`xlu__cfgl_dequote`: xl's escapes; `\\x` always fails, `\\NNN` is eaten as decimal."""
    out: list[str] = []
    body = raw[1:-1]
    i = 0
    while i < len(body):
        c = body[i]
        i += 1
        if c != "\\":
            out.append(c)
            continue
        nc = body[i]
        i += 1
        if nc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nc])
        elif nc == "x":
            raise CfgSyntaxError(line, "\\x escapes never work in xl (libxlutil bug)")
        elif "0" <= nc <= "7":
            numbuf = (body[i:] + raw[-1])[:3]
            used = _strtoul10_len(numbuf)
            if used <= 1:
                raise CfgSyntaxError(line, "invalid digit after backslash octal escape")
            i += used
        else:
            raise CfgSyntaxError(line, f"invalid character after backslash: {nc!r}")
    return "".join(out)


def _strtoul10_len(s: str) -> int:
    """How many chars `strtoul(s, &ep, 10)` consumes (0 when it finds no digits)."""
    i = 0
    while i < len(s) and s[i] in " \t\n\v\f\r":
        i += 1
    if i < len(s) and s[i] in "+-":
        i += 1
    j = i
    while j < len(s) and s[j] in "0123456789":
        j += 1
    return j if j > i else 0


def tokenize(text: str) -> list[Token]:
    """The flex scanner: longest match, first rule on ties; raises on a lexical error."""
    tokens: list[Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
            continue
        if c == "\n":
            tokens.append(Token("NEWLINE", c, i, i + 1, line))
            i, line = i + 1, line + 1
            continue
        m = None
        kind = ""
        if "a" <= c <= "z":
            m, kind = _IDENT.match(text, i), "IDENT"
        elif "0" <= c <= "9":
            m, kind = _NUMBER.match(text, i), "NUMBER"
        elif c == "#":
            m, kind = _COMMENT.match(text, i), "NEWLINE"
        elif c in _STRINGS:
            m, kind = _STRINGS[c].match(text, i), "STRING"
        if m is not None:
            raw = m.group()
            if kind == "STRING" and "\0" in raw:
                raise CfgSyntaxError(line, "a NUL byte inside a quoted string (xl aborts on it)")
            value = _dequote(raw, line) if kind == "STRING" else raw
            tokens.append(Token(kind, value, i, m.end(), line))
            line += kind == "NEWLINE"
            i = m.end()
            continue
        if text.startswith("+=", i):
            tokens.append(Token("+=", "+=", i, i + 2, line))
            i += 2
            continue
        if c in _PUNCT:
            tokens.append(Token(c, c, i, i + 1, line))
            i += 1
            continue
        # lexerr: flex reports it only when more text follows (a lone bad last byte is dropped)
        if i + 1 < n:
            raise CfgSyntaxError(
                line, f"lexical error near {text[i : i + 12].split(chr(10))[0]!r}", c in "+,-.():"
            )
        i += 1
    tokens.append(Token("EOF", "", n, n, line))
    return tokens


class _Parser:
    """Recursive descent over libxlu_cfg_y.y's grammar (the same language)."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.cfg = XlConfig(text)

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def fail(self, tok: Token, expected: str) -> CfgSyntaxError:
        shown = (
            "newline"
            if tok.kind == "NEWLINE"
            else "end of file"
            if tok.kind == "EOF"
            else (repr(tok.text))
        )
        return CfgSyntaxError(tok.line, f"unexpected {shown}, expecting {expected}")

    def skip_newlines(self) -> None:
        while self.peek().kind == "NEWLINE":
            self.pos += 1

    def file(self) -> XlConfig:
        while True:
            tok = self.take()
            if tok.kind in ("NEWLINE", ";"):
                continue
            if tok.kind == "EOF":
                return self.cfg
            if tok.kind != "IDENT":
                raise self.fail(tok, "a setting name (lower-case)")
            self.assignment(tok)
            end = self.take()
            if end.kind == "EOF":
                return self.cfg
            if end.kind not in ("NEWLINE", ";"):
                raise self.fail(end, "a newline or ';'")

    def assignment(self, name: Token) -> None:
        op = self.take()
        if op.kind not in ("=", "+="):
            raise self.fail(op, "'=' or '+='")
        line = self.peek().line
        value, span = self.value()
        stmt = Assignment(name.text, op.kind, value, line, name.start, span, span.end)
        self.cfg.statements.append(stmt)
        self.store(stmt, span)

    def value(self) -> tuple[CfgValue, Span]:
        tok = self.take()
        if tok.kind in ("STRING", "NUMBER"):
            return tok.text, Span(tok.start, tok.end)
        if tok.kind != "[":
            raise self.fail(tok, "a string, a number or '['")
        items: list[CfgValue] = []
        spans: list[Span] = []
        self.skip_newlines()
        if self.peek().kind != "]":
            while True:
                item, span = self.value()
                items.append(item)
                spans.append(span)
                self.skip_newlines()
                if self.peek().kind != ",":
                    break
                self.take()
                self.skip_newlines()
                if self.peek().kind == "]":
                    break
        close = self.take()
        if close.kind != "]":
            raise self.fail(close, "',' or ']'")
        return tuple(items), Span(tok.start, close.end, tuple(spans), close.start)

    def store(self, stmt: Assignment, span: Span) -> None:
        value = stmt.value
        prev = self.cfg.settings.get(stmt.name)
        if stmt.op == "+=" and prev is not None:
            if isinstance(prev.value, str) != isinstance(value, str):
                raise CfgSyntaxError(stmt.line, 'can\'t add [list] to "string" or vice versa')
            value = prev.value + value  # type: ignore[operator]
        self.cfg.settings[stmt.name] = Setting(stmt.name, stmt.op, value, stmt.line)


def parse_config(data: bytes | str) -> XlConfig:
    """Parse xl.cfg bytes as `xlu_cfg_readdata` does; raise `CfgSyntaxError` where it fails."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return _Parser(text).file()


def as_text(value: str) -> str:
    """A config string (latin-1 internal form) as the UTF-8 text it holds."""
    return value.encode("latin-1").decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class PciList:
    """xl's pci devices for a config: `ok` is False when xl would refuse the config."""

    globals: dict[str, int]
    devices: tuple[PciSpec, ...]
    items: tuple[str, ...]
    error: str | None
    warnings: tuple[str, ...]
    plain_list: bool = True  # pci is absent or a list of strings only

    @property
    def ok(self) -> bool:
        return self.error is None


def global_flags(cfg: XlConfig, warnings: list[str]) -> Flags:
    """xl's pci_* defaults: `xlu_cfg_get_long` into `int`s (errors leave 0), then to bool."""
    values: dict[str, int] = {}
    for key in GLOBAL_KEYS:
        rc, value, warning = cfg.get_long(key)
        if warning:
            warnings.append(f"{warning}; xl ignores it and uses 0")
        as_int = (value or 0) & 0xFFFFFFFF if rc == 0 else 0
        values[key] = int(as_int != 0)
        if rc == 0 and value not in (0, 1):
            state = "on" if as_int else "off"
            warnings.append(
                f"{key} = {value}: xl stores {_to_int32(value or 0)} in an int, "
                f"so the default is {state}; write 0 or 1"
            )
    return Flags.preset({f.key: bool(values[f.global_key]) for f in SPEC_FLAGS})


def _to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def rdm_parse(text: str) -> bool:
    """`xlu_rdm_parse` as shipped in 4.17, including its inverted policy check."""
    buf = text + "\0"
    state, tok = "type", 0
    for ptr, c in enumerate(buf):
        if state == "type" and c == "=":
            key = buf[tok:ptr]
            if key not in ("strategy", "policy"):
                return False
            state, tok = key, ptr + 1
        elif state in ("strategy", "policy") and c in ",\0":
            word = buf[tok:ptr]
            if state == "strategy" and word != "host":
                return False
            if state == "policy" and word.lower() in ("invalid", "strict", "relaxed"):
                return False  # the bug: a *valid* policy is a parse error
            state, tok = ("type" if c == "," else "end"), ptr + 1
    return tok == len(buf) and state == "end"


def effective_pci(cfg: XlConfig, *, strict: bool = False) -> PciList:
    """The devices `xl create` would pass through, after the pci_* globals (xl_parse.c 4.17).

    In strict mode every trap (a warning in compatible mode) makes the list invalid.
    """
    warnings: list[str] = []
    if not cfg.statements:
        warnings.append("the config has no settings: xl reads it, and passes no devices")
    flags = global_flags(cfg, warnings)
    repeated = _repeated(cfg, "pci")
    if repeated:
        warnings.append(repeated)
    globals_ = {f.global_key: int(getattr(flags, f.key)) for f in SPEC_FLAGS}
    rc, items = cfg.get_list("pci")
    plain = rc != EINVAL and all(isinstance(item, str) for item in items)
    if rc == EINVAL:
        warnings.append("pci is a single value but should be a list: xl passes no devices")
    texts: list[str] = []
    devices: list[PciSpec] = []
    error = None
    for index, item in enumerate(items):
        if not isinstance(item, str):
            warnings.append(f"pci item {index + 1} is a list: xl silently stops reading pci there")
            break
        text = as_text(item)
        texts.append(text)
        result = check_spec(text, strict=strict, defaults=flags)
        warnings.extend(f"pci item {index + 1} {text!r}: {w}" for w in result.warnings)
        if result.spec is None:
            error = f"pci item {index + 1} {text!r}: {result.error}; xl create would fail"
            break
        devices.append(result.spec)
    warnings.extend(_duplicates(texts, devices))
    rdm = cfg.get_string("rdm")
    if rdm is not None and rdm_parse(rdm) and devices:
        warnings.append(
            "rdm= parses, and xl 4.17 then copies an uninitialised rdm policy to every device "
            "without its own rdm_policy= (set rdm_policy= on each pci entry)"
        )
    if strict and error is None and warnings:
        error = f"{warnings[0]} (refused in strict mode)"
    return PciList(globals_, tuple(devices), tuple(texts), error, tuple(warnings), plain)


def same_device(a: PciSpec, b: PciSpec) -> bool:
    """Whether two pci entries name a common function: the same BDF or name, or a slot
    (`BB:DD.*`) and anything in it."""
    if a.address is None or b.address is None:
        return a.address is None and b.address is None and a.name == b.name
    if a.all_functions or b.all_functions:
        return a.address.slot == b.address.slot
    return a.address == b.address


def _duplicates(texts: list[str], devices: list[PciSpec]) -> list[str]:
    found = []
    for i, (text, dev) in enumerate(zip(texts, devices, strict=False)):
        for j in range(i):
            if same_device(devices[j], dev):
                found.append(
                    f"pci items {j + 1} {texts[j]!r} and {i + 1} {text!r} name the same "
                    "function: xl would pass it through twice (name each function once)"
                )
    return found


def _repeated(cfg: XlConfig, name: str) -> str | None:
    """A warning when a later `name = ...` replaces earlier statements (xl takes the last)."""
    stmts = [s for s in cfg.statements if s.name == name]
    last = max((i for i, s in enumerate(stmts) if s.op == "="), default=0)
    if last == 0:
        return None
    ignored = ", ".join(str(s.line) for s in stmts[:last])
    return (
        f"{name} is set again on line {stmts[last].line}: xl takes that one and ignores "
        f"line {ignored} (keep one {name} = ...)"
    )


def check_config_bytes(data: bytes, name: str) -> None:
    """Refuse bytes that are not an xl.cfg text (`InputError`): NUL bytes, not UTF-8.

    An empty file is not refused: xl reads it as a config with no settings."""
    if b"\0" in data:
        raise InputError(f"{name} is a binary file (it contains NUL bytes)", "give an xl.cfg file")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name} is not UTF-8 text (bad byte at offset {exc.start})", "give an xl.cfg file"
        ) from exc
