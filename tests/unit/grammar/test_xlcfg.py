"""pcipass.xlcfg: xl's lexical rules, lookups and the effective pci list."""

from __future__ import annotations

import pytest

from pcipass.errors import InputError
from pcipass.xlcfg import (
    EINVAL,
    ERANGE,
    ESRCH,
    CfgSyntaxError,
    check_config_bytes,
    effective_pci,
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


def test_check_config_bytes_refuses_what_is_not_text() -> None:
    for data, needle in [(b"x = 1\n\0", "binary"), (b"name = '\xe9'\n", "UTF-8")]:
        with pytest.raises(InputError, match=needle):
            check_config_bytes(data, "f.cfg")
    check_config_bytes(b"", "f.cfg")  # xl reads an empty file: no settings
    check_config_bytes(b"name = '\xc3\xa9'\n", "f.cfg")


def test_an_empty_config_has_no_devices_and_a_warning() -> None:
    for data in (b"", b"\n  \n", b"# only a comment\n"):
        result = effective_pci(parse_config(data))
        assert result.ok and result.devices == () and "no settings" in result.warnings[0]
        assert not effective_pci(parse_config(data), strict=True).ok


@pytest.mark.parametrize(
    ("data", "pair"),
    [(b"pci = [ '05:00.*', '05:00.1' ]\n", "1 '05:00.*' and 2 '05:00.1'"),
     (b"pci = [ '05:00.1', '0000:05:00.1,permissive=1' ]\n", "1 '05:00.1' and 2"),
     (b"pci = [ '05:00.*@4', '05:00.*' ]\n", "1 '05:00.*@4' and 2 '05:00.*'"),
     (b"pci = [ 'name=a', '06:00.0', 'name=a' ]\n", "1 'name=a' and 3 'name=a'")],
)  # fmt: skip
def test_duplicate_functions_warn_and_strict_refuses(data: bytes, pair: str) -> None:
    result = effective_pci(parse_config(data))
    assert result.ok and any(pair in w and "same function" in w for w in result.warnings)
    strict = effective_pci(parse_config(data), strict=True)
    assert not strict.ok and "same function" in (strict.error or "")


def test_distinct_functions_do_not_warn() -> None:
    data = b"pci = [ '05:00.0', '05:00.1', '05:01.*', 'name=a', 'name=b' ]\n"
    assert effective_pci(parse_config(data), strict=True).ok


def test_repeated_pci_key_says_which_line_wins() -> None:
    data = b"pci = [ '05:00.0' ]\nname = 'g'\npci = [ '06:00.0' ]\npci += [ '07:00.0' ]\n"
    result = effective_pci(parse_config(data))
    assert [str(d.address) for d in result.devices] == ["0000:06:00.0", "0000:07:00.0"]
    assert "pci is set again on line 3: xl takes that one and ignores line 1" in result.warnings[0]
    assert not effective_pci(parse_config(data), strict=True).ok
    appended = b"pci = [ '05:00.0' ]\npci += [ '06:00.0' ]\n"
    assert effective_pci(parse_config(appended), strict=True).ok


def test_strict_mode_turns_every_trap_into_the_error() -> None:
    for data in (b"pci = ['05:00.0']\npci_seize = 2\n", b"pci = ['05:00.0', ['x']]\n",
                 b"pci = ['05:00.0,permissive=yes']\n", b"pci = '05:00.0'\n"):  # fmt: skip
        loose = effective_pci(parse_config(data))
        assert loose.ok and loose.warnings
        strict = effective_pci(parse_config(data), strict=True)
        assert not strict.ok and "strict mode" in (strict.error or "")
    assert effective_pci(parse_config(b"pci = ['05:00.0']\n"), strict=True).ok
