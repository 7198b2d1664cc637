#!/bin/bash
# Build the kernel lab into OUTDIR (called by common.sh's lab_build, which caches it):
# Debian bookworm minbase + the Debian kernel + the tools pcipass and its scenarios use.
#   OUTDIR/vmlinuz, OUTDIR/initrd.img   Debian's kernel and its (small) initramfs
#   OUTDIR/rootfs.img                   ext4 root, used read-only through a qcow2 overlay
#   OUTDIR/kernel-version
set -euo pipefail
OUT=$1
source "$(dirname "$0")/../common.sh"
R=$OUT/rootfs
PKGS=linux-image-amd64,initramfs-tools,udev,kmod,pciutils,iproute2,nvme-cli,procps,ethtool
PKGS+=,python3,python3-pytest,python3-click,python3-rich,python3-pyroute2
t0=$(date +%s)
lab_debootstrap "$R" "$PKGS" "$OUT/debootstrap.log"
t1=$(date +%s)
lab_small_initramfs "$R"
KVER=$(lab_kernel_version "$R")
[ -f "$R/boot/vmlinuz-$KVER" ] || lab_die "no kernel in $R/boot"
install -D -m 0755 "$LABS_DIR/kernel/init" "$R/lab/init"
mkdir -p "$R/lab/ctl" "$R/mnt/share"
echo kernel-lab > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 kernel-lab\n' > "$R/etc/hosts"
: > "$R/etc/fstab"
cp "$R/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$OUT/initrd.img"
echo "$KVER" > "$OUT/kernel-version"
lab_mkimage "$R" "$OUT/rootfs.img"
echo "== kernel lab: kernel $KVER; debootstrap $((t1 - t0))s, total $(($(date +%s) - t0))s"
