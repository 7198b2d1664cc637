# Shared by labs/kernel and labs/xen: the build cache, the Debian bootstrap, the
# PCI layout both labs share, and the QEMU runner (timeout, exit code from the guest,
# console tail on failure). Source it; do not run it.
#
# Cache: ${PCIPASS_LAB_CACHE:-/var/cache/pcipass-labs}/<lab>-<hash>/, where <hash> is the
# sha256 of the lab's build inputs (this file up to the "runtime" line below, the lab's
# build.sh, init and domu-init), so a changed build script rebuilds and an unchanged one
# reuses the cache. Outside the work tree.

LABS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LABS_DIR/.." && pwd)
LAB_CACHE_ROOT=${PCIPASS_LAB_CACHE:-/var/cache/pcipass-labs}
LAB_SUITE=bookworm
LAB_MIN_FREE_GB=${LAB_MIN_FREE_GB:-6}

# lab_die MSG: one line on stderr, exit 1. Inside a build, also leaves MSG in
# $LAB_FAIL_NOTE so lab_build does not add a second line.
lab_die() {
  echo "labs: $*" >&2
  [ -z "${LAB_FAIL_NOTE:-}" ] || echo "$*" > "$LAB_FAIL_NOTE"
  exit 1
}

# lab_need_tools TOOL...: one clear line naming what is missing.
lab_need_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] ||
    lab_die "missing ${missing[*]}: run scripts/setup (qemu-system-x86 >= 10 from bookworm-backports, qemu-utils, debootstrap, cpio, e2fsprogs)"
}

# lab_need_qemu: QEMU with the igb SR-IOV NIC (QEMU >= 8.0; Debian: bookworm-backports).
lab_need_qemu() {
  lab_need_tools qemu-system-x86_64 qemu-img timeout
  qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"' ||
    lab_die "qemu-system-x86_64 has no igb device ($(qemu-system-x86_64 --version | head -1)): install qemu-system-x86 from bookworm-backports (scripts/setup)"
}

# lab_need_space DIR GB: fail early with one line when the disk is (nearly) full.
lab_need_space() {
  local dir=$1 gb=$2 avail
  mkdir -p "$dir" 2>/dev/null || lab_die "cannot create $dir (read-only or no permission?)"
  avail=$(df -Pk "$dir" | awk 'NR==2{print int($4/1048576)}')
  [ "$avail" -ge "$gb" ] || lab_die "no space: $dir has ${avail} GiB free, the lab build needs ${gb} GiB (free space or set PCIPASS_LAB_CACHE)"
}

# lab_hash LAB: sha256 of the lab's build inputs.
lab_hash() {
  local lab=$1 f files
  files=("$LABS_DIR/$lab/build.sh" "$LABS_DIR/$lab/init")
  [ -f "$LABS_DIR/$lab/domu-init" ] && files+=("$LABS_DIR/$lab/domu-init")
  {
    sed '/^# ---- runtime/,$d' "$LABS_DIR/common.sh"
    for f in "${files[@]}"; do printf '%s\n' "${f#"$LABS_DIR"/}"; cat "$f"; done
  } | sha256sum | cut -c1-16
}

# lab_cache_dir LAB: where the built lab lives (exists only once the build completed).
lab_cache_dir() { echo "$LAB_CACHE_ROOT/$1-$(lab_hash "$1")"; }

lab_mirror() {
  local m=${LAB_MIRROR:-}
  [ -n "$m" ] || m=$(awk '/^URIs:/ && $2 !~ /-security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $0 !~ /-security/ {for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; exit}}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$m" ] || lab_die "no Debian mirror in this machine's apt sources: set LAB_MIRROR"
  echo "$m"
}

# lab_debootstrap ROOT PKGS LOG: bookworm minbase with PKGS (comma list); the .debs are
# kept in $LAB_CACHE_ROOT/debs so the second lab and rebuilds download nothing twice.
lab_debootstrap() {
  local root=$1 pkgs=$2 log=$3 mirror reason
  mirror=$(lab_mirror)
  mkdir -p "$LAB_CACHE_ROOT/debs"
  echo "== debootstrap $LAB_SUITE minbase from $mirror (log: $log)"
  if ! debootstrap --variant=minbase --cache-dir="$LAB_CACHE_ROOT/debs" --include="$pkgs" \
       "$LAB_SUITE" "$root" "$mirror" >"$log" 2>&1; then
    reason=$(grep -E "No space left|Couldn't download|Failed getting release|Couldn't find these debs|E: " "$log" | head -1)
    case $reason in
      *"No space left"*) lab_die "no space left on device while building in $root (see $log)" ;;
      "") lab_die "debootstrap failed: $(tail -n 1 "$log") (see $log)" ;;
      *) lab_die "cannot fetch Debian packages from $mirror: $reason (network? LAB_MIRROR?; see $log)" ;;
    esac
  fi
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
}

