#!/bin/bash
# Lab boot of the attach benchmark (issue 11): bench/attach_bench.py (xl, library, CLI side by
# side), then the evidence of an attached device: `pcipass domain list` (human, --json),
# `xl pci-list`, the guest's own view (its console's DOMU-PCI lines); then where one attach /
# detach spends its time (bench/profile_attach.py). Writes /lab/ctl/out/{bench,evidence,profile}.txt
# Run: labs/xen/run.sh 'bash bench/lab/bench.sh [ROUNDS [profile]]'
cd /mnt/share
export PYTHONPATH=$PWD/src:$PWD/bench PYTHONPYCACHEPREFIX=/tmp/pyc
O=/lab/ctl/out; mkdir -p $O
LOG=/var/log/xen/console/guest-bench.log
settle() {  # until the guest's pcifront is done (backend state 4)
  for i in $(seq 600); do [ "$(xenstore-read /local/domain/0/backend/pci/$1/0/state 2>/dev/null)" = 4 ] && return; sleep 0.2; done
  echo "backend of $1 not 4: $(xenstore-read /local/domain/0/backend/pci/$1/0/state)"; }
show() { echo "\$ $*"; "$@" 2>&1; echo "(exit $?)"; }
echo "=== $(date -u '+%F %T UTC'); load: $(cat /proc/loadavg); $(python3 --version); $(xl info | grep -E '^xen_(major|minor|extra)' | tr -s ' ' | tr '\n' ' ')" | tee $O/bench.txt
python3 bench/attach_bench.py --rounds ${1:-3} --keep 2>&1 | tee -a $O/bench.txt
dom=$(xl domid bench)
{
echo "=== evidence $(date -u '+%F %T UTC'); load: $(cat /proc/loadavg); domain bench = $dom"
show python3 -m pcipass attach bench 0000:02:00.0
settle $dom; sleep 3  # the guest reports its devices once a second
show python3 -m pcipass domain list
show python3 -m pcipass domain list --json
show xl pci-list $dom
show xenstore-ls -f /local/domain/0/backend/pci/$dom/0
echo "--- the guest's view ($LOG, its DOMU lines)"
grep -E '^DOMU' $LOG
xl destroy bench
} 2>&1 | tee $O/evidence.txt
[ "${2:-}" = profile ] && python3 bench/profile_attach.py --top 30 2>&1 | tee $O/profile.txt
echo "=== done $(date -u '+%T'); load: $(cat /proc/loadavg)" | tee -a $O/profile.txt
