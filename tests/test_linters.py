"""The linters configured in pyproject.toml, run as tests: `ruff check` and `mypy --strict`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "argv",
    [("ruff", "check", "src", "tests", "bench"), ("mypy",)],
    ids=["ruff", "mypy"],
)
def test_clean(argv: tuple[str, ...]) -> None:
    proc = _run(*argv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
