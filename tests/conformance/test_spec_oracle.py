"""pcipass.spec against Xen 4.17's libxlutil on the whole spec corpus (and generated specs)."""

from __future__ import annotations

from typing import Any

import pytest
from compare import actual_fields, documented, documented_bdf, expected_fields
from corpus import spec_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle_runner import Oracle

from pcipass.spec import SpecCheck, check_bdf, check_spec, format_spec

pytestmark = pytest.mark.oracle


def _disagreements(inputs: list[str], answers: list[dict[str, Any]], which: str) -> list[str]:
    check = check_bdf if which == "bdf" else check_spec
    documented_form = documented_bdf if which == "bdf" else documented
    problems: list[str] = []
    for text, answer in zip(inputs, answers, strict=True):
        call = answer[which]
        got = call["answer"]
        mine: SpecCheck = check(text, strict=False)
        strict: SpecCheck = check(text, strict=True)
        if "crash" in got:
            problems.append(f"{text!r}: libxlutil crashed ({got})")
            continue
        if call["stack_dependent"] and not got["n_unassigned"]:
            problems.append(f"{text!r}: libxlutil's answer depends on the stack for another reason")
        if got["n_unassigned"]:
            # undefined in libxlutil: pcipass must reject in both modes
            if mine.ok or strict.ok:
                problems.append(f"{text!r}: uninitialised read in libxlutil but pcipass accepts")
            elif not mine.undefined and (got["rc"] == 0 or call["stack_dependent"]):
                problems.append(f"{text!r}: libxlutil's answer is undefined, pcipass says "
                                f"{mine.error!r} without saying so")  # fmt: skip
            continue
        if mine.undefined:
            problems.append(f"{text!r}: pcipass calls it undefined, libxlutil does not")
            continue
        if (got["rc"] == 0) != mine.ok:
            problems.append(f"{text!r}: libxlutil rc={got['rc']}, pcipass ok={mine.ok} "
                            f"({mine.error})")  # fmt: skip
            continue
        if not mine.ok:
            if strict.ok:
                problems.append(f"{text!r}: strict mode accepts what xl rejects")
            continue
        assert mine.spec is not None
        want = expected_fields(got)
        if which == "bdf":
            want = {k: want[k] for k in ("address", "all_functions", "vfunc_mask")}
        have = {k: actual_fields(mine.spec)[k] for k in want}
        if have != want:
            problems.append(f"{text!r}: fields differ: libxlutil {want}, pcipass {have}")
        # traps: accepted by xl but outside the documented grammar
        if documented_form(text):
            if mine.warnings or not strict.ok:
                problems.append(f"{text!r}: documented form, yet warned/refused: "
                                f"{mine.warnings} {strict.error}")  # fmt: skip
        else:
            if not mine.warnings:
                problems.append(f"{text!r}: trap accepted by xl but no warning in compatible mode")
            if strict.ok:
                problems.append(f"{text!r}: trap accepted by xl but strict mode accepts it")
    return problems


@pytest.fixture(scope="module")
def corpus_answers(oracle: Oracle) -> tuple[list[str], list[dict[str, Any]]]:
    inputs = spec_corpus()
    return inputs, oracle.pci(inputs)


def test_corpus_is_big_enough() -> None:
    assert len(spec_corpus()) >= 500


@pytest.mark.parametrize("which", ["spec", "bdf"])
def test_every_corpus_spec_agrees_with_libxlutil(
    corpus_answers: tuple[list[str], list[dict[str, Any]]], which: str
) -> None:
    inputs, answers = corpus_answers
    problems = _disagreements(inputs, answers, which)
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:30])


def test_corpus_covers_every_outcome(
    corpus_answers: tuple[list[str], list[dict[str, Any]]],
) -> None:
    """The corpus exercises acceptance, rejection, traps and the uninitialised read."""
    inputs, answers = corpus_answers
    spec = [a["spec"]["answer"] for a in answers]
    assert sum(a["rc"] == 0 for a in spec) > 150
    assert sum(a["rc"] != 0 for a in spec) > 150
    assert sum(a["n_unassigned"] for a in spec) >= 15
    assert sum(a["rc"] == 0 and not documented(t) for t, a in zip(inputs, spec, strict=True)) > 80


