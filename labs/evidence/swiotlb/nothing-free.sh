#!/bin/bash
# boot 3: the scenario again with durations; then no free memory at all when the PCI guest starts
O=/lab/ctl/out; mkdir -p $O
cd /mnt/share; export PCIPASS_TARGET=xen-lab PCIPASS_LAB_IOMMU=intel PYTHONPATH=/mnt/share/src PYTHONDONTWRITEBYTECODE=1
xl dmesg -c > /dev/null
T0=$(date +%s); python3 -m pytest -p no:cacheprovider -rs -v --durations=0 tests/scenarios -k "swiotlb or xen_domu"; echo "== pytest exit $? in $(( $(date +%s) - T0 ))s"
cp /var/log/xen/console/guest-nobounce.log $O/guest-nobounce-test.log; xl dmesg > $O/xl-dmesg-test.txt
xl list; xl info | grep free_memory
echo "######## nothing free when the PCI guest starts"
K=/var/lib/lab/vmlinuz; R=/var/lib/lab/domu-initrd.img
free_mb() { xl info | awk '/^free_memory/{print $3}'; }
cfg() { printf 'name = "%s"\ntype = "pv"\nkernel = "%s"\nramdisk = "%s"\nextra = "console=hvc0 quiet labsecs=60"\nmemory = %s\nvcpus = 1\non_poweroff = "destroy"\non_crash = "destroy"\npci = [ %s ]\n' "$1" $K $R "$2" "$3" > /tmp/$1.cfg; }
modprobe xen-pciback; xl pci-assignable-add 0000:02:00.0; rm -f /var/log/xen/console/guest-starved.log
cfg starved 256 "'02:00.0'"; xl create -p /tmp/starved.cfg
xl mem-set 0 960; sleep 15
F=$(free_mb); for s in 1 2 4 8; do cfg filler $((F - s)) ""; xl create -p /tmp/filler.cfg && break; xl destroy filler; done
xl mem-set 0 1024; sleep 20
echo "== free $(free_mb) MiB"; xl dmesg -c > /dev/null; xl debug-keys m; sleep 1; xl dmesg -c | grep -A10 "Physical memory information"; xl list
echo "== unpause"; xl unpause starved; sleep 90
echo "== xl dmesg"; xl dmesg -c | tail -60; echo "== guest"; tail -20 /var/log/xen/console/guest-starved.log
