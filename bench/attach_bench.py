#!/usr/bin/env python3
"""Attach benchmark: the e1000e into a running PV guest and out again, side by side.

Compares, median of --rounds runs of "attach, wait for the guest, detach, wait":
  xl       `xl pci-attach DOMID BDF` and `xl pci-detach DOMID BDF` (the raw tool);
  library  pcipass in-process: facts, domains, plan, lock, journal, verification re-reads;
  cli      `python3 -m pcipass attach/detach` as a user runs it.
Only the commands are timed, not the wait for the guest's pcifront between them (a second
device, an igb VF, stays attached so that pcifront keeps its bus). Goal: cli within 1.2x of xl.

Run inside the Xen lab:  labs/xen/run.sh 'PYTHONPATH=$PWD/src python3 bench/attach_bench.py'
On the simulated host:   python3 bench/attach_bench.py --sim
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pcipass.host import paths
from pcipass.host.base import Host
from pcipass.host.real import RealHost
from pcipass.host.xen import RECONFIGURING, backend_state, read_domains, xl_pci_list
from pcipass.ops.assign import HostFacts
from pcipass.ops.attach import AttachRequest, DetachRequest, attach_plan, detach_plan
from pcipass.ops.facts import gather_facts
from pcipass.run.executor import Executor
from pcipass.run.lock import Lock
from pcipass.run.plan import Plan
from pcipass.run.records import RecordStore

E1000E = "0000:02:00.0"
IGB_PF = "0000:03:00.0"
VF = "0000:03:10.0"
GUEST = "bench"
CONFIG = (
    f'name = "{GUEST}"\ntype = "pv"\nkernel = "/var/lib/lab/vmlinuz"\n'
    'ramdisk = "/var/lib/lab/domu-initrd.img"\nextra = "console=hvc0 quiet labsecs=1200"\n'
    f'memory = 256\nvcpus = 1\non_poweroff = "destroy"\npci = [ \'{VF}\' ]\n'
)


def run(host: Host, *argv: str) -> None:
    result = host.run(list(argv), timeout=300)
    if result.returncode != 0:
        sys.exit(f"attach_bench: `{' '.join(argv)}` failed: {result.stderr.strip()}")


def settle(host: Host, domid: int, attached: bool, timeout: float = 120.0) -> None:
    """Wait (untimed) until xl lists the e1000e or not and the guest's pcifront is done."""
    deadline = time.monotonic() + timeout
    while ((E1000E in xl_pci_list(host, domid)) != attached
           or backend_state(host, domid) in RECONFIGURING):
        if time.monotonic() > deadline:
            sys.exit(f"attach_bench: domain {domid} did not settle (attached={attached})")
        time.sleep(0.2)


def prepare(host: Host) -> int:
    """One VF, both devices assignable, the guest running with the VF; its domid."""
    if host.try_read_text(paths.dev(IGB_PF, "sriov_numvfs")) != "1":
        host.write(paths.dev(IGB_PF, "sriov_numvfs"), "1")
    deadline = time.monotonic() + 60
    while host.link_name(paths.dev(VF, "driver")) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    host.modprobe("xen-pciback")
    for bdf in (E1000E, VF):
        if host.link_name(paths.dev(bdf, "driver")) != "pciback":
            run(host, "xl", "pci-assignable-add", bdf)
    host.write_state_file("tmp/bench.cfg", CONFIG)
    run(host, "xl", "create", "/tmp/bench.cfg")
    domid = next(d.domid for d in read_domains(host) if d.name == GUEST)
    settle(host, domid, attached=False)
    return domid


def library(host: Host, build: Callable[[HostFacts], Plan]) -> None:
    with Lock(host):
        Executor(host, RecordStore(host)).run(build(gather_facts(host)))


def rounds(host: Host, domid: int, count: int, attach: Callable[[], None],
           detach: Callable[[], None]) -> float:
    """Median seconds of attach + detach (the waits for the guest in between not counted)."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        attach()
        spent = time.perf_counter() - start
        settle(host, domid, attached=True)
        start = time.perf_counter()
        detach()
        times.append(spent + time.perf_counter() - start)
        settle(host, domid, attached=False)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", action="store_true", help="use a fresh simulated xen-lab host")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.sim:
        from pcipass.sim.host import create_sim  # noqa: PLC0415

        sim_dir = Path(tempfile.mkdtemp(prefix="attach-bench-")) / "sim"
        host: Host = create_sim(sim_dir, profile="xen-lab")
        prefix = ["--sim", str(sim_dir)]
    else:
        if os.geteuid() != 0:
            sys.exit("attach_bench: run as root in the Xen lab's dom0 (or pass --sim)")
        host, prefix = RealHost("/"), []
    domid = prepare(host)
    dom = str(domid)
    cli = [sys.executable, "-m", "pcipass", *prefix]
    quiet = {"check": True, "stdout": subprocess.DEVNULL}
    results = {
        "xl": rounds(host, domid, args.rounds,
                     lambda: run(host, "xl", "pci-attach", dom, E1000E),
                     lambda: run(host, "xl", "pci-detach", dom, E1000E)),
        "library": rounds(host, domid, args.rounds,
                          lambda: library(host, lambda f: attach_plan(
                              f, read_domains(host), AttachRequest(dom, (E1000E,)))),
                          lambda: library(host, lambda f: detach_plan(
                              f, read_domains(host), DetachRequest(dom, (E1000E,))))),
        "cli": rounds(host, domid, args.rounds,
                      lambda: subprocess.run([*cli, "attach", dom, E1000E], **quiet),  # type: ignore[call-overload]
                      lambda: subprocess.run([*cli, "detach", dom, E1000E], **quiet)),  # type: ignore[call-overload]
    }
    run(host, "xl", "destroy", GUEST)
    print(f"attach_bench: {E1000E} attached to and detached from a PV guest, median of "
          f"{args.rounds} ({'simulated host' if args.sim else 'Xen'})")
    for name, seconds in results.items():
        print(f"  {name:8s} {seconds * 1000:9.1f} ms   {seconds / results['xl']:6.2f}x xl")


if __name__ == "__main__":
    main()
