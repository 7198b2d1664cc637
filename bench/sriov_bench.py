#!/usr/bin/env python3
"""SR-IOV benchmark: 7 VFs on the igb PF until every VF is on igbvf, and back to 0.

Compares, median of --rounds interleaved runs (each from 0 VFs):
  shell    `sh -c 'echo 7 > sriov_numvfs; udevadm settle'` (the how-to's way, with the wait
           a careful script adds), then a poll until every VF has a driver;
  library  pcipass in-process: read the host, plan, lock, journal, write, verify, and wait
           until the VFs settle (`session.execute` + `wait_settled`, what the command runs);
  cli      `python3 -m pcipass sriov enable PF --vfs 7` as a user runs it: library plus the
           interpreter's start-up and imports.
Disabling (`echo 0`) between rounds is not timed. Goal: library within 1.2x of shell.
Bytecode is cached (PYTHONPYCACHEPREFIX) as an installed pcipass has it.

Run inside the kernel lab:  labs/kernel/run.sh 'PYTHONPATH=$PWD/src python3 bench/sriov_bench.py'
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PF = "0000:03:00.0"
DEV = Path("/sys/bus/pci/devices")


def vf_drivers(pf: str) -> list[str | None]:
    """The driver of each current VF of `pf` (None: none yet)."""
    links = sorted((DEV / pf).glob("virtfn*"), key=lambda p: int(p.name[6:]))
    return [os.path.basename(os.readlink(v / "driver")) if (v / "driver").exists() else None
            for v in links]


def wait_bound(pf: str, count: int, deadline: float = 60.0) -> None:
    """Poll until `count` VFs exist and each has a driver."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        drivers = vf_drivers(pf)
        if len(drivers) == count and all(drivers):
            return
        time.sleep(0.005)
    raise SystemExit(f"VFs of {pf} did not settle: {vf_drivers(pf)}")


def reset(pf: str) -> None:
    (DEV / pf / "sriov_numvfs").write_text("0")
    subprocess.run(["udevadm", "settle"], check=True)


def shell(pf: str, count: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", f"echo {count} > {DEV / pf / 'sriov_numvfs'}; udevadm settle"],
                   check=True)
    wait_bound(pf, count)
    return time.perf_counter() - t0


def library(pf: str, count: int) -> float:
    from pcipass.host.real import RealHost  # noqa: PLC0415 - the shell way needs none of it
    from pcipass.ops.sriov import EnableRequest, enable_plan  # noqa: PLC0415
    from pcipass.run.session import execute  # noqa: PLC0415
    from pcipass.run.settle import wait_settled  # noqa: PLC0415

    host = RealHost("/")
    t0 = time.perf_counter()
    execute(host, lambda facts: enable_plan(facts, EnableRequest(pf, count)), dry_run=False)
    warnings = wait_settled(host, pf)
    wall = time.perf_counter() - t0
    if warnings:
        raise SystemExit(f"VFs did not settle: {warnings}")
    return wall


def cli(pf: str, count: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pcipass", "sriov", "enable", pf, "--vfs", str(count)],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    drivers = vf_drivers(pf)
    if len(drivers) != count or not all(drivers):
        raise SystemExit(f"pcipass returned before the VFs settled: {drivers}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--vfs", type=int, default=7)
    parser.add_argument("--pf", default=PF)
    args = parser.parse_args()
    ways = {"shell": shell, "library": library, "cli": cli}
    times: dict[str, list[float]] = {name: [] for name in ways}
    os.environ.setdefault("PYTHONPYCACHEPREFIX", "/tmp/pcipass-pycache")
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
    reset(args.pf)
    for way in ways.values():  # warm: imports, bytecode, igbvf loaded
        way(args.pf, args.vfs)
        reset(args.pf)
    for _ in range(args.rounds):
        for name, way in ways.items():
            times[name].append(way(args.pf, args.vfs))
            reset(args.pf)
    base = statistics.median(times["shell"])
    print(f"sriov enable {args.pf} --vfs {args.vfs}: median of {args.rounds} rounds")
    print(f"{'way':<8} {'median s':>9} {'min s':>7} {'max s':>7} {'/shell':>7}")
    for name, runs in times.items():
        med = statistics.median(runs)
        print(f"{name:<8} {med:9.3f} {min(runs):7.3f} {max(runs):7.3f} {med / base:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
