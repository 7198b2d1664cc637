#!/bin/bash
# Boot the kernel lab (Debian bookworm kernel, q35 + emulated VT-d, NVMe with SR-IOV,
# e1000e, igb SR-IOV NIC), run CMD inside as root, power off. Builds the lab first if
# the cache has no build for the current scripts.
#
# Usage: labs/kernel/run.sh CMD...
#   Arguments are joined with spaces and run by bash in the guest (like ssh), cwd
#   /mnt/share = LAB_SHARE (default: the repository), mounted read-only.
#   Output (stdout+stderr) streams to our stdout; the exit code is CMD's, from the guest.
#   124: LAB_TIMEOUT hit; 125: the guest never reported (failed to boot, crashed):
#   then the last console lines are printed.
# Guest files written to /lab/ctl/out/ are copied to LAB_RESULTS=DIR after the run.
# Environment: LAB_SHARE, LAB_TIMEOUT (2700 s), LAB_IOMMU=intel|none (intel: emulated
#   VT-d and intel_iommu=on iommu=pt; none: neither), LAB_MEM (2048), LAB_SMP (2),
#   LAB_NVME_VFS (4), LAB_ACCEL=auto|tcg|kvm, LAB_APPEND (kernel cmdline),
#   LAB_CONSOLE=1 (console to stderr), LAB_KEEP=1 (keep the run dir), LAB_RESULTS.
set -uo pipefail
source "$(dirname "$0")/../common.sh"
[ $# -gt 0 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
lab_need_qemu
DIR=$(lab_build kernel) || exit 1
SHARE=$(cd "${LAB_SHARE:-$REPO_DIR}" && pwd) || lab_die "LAB_SHARE=${LAB_SHARE:-} is not a directory"
ACCEL=$(lab_accel)
if [ "$ACCEL" = kvm ]; then CPU=host; else CPU=max; fi
case ${LAB_IOMMU:-intel} in
  intel) IOMMU=(-device intel-iommu,intremap=on,caching-mode=on); IOMMU_ARGS="intel_iommu=on iommu=pt" ;;
  none) IOMMU=(); IOMMU_ARGS="" ;;
  *) lab_die "LAB_IOMMU=${LAB_IOMMU} is not one of intel, none" ;;
esac

lab_new_run kernel "$DIR" "$@"
lab_pci_args
lab_share_args "$SHARE" "$LAB_RUN/root.qcow2"
ARGS=(
  -machine "q35,accel=$ACCEL,kernel-irqchip=split" -cpu "$CPU"
  -smp "${LAB_SMP:-2}" -m "${LAB_MEM:-2048}"
  -nodefaults -no-user-config -display none -no-reboot -monitor none
  "${IOMMU[@]}"
  -kernel "$DIR/vmlinuz" -initrd "$DIR/initrd.img"
  -append "console=ttyS0 root=/dev/vda rw init=/lab/init${IOMMU_ARGS:+ $IOMMU_ARGS} panic=-1 ${LAB_APPEND:-}"
  -serial "file:$LAB_RUN/console.log"
  "${LAB_SHARE_ARGS[@]}"
  "${LAB_PCI_ARGS[@]}"
)
lab_boot kernel "${ARGS[@]}"
