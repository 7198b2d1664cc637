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
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_CONFIG=/dev/null
play() {
  python3 -m ansible playbook -i localhost, -c local ansible/examples/sriov-fleet.yml \
    -e ansible_python_interpreter=/usr/bin/python3 -e pf_id=8086:10c9 -e vf_backend=vfio \
    -e '{"extra_assignable": [{"device": "0000:02:00.0", "id": "8086:10d3", "backend": "vfio"}]}' "$@"
}
snapshot() { { cat /sys/bus/pci/devices/0000:03:00.0/sriov_numvfs; readlink /sys/bus/pci/devices/0000:02:00.0/driver; ls /etc/pcipass 2>&1; } | sha256sum; }
python3 -m ansible --version | head -1
python3 --version
before=$(snapshot)
echo "== ansible-playbook --check --diff"
play --check --diff
[ "$(snapshot)" = "$before" ] || { echo "kernel-lab-play: --check changed the host" >&2; exit 1; }
echo "== check mode changed nothing (sriov_numvfs, 02:00.0's driver, /etc/pcipass)"
echo "== ansible-playbook (apply)"
play
echo "== ansible-playbook (second apply)"
play | tee /tmp/second.out
grep -Eq 'localhost +: ok=[0-9]+ +changed=0 .*failed=0' /tmp/second.out || { echo "kernel-lab-play: the second apply was not ok" >&2; exit 1; }
echo "== the host after the play"
PYTHONPATH=$share/src python3 -m pcipass plan
PYTHONPATH=$share/src python3 -m pcipass sriov list 03:00.0
lspci -nnk -s 02:00.0 | sed -n '1,3p'
