#!/bin/bash
# Lab boot of the attach benchmark (issue 11): bench/attach_bench.py (xl, library, CLI side by
# side; the CLI from a copy of src/ on the lab's local disk, as an installed pcipass, not from
# the 9p share), then each WORD (default: evidence importtime closing):
#   evidence    an attached device: `pcipass domain list` (human, --json), `xl pci-list`,
#               the backend keys, the guest's own view (its console's DOMU-PCI lines)
#   importtime  start-up from the share and from the local copy; `python3 -X importtime` of
#               `pcipass attach --dry-run`
#   closing     a detach xl leaves half-done (the guest paused, so libxl's 10-s wait for its
#               pcifront runs out), what pcipass says of it, and what clears it
#   profile     where one attach / detach spends its time (bench/profile_attach.py)
#   scenarios   the attach/detach/domain scenarios (tests/scenarios, PCIPASS_TARGET=xen-lab)
# Writes /lab/ctl/out/{bench,WORD}.txt. Run: labs/xen/run.sh 'bash bench/lab/bench.sh [ROUNDS [WORD...]]'
cd /mnt/share
export PYTHONPATH=$PWD/src:$PWD/bench PYTHONPYCACHEPREFIX=/tmp/pyc
O=/lab/ctl/out; mkdir -p $O
LOG=/var/log/xen/console/guest-bench.log
BE=/local/domain/0/backend/pci
settle() {  # until the guest's pcifront is done (backend state 4)
  for i in $(seq 600); do [ "$(xenstore-read $BE/$1/0/state 2>/dev/null)" = 4 ] && return; sleep 0.2; done
  echo "backend of $1 not 4: $(xenstore-read $BE/$1/0/state)"; }
