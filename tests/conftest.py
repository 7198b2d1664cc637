"""Fixtures for every suite: `cli` runs pcipass in-process (see `helpers.cli`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpers.cli import Result, pcipass


@pytest.fixture
def cli() -> Callable[..., Result]:
    """`cli(*args, host=None) -> Result(code, out, err)`."""
    return pcipass
