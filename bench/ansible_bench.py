#!/usr/bin/env python3
"""Fleet benchmark: the README's example play (ansible/examples/sriov-fleet.yml) on N
simulated Xen hosts (default 50) with Ansible's default forks (5), `ansible-playbook -c
local`, on this machine: seconds per host of the apply run beside its `--check` run, then a
second apply (nothing to do). Each host is its own `pcipass sim` directory (a copy of one
xen-host), so the time includes the simulator's own work per simulated program call.

For each run it prints the wall time, seconds per host, the CPU seconds of ansible-playbook
and everything it started (the modules included) per host, and the 1-minute load average
sampled every 5 s during the run (min/mean/max) with the number of QEMU processes seen
(other labs sharing the machine's cores).

    PYTHONPATH=src:tests python3 bench/ansible_bench.py [--hosts 50] [--forks 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
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

RUN_TIMEOUT = 4 * 3600.0
"""One run's limit (helpers.fleet's default, 900 s, is shorter than a 50-host apply)."""
SAMPLE_EVERY = 5.0


def qemu_processes() -> int:
    """How many QEMU processes run on this machine now (the labs)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path("/proc", entry, "comm").read_text(encoding="utf-8")
            except OSError:
                continue
            count += comm.startswith("qemu-system")
    return count


@dataclass
class Sampler:
    """The load average and the QEMU count, every `SAMPLE_EVERY` s, while a run lasts."""

    loads: list[float] = field(default_factory=list)
    qemus: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _loop(self) -> None:
        while True:
            self.loads.append(os.getloadavg()[0])
            self.qemus.append(qemu_processes())
            if self.stop.wait(SAMPLE_EVERY):
                return

    def __enter__(self) -> Sampler:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def summary(self) -> str:
        mean = sum(self.loads) / len(self.loads)
        return (f"load {min(self.loads):.1f}/{mean:.1f}/{max(self.loads):.1f}  "
                f"qemu {min(self.qemus)}-{max(self.qemus)}")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(inventory: Path, env: dict[str, str], forks: int, hosts: int, label: str,
         *args: str) -> str:
    cpu0, t0 = children_cpu(), time.monotonic()
    with Sampler() as sampler:
        proc = run_play(inventory, env, "--forks", str(forks), *args, timeout=RUN_TIMEOUT)
    seconds, cpu = time.monotonic() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook {' '.join(args)} failed: {proc.stderr[-2000:]}")
    stats = json.loads(proc.stdout)["stats"]
    changed = sum(1 for s in stats.values() if s["changed"])
    failed = sum(1 for s in stats.values() if s["failures"] or s["unreachable"])
    return (f"{label:12} {seconds:8.1f} {seconds / hosts:8.2f} {cpu / hosts:8.2f} "
            f"{changed:4}/{len(stats)} {failed:6}  {sampler.summary()}")


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
              f"load {os.getloadavg()[0]:.1f} at the start, {qemu_processes()} QEMU "
              "processes (other labs share the cores)", flush=True)
        print(f"{'run':12} {'wall s':>8} {'s/host':>8} {'cpu/host':>8} {'changed':>9} "
              f"{'failed':>6}  load min/mean/max during the run, QEMU processes", flush=True)
        for label, extra in (("--check", ("--check",)), ("apply", ()), ("apply again", ())):
            print(_run(inventory, env, args.forks, args.hosts, label, *extra), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
