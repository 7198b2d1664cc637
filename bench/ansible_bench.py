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

`--profile` instead: where one host's time goes. The CPU seconds of one module process
(the interpreter, ansible's module_utils, pcipass's imports, then pcipass_facts and a
`--check` pcipass_state on a simulated host), then the play's pcipass_state tasks run
in-process (check, apply, apply again) with the CPU seconds of each and the apply's top
functions under cProfile.

    PYTHONPATH=src:tests python3 bench/ansible_bench.py [--hosts 50] [--forks 5]
    PYTHONPATH=src:tests python3 bench/ansible_bench.py --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.fleet import (  # noqa: E402 - after the path above
    COLLECTIONS,
    JSON_CALLBACK,
    ROOT,
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


PF_ID = (0x8086, 0x10FB)  # the example play's pf_id


def task_params(pf: str, check: bool) -> dict[str, Any]:
    """The example play's pcipass_state task for the PF `pf` (MACs from its pattern)."""
    macs = [{"index": i, "mac": f"02:00:00:00:{int(pf[-1]):02x}:{i:02x}"} for i in range(7)]
    return {"vfs": [{"pf": pf, "id": "8086:10fb", "count": 7, "settings": macs}],
            "assignable": [{"pf": pf, "vfs": "0-3", "backend": "xen"}],
            "_ansible_check_mode": check}


def process_cpu(argv: list[str], env: dict[str, str], repeat: int = 3) -> float:
    """The least CPU seconds (user + system) of `repeat` runs of `argv`."""
    best = float("inf")
    for _ in range(repeat):
        cpu0 = children_cpu()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        best = min(best, children_cpu() - cpu0)
    return best


def profile(work: Path) -> None:
    """Where one host's time goes (see the module's docstring)."""
    from pcipass.model.discovery import discover  # noqa: PLC0415
    from pcipass.ops.sriov import list_pfs  # noqa: PLC0415
    from pcipass.sim.host import SimHost  # noqa: PLC0415

    sys.path.append(str(COLLECTIONS))
    from ansible_collections.pcipass.host.plugins.module_utils.pcipass_declare import (  # noqa: PLC0415
        converge,
    )

    sim = create_sim(work / "host", "xen-host")
    pfs = [str(d.bdf) for d in list_pfs(discover(sim)) if (d.vendor_id, d.device_id) == PF_ID]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(COLLECTIONS)]))
    args = {"facts": {"sim": str(sim.directory), "doctor": False},
            "state": {"sim": str(sim.directory), **task_params(pfs[0], check=True)}}
    for name, doc in args.items():
        (work / f"{name}.json").write_text(json.dumps({"ANSIBLE_MODULE_ARGS": doc}))
    modules = "ansible_collections.pcipass.host.plugins.modules"
    py = sys.executable
    print("one module process, CPU s (least of 3):")
    for label, argv in (
            ("python3 -c pass", [py, "-c", "pass"]),
            ("import ansible.module_utils.basic", [py, "-c", "import ansible.module_utils.basic"]),
            ("+ pcipass's imports (sim host, apply, doctor)",
             [py, "-c", "import ansible.module_utils.basic, pcipass.sim.host, "
                        "pcipass.ops.persist_apply, pcipass.ops.doctor.table"]),
            ("pcipass_facts (doctor: false)", [py, "-m", f"{modules}.pcipass_facts",
                                               str(work / "facts.json")]),
            ("pcipass_state --check (one PF)", [py, "-m", f"{modules}.pcipass_state",
                                                str(work / "state.json")])):
        print(f"  {label:48} {process_cpu(argv, env):6.2f}")
    def tasks(host: Path, check: bool) -> None:
        for pf in pfs:
            converge(SimHost(host), task_params(pf, check), check, lambda _m: None)

    print(f"the play's pcipass_state tasks in-process ({', '.join(pfs)}), CPU s:")
    for label, check in (("--check", True), ("apply", False), ("apply again", False)):
        cpu0 = time.process_time()
        tasks(sim.directory, check)
        print(f"  {label:48} {time.process_time() - cpu0:6.2f}")
    profiler = cProfile.Profile()
    fresh = create_sim(work / "profiled", "xen-host")
    profiler.runcall(tasks, fresh.directory, False)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    print("an apply on a fresh host under cProfile, by own time:")
    print("\n".join(line for line in out.getvalue().splitlines()
                    if line.strip() and not line.startswith("   Ordered")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=5, help="Ansible's default is 5")
    parser.add_argument("--profile", action="store_true", help="where one host's time goes")
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="pcipass-fleet-") as tmp:
            profile(Path(tmp))
        return 0
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
