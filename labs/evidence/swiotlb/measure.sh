#!/bin/bash
# swiotlb experiment: free memory only above 4 GiB when the PCI guest's pcifront starts.
O=/lab/ctl/out; mkdir -p $O
export PYTHONPATH=/mnt/share/src PYTHONDONTWRITEBYTECODE=1
K=/var/lib/lab/vmlinuz; R=/var/lib/lab/domu-initrd.img
BAL=/sys/devices/system/xen_memory/xen_memory0
free_mb() { xl info | awk '/^free_memory/{print $3}'; }
dom0_mb() { xl list 0 | awk 'NR==2{print $3}'; }
zones() {
  echo "== zones: $1 (free_memory $(free_mb) MiB, dom0 $(dom0_mb) MiB, dom0 current_kb $(cat $BAL/info/current_kb) target_kb $(cat $BAL/target_kb))"
  xl debug-keys H; sleep 2
  xl dmesg -c > /tmp/d.txt; cat /tmp/d.txt >> $O/xl-dmesg-all.txt
  grep -E "heap\[|pressed" /tmp/d.txt
  xl list | sed 's/^/   /'
}
cfg() { # name mem pci
  printf 'name = "%s"\ntype = "pv"\nkernel = "%s"\nramdisk = "%s"\nextra = "console=hvc0 quiet labsecs=%s"\nmemory = %s\nvcpus = 1\non_poweroff = "destroy"\non_crash = "destroy"\npci = [ %s ]\n' "$1" $K $R "${4:-60}" "$2" "$3" > /tmp/$1.cfg
}
echo "== xen: $(xl info | grep -E 'xen_version|total_memory|free_memory|xen_commandline' | tr '\n' ' ')"
xl dmesg > $O/xl-dmesg-boot.txt
grep -iE "e820|RAM|Dom0 has|dom0.*memory|Init. allocation|boot allocator" $O/xl-dmesg-boot.txt | head -30
xl debug-keys m; sleep 1; xl dmesg -c | tail -20 ; xl dmesg -c >/dev/null
modprobe xen-pciback
xl pci-assignable-add 0000:02:00.0; xl pci-assignable-list
DOM0=$(dom0_mb)
attempt() { # tag H_MB D_MB
  local tag=$1 H=$2 D=$3 s
  echo; echo "######## attempt $tag: high filler ${H} MiB, dom0 gives back ${D} MiB"
  zones "$tag start"; echo "t=$(date +%T)"
  cfg nobounce 256 "'02:00.0'" 90
  xl create -p /tmp/nobounce.cfg || { echo "guest create failed"; return 1; }
  zones "$tag guest created paused"
  xl mem-set 0 $((DOM0 - D)); sleep 15
  zones "$tag dom0 gave back $D MiB"
  cfg hifill $H ""
  xl create -p /tmp/hifill.cfg || echo "hifill create failed"
  zones "$tag high filler created"
  F=$(free_mb); ok=
  for s in 1 2 4 8 16 32; do cfg lowfill $((F - s)) ""; if xl create -p /tmp/lowfill.cfg 2>/tmp/lf.err; then ok=$s; break; fi; xl destroy lowfill 2>/dev/null; done
  echo "lowfill: free was $F, created with slack $ok"
  zones "$tag low filler created"
  xl mem-set 0 $DOM0; sleep 20
  zones "$tag dom0 ballooned up to $DOM0"
  cat $BAL/info/current_kb > $BAL/target_kb; sleep 5
  zones "$tag dom0 target set to its current_kb"
  xl destroy hifill; sleep 5
  zones "$tag high filler destroyed"
  echo "t=$(date +%T)"; F=$(free_mb)
  if [ "${F:-0}" -lt 4 ]; then echo "free $F MiB < 4: not unpausing (IOMMU split crash)"; else
    echo "unpause t=$(date +%T)"; xl unpause nobounce
    for i in $(seq 1 100); do grep -qE "Error setting up PCI Frontend|DOMU-PCI:|DOMU: t=[1-9]" /var/log/xen/console/guest-nobounce.log 2>/dev/null && break; sleep 3; done
    sleep 10
    echo "== guest log ($tag)"; cp /var/log/xen/console/guest-nobounce.log $O/guest-nobounce-$tag.log
    grep -vE "^\s*$" /var/log/xen/console/guest-nobounce.log | grep -iE "pcifront|swiotlb|DOMU|xen|error|fail|mem" | head -40
    zones "$tag guest running"
    echo "== doctor --log ($tag)"; python3 -m pcipass doctor --log /var/log/xen/console/guest-nobounce.log; echo "exit $?"
    python3 -m pcipass doctor --json --log /var/log/xen/console/guest-nobounce.log > $O/doctor-log-$tag.json; echo "exit $?"
    echo "== doctor --explain"; python3 -m pcipass doctor --explain "$(grep -m1 'Could not setup SWIOTLB' /var/log/xen/console/guest-nobounce.log)"; echo "exit $?"
    xl info > $O/xl-info-$tag.txt
  fi
  for d in hifill lowfill nobounce; do xl destroy $d 2>/dev/null; done; sleep 5; xl list
  xl mem-set 0 $DOM0; sleep 15
  zones "$tag cleaned up"
  rm -f /var/log/xen/console/guest-nobounce.log
}
T0=$(date +%s); attempt b 96 128; echo "== attempt took $(( $(date +%s) - T0 ))s"
xl dmesg >> $O/xl-dmesg-all.txt
xl pci-assignable-remove -r 0000:02:00.0; sleep 3; readlink /sys/bus/pci/devices/0000:02:00.0/driver
echo "== end free $(free_mb) dom0 $(dom0_mb)"
cd /mnt/share; export PCIPASS_TARGET=xen-lab PCIPASS_LAB_IOMMU=intel
T0=$(date +%s); python3 -m pytest -p no:cacheprovider -rs -v tests/scenarios -k "swiotlb or xen_domu"; echo "== pytest exit $? in $(( $(date +%s) - T0 ))s"
cp /var/log/xen/console/guest-nobounce.log $O/guest-nobounce-test.log 2>/dev/null
zones "after pytest"
xl dmesg > $O/xl-dmesg-end.txt
