#!/bin/bash
# Lab boot 1 of the attach benchmark (issue 11): where pcipass's time goes in the Xen lab's
# TCG dom0. Run: labs/xen/run.sh 'bash bench/lab/profile.sh'  (writes /lab/ctl/out/*)
cd /mnt/share
export PYTHONPATH=$PWD/src:$PWD/bench
O=/lab/ctl/out; mkdir -p $O
TIMEFORMAT='%R s real, %U s user, %S s sys'
t() { echo "--- $*"; time "$@" >/dev/null; }
settle() {  # until the guest's pcifront is done (backend state 4)
  for i in $(seq 600); do [ "$(xenstore-read /local/domain/0/backend/pci/$1/0/state 2>/dev/null)" = 4 ] && return; sleep 0.2; done
  echo "backend of $1 not 4: $(xenstore-read /local/domain/0/backend/pci/$1/0/state)"; }
{
echo "=== $(date -u '+%F %T UTC'); load: $(cat /proc/loadavg); $(python3 --version); nproc $(nproc)"
echo "=== interpreter start-up"
for i in 1 2 3; do t python3 -c pass; done
t python3 -S -c pass
t python3 -I -S -c pass
t python3 -c 'import click'
t python3 -c 'import rich.console'
echo "=== no bytecode cache (the share is read-only): python3 -m pcipass --version"
t python3 -m pcipass --version
export PYTHONPYCACHEPREFIX=/tmp/pyc
python3 -m pcipass --version >/dev/null
echo "=== with a bytecode cache: python3 -m pcipass --version"
for i in 1 2 3; do t python3 -m pcipass --version; done
python3 -X importtime -m pcipass --version 2>$O/importtime-version.txt >/dev/null
echo "=== importtime --version, top cumulative (us)"; sort -t'|' -k2 -n $O/importtime-version.txt | tail -25
echo "=== profile_attach (creates the guest)"
PROFILE_KEEP_GUEST=1 python3 bench/profile_attach.py --top 40
dom=$(xl domid bench)
echo "=== the programs by hand (domain $dom)"
t xl info; t xl list; t xl list -l $dom; t xl pci-list $dom
t xenstore-ls -f /libxl; t xenstore-ls -f /local/domain/0/backend/pci/$dom/0
t xenstore-read /local/domain/0/backend/pci/$dom/0/state
t python3 -c 'import subprocess; subprocess.run(["true"])'
echo "=== attach --dry-run"
for i in 1 2; do t python3 -m pcipass attach --dry-run $dom 0000:02:00.0; done
python3 -X importtime -m pcipass attach --dry-run $dom 0000:02:00.0 2>$O/importtime-attach-dry.txt >/dev/null
echo "=== importtime attach --dry-run, top cumulative (us)"; sort -t'|' -k2 -n $O/importtime-attach-dry.txt | tail -40
echo "=== attach/detach by hand, each after the guest settled"
settle $dom; t python3 -m pcipass attach $dom 0000:02:00.0; settle $dom
t python3 -m pcipass detach $dom 0000:02:00.0; settle $dom
t xl pci-attach $dom 0000:02:00.0; settle $dom
t xl pci-detach $dom 0000:02:00.0; settle $dom
echo "=== pcipass domain list"; python3 -m pcipass domain list; python3 -m pcipass domain list --json
xl pci-list $dom
xl destroy bench
echo "=== done $(date -u '+%T'); load: $(cat /proc/loadavg)"
} 2>&1 | tee $O/profile.txt