# lab_small_initramfs ROOT: Debian's initramfs with only what a virtio-blk ext4 root needs
# (MODULES=list): a ~10 MB initrd instead of ~35 MB, much faster to unpack under TCG.
lab_small_initramfs() {
  local root=$1
  printf 'virtio_pci\nvirtio_blk\next4\n' > "$root/etc/initramfs-tools/modules"
  printf 'MODULES=list\nCOMPRESS=gzip\n' > "$root/etc/initramfs-tools/conf.d/pcipass-lab.conf"
  chroot "$root" update-initramfs -u -k all >/dev/null 2>&1 || lab_die "update-initramfs failed in $root"
}

# lab_rm_tree DIR: unmount anything left mounted below DIR (an interrupted debootstrap
# leaves proc/sys there), then delete it; never follows a bind mount into the host.
lab_rm_tree() {
  local dir=$1 m
  [ -e "$dir" ] || return 0
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" || lab_die "cannot unmount $m: remove $dir by hand"
  done
  rm -rf "$dir"
}

# lab_kernel_version ROOT
lab_kernel_version() { ls "$1/lib/modules" | sort -V | tail -1; }

# lab_mkimage ROOT IMG: ext4 image from the tree, no loop mount (mkfs.ext4 -d).
lab_mkimage() {
  local root=$1 img=$2
  echo "== mkfs.ext4 -d $root -> $img"
  mkfs.ext4 -q -F -L labroot -d "$root" "$img" 4G 2>&1 | tail -3
  [ "${PIPESTATUS[0]}" = 0 ] || lab_die "mkfs.ext4 failed for $img (disk full?)"
}

# lab_build LAB: run labs/LAB/build.sh into a fresh dir unless the cache has it; prints the dir.
# The build writes DIR.tmp and renames it, so an interrupted build never looks complete.
lab_build() {
  local lab=$1 dir t0 old
  dir=$(lab_cache_dir "$lab")
  if [ -f "$dir/.complete" ]; then
    echo "labs: $lab lab cached at $dir" >&2
    echo "$dir"; return 0
  fi
  [ "$(id -u)" = 0 ] || lab_die "building the $lab lab needs root (debootstrap, chroot)"
  lab_need_tools debootstrap mkfs.ext4 cpio gzip chroot sha256sum
  lab_need_space "$LAB_CACHE_ROOT" "$LAB_MIN_FREE_GB"
  exec 8>"$LAB_CACHE_ROOT/.$lab.lock"
  flock 8
  if [ ! -f "$dir/.complete" ]; then
    t0=$(date +%s)
    lab_rm_tree "$dir.tmp"; mkdir -p "$dir.tmp"
    rm -f "$dir.failed"
    echo "labs: building the $lab lab in $dir" >&2
    if ! LAB_FAIL_NOTE="$dir.failed" bash "$LABS_DIR/$lab/build.sh" "$dir.tmp" >&2; then
      exec 8>&-
      [ -f "$dir.failed" ] && exit 1   # build.sh already said why, in one line
      lab_die "$lab lab build failed (output above; partial tree: $dir.tmp)"
    fi
    lab_rm_tree "$dir.tmp/rootfs"
    echo "$(($(date +%s) - t0))" > "$dir.tmp/build-seconds"
    touch "$dir.tmp/.complete"
    mv "$dir.tmp" "$dir"
    echo "labs: $lab lab built in $(cat "$dir/build-seconds")s" >&2
    if [ "${LAB_KEEP_OLD:-0}" != 1 ]; then
      for old in "$LAB_CACHE_ROOT/$lab"-*; do
        [ "$old" = "$dir" ] || [ ! -d "$old" ] || lab_rm_tree "$old"
      done
    fi
  fi
  exec 8>&-
  echo "$dir"
}

