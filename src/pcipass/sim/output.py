"""`Output`: what a simulated command printed and returned."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Output:
    """What a simulated command printed and returned."""

    code: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
