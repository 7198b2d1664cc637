"""A fleet of simulated hosts for the pcipass.host Ansible collection: the collection built
and installed, an inventory of N hosts (each its own `pcipass sim` directory), and
`ansible-playbook -c local` runs against it. Shared by tests/ansible and bench/ansible_bench.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "ansible"
COLLECTION = COLLECTIONS / "ansible_collections" / "pcipass" / "host"
EXAMPLE_PLAY = ROOT / "ansible" / "examples" / "sriov-fleet.yml"
CALLBACKS = ROOT / "ansible" / "tests" / "callback_plugins"
JSON_CALLBACK = "fleet_json"
"""The tests' stdout callback: task results per host and the stats as one JSON document."""
ANSIBLE_FLOOR = (2, 14)
"""Debian 12's ansible-core: the oldest the collection is tested with."""


def ansible(tool: str, *args: str, env: Mapping[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`ansible-TOOL ARGS` (`python3 -m ansible TOOL`, this Python's ansible-core)."""
    return subprocess.run([sys.executable, "-m", "ansible", tool, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def build_and_install(work: Path) -> Path:
    """`ansible-galaxy collection build` of the collection, installed from its tarball into
    `work/collections`; returns that collections path."""
    built = ansible("galaxy", "collection", "build", str(COLLECTION), "--output-path",
                    str(work), "--force")
    if built.returncode != 0:
        raise RuntimeError(f"ansible-galaxy collection build failed: {built.stderr}")
    tarball = next(work.glob("pcipass-host-*.tar.gz"))
    target = work / "collections"
    installed = ansible("galaxy", "collection", "install", str(tarball), "-p", str(target),
                        "--force")
    if installed.returncode != 0:
        raise RuntimeError(f"ansible-galaxy collection install failed: {installed.stderr}")
    return target


def make_sims(template: Path, under: Path, count: int) -> list[Path]:
    """`count` copies of the simulated host `template`, `under/h00` ..."""
    sims = [under / f"h{i:02d}" for i in range(count)]
    for sim in sims:
        shutil.copytree(template, sim, symlinks=True)
    return sims


def write_inventory(path: Path, hosts: Mapping[str, Mapping[str, Any]]) -> Path:
    """An inventory (YAML's JSON subset) of `hosts`, each run locally by this Python."""
    doc = {"all": {"hosts": dict(hosts),
                   "vars": {"ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable}}}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def play_env(collections: Path, work: Path, callback: str = "default") -> dict[str, str]:
    """The environment of a play run: the installed collection, this tree's pcipass for the
    modules, no ansible.cfg of the caller's, Ansible's temporary files under `work`."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(work / "no-ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_STDOUT_CALLBACK": callback,
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_LOCAL_TEMP": str(work / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(work / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
    })
    return env


def run_play(inventory: Path, env: Mapping[str, str], *args: str,
             play: Path = EXAMPLE_PLAY, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook -i INVENTORY -c local PLAY ARGS`."""
    return ansible("playbook", "-i", str(inventory), "-c", "local", str(play), *args, env=env,
                   cwd=inventory.parent, timeout=timeout)


SIM_BOOKKEEPING = frozenset({".lock", ".sim.json.tmp"})
"""The simulator's own lock and write probe (any simulated program run makes them, a plain
`pcipass list` too): not host state, so not in a simulated host's digest."""


def tree_digest(path: Path) -> str:
    """sha256 over a simulated host's tree (less `SIM_BOOKKEEPING`): every entry's relative
    path, mode, and bytes or link target."""
    digest = hashlib.sha256()
    for entry in sorted(path.rglob("*")):
        if entry.parent == path and entry.name in SIM_BOOKKEEPING:
            continue
        digest.update(str(entry.relative_to(path)).encode() + b"\0")
        st = entry.lstat()
        digest.update(f"{st.st_mode:o}\0".encode())
        if entry.is_symlink():
            digest.update(os.readlink(entry).encode())
        elif entry.is_file():
            digest.update(entry.read_bytes())
    return digest.hexdigest()


def ansible_version() -> tuple[int, int] | None:
    """This Python's ansible-core (major, minor), or None when it has none."""
    try:
        from ansible.release import __version__  # noqa: PLC0415 - only to report it
    except ImportError:
        return None
    major, minor = __version__.split(".")[:2]
    return int(major), int(minor)
