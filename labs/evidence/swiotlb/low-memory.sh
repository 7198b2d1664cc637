#!/bin/bash
# xen-low-memory: libxenctrl's xc_availheap(max_width=32) after boot against Xen's own heap
# dump (zones <= 20), then the swiotlb scenarios (starved state: doctor's verdict).
# (Run 4 called library_paths() with no argument: LIBRARY_DIRS was its default then.)
O=/lab/ctl/out; mkdir -p $O
export PYTHONPATH=/mnt/share/src PYTHONDONTWRITEBYTECODE=1
echo "== $(date -u +%FT%TZ) xen: $(xl info | grep -E 'xen_version|total_memory|free_memory' | tr -s ' ' | tr '\n' ' ')"
ls -l /usr/lib/x86_64-linux-gnu/libxenctrl*
python3 -c 'from pcipass.host import xenctrl as x; print("library_paths:", x.library_paths(x.LIBRARY_DIRS)); b = x.free_below(32); print("xc_availheap(0, 32, -1):", b, "bytes =", b // 4096, "pages"); print("xc_availheap(0, 0, -1) (all):", x.avail_heap(x.load(x.library_paths(x.LIBRARY_DIRS)), 0) // 4096, "pages")'
xl debug-keys H; xl dmesg > /tmp/ring.txt
python3 - <<'PY'
import re
ring = open("/tmp/ring.txt").read()
dump = ring[ring.rindex("'H' pressed"):]
zones = [(int(z), int(n)) for z, n in re.findall(r"zone=(\d+)\] -> (\d+) pages", dump)]
print(dump.splitlines()[0])
print("\n".join(f"  zone {z}: {n} pages" for z, n in zones if n))
print("zones <= 20:", sum(n for z, n in zones if z <= 20), "pages; all zones:",
      sum(n for _, n in zones), "pages")
PY
xl debug-keys m; xl dmesg | tail -12 | grep -E "heap|DMA"
echo "== doctor after boot"
python3 -m pcipass doctor | grep -E "CHECK|xen-free-memory|xen-low-memory"; echo "exit ${PIPESTATUS[0]}"
echo "== doctor as nobody (not root)"
setpriv --reuid=65534 --regid=65534 --clear-groups python3 -m pcipass doctor --json 2>/tmp/err.txt | python3 -c 'import json,sys; [print(r["check"], r["status"], "|", r["evidence"], "|", r["fix"]) for r in json.load(sys.stdin)["checks"] if r["check"] == "xen-low-memory"]'; echo "stderr: $(cat /tmp/err.txt)"
cd /mnt/share; export PCIPASS_TARGET=xen-lab PCIPASS_LAB_IOMMU=intel
T0=$(date +%s); python3 -m pytest -p no:cacheprovider -rs -v -s tests/scenarios/test_swiotlb.py; echo "== pytest exit $? in $(( $(date +%s) - T0 ))s"
