#!/usr/bin/env python3
"""Bind benchmark: 4 igb VFs and the e1000e to vfio-pci and back.

Compares, median of --rounds runs of "to vfio-pci, then back to the original driver":
  shell    a plain `sh` loop doing the same sysfs writes (the plan's `echo ... > file` lines;
           real hosts only) — or, on the simulated host, the same writes through `Host.write`;
  execute  pcipass executing the two plans in-process (lock, journal, records, verification
           re-reads), planned beforehand: the cost of pcipass's own safety;
  library  pcipass in-process, also reading the host (discovery) and planning;
  cli      `python3 -m pcipass assignable add/remove -r` as a user runs it;
  devbind  `dpdk-devbind.py -b vfio-pci ...` and back (Debian `dpdk`), when installed.
Prints the times and the ratios to the shell loop. Goal: library within 1.2x of shell.

Run inside the kernel lab:  labs/kernel/run.sh 'PYTHONPATH=$PWD/src python3 bench/bind_bench.py'
On the simulated host:      python3 bench/bind_bench.py --sim
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench_host import bench_host

from pcipass.host import paths
from pcipass.host.base import Host
from pcipass.host.real import RealHost
from pcipass.model.discovery import discover
from pcipass.ops.assign import AddRequest, HostFacts, add_plan, remove_plan
from pcipass.ops.facts import gather_facts
from pcipass.run.executor import Executor
from pcipass.run.lock import Lock
from pcipass.run.plan import Plan
from pcipass.run.records import RecordStore

E1000E = "0000:02:00.0"
IGB_PF = "0000:03:00.0"
IGB_VFS = ("0000:03:10.0", "0000:03:10.2", "0000:03:10.4", "0000:03:10.6")
DEVICES = (E1000E, *IGB_VFS)
ORIGINAL = {E1000E: "e1000e", **dict.fromkeys(IGB_VFS, "igbvf")}


def drivers(host: Host) -> dict[str, str | None]:
    return {b: host.link_name(paths.dev(b, "driver")) for b in DEVICES}


def wait_original(host: Host, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while drivers(host) != ORIGINAL:
        if time.monotonic() > deadline:
            sys.exit(f"bind_bench: devices not on their drivers: {drivers(host)}")
        time.sleep(0.1)


def prepare(host: Host) -> None:
    if host.try_read_text(paths.dev(IGB_PF, "sriov_numvfs")) != str(len(IGB_VFS)):
        host.write(paths.dev(IGB_PF, "sriov_numvfs"), "0")
        host.write(paths.dev(IGB_PF, "sriov_numvfs"), str(len(IGB_VFS)))
    if not host.exists(paths.drv("vfio-pci")):
        host.modprobe("vfio-pci")
    wait_original(host)


def plans(host: Host) -> tuple[Plan, Callable[[], Plan]]:
    """The add plan now, and a function giving the remove plan once the devices moved."""
    def facts() -> HostFacts:
        return gather_facts(host, discover(host, names=False))

    add = add_plan(facts(), AddRequest(DEVICES, "vfio"))
    return add, lambda: remove_plan(facts(), DEVICES, rebind=True)


def execute_round(host: Host) -> float:
    """Seconds spent executing the add and the remove plan (planning is not counted)."""
    spent = 0.0
    for build in (
        lambda f: add_plan(f, AddRequest(DEVICES, "vfio")),
        lambda f: remove_plan(f, DEVICES, rebind=True),
    ):
        plan = build(gather_facts(host, discover(host, names=False)))
        start = time.perf_counter()
        with Lock(host):
            Executor(host, RecordStore(host)).run(plan)
        spent += time.perf_counter() - start
    return spent


def library_round(host: Host) -> None:
    for build in (
        lambda f: add_plan(f, AddRequest(DEVICES, "vfio")),
        lambda f: remove_plan(f, DEVICES, rebind=True),
    ):
        with Lock(host):
            executor = Executor(host, RecordStore(host))
            executor.run(build(gather_facts(host, discover(host, names=False))))


def write_lines(plan: Plan) -> list[tuple[str, str]]:
    return [(s.path, s.data) for s in plan.steps if s.action == "write"]


def shell_round(host: Host, add: list[tuple[str, str]], back: list[tuple[str, str]]) -> None:
    if isinstance(host, RealHost):
        script = "\n".join(
            f"echo {data.strip()} > /{path}" if data.strip() else f"echo > /{path}"
            for path, data in add + back
        )
        subprocess.run(["sh", "-e", "-c", script], check=True)
    else:
        for path, data in add + back:
            host.write(path, data)


def cli_round(prefix: list[str]) -> None:
    base = [sys.executable, "-m", "pcipass", *prefix, "assignable"]
    subprocess.run([*base, "add", "--backend", "vfio", *DEVICES], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([*base, "remove", "-r", *DEVICES], check=True, stdout=subprocess.DEVNULL)


def devbind_round(tool: str) -> None:
    subprocess.run([tool, "-b", "vfio-pci", *DEVICES], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([tool, "-b", "e1000e", E1000E], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([tool, "-b", "igbvf", *IGB_VFS], check=True, stdout=subprocess.DEVNULL)


def timed(host: Host, rounds: int, body: Callable[[], float | None]) -> float:
    """Median seconds of `body` (or of the time it reports itself)."""
    times = []
    for _ in range(rounds):
        wait_original(host)
        start = time.perf_counter()
        reported = body()
        times.append(reported if reported is not None else time.perf_counter() - start)
    wait_original(host)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", action="store_true", help="use a fresh simulated kernel-lab host")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    host, prefix = bench_host(
        args.sim, "kernel-lab", "bind-bench",
        root_why="bind_bench: run as root inside the kernel lab (or pass --sim)",
        real_prefix=("--root", "/"))
    prepare(host)
    add, later = plans(host)
    Executor(host, RecordStore(host)).run(add)
    back = later()
    Executor(host, RecordStore(host)).run(back)
    results = {"shell": timed(host, args.rounds,
                              lambda: shell_round(host, write_lines(add), write_lines(back)))}
    results["execute"] = timed(host, args.rounds, lambda: execute_round(host))
    results["library"] = timed(host, args.rounds, lambda: library_round(host))
    results["cli"] = timed(host, args.rounds, lambda: cli_round(prefix))
    tool = shutil.which("dpdk-devbind.py") or shutil.which("dpdk-devbind")
    if tool and not args.sim:
        results["devbind"] = timed(host, args.rounds, lambda: devbind_round(tool))
    print(f"bind_bench: {len(DEVICES)} devices to vfio-pci and back, "
          f"median of {args.rounds} ({'simulated host' if args.sim else 'real kernel'})")
    for name, seconds in results.items():
        print(f"  {name:8s} {seconds * 1000:9.1f} ms   {seconds / results['shell']:6.2f}x shell")
    if not tool:
        print("  devbind  not installed (Debian package `dpdk`)")


if __name__ == "__main__":
    main()