# ---- runtime (not a build input: edits below do not rebuild the labs) ----

# lab_pci_args: the PCI layout both labs share (scenarios rely on these addresses):
#   00:10.0 rp1 -> 01:00.0 NVMe PF (1b36:0010) with SR-IOV, $LAB_NVME_VFS VFs (01:00.1..)
#   00:11.0 rp2 -> 02:00.0 e1000e (8086:10d3)
#   00:12.0 rp3 -> 03:00.0 igb, Intel 82576 PF (8086:10c9), 7 VFs (8086:10ca, 03:10.0..)
# Both NICs use user-mode networking with restrict=on: no traffic leaves the VM.
lab_pci_args() {
  local vfs=${LAB_NVME_VFS:-4} vqf vif
  vqf=$((2 * vfs)); vif=$vfs
  LAB_PCI_ARGS=(
    -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x10
    -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11
    -device pcie-root-port,id=rp3,bus=pcie.0,chassis=3,slot=3,addr=0x12
    -device nvme-subsys,id=nvmesubsys0,nqn=pcipass-lab-nvme
    -device "nvme,id=nvme0,bus=rp1,serial=labnvme0,subsys=nvmesubsys0,sriov_max_vfs=$vfs,sriov_vq_flexible=$vqf,sriov_vi_flexible=$vif,max_ioqpairs=$((vqf + 2)),msix_qsize=$((vif + 2))"
    -drive "file=$LAB_RUN/nvme.img,if=none,id=nvmedisk0,format=raw,cache=unsafe"
    -device nvme-ns,drive=nvmedisk0,bus=nvme0,nsid=1
    -netdev user,id=net0,restrict=on
    -device e1000e,netdev=net0,bus=rp2,mac=52:54:00:12:34:56
    -netdev user,id=net1,restrict=on
    -device igb,netdev=net1,bus=rp3,mac=52:54:00:12:34:57
  )
}

# lab_share_args: 9p shares, fixed slots: labctl (per-run dir, rw) at 00:02.0 and the
# project (LAB_SHARE, default the repo, read-only) at 00:03.0; root disk at 00:04.0.
lab_share_args() {
  local share=$1 img=$2
  LAB_SHARE_ARGS=(
    -fsdev "local,id=fsctl,path=$LAB_RUN/ctl,security_model=none"
    -device virtio-9p-pci,fsdev=fsctl,mount_tag=labctl,bus=pcie.0,addr=0x2
    -fsdev "local,id=fsshare,path=$share,security_model=none,readonly=on"
    -device virtio-9p-pci,fsdev=fsshare,mount_tag=share,bus=pcie.0,addr=0x3
    -drive "file=$img,if=none,id=root,format=qcow2,cache=unsafe"
    -device virtio-blk-pci,drive=root,bus=pcie.0,addr=0x4
  )
}

# lab_new_run LAB CACHEDIR CMD...: per-run scratch dir ($LAB_RUN) with the command,
# a throw-away qcow2 overlay of the pristine image and a sparse NVMe backing file.
lab_new_run() {
  local lab=$1 dir=$2; shift 2
  mkdir -p "$LAB_CACHE_ROOT/runs"
  LAB_RUN=$(mktemp -d "$LAB_CACHE_ROOT/runs/$lab.XXXXXX")
  mkdir -p "$LAB_RUN/ctl/out"
  printf '%s\n' "$*" > "$LAB_RUN/ctl/cmd"
  if [ -n "${LAB_DISK:-}" ]; then lab_reuse_disk "$dir"; else
  qemu-img create -q -f qcow2 -F raw -b "$dir/rootfs.img" "$LAB_RUN/root.qcow2" ||
    lab_die "qemu-img cannot create an overlay in $LAB_RUN (disk full?)"
  fi
  truncate -s 256M "$LAB_RUN/nvme.img"
  : > "$LAB_RUN/ctl/output"; : > "$LAB_RUN/console.log"
}

