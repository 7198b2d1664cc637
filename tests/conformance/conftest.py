"""Build the libxlutil oracle (tests/oracle/xlu_oracle.c) once per session."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from oracle_runner import Oracle

ORACLE_SOURCE = Path(__file__).resolve().parent.parent / "oracle" / "xlu_oracle.c"
HEADER = Path("/usr/include/libxlutil.h")


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Oracle:
    if not HEADER.exists():
        pytest.skip(f"{HEADER} is missing: install Debian's libxen-dev and libxenmisc4.17")
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is missing but libxlutil headers are installed: install gcc")
    binary = tmp_path_factory.mktemp("oracle") / "xlu_oracle"
    subprocess.run(
        [gcc, "-O1", "-Wall", "-o", str(binary), str(ORACLE_SOURCE), "-lxlutil", "-lxenlight",
         "-rdynamic"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Oracle(binary)
