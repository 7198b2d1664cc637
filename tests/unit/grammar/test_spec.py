"""pcipass.spec: xl's grammar, its traps (warnings / strict errors) and the formatter."""

from __future__ import annotations

import pytest

from pcipass.address import PciAddress
from pcipass.errors import InputError
from pcipass.spec import Flags, check_bdf, check_spec, format_spec, parse_bdf, parse_spec


def test_three_equivalent_forms() -> None:
    specs = [parse_spec(t) for t in ("36:00.0@10,seize=1", "36:00.0,vslot=10,seize=1",
                                     "bdf=36:00.0,vslot=10,seize=1")]  # fmt: skip
    assert {(s.address, s.vslot, s.seize) for s in specs} == {(PciAddress(0, 0x36, 0, 0), 16, True)}


def test_man_page_vslot_20_is_rejected_like_xl() -> None:
    result = check_spec("36:00.0@20,seize=1", strict=False)
    assert not result.ok and "0x20 = 32" in (result.error or "")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("05:00.0,permissive=yes", "atoi"),
        ("bdf=05:00.0@3", "ignores '@3'"),
        ("100000005:00.0", "32 bits"),
        ("05:00.0,seize=1,seize=0", "more than once"),
        ("05:00.0@0", "automatic"),
        ("05:00.0,rdm_policy=STRICT", "case-insensitively"),
        ("name=", "empty"),
    ],
)
def test_traps_warn_in_compatible_mode_and_fail_in_strict(text: str, needle: str) -> None:
    loose = check_spec(text, strict=False)
    assert loose.ok and any(needle in w for w in loose.warnings), loose
    strict = check_spec(text, strict=True)
    assert not strict.ok and needle in (strict.error or "")


def test_atoi_values() -> None:
    assert check_spec("05:00.0,permissive=yes", strict=False).spec.permissive is False  # type: ignore[union-attr]
    assert check_spec("05:00.0,permissive=2", strict=False).spec.permissive is True  # type: ignore[union-attr]
    assert check_spec("05:00.0,permissive=4294967296", strict=False).spec.permissive is False  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["05:00", "bdf=05:00", "05:00,permissive=1", "0000:0x5:00.0"])
def test_uninitialised_read_is_rejected_in_both_modes_with_the_fix(text: str) -> None:
    for strict in (False, True):
        result = check_spec(text, strict=strict)
        assert not result.ok and result.undefined
    assert "05:00.0" in (check_spec("05:00").error or "")


def test_bad_inputs() -> None:
    for text in ("", "Permissive=1,05:00.0", "05:00.0,permissive", "name=a,bdf=05:00.0",
                 "05:00.0,rdm_policy=bogus", "05:00.0 ", "05:00.*1", "a\0b"):  # fmt: skip
        with pytest.raises(InputError):
            parse_spec(text)


def test_defaults_are_applied_under_the_spec() -> None:
    flags = Flags(permissive=True, seize=True)
    spec = check_spec("05:00.0,permissive=0", defaults=flags).spec
    assert spec is not None and (spec.permissive, spec.seize) == (False, True)


def test_bdf_grammar() -> None:
    assert parse_bdf("0000:05:00.1") == PciAddress(0, 5, 0, 1)
    loose = check_bdf("05:00.0,anything", strict=False)
    assert loose.ok and loose.warnings
    assert not check_bdf("05:00.*", strict=True).ok


@pytest.mark.parametrize(
    "text",
    ["05:00.0", "0000:05:00.1@3,permissive=1,msitranslate=1,seize=1,power_mgmt=1",
     "05:00.*@1f,rdm_policy=relaxed", "name=nic0,seize=1", "vslot=3,name=nic0",
     "bdf=05:00.0,permissive=0,rdm_policy=strict"],
)  # fmt: skip
def test_formatter_round_trips(text: str) -> None:
    spec = parse_spec(text)
    again = parse_spec(format_spec(spec))
    assert again == spec and again.explicit >= {k for k in spec.explicit if k != "vslot"} - {"bdf"}
    assert format_spec(again) == format_spec(spec)


def test_json_keys() -> None:
    keys = list(check_spec("05:00.0").as_json())
    assert keys == ["input", "ok", "domain", "bus", "dev", "func", "all_functions", "vslot",
                    "permissive", "msitranslate", "seize", "power_mgmt", "rdm_policy", "name",
                    "error", "warnings"]  # fmt: skip


def test_the_spec_flag_table_drives_parser_formatter_and_globals() -> None:
    from pcipass.spec import FLAG_KEYS, GLOBAL_KEYS, SPEC_FLAGS
    from pcipass.xlcfg import effective_pci, parse_config

    assert FLAG_KEYS == ("permissive", "msitranslate", "seize", "power_mgmt")
    assert GLOBAL_KEYS == ("pci_msitranslate", "pci_power_mgmt", "pci_permissive", "pci_seize")
    for flag in SPEC_FLAGS:
        spec = parse_spec(f"05:00.0,{flag.key}=1")
        assert getattr(spec, flag.key) and format_spec(spec) == f"0000:05:00.0,{flag.key}=1"
        pci = effective_pci(parse_config(f'{flag.global_key} = 1\npci = ["05:00.0"]\n'))
        assert pci.globals[flag.global_key] == 1 and sum(pci.globals.values()) == 1
        assert [k for k in FLAG_KEYS if getattr(pci.devices[0], k)] == [flag.key]
    # xl reads the globals in its own order: their warnings come in that order
    text = "".join(f"{k} = 7\n" for k in reversed(GLOBAL_KEYS)) + 'pci = ["05:00.0"]\n'
    warned = [w.split(" = ")[0] for w in effective_pci(parse_config(text)).warnings]
    assert warned == list(GLOBAL_KEYS)
    with pytest.raises(ValueError, match="bogus"):
        Flags.preset({"bogus": True})