# lab_reuse_disk CACHEDIR: LAB_DISK=/path/overlay.qcow2 keeps the root disk across runs
# (e.g. two boots on one disk): created as an overlay of this build's image when absent,
# refused when it overlays another build's; the run uses it through a link.
lab_reuse_disk() {
  local dir=$1 base
  if [ ! -e "$LAB_DISK" ]; then
    qemu-img create -q -f qcow2 -F raw -b "$dir/rootfs.img" "$LAB_DISK" ||
      lab_die "qemu-img cannot create LAB_DISK=$LAB_DISK"
  fi
  base=$(qemu-img info --output=json "$LAB_DISK" | sed -n 's/.*"backing-filename": "\(.*\)",*/\1/p')
  [ "$base" = "$dir/rootfs.img" ] ||
    lab_die "LAB_DISK=$LAB_DISK overlays ${base:-nothing}, not this build's $dir/rootfs.img: remove it"
  ln -s "$(realpath "$LAB_DISK")" "$LAB_RUN/root.qcow2"
}

# lab_boot LAB QEMU-ARGS...: run QEMU under a timeout, stream the guest command's output,
# copy guest results (ctl/out/*) to $LAB_RESULTS, return the command's exit code
# (124: timeout, 125: the guest never reported one; both print the console tail).
lab_boot() {
  local lab=$1 tmo=${LAB_TIMEOUT:-2700} qrc rc t0 tailpid conpid=; shift
  t0=$(date +%s.%N)
  tail -n +1 -F -s 0.5 "$LAB_RUN/ctl/output" 2>/dev/null & tailpid=$!
  if [ "${LAB_CONSOLE:-0}" = 1 ]; then tail -n +1 -F -s 0.5 "$LAB_RUN/console.log" >&2 2>/dev/null & conpid=$!; fi
  printf '%q ' qemu-system-x86_64 "$@" > "$LAB_RUN/qemu.cmdline"
  timeout -k 10 "$tmo" qemu-system-x86_64 "$@" </dev/null >"$LAB_RUN/qemu.log" 2>&1
  qrc=$?
  sleep 1; kill "$tailpid" $conpid 2>/dev/null; wait "$tailpid" $conpid 2>/dev/null
  LAB_WALL=$(echo "$(date +%s.%N) - $t0" | bc)
  if [ -n "${LAB_RESULTS:-}" ] && [ -n "$(ls -A "$LAB_RUN/ctl/out")" ]; then
    mkdir -p "$LAB_RESULTS" && cp -r "$LAB_RUN/ctl/out/." "$LAB_RESULTS/"
  fi
  if [ -f "$LAB_RUN/ctl/rc" ]; then
    rc=$(cat "$LAB_RUN/ctl/rc")
  else
    if [ $qrc = 124 ] || [ $qrc = 137 ]; then
      echo "labs: $lab lab timed out after ${tmo}s (LAB_TIMEOUT)" >&2; rc=124
    else
      echo "labs: $lab lab gave no exit code: it failed to boot or crashed (qemu rc=$qrc)" >&2; rc=125
    fi
    cat "$LAB_RUN/qemu.log" >&2
    echo "----- last 40 lines of the $lab lab console ($LAB_RUN/console.log) -----" >&2
    tail -n 40 "$LAB_RUN/console.log" >&2
  fi
  cp -f "$LAB_RUN/console.log" "$LAB_CACHE_ROOT/runs/$lab-last-console.log" 2>/dev/null
  printf 'labs: %s lab wall time %.1fs (boot + command + power-off), rc=%s\n' "$lab" "$LAB_WALL" "$rc" >&2
  if [ "${LAB_KEEP:-0}" = 1 ] || [ "$rc" = 124 ] || [ "$rc" = 125 ]; then
    echo "labs: run directory kept: $LAB_RUN" >&2; rm -f "$LAB_RUN/root.qcow2" "$LAB_RUN/nvme.img"
  else
    rm -rf "$LAB_RUN"
  fi
  return "$rc"
}

# lab_accel: TCG unless KVM can really run stock kernels (kvm_intel/kvm_amd loaded and
# /dev/kvm usable). A /dev/kvm served by kvm_pvm hangs stock kernels and Xen.
lab_accel() {
  case ${LAB_ACCEL:-auto} in
    tcg) echo tcg ;;
    kvm) echo kvm ;;
    *) if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
         echo kvm; else echo tcg; fi ;;
  esac
}
