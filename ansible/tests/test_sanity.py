"""`ansible-test sanity` on the pcipass.host collection (ansible-core 2.14, Debian 12's), and
ruff with the project's rules over the collection's Python.

Run by scripts/test (`python3 -m pytest ansible/tests`), not by the fast suite.

Which sanity tests: all of ansible-test 2.14's except `pylint` — ruff checks the same files
with the project's rules, and pylint's pinned virtual environment is the slowest to build on
a new machine. `--local --python 3.11`: no container (none runs here). ansible-test still
builds one virtual environment per test with its pinned requirements from the package
index; it fetches its pip bootstrap script from a host of its own first, which this machine
cannot reach, so `get_pip.py` (beside this file) stands in for it. Its home, with those
environments, is kept in PCIPASS_ANSIBLE_TEST_HOME (default /var/cache/pcipass-ansible-test):
building them takes minutes once per machine, a run with them about 20 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.fleet import ANSIBLE_FLOOR, COLLECTION, ROOT, ansible_version

HERE = Path(__file__).resolve().parent
HOME = Path(os.environ.get("PCIPASS_ANSIBLE_TEST_HOME", "/var/cache/pcipass-ansible-test"))
SKIPPED_TESTS = ("pylint",)


def _ansible_test_home() -> Path:
    cache = HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "get_pip.py", cache / "get_pip_21_3_1.py")
    return HOME


def test_ansible_core_is_debian_12_s() -> None:
    assert ansible_version() == ANSIBLE_FLOOR


def test_ansible_test_sanity() -> None:
    env = dict(os.environ, HOME=str(_ansible_test_home()))
    skips = [arg for name in SKIPPED_TESTS for arg in ("--skip-test", name)]
    proc = subprocess.run(
        [sys.executable, "-m", "ansible", "test", "sanity", "--local", "--python", "3.11",
         "--color", "no", *skips], cwd=COLLECTION, env=env, capture_output=True, text=True,
        timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    ran = [line for line in proc.stdout.splitlines() if line.startswith("Running sanity test")]
    assert any('"validate-modules"' in line for line in ran)
    assert any('"import" on Python 3.11' in line for line in ran)
    assert any('"compile" on Python 3.11' in line for line in ran)
    assert not any('"pylint"' in line for line in ran)


def test_ruff_over_the_collection() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "ansible"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
