"""Fixtures for the pcipass.host collection's tests: the collection importable as
`ansible_collections.pcipass.host`, simulated hosts, and a module run in-process."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from helpers.fleet import COLLECTIONS, ansible_version
from helpers.sims import fresh, template
from pcipass.sim.host import SimHost

if ansible_version() is None:
    raise pytest.UsageError("ansible-core is not installed for this Python: run scripts/setup "
                            "(pip install 'ansible-core>=2.14,<2.15')")
if str(COLLECTIONS) not in sys.path:
    sys.path.append(str(COLLECTIONS))  # after site-packages: `ansible` stays ansible-core

RunModule = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def xen_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template(tmp_path_factory, "xen-host")


@pytest.fixture
def sim(xen_template: Path, tmp_path: Path) -> SimHost:
    """A fresh copy of the simulated Xen host (82599 at 05:00.0/.1, root disk on 00:17.0)."""
    return fresh(xen_template, tmp_path)


@pytest.fixture
def run_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunModule:
    """`run_module(module, args, check=False, diff=False)`: the module's main() as Ansible
    runs it (arguments through AnsibleModule), its result JSON, `failed` set on failure."""
    from ansible.module_utils import basic  # noqa: PLC0415 - needs the check above

    def run(module: ModuleType, args: dict[str, Any], check: bool = False,
            diff: bool = False) -> dict[str, Any]:
        payload = {"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check,
                                           "_ansible_diff": diff}}
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(payload).encode())
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            module.main()
        result: dict[str, Any] = json.loads(capsys.readouterr().out)
        assert bool(exited.value.code) == bool(result.get("failed")), result
        return result

    return run
