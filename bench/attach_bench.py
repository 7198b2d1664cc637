#!/usr/bin/env python3
"""Attach benchmark: the e1000e into a running PV guest and out again, side by side.

Three ways, interleaved (each round runs all three, in a rotating order), medians of --rounds:
  xl       `xl pci-attach DOMID BDF`, later `xl pci-detach DOMID BDF` (the raw tool);
  library  pcipass in-process, what the command runs: facts, the domain read once, plan,
           lock, journal, xl, verification (`session.execute`), without the interpreter;
  cli      `python3 -m pcipass attach/detach DOMID BDF` as a user runs it: the library, the
           interpreter's start-up and imports, and the wait for the guest's pcifront.
Two clocks per command: until the command returns, and until the guest has taken the
hot-plug (xl lists the device, or no longer does, and the PCI backend is no longer
reconfiguring, polled every 20 ms). xl returns before the guest has finished an attach; the
CLI waits for it; the library way does not (the bench's poll then does). Before each command
the bench waits until every way starts from the same state: the backend Connected (4) and the
guest's own view (its console's last `DOMU: ... PCI devices:` report, labs/xen/domu-init)
holding the device, or not. A second device, an igb VF, stays attached so that pcifront keeps
its bus. The backend's xenbus state right after each command returns is counted, and so are
the programs the library way runs.
Bytecode is cached (PYTHONPYCACHEPREFIX) as an installed pcipass has it; a warm-up (not
counted: `pcipass --version` and one xl attach + detach) fills it and does the guest's first
hot-plug. Goal: ≤ 1.2x of xl.

Run inside the Xen lab:  labs/xen/run.sh 'PYTHONPATH=$PWD/src python3 bench/attach_bench.py'
On the simulated host:   python3 bench/attach_bench.py --sim
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from bench_host import bench_host

from pcipass.host import paths
from pcipass.host.base import DEFAULT_RUN_TIMEOUT, Host, RunResult
from pcipass.host.xen import RECONFIGURING, backend_state, pci_list, read_domains
from pcipass.host.xenstore import XenstoreReader
from pcipass.ops.assign import HostFacts
from pcipass.ops.attach import AttachRequest, DetachRequest, attach_plan, detach_plan
from pcipass.run.plan import Plan
from pcipass.run.session import execute

E1000E = "0000:02:00.0"
E1000E_ID = "8086:10d3"
IGB_PF = "0000:03:00.0"
VF = "0000:03:10.0"
GUEST = "bench"
CONFIG = (
    f'name = "{GUEST}"\ntype = "pv"\nkernel = "/var/lib/lab/vmlinuz"\n'
    'ramdisk = "/var/lib/lab/domu-initrd.img"\nextra = "console=hvc0 quiet labsecs=1800"\n'
    f'memory = 256\nvcpus = 1\non_poweroff = "destroy"\npci = [ \'{VF}\' ]\n'
)
GUEST_LOG = f"var/log/xen/console/guest-{GUEST}.log"
WAYS = ("xl", "library", "cli")
CLI_ENV: dict[str, str] | None = None
"""The CLI's environment (None: this process's; `--cli-src` sets its PYTHONPATH)."""
CLI_CWD: str | None = None
CLOCKS = ("attach", "attach+guest", "detach", "detach+guest")


class Counted:
    """Counts the programs a `Host` runs while `active` (the library way's subprocesses), by
    program and verb (paths, ids and addresses left out), and its in-process xenstore reads
    (`Host.xenstore`: libxenstore in the lab) as `xs-read` / `xs-tree`."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.runs: collections.Counter[str] = collections.Counter()
        self.active = False
        original, store = host.run, host.xenstore()

        def run(argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
            if self.active:
                self.runs[" ".join(a for a in argv if not a[:1].isdigit() and
                                   not a.startswith("/"))] += 1
            return original(argv, timeout)

        host.run = run  # type: ignore[method-assign]
        if store is not None:
            host.xenstore = lambda: Reads(self, store)  # type: ignore[method-assign]


class Reads:
    """A host's xenstore reader whose reads `Counted` counts."""

    def __init__(self, counted: Counted, store: XenstoreReader) -> None:
        self.counted, self.store = counted, store

    def read(self, path: str) -> str | None:
        self.counted.runs["xs-read (in-process)"] += self.counted.active
        return self.store.read(path)

    def tree(self, paths: Sequence[str]) -> dict[str, str]:
        self.counted.runs["xs-tree (in-process)"] += self.counted.active
        return self.store.tree(paths)


def run(host: Host, *argv: str) -> None:
    result = host.run(list(argv), timeout=300)
    if result.returncode != 0:
        sys.exit(f"attach_bench: `{' '.join(argv)}` failed: {result.stderr.strip()}")


def settled(host: Host, domid: int, attached: bool, timeout: float = 300.0) -> None:
    """Poll until xl lists the e1000e (or not) and the guest's pcifront is done."""
    deadline = time.monotonic() + timeout
    while ((E1000E in pci_list(host, domid)) != attached
           or backend_state(host, domid) in RECONFIGURING):
        if time.monotonic() > deadline:
            sys.exit(f"attach_bench: domain {domid} did not settle (attached={attached})")
        time.sleep(0.02)


def guest_view(host: Host) -> list[str] | None:
    """The `DOMU-PCI: <BDF> <vendor>:<device> class=..` lines of the guest's last report of
    its PCI devices (None: no console log, as on the simulated host)."""
    text = host.try_read_text(GUEST_LOG)
    if text is None:
        return None
    lines = text.splitlines()
    start = max((i for i, line in enumerate(lines) if " PCI devices: [" in line), default=-1)
    return [line.strip() for line in lines[start + 1:] if line.startswith("DOMU-PCI: ")]


def ready(host: Host, domid: int, attached: bool, timeout: float = 300.0) -> float:
    """Wait until the guest is where a command should start: its PCI backend Connected (4)
    and its own view holding the e1000e (or not); the seconds waited."""
    start = time.monotonic()
    while True:
        state, view = backend_state(host, domid), guest_view(host)
        seen = view is None or any(E1000E_ID in line for line in view) == attached
        if state == "4" and seen:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            sys.exit(f"attach_bench: domain {domid} not ready after {timeout:.0f}s: backend "
                     f"state {state}, the guest sees {view}")
        time.sleep(0.1)


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
    deadline = time.monotonic() + 180
    while backend_state(host, domid) != "4":  # the guest's pcifront has connected
        if time.monotonic() > deadline:
            sys.exit("attach_bench: the guest's pcifront did not connect")
        time.sleep(0.2)
    return domid


def library(host: Host, build: Callable[[HostFacts], Plan]) -> None:
    outcome = execute(host, build, dry_run=False).outcome
    if outcome is None or outcome.state != "done":
        sys.exit(f"attach_bench: the library way ended {outcome}")


class Bench:
    """The three ways on one guest, and what each clock measured."""

    def __init__(self, counted: Counted, domid: int, cli: list[str]) -> None:
        self.host, self.domid, self.cli = counted.host, domid, cli
        self.times: dict[str, dict[str, list[float]]] = {
            w: {c: [] for c in CLOCKS} for w in WAYS}
        self.states: dict[str, collections.Counter[str]] = {
            w: collections.Counter() for w in WAYS}
        self.counted = counted
        self.counted.runs.clear()

    def command(self, way: str, verb: str) -> None:
        dom = str(self.domid)
        if way == "xl":
            run(self.host, "xl", f"pci-{verb}", dom, E1000E)
        elif way == "cli":
            subprocess.run([*self.cli, verb, dom, E1000E], check=True, stdout=subprocess.DEVNULL,
                           env=CLI_ENV, cwd=CLI_CWD,
                           timeout=900)
        elif verb == "attach":
            library(self.host, lambda f: attach_plan(
                f, read_domains(self.host, dom), AttachRequest(dom, (E1000E,))))
        else:
            library(self.host, lambda f: detach_plan(
                f, read_domains(self.host, dom, config=False), DetachRequest(dom, (E1000E,))))

    def one(self, way: str, verb: str) -> None:
        waited = ready(self.host, self.domid, attached=verb != "attach")
        self.counted.active = way == "library"
        start = time.perf_counter()
        self.command(way, verb)
        returned = time.perf_counter() - start
        self.counted.active = False
        self.states[way][f"{verb}:{backend_state(self.host, self.domid)}"] += 1
        settled(self.host, self.domid, attached=verb == "attach")
        self.times[way][verb].append(returned)
        self.times[way][f"{verb}+guest"].append(time.perf_counter() - start)
        print(f"attach_bench: {way:<7} {verb:<6} {returned * 1000:7.0f} ms returned, "
              f"{self.times[way][f'{verb}+guest'][-1] * 1000:7.0f} ms guest done "
              f"(waited {waited:.1f}s for the guest before)", flush=True)

    def round(self, order: tuple[str, ...]) -> None:
        for way in order:
            self.one(way, "attach")
            self.one(way, "detach")


def startup(argv: list[str], count: int) -> float:
    """Median seconds of running `argv` (the interpreter's start-up, imports)."""
    spent = []
    for _ in range(count):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=CLI_ENV, cwd=CLI_CWD)
        spent.append(time.perf_counter() - start)
    return statistics.median(spent)


def load() -> str:
    """The load average (1, 5, 15 min) of the machine the bench runs on."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(bench: Bench, rounds: int, where: str, starts: dict[str, float],
           began: str) -> None:
    med = {w: {c: statistics.median(bench.times[w][c][:rounds]) for c in CLOCKS} for w in WAYS}
    print(f"\nattach_bench: {E1000E} attached to and detached from a PV guest ({where}), "
          f"medians of {rounds} interleaved rounds, ms (x: ratio to xl on the same clock)")
    print(f"  {began}; load average at the end: {load()}")
    print(f"{'way':<8}" + "".join(f"{c:>22}" for c in CLOCKS))
    for way in WAYS:
        cells = "".join(f"{med[way][c] * 1000:13.0f} ({med[way][c] / med['xl'][c]:5.2f}x)"
                        for c in CLOCKS)
        print(f"{way:<8}{cells}")
    for way in WAYS:
        every = "; ".join(f"{c} " + " ".join(f"{t * 1000:.0f}" for t in bench.times[way][c])
                          for c in CLOCKS)
        print(f"  {way} every round, ms: {every}")
    for way in WAYS:
        print(f"  backend state right after {way} returned: {dict(bench.states[way])}")
    each = {name: count / rounds for name, count in bench.counted.runs.items()}
    programs = sum(n for name, n in each.items() if not name.startswith("xs-"))
    print(f"  programs the library way ran per attach + detach: {programs:g}; and every "
          "in-process read: " + ", ".join(f"{name} {n:g}" for name, n in each.items() if n))
    for name, seconds in starts.items():
        print(f"  {name}: {seconds * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", action="store_true", help="use a fresh simulated xen-lab host")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the guest running")
    parser.add_argument("--cli-src", metavar="DIR",
                        help="run the CLI from this copy of src/, from /, as an installed "
                        "pcipass on the local disk (the lab's share is 9p: every import "
                        "there stats each share directory on sys.path)")
    args = parser.parse_args()
    global CLI_ENV, CLI_CWD  # noqa: PLW0603 - one setting for every CLI run
    if args.cli_src:
        CLI_ENV, CLI_CWD = dict(os.environ, PYTHONPATH=args.cli_src), "/"
    os.environ.setdefault("PYTHONPYCACHEPREFIX", "/tmp/pcipass-pycache")
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
    host, prefix = bench_host(
        args.sim, "xen-lab", "attach-bench",
        root_why="attach_bench: run as root in the Xen lab's dom0 (or pass --sim)")
    began = (f"started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average "
             f"{load()}")
    print(f"attach_bench: {began}", flush=True)
    domid = prepare(host)
    cli = [sys.executable, "-m", "pcipass", *prefix]
    counted = Counted(host)
    # Warm-up, not counted: the CLI's bytecode and page cache, the guest's first hot-plug.
    startup([*cli, "--version"], 1)
    Bench(counted, domid, cli).round(("xl",))
    bench = Bench(counted, domid, cli)
    done = 0
    for i in range(args.rounds):
        try:
            bench.round(WAYS[i % 3:] + WAYS[:i % 3])
        except (subprocess.CalledProcessError, SystemExit) as exc:
            # A failed command (the lab's xl once kept a device it said it detached): said,
            # and the rounds that ran are reported; the guest is no longer in a known state.
            print(f"attach_bench: round {i + 1} stopped: {exc}", flush=True)
            break
        done += 1
    if done == 0:
        sys.exit("attach_bench: no round finished")
    starts = {"python3 -c pass": startup([sys.executable, "-c", "pass"], args.rounds),
              "python3 -m pcipass --version (start-up + imports)":
              startup([*cli, "--version"], args.rounds)}
    if not args.keep:
        run(host, "xl", "destroy", GUEST)
    report(bench, done, "simulated host" if args.sim else "Xen lab", starts, began)


if __name__ == "__main__":
    main()
