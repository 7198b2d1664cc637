#!/usr/bin/env python3
"""Fleet benchmark: the README's example play (ansible/examples/sriov-fleet.yml) on N
simulated Xen hosts (default 50) with Ansible's default forks (5), `ansible-playbook -c
local`, on this machine: seconds per host of the `--check` run beside the apply run and a
second apply (nothing to do). Each host is its own `pcipass sim` directory (a copy of one
xen-host), so the time includes the simulator's own work per simulated program call.

    PYTHONPATH=src:tests python3 bench/ansible_bench.py [--hosts 50] [--forks 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.fleet import (  # noqa: E402 - after the path above
    JSON_CALLBACK,
    build_and_install,
    make_sims,
    play_env,
    run_play,
    write_inventory,
)
from pcipass.sim.host import create_sim  # noqa: E402


def _run(inventory: Path, env: dict[str, str], forks: int, *args: str) -> tuple[float, dict]:
    t0 = time.monotonic()
    proc = run_play(inventory, env, "--forks", str(forks), *args)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout)["stats"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=5, help="Ansible's default is 5")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pcipass-fleet-") as tmp:
        work = Path(tmp)
        create_sim(work / "template", "xen-host")
        sims = make_sims(work / "template", work, args.hosts)
        inventory = write_inventory(work / "inventory.json",
                                    {f"xen{i:02d}": {"pcipass_sim": str(s)}
                                     for i, s in enumerate(sims)})
        env = play_env(build_and_install(work), work, callback=JSON_CALLBACK)
        print(f"{args.hosts} simulated hosts, forks {args.forks}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        for label, extra in (("--check", ("--check",)), ("apply", ()), ("apply again", ())):
            seconds, stats = _run(inventory, env, args.forks, *extra)
            changed = sum(1 for s in stats.values() if s["changed"])
            print(f"{label:12} {seconds:8.1f} s  {seconds / args.hosts:6.2f} s/host  "
                  f"hosts changed: {changed}/{len(stats)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
