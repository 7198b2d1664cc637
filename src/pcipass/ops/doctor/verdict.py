"""A check's answer: pass / warn / fail / unknown, what it read, and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    status: Status
    evidence: str
    fix: str = ""


def passed(evidence: str) -> Verdict:
    return Verdict(Status.PASS, evidence)


def warned(evidence: str, fix: str) -> Verdict:
    return Verdict(Status.WARN, evidence, fix)


def failed(evidence: str, fix: str) -> Verdict:
    return Verdict(Status.FAIL, evidence, fix)


def unknown(evidence: str, fix: str = "") -> Verdict:
    return Verdict(Status.UNKNOWN, evidence, fix)