show() { echo "\$ $*"; "$@" 2>&1; echo "(exit $?)"; }
timed() { echo "\$ $*"; local TIMEFORMAT='(%R s)'; time "$@" 2>&1; echo "(exit $?)"; }
quiet() { echo "\$ $* (output dropped)"; local TIMEFORMAT='(%R s)'; time "$@" >/dev/null 2>&1; echo "(exit $?)"; }
echo "=== $(date -u '+%F %T UTC'); load: $(cat /proc/loadavg); $(python3 --version); $(xl info | grep -E '^xen_(major|minor|extra)' | tr -s ' ' | tr '\n' ' ')" | tee $O/bench.txt
LOCAL=/tmp/pcipass-local; rm -rf $LOCAL; mkdir -p $LOCAL; cp -r src/pcipass $LOCAL/
python3 bench/attach_bench.py --rounds ${1:-3} --keep --cli-src $LOCAL 2>&1 | tee -a $O/bench.txt
dom=$(xl domid bench)
WORDS=("${@:2}"); [ ${#WORDS[@]} -gt 0 ] || WORDS=(evidence importtime closing)
evidence() {
echo "=== evidence $(date -u '+%F %T UTC'); load: $(cat /proc/loadavg); domain bench = $dom"
settle $dom
show python3 -m pcipass attach bench 0000:02:00.0
settle $dom; sleep 3  # the guest reports its devices once a second
show python3 -m pcipass domain list
show python3 -m pcipass domain list --json
show xl pci-list $dom
show xenstore-ls -f $BE/$dom/0
echo "--- the guest's view ($LOG, its DOMU lines, last 6)"
grep -E '^DOMU' $LOG | tail -6
}
importtime() {
echo "=== importtime $(date -u '+%F %T UTC'); load: $(cat /proc/loadavg)"
echo "--- from the share (cwd /mnt/share, PYTHONPATH=$PYTHONPATH: 9p)"
timed python3 -c pass
timed python3 -c 'import click'
timed python3 -m pcipass --version
echo "--- from the lab's own disk (cwd /, PYTHONPATH=$LOCAL)"
(cd / && export PYTHONPATH=$LOCAL
 timed python3 -c pass; timed python3 -c pass
 timed python3 -c 'import click'; timed python3 -m pcipass --version
 timed python3 -m pcipass --version
 timed python3 -m pcipass attach --dry-run $dom 0000:02:00.0
 python3 -X importtime -m pcipass attach --dry-run $dom 0000:02:00.0 2>$O/importtime-local.raw >/dev/null
 echo "--- importtime attach --dry-run from the local copy: pcipass.cli.main and the whole tree (us)"
 grep -E ' pcipass.cli.main$| pcipass.run.session$| click$' $O/importtime-local.raw
 echo "all self: $(awk -F'|' '/import time:/ {gsub(/[^0-9]/,"",$1); s+=$1} END {print s}' $O/importtime-local.raw)")
echo "--- the programs an attach still runs besides xl pci-attach, by hand"
quiet xl info; quiet xl list; quiet xl list -l $dom
echo "--- from the share again:"
python3 -X importtime -m pcipass attach --dry-run $dom 0000:02:00.0 2>$O/importtime-attach-dry.raw >/dev/null
echo "--- importtime attach --dry-run, top 30 cumulative (us)"; sort -t'|' -k2 -n $O/importtime-attach-dry.raw | tail -30
echo "--- top 25 self (us)"; sort -t'|' -k1.13 -n $O/importtime-attach-dry.raw | tail -25
echo "--- pcipass modules imported: $(grep -c ' pcipass' $O/importtime-attach-dry.raw), their self time (us): $(grep ' pcipass' $O/importtime-attach-dry.raw | awk -F'|' '{gsub(/[^0-9]/,"",$1); s+=$1} END {print s}'), all self: $(awk -F'|' '/import time:/ {gsub(/[^0-9]/,"",$1); s+=$1} END {print s}' $O/importtime-attach-dry.raw)"
}
closing() {
echo "=== a detach xl leaves half-done $(date -u '+%F %T UTC'); load: $(cat /proc/loadavg)"
settle $dom
show xl pause bench
timed xl pci-detach $dom 0000:02:00.0
show xenstore-ls -f $BE/$dom/0
show xl pci-list $dom
show python3 -m pcipass domain list
show xl unpause bench
sleep 60; settle $dom; sleep 3
echo "--- 60 s after unpause"
show xenstore-ls -f $BE/$dom/0
show xl pci-list $dom
grep -E '^DOMU' $LOG | tail -3
echo "--- pcipass detach of the half-done device"
timed python3 -m pcipass detach bench 0000:02:00.0
show xl pci-list $dom
echo "--- xl pci-detach again"
timed xl pci-detach $dom 0000:02:00.0
show xenstore-ls -f $BE/$dom/0
show xl pci-list $dom
echo "--- xl destroy"
timed xl destroy bench
show xenstore-ls -f $BE/$dom
show xl pci-assignable-list
show readlink /sys/bus/pci/devices/0000:02:00.0/driver
}
profile() { xl list | grep -q '^bench ' && xl destroy bench; python3 bench/profile_attach.py --top 30; }
scenarios() {  # from the boot state: the bench's devices given back, no VF
  xl list | grep -q '^bench ' && xl destroy bench
  for b in $(xl pci-assignable-list); do xl pci-assignable-remove -r $b; done
  echo 0 > /sys/bus/pci/devices/0000:03:00.0/sriov_numvfs
  PCIPASS_TARGET=xen-lab PCIPASS_LAB_IOMMU=intel PYTHONDONTWRITEBYTECODE=1 \
    python3 -m pytest -p no:cacheprovider -rs tests/scenarios -k "${SCENARIOS_K:-attach or detach or domain}"
}
for word in "${WORDS[@]}"; do
  case $word in
    evidence|importtime|closing|profile|scenarios) "$word" 2>&1 | tee $O/$word.txt ;;
    *) echo "bench.sh: unknown word $word" ;;
  esac
done
xl list | grep -q '^bench ' && xl destroy bench
echo "=== done $(date -u '+%T'); load: $(cat /proc/loadavg)"
