#!/usr/bin/env python3
"""Where one `pcipass attach` / `detach` spends its time: each program it runs (timed at the
host boundary, `Host.run`), the host reads it makes (by kind), and a cProfile of the CLI
run in-process (`pcipass.cli.main.run`), the e1000e into the bench's PV guest and out.

Run inside the Xen lab, after nothing else made the guest (it creates it, as attach_bench):
  labs/xen/run.sh 'PYTHONPATH=$PWD/src python3 bench/profile_attach.py'
On the simulated host:  python3 bench/profile_attach.py --sim
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import sys
import time
from typing import Any

from attach_bench import E1000E, GUEST, prepare, run, settled
from bench_host import bench_host

from pcipass.host.base import Host

READS = ("try_read_text", "try_read_bytes", "listdir", "readlink", "link_name", "resolve",
         "exists", "is_dir", "lstat")


class Timed:
    """Every program `host` runs while `active`, with its seconds, and its reads by kind."""

    def __init__(self, host: Host) -> None:
        self.programs: list[tuple[str, float]] = []
        self.reads: collections.Counter[str] = collections.Counter()
        self.active = False
        kind = type(host)
        original_run = kind.run

        def timed_run(this: Host, argv: list[str], *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original_run(this, argv, *args, **kwargs)
            finally:
                if self.active:
                    self.programs.append((" ".join(argv), time.perf_counter() - start))

        kind.run = timed_run  # type: ignore[method-assign, assignment]
        for name in READS:
            self._count(kind, name)

    def _count(self, kind: type[Host], name: str) -> None:
        original = getattr(kind, name)

        def counted(this: Host, *args: Any, **kwargs: Any) -> Any:
            if self.active:
                self.reads[name] += 1
            return original(this, *args, **kwargs)

        setattr(kind, name, counted)


def profiled(timed: Timed, argv: list[str], top: int) -> None:
    """Run the CLI in-process under cProfile; print its programs, reads and hot spots."""
    from pcipass.cli.main import run as cli_run  # noqa: PLC0415

    timed.programs.clear()
    timed.reads.clear()
    timed.active = True
    profile = cProfile.Profile()
    start = time.perf_counter()
    code = profile.runcall(cli_run, argv)
    total = time.perf_counter() - start
    timed.active = False
    spent = sum(s for _, s in timed.programs)
    print(f"\n=== pcipass {' '.join(argv)}: exit {code}, {total:.2f} s in-process "
          f"(programs {spent:.2f} s, the rest {total - spent:.2f} s)")
    for said, seconds in timed.programs:
        print(f"  {seconds * 1000:8.0f} ms  {said}")
    print(f"  host reads: {sum(timed.reads.values())}: {dict(timed.reads)}")
    for key in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats(key).print_stats(top)
        body = text.getvalue()
        print(f"--- cProfile by {key} (top {top})")
        print(body[body.find("   ncalls"):].rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", action="store_true", help="use a fresh simulated xen-lab host")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    host, prefix = bench_host(args.sim, "xen-lab", "profile-attach")
    timed = Timed(host)
    domid = prepare(host)
    for verb in ("attach", "detach"):
        profiled(timed, [*prefix, verb, str(domid), E1000E], args.top)
        settled(host, domid, attached=verb == "attach")
    if os.environ.get("PROFILE_KEEP_GUEST") != "1":
        run(host, "xl", "destroy", GUEST)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
