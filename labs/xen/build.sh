#!/bin/bash
# Build the xen lab into OUTDIR (called by common.sh's lab_build, which caches it):
# Debian bookworm minbase + Xen 4.17 (hypervisor, xl/libxl, xenstore tools) + the Debian
# kernel as dom0 and domU kernel + the tools pcipass and its scenarios use.
#   OUTDIR/xen                  the hypervisor, gunzipped: QEMU's multiboot -kernel loads it
#   OUTDIR/vmlinuz, initrd.img  dom0 kernel and its (small) initramfs
#   OUTDIR/rootfs.img           ext4 root (qcow2 overlay per run); holds the PV domU kernel and
#                               /var/lib/lab/domu-initrd.img (busybox + xen-pcifront, domu-init)
set -euo pipefail
OUT=$1
source "$(dirname "$0")/../common.sh"
R=$OUT/rootfs
PKGS=linux-image-amd64,initramfs-tools,udev,kmod,pciutils,iproute2,nvme-cli,procps,ethtool
PKGS+=,python3,python3-pytest,python3-click,python3-rich,python3-pyroute2
PKGS+=,xen-hypervisor-4.17-amd64,xen-utils-4.17,xenstore-utils,busybox-static
t0=$(date +%s)
lab_debootstrap "$R" "$PKGS" "$OUT/debootstrap.log"
t1=$(date +%s)
lab_small_initramfs "$R"
KVER=$(lab_kernel_version "$R")
[ -f "$R/boot/vmlinuz-$KVER" ] || lab_die "no kernel in $R/boot"
XENGZ=$(ls "$R"/boot/xen-4.17*-amd64.gz 2>/dev/null | head -1)
[ -n "$XENGZ" ] || lab_die "no Xen 4.17 hypervisor in $R/boot (xen-hypervisor-4.17-amd64 missing?)"

install -D -m 0755 "$LABS_DIR/xen/init" "$R/lab/init"
mkdir -p "$R/lab/ctl" "$R/mnt/share" "$R/var/log/xen/console"
echo xen-lab > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 xen-lab\n' > "$R/etc/hosts"
: > "$R/etc/fstab"
# domU consoles -> /var/log/xen/console/guest-<name>.log, so tests can read them
echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >> "$R/etc/default/xen"

echo "== PV domU initramfs (busybox-static + xen-pcifront)"
D=$OUT/domu; rm -rf "$D"; mkdir -p "$D"/{bin,proc,sys,dev,lib/modules}
cp "$R/bin/busybox" "$D/bin/busybox"
for a in sh mount ls cat echo sleep poweroff insmod dmesg uname readlink grep sed tr basename; do
  ln -s busybox "$D/bin/$a"
done
PCIFRONT=$(find "$R/lib/modules/$KVER" -name 'xen-pcifront.ko*' | head -1)
case $PCIFRONT in
  *.ko) cp "$PCIFRONT" "$D/lib/modules/" ;;
  *.ko.xz) xz -dc "$PCIFRONT" > "$D/lib/modules/xen-pcifront.ko" ;;
  *) lab_die "xen-pcifront module not found in kernel $KVER" ;;
esac
install -m 0755 "$LABS_DIR/xen/domu-init" "$D/init"
mkdir -p "$R/var/lib/lab"
(cd "$D" && find . | cpio -o -H newc --quiet | gzip -1) > "$R/var/lib/lab/domu-initrd.img"
cp "$R/boot/vmlinuz-$KVER" "$R/var/lib/lab/vmlinuz"
rm -rf "$D"

cp "$R/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$OUT/initrd.img"
zcat "$XENGZ" > "$OUT/xen"
echo "$KVER" > "$OUT/kernel-version"
basename "$XENGZ" > "$OUT/xen-version"
lab_mkimage "$R" "$OUT/rootfs.img"
echo "== xen lab: $(cat "$OUT/xen-version"), kernel $KVER; debootstrap $((t1 - t0))s, total $(($(date +%s) - t0))s"