_ATOMS = st.sampled_from(
    ["05", "00", "0", "1", "7", "8", "1f", "20", "ffff", ":", ".", "*", "@", ",", "=", " ", "x",
     "0x", "+", "-", "bdf", "vslot", "permissive", "msitranslate", "seize", "power_mgmt",
     "rdm_policy", "name", "strict", "RELAXED", "invalid", "\t", "g", "yes", "100000000"]
)  # fmt: skip
_SMALL = st.integers(0, 0x1F).map(lambda n: f"{n:x}")
_NUMBER = st.one_of(
    _SMALL,
    _SMALL,
    _SMALL,
    st.integers(0, 2**40).map(lambda n: f"{n:x}"),
    st.sampled_from(["0x1", "+1", "-0", " 3", "0X7", "00000005", "ffffffff", "", "g"]),
)
_VALUE = st.one_of(
    st.sampled_from(["0", "1"]),
    st.sampled_from(["0", "1", "2", "yes", "", " 1", "01", "-1", "strict", "Relaxed", "invalid"]),
    _NUMBER,
)
_KEY = st.sampled_from(
    ["permissive", "msitranslate", "seize", "power_mgmt", "permissive", "seize", "rdm_policy",
     "vslot", "vslot", "name", "Seize"]
)  # fmt: skip
_BDF_TEXT = st.builds(
    lambda d, b, s, f, dom: (f"{d}:" if dom else "") + f"{b}:{s}.{f}",
    _NUMBER, _NUMBER, _NUMBER, st.one_of(_NUMBER, st.just("*")), st.booleans(),
)  # fmt: skip
_OPTION = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", _KEY, _VALUE),
    _BDF_TEXT.map(lambda b: f"bdf={b}"),
)
_STRUCTURED = st.builds(
    lambda bdf, slot, opts, comma: ",".join(
        ([bdf + (f"@{slot}" if slot is not None else "")] if bdf else []) + opts
    ) + ("," if comma else ""),
    st.one_of(_BDF_TEXT, _BDF_TEXT, st.none()), st.one_of(st.none(), _NUMBER),
    st.lists(_OPTION, max_size=4), st.booleans(),
)  # fmt: skip
_SPECS = st.one_of(
    _STRUCTURED, _STRUCTURED, _STRUCTURED, st.lists(_ATOMS, min_size=1, max_size=12).map("".join)
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(_SPECS, min_size=40, max_size=40))
def test_generated_specs_agree_with_libxlutil(oracle: Oracle, batch: list[str]) -> None:
    answers = oracle.pci(batch)
    problems = _disagreements(batch, answers, "spec") + _disagreements(batch, answers, "bdf")
    assert not problems, "\n".join(problems[:20])


def test_canonical_form_reads_back_identically_in_libxlutil(
    oracle: Oracle, corpus_answers: tuple[list[str], list[dict[str, Any]]]
) -> None:
    """format_spec of everything xl accepts: xl reads it to the same device, and it is no trap."""
    inputs, answers = corpus_answers
    accepted = [
        (text, a["spec"]["answer"])
        for text, a in zip(inputs, answers, strict=True)
        if a["spec"]["answer"].get("rc") == 0 and not a["spec"]["answer"]["n_unassigned"]
    ]
    canon = [format_spec(check_spec(text, strict=False).spec) for text, _ in accepted]  # type: ignore[arg-type]
    again = oracle.pci(canon)
    problems = [
        f"{text!r} -> {c!r}: {expected_fields(first)} vs {second['spec']['answer']}"
        for (text, first), c, second in zip(accepted, canon, again, strict=True)
        if second["spec"]["answer"].get("rc") != 0
        or expected_fields(first) != expected_fields(second["spec"]["answer"])
    ]
    assert len(accepted) > 150 and not problems, "\n".join(problems[:20])
    # canonical forms are free of traps, except an empty name= (kept: it is what xl uses)
    assert all(
        check_spec(c, strict=True).ok for c in canon if not c.startswith("name=,") and c != "name="
    )
