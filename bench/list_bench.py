#!/usr/bin/env python3
"""Benchmark: `pcipass list`, `sriov list` (each also `--json`) and `lspci -Dnnk`, 4,096 functions.

Builds a kernel-like sysfs tree with `pcipass.sim.tree` (64 root ports, each
with an SR-IOV PF carrying 62 VFs: 64 x 64 = 4,096 functions, plus this machine's
pci.ids), runs each command several times and prints the median wall time and the
median peak memory (the child's rusage maxrss) side by side, with pcipass/lspci ratios.

    python3 bench/list_bench.py [--runs 7] [--ports 64] [--vfs 62] [--keep DIR]

A script, not a timed test: figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pcipass.host.paths import PCI_IDS_PATHS
from pcipass.sim.layout import HostSpec, PciFunction, SriovSpec, vf_function
from pcipass.sim.tree import build_tree

GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
IDS = next(
    (p for p in (Path("/", rel) for rel in PCI_IDS_PATHS) if p.is_file()),
    None,
)


def spec(ports: int, vfs: int) -> HostSpec:
    """`ports` root ports, each with one PF (8086:10fb, ixgbe) and `vfs` VFs."""
    fns: list[PciFunction] = []
    for i in range(ports):
        rp = f"0000:{i // 32:02x}:{i % 32:02x}.0"
        fns.append(
            PciFunction(
                rp,
                0x8086,
                0x8C10,
                0x060400,
                0x8086,
                0,
                pcie_type="root_port",
                driver="pcieport",
                acs=True,
                iommu_group=i,
            )
        )
        pf = PciFunction(
            f"0000:{0x10 + i:02x}:00.0",
            0x8086,
            0x10FB,
            0x020000,
            0x8086,
            0x000C,
            1,
            parent=rp,
            driver="ixgbe",
            iommu_group=1000 + i,
            flr=True,
            ari=True,
            sriov=SriovSpec(63, 0x10ED, offset=0x80, stride=2, num_vfs=vfs),
        )
        fns.append(pf)
        fns.extend(vf_function(pf, v, 10000 + i * 100 + v) for v in range(vfs))
    extra = ((PCI_IDS_PATHS[0], IDS.read_text(errors="replace")),) if IDS else ()
    return HostSpec(tuple(fns), extra_files=extra)


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of `argv` (output discarded).

    The peak comes from GNU time (``/usr/bin/time -f %M``), which forks the command
    from its own small process: a child forked straight from this Python process
    would inherit its resident size as the floor of ``ru_maxrss``. Without GNU time
    the child's ``ru_maxrss`` is used and is only an upper bound.
    """
    fd, report = tempfile.mkstemp(prefix="bench-rss-")
    os.close(fd)
    wrapped = [GNU_TIME, "-f", "%M", "-o", report, *argv] if GNU_TIME else argv
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    proc.returncode = code
    peak_kib = float(Path(report).read_text().split()[-1]) if GNU_TIME else usage.ru_maxrss
    os.unlink(report)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {err.strip()}")
    return wall, peak_kib / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ports", type=int, default=64)
    parser.add_argument("--vfs", type=int, default=62)
    parser.add_argument(
        "--keep", type=Path, help="build the tree here and keep it (reused when it exists)"
    )
    args = parser.parse_args()
    lspci = shutil.which("lspci")
    if lspci is None:
        raise SystemExit("lspci not found: install pciutils")

    root = args.keep or Path(tempfile.mkdtemp(prefix="pcipass-bench-"))
    if (root / "sys/bus/pci/devices").is_dir():
        print(f"tree: reusing {root}")
    else:
        t0 = time.perf_counter()
        host = spec(args.ports, args.vfs)
        build_tree(root, host)
        print(
            f"tree: {len(host.functions)} functions under {root} "
            f"(built in {time.perf_counter() - t0:.1f}s); pci.ids: {IDS or 'none'}"
        )
    pcipass = [sys.executable, "-m", "pcipass", "--root", str(root)]
    ids_arg = ["-i", str(root / PCI_IDS_PATHS[0])] if IDS else []
    commands = {
        "pcipass list": [*pcipass, "list"],
        "pcipass list --json": [*pcipass, "list", "--json"],
        "pcipass sriov list": [*pcipass, "sriov", "list"],
        "pcipass sriov list --json": [*pcipass, "sriov", "list", "--json"],
        "lspci -Dnnk": [
            lspci,
            "-A",
            "linux-sysfs",
            "-O",
            f"sysfs.path={root}/sys/bus/pci",
            *ids_arg,
            "-Dnnk",
        ],
        "python3 -c pass": [sys.executable, "-c", "pass"],
    }
    for argv in commands.values():
        measure(argv)  # warm the page cache
    # Interleaved rounds, so that load from elsewhere hits every command alike.
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            runs[name].append(measure(argv))
    results = {
        name: (statistics.median(w for w, _ in r), statistics.median(m for _, m in r))
        for name, r in runs.items()
    }
    base_wall, base_mem = results["lspci -Dnnk"]
    print(f"median of {args.runs} runs")
    print(f"{'command':<26} {'wall s':>8} {'peak MiB':>9} {'time/lspci':>11}")
    for name, (wall, mem) in results.items():
        print(f"{name:<26} {wall:8.3f} {mem:9.1f} {wall / base_wall:11.2f}")
    how = "GNU time" if GNU_TIME else "ru_maxrss, an upper bound"
    print(f"(python3 -c pass: the interpreter's own start-up here; peak memory by {how})")
    if not args.keep:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
