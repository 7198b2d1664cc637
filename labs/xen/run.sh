#!/bin/bash
# Boot the xen lab (Xen 4.17 + Debian dom0 under QEMU q35, TCG, -cpu qemu64, emulated
# VT-d or AMD-Vi, the same PCI layout as the kernel lab: NVMe with SR-IOV, e1000e, igb),
# run CMD in dom0 as root once xenstored runs, power off. Builds the lab first if the
# cache has no build for the current scripts.
#
# Usage: labs/xen/run.sh CMD...
#   Arguments are joined with spaces and run by bash in dom0, cwd /mnt/share = LAB_SHARE
#   (default: the repository), read-only. Output streams to our stdout; the exit code is
#   CMD's, from dom0. 124: LAB_TIMEOUT hit; 125: dom0 never reported (failed to boot,
#   crashed): then the last console lines (Xen + dom0) are printed.
# A PV domU: kernel /var/lib/lab/vmlinuz, ramdisk /var/lib/lab/domu-initrd.img (see
#   labs/xen/domu-init); its console is logged to /var/log/xen/console/guest-<name>.log.
# Guest files written to /lab/ctl/out/ are copied to LAB_RESULTS=DIR after the run.
# Environment: LAB_SHARE, LAB_TIMEOUT (2700 s), LAB_IOMMU=intel|amd|none (intel),
#   LAB_MEM (3072), LAB_SMP (2), LAB_NVME_VFS (4), LAB_XEN_ARGS, LAB_DOM0_ARGS,
#   LAB_CONSOLE=1 (console to stderr), LAB_KEEP=1 (keep the run dir), LAB_RESULTS.
set -uo pipefail
source "$(dirname "$0")/../common.sh"
[ $# -gt 0 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
lab_need_qemu
DIR=$(lab_build xen) || exit 1
SHARE=$(cd "${LAB_SHARE:-$REPO_DIR}" && pwd) || lab_die "LAB_SHARE=${LAB_SHARE:-} is not a directory"
# TCG only: Xen dies under this host's kvm_pvm, and QEMU then hangs paused; on TCG,
# -cpu max crashes dom0 while qemu64 works.
MACHINE=q35,accel=tcg
case ${LAB_IOMMU:-intel} in
  intel) IOMMU=(-device intel-iommu,intremap=on) ;;
  amd) IOMMU=(-device amd-iommu,intremap=on) ;;
  none) IOMMU=() ;;
  *) lab_die "LAB_IOMMU=${LAB_IOMMU} is not one of intel, amd, none" ;;
esac
SMP=${LAB_SMP:-2}
XEN_ARGS="dom0_mem=1024M,max:1024M dom0_max_vcpus=$SMP console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all iommu=verbose conring_size=1m ${LAB_XEN_ARGS:-}"
DOM0_ARGS="root=/dev/vda rw init=/lab/init console=hvc0 earlyprintk=xen quiet loglevel=4 panic=-1 ${LAB_DOM0_ARGS:-}"
case $DOM0_ARGS in *,*) lab_die "LAB_DOM0_ARGS must not contain commas (QEMU's multiboot module separator)" ;; esac

lab_new_run xen "$DIR" "$@"
lab_pci_args
lab_share_args "$SHARE" "$LAB_RUN/root.qcow2"
ARGS=(
  -machine "$MACHINE" -cpu qemu64 -smp "$SMP" -m "${LAB_MEM:-3072}"
  -nodefaults -no-user-config -display none -no-reboot -monitor none
  "${IOMMU[@]}"
  -kernel "$DIR/xen" -append "$XEN_ARGS"
  -initrd "$DIR/vmlinuz $DOM0_ARGS,$DIR/initrd.img"
  -serial "file:$LAB_RUN/console.log"
  "${LAB_SHARE_ARGS[@]}"
  "${LAB_PCI_ARGS[@]}"
)
lab_boot xen "${ARGS[@]}"
