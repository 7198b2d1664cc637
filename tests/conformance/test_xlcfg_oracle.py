"""pcipass.xlcfg against Xen 4.17's libxlutil + xl's pci loop on the config corpus."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
from compare import RDM, actual_fields, expected_fields
from corpus import REAL_WORLD, config_corpus, generated_configs
from oracle_runner import Oracle

from helpers.cli import pcipass
from pcipass.spec import check_spec
from pcipass.xlcfg import CfgSyntaxError, effective_pci, parse_config

pytestmark = pytest.mark.oracle
STRING_KEYS = ("name", "kernel", "extra", "memory", "rdm", "type")


def config_disagreements(data: bytes, got: dict[str, Any]) -> list[str]:
    """Every way pcipass's reading of `data` differs from libxlutil's answer `got`."""
    tag = repr(data[:60])
    try:
        cfg = parse_config(data)
    except CfgSyntaxError as exc:
        # xl fails to parse it, or libxlutil aborts (an assert on NUL inside quotes)
        if got.get("parse_rc") or "crash" in got:
            return []
        return [f"{tag}: xl parses it, pcipass: {exc.line()}"]
    if "crash" in got:
        return [f"{tag}: libxlutil crashed (signal {got['crash']}), pcipass parses it"]
    if got["parse_rc"]:
        return [f"{tag}: xl fails ({got['parse_report'].strip()}), pcipass parses it"]
    problems = []
    for key, want in got["long"].items():
        rc, value, _ = cfg.get_long(key)
        if (rc, value if rc == 0 else 0) != (want["rc"], want["value"]):
            problems.append(f"{tag}: {key}: xl {want}, pcipass rc={rc} value={value}")
    for key in STRING_KEYS:
        want = got["string"][key]
        value = cfg.get_string(key)
        have = None if value is None else value.encode("latin-1").decode("utf-8", "surrogateescape")
        if have != want["value"]:
            problems.append(f"{tag}: string {key}: xl {want}, pcipass {have!r}")
    rc, items = cfg.get_list("pci")
    if rc != got["pci_list_rc"]:
        return [*problems, f"{tag}: pci list rc xl {got['pci_list_rc']}, pcipass {rc}"]
    if rc:
        return problems
    texts = [
        None if not isinstance(i, str) else i.encode("latin-1").decode("utf-8", "surrogateescape")
        for i in items
    ]
    if texts != [None if i is None else i["text"] for i in got["items"]]:
        problems.append(f"{tag}: pci items xl {got['items']}, pcipass {texts}")
    result = effective_pci(cfg, strict=False)
    xl_pci = got["xl_pci"]
    if any(a["n_unassigned"] for a in xl_pci):
        if result.ok:
            problems.append(f"{tag}: xl reads uninitialised memory, pcipass accepts")
        return problems
    xl_ok = all(a["rc"] == 0 for a in xl_pci)
    if xl_ok != result.ok:
        problems.append(f"{tag}: xl ok={xl_ok}, pcipass ok={result.ok} ({result.error})")
    good = [a for a in xl_pci if a["rc"] == 0]
    have_fields = [actual_fields(d) for d in result.devices]
    want_fields = [expected_fields(a) for a in good]
    if have_fields != want_fields:
        problems.append(f"{tag}: devices differ:\n xl      {want_fields}\n pcipass {have_fields}")
    return problems


@pytest.fixture(scope="module")
def answers(oracle: Oracle) -> list[dict[str, Any]]:
    return oracle.cfg(config_corpus())


def test_generated_configs_agree_with_libxlutil(oracle: Oracle) -> None:
    files = generated_configs(400)
    answers = oracle.cfg(files)
    problems = [p for data, got in zip(files, answers, strict=True)
                for p in config_disagreements(data, got)]  # fmt: skip
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:30])
    assert sum(a.get("parse_rc") == 0 for a in answers) > 200
    assert sum(bool(a.get("xl_pci")) for a in answers) >= 5


def test_config_corpus_is_big_enough() -> None:
    assert len(config_corpus()) >= 50


def test_every_config_agrees_with_libxlutil(answers: list[dict[str, Any]]) -> None:
    problems = [
        p
        for data, got in zip(config_corpus(), answers, strict=True)
        for p in config_disagreements(data, got)
    ]
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:30])


def test_config_corpus_covers_every_outcome(answers: list[dict[str, Any]]) -> None:
    assert sum(a["parse_rc"] != 0 for a in answers) >= 10
    with_devices = [a for a in answers if a.get("xl_pci")]
    assert len(with_devices) >= 30
    assert any(a["rc"] != 0 for got in with_devices for a in got["xl_pci"])
    assert any(a["long"]["pci_permissive"]["rc"] == 0 for a in answers if "long" in a)


def test_globals_are_copied_then_overridden(oracle: Oracle) -> None:
    """pci_permissive=1 reaches devices without permissive=, and permissive=0 overrides it."""
    data = b"pci_permissive = 1\npci = [ '05:00.0', '06:00.0,permissive=0' ]\n"
    (got,) = oracle.cfg([data])
    assert [a["permissive"] for a in got["xl_pci"]] == [1, 0]
    assert not config_disagreements(data, got)
    devices = effective_pci(parse_config(data)).devices
    assert [d.permissive for d in devices] == [True, False]
    assert check_spec("05:00.0").spec is not None


MULTI_LINE = REAL_WORLD.replace(
    "pci = [ '0000:03:10.0', '0000:03:10.2,seize=1' ]   # two VFs",
    "pci = [\n    '0000:03:10.0',      # VF 0\n    \"0000:03:10.2,seize=1\"  # VF 2\n]",
)


def _as_cli_json(answer: dict[str, Any]) -> dict[str, Any]:
    named = answer["name"] is not None
    return {
        "domain": None if named else answer["domain"],
        "bus": None if named else answer["bus"],
        "dev": None if named else answer["dev"],
        "func": None if named else answer["func"],
        "all_functions": answer["vfunc_mask"] == 0xFFFFFFFF,
        "vslot": answer["vdevfn"] >> 3 or None,
        **{k: answer[k] for k in ("permissive", "msitranslate", "seize", "power_mgmt")},
        "rdm_policy": RDM[answer["rdm_policy"]],
        "name": answer["name"],
    }


@pytest.mark.parametrize("original", [REAL_WORLD, MULTI_LINE], ids=["one-line", "multi-line"])
def test_pci_add_then_check_matches_xl(
    oracle: Oracle, tmp_path: Path, original: str
) -> None:
    path = tmp_path / "guest.cfg"
    old = original.encode()
    path.write_bytes(old)
    specs = ["0000:06:00.0@5,permissive=0", "07:00.*,seize=1", "name=nic0,msitranslate=1"]
    assert pcipass("config", "pci", "add", str(path), *specs).code == 0
    assert pcipass("config", "set", str(path), "pci_permissive", "1").code == 0
    new = path.read_bytes()
    # every unrelated byte is unchanged: the edits are one insertion into the pci list and
    # one in-place replacement of pci_permissive's value
    pci_start, pci_end = old.index(b"pci = ["), old.index(b"]", old.index(b"pci = ["))
    value_at = old.index(b"pci_permissive = ") + len(b"pci_permissive = ")
    for op, i1, i2, _, _ in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op != "equal":
            assert pci_start < i1 <= pci_end or (
                op == "replace" and (i1, i2) == (value_at, value_at + 1)
            ), (op, i1, i2)
    checked = pcipass("--json", "config", "check", str(path))
    assert checked.code == 0
    report = checked.json()
    (got,) = oracle.cfg([new])
    assert got["parse_rc"] == 0 and all(a["rc"] == 0 for a in got["xl_pci"])
    assert len(got["xl_pci"]) == 5
    mine = [{k: d[k] for k in _as_cli_json(got["xl_pci"][0])} for d in report["pci"]]
    assert mine == [_as_cli_json(a) for a in got["xl_pci"]]
    assert report["globals"]["pci_permissive"] == 1 == got["long"]["pci_permissive"]["value"]
    assert not config_disagreements(new, got)
