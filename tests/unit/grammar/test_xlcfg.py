"""pcipass.xlcfg: xl's lexical rules, lookups and the effective pci list."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcipass.errors import InputError
from pcipass.xlcfg import (
    EINVAL,
    ERANGE,
    ESRCH,
    CfgSyntaxError,
    effective_pci,
    load_config_file,
    parse_config,
    rdm_parse,
)


def test_basic_values_and_last_wins() -> None:
    cfg = parse_config(b"name = 'a'\nmemory = 1024; vcpus=2\nname = \"b\"\nl = [ '1', 2, [3] ]\n")
    assert cfg.get_string("name") == "b"
    assert cfg.get_long("memory") == (0, 1024, None)
    assert cfg.get_list("l") == (0, ("1", "2", ("3",)))


@pytest.mark.parametrize(
    "data",
    [b"pci = [ '05:00.0' ]\r\n", b"\xef\xbb\xbfx = 1\n", b"x = 1\n# c", b"PCI = 1\n",
     b"x = -1\n", b"x = 0xFF\n", b"pci = [ 05:00.0 ]\n", b"x =\n1\n", b"x = '\\x41'\n",
     b"x = '\\1'\n", b"x = '\\q'\n", b"x = [1]\nx += '2'\n", b"x = [ , ]\n"],
)  # fmt: skip
def test_lexical_and_syntax_errors(data: bytes) -> None:
    with pytest.raises(CfgSyntaxError):
        parse_config(data)


def test_quirks_that_parse() -> None:
    assert parse_config(b"x = 1\n(").get_string("x") == "1"  # a lone bad last byte is dropped
    assert parse_config(b"x = 'a\\1234b'\n").get_string("x") == "ab"  # \NNN emits nothing
    assert parse_config(b"x = 1").get_string("x") == "1"
    cfg = parse_config(b"l = [ 'a' ]\nl += [ 'b' ]\ns = 'x'\ns += 'y'\n")
    assert cfg.get_list("l") == (0, ("a", "b")) and cfg.get_string("s") == "xy"


def test_get_long_like_strtol() -> None:
    cfg = parse_config(b"a = 0x10\nb = 010\nc = 08\nd = '1 '\ne += 1\nf = 99999999999999999999\n")
    assert cfg.get_long("a")[:2] == (0, 16)
    assert cfg.get_long("b")[:2] == (0, 8)
    assert cfg.get_long("c")[0] == EINVAL
    assert cfg.get_long("d")[0] == EINVAL
    assert cfg.get_long("e")[0] == EINVAL
    assert cfg.get_long("f")[0] == ERANGE
    assert cfg.get_long("zz")[0] == ESRCH


def test_effective_pci_globals_then_spec() -> None:
    cfg = parse_config(b"pci = ['05:00.0', '06:00.0,permissive=0']\npci_permissive = 1\n")
    result = effective_pci(cfg)
    assert result.ok and [d.permissive for d in result.devices] == [True, False]
    assert result.globals["pci_permissive"] == 1


def test_effective_pci_xl_quirks() -> None:
    assert effective_pci(parse_config(b"pci = '05:00.0'\n")).devices == ()
    nested = effective_pci(parse_config(b"pci = ['05:00.0', ['x'], '06:00.0']\n"))
    assert len(nested.devices) == 1 and any("stops" in w for w in nested.warnings)
    wrapped = effective_pci(parse_config(b"pci = ['05:00.0']\npci_seize = 4294967296\n"))
    assert wrapped.globals["pci_seize"] == 0 and wrapped.warnings
    bad = effective_pci(parse_config(b"pci = ['05:00.0', 'bogus']\n"))
    assert not bad.ok and "bogus" in (bad.error or "")


def test_rdm_parse_is_inverted_like_xl() -> None:
    assert rdm_parse("strategy=host")
    assert not rdm_parse("strategy=host,policy=relaxed")
    assert rdm_parse("strategy=host,policy=bogus")
    assert not rdm_parse("strategy=ignore")


def test_load_config_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(b"x = 1\n\0")
    latin = tmp_path / "latin"
    latin.write_bytes(b"name = '\xe9'\n")
    huge = tmp_path / "huge"
    huge.write_bytes(b"#" * (1 << 20) + b"\n")
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    for path, needle in [(tmp_path / "missing", "does not exist"), (tmp_path, "directory"),
                         (binary, "binary"), (latin, "UTF-8"), (huge, "1 MiB"),
                         (empty, "empty")]:  # fmt: skip
        with pytest.raises(InputError) as exc:
            load_config_file(path)
        assert needle in exc.value.line()
    good = tmp_path / "good.cfg"
    good.write_bytes(b"name = 'g'\n")
    assert load_config_file(good) == b"name = 'g'\n"

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(InputError) as exc:
        load_config_file(good)
    assert "permission denied" in exc.value.line()


def test_strict_mode_turns_every_trap_into_the_error() -> None:
    for data in (b"pci = ['05:00.0']\npci_seize = 2\n", b"pci = ['05:00.0', ['x']]\n",
                 b"pci = ['05:00.0,permissive=yes']\n", b"pci = '05:00.0'\n"):  # fmt: skip
        loose = effective_pci(parse_config(data))
        assert loose.ok and loose.warnings
        strict = effective_pci(parse_config(data), strict=True)
        assert not strict.ok and "strict mode" in (strict.error or "")
    assert effective_pci(parse_config(b"pci = ['05:00.0']\n"), strict=True).ok
