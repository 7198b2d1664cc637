#!/usr/bin/env bash
# The example fleet play (ansible/examples/sriov-fleet.yml) once inside the kernel lab, on its
# real kernel: the igb 82576 PF at 03:00.0 gets 7 VFs, VFs 0-3 go to vfio-pci, and the
# e1000e at 02:00.0 to vfio-pci too; --check first (nothing may change), then apply, then
# apply again (must report ok). The lab has no ansible: ansible-core 2.14 is pip-installed
# (--target) into .ansible-lab/site of the work tree, which the lab mounts at /mnt/share.
#   scripts: pip install --target .ansible-lab/site 'ansible-core>=2.14,<2.15'
#   run:     labs/kernel/run.sh 'bash ansible/tests/kernel-lab-play.sh'
set -euo pipefail
cd "$(dirname "$0")/../.."
share=$PWD
[ -d "$share/.ansible-lab/site/ansible" ] || { echo "kernel-lab-play: no $share/.ansible-lab/site (pip install --target it first)" >&2; exit 1; }
export PYTHONPATH=$share/.ansible-lab/site:$share/src PYTHONDONTWRITEBYTECODE=1
export ANSIBLE_COLLECTIONS_PATH=$share/ansible ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_LOCAL_TEMP=/tmp/ansible-local ANSIBLE_REMOTE_TEMP=/tmp/ansible-remote
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_CONFIG=/tmp/no-ansible.cfg
export LANG=C.UTF-8  # ansible-core refuses a locale that is not UTF-8
play() {
  python3 -m ansible playbook -i localhost, -c local ansible/examples/sriov-fleet.yml \
    -e ansible_python_interpreter=/usr/bin/python3 -e pf_id=8086:10c9 -e vf_backend=vfio \
    -e '{"extra_assignable": [{"device": "0000:02:00.0", "id": "8086:10d3", "backend": "vfio"}]}' "$@"
}
# What the play may change: the PF's VF count, 02:00.0's driver and driver_override, and
# files under /etc and /var/lib/pcipass (any file there newer than the marker).
snapshot() {
  cat /sys/bus/pci/devices/0000:03:00.0/sriov_numvfs
  readlink /sys/bus/pci/devices/0000:02:00.0/driver
  cat /sys/bus/pci/devices/0000:02:00.0/driver_override
  find /etc /var/lib/pcipass -xdev -newer /tmp/kernel-lab-play.mark 2>/dev/null | sort || true  # no /var/lib/pcipass yet
}
timed() { local t0=$SECONDS; "$@"; echo "== ($((SECONDS - t0)) s)"; }
python3 -m ansible playbook --version | head -1
python3 --version
touch /tmp/kernel-lab-play.mark
sleep 1  # find -newer compares whole seconds on some file systems
before=$(snapshot)
echo "== ansible-playbook --check --diff"
timed play --check --diff
after=$(snapshot)
if [ "$after" != "$before" ]; then
  echo "kernel-lab-play: --check changed the host:" >&2
  diff <(echo "$before") <(echo "$after") >&2
  exit 1
fi
echo "== check mode changed nothing (03:00.0's sriov_numvfs, 02:00.0's driver and override, no file under /etc or /var/lib/pcipass):"
echo "$after" | sed 's/^/   /'
echo "== ansible-playbook (apply)"
timed play | tee /tmp/apply.out
grep -Eq 'localhost +: ok=[0-9]+ +changed=[1-9][0-9]* .*failed=0' /tmp/apply.out || { echo "kernel-lab-play: the apply changed nothing" >&2; exit 1; }
echo "== ansible-playbook (second apply)"
timed play | tee /tmp/second.out
grep -Eq 'localhost +: ok=[0-9]+ +changed=0 .*failed=0' /tmp/second.out || { echo "kernel-lab-play: the second apply was not ok" >&2; exit 1; }
echo "== the host after the play"
PYTHONPATH=$share/src python3 -m pcipass plan
PYTHONPATH=$share/src python3 -m pcipass sriov list 03:00.0
lspci -nnk -s 02:00.0 | sed -n '1,3p'
