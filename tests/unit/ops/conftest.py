"""Fixtures of the ops tests: a simulated kernel lab host per test (`sim`), copied from one
built per module (`kernel_template`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.sims import fresh, template
from pcipass.sim.host import SimHost


@pytest.fixture(scope="module")
def kernel_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template(tmp_path_factory, "kernel-lab")


@pytest.fixture
def sim(kernel_template: Path, tmp_path: Path) -> SimHost:
    return fresh(kernel_template, tmp_path)
