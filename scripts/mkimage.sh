#!/usr/bin/env bash
# The project's one disk-image builder: bootable disks for firmware-booted VMs (docs/firmware.md),
# made from Debian's packages with files only (no loop devices, no mounts): file systems with
# `mkfs.ext2 -d`, the partition table with sfdisk on the file, GRUB's i386-pc boot.img and core.img
# written by this script at the places grub-bios-setup would write them.
#
# Usage: scripts/mkimage.sh [--cache DIR] [--force] [--grub-cfg FILE] TARGET OUT ARGS...
#   grub-disk OUT KERNEL [INITRD] [CMDLINE]
#       MBR disk, one bootable ext2 partition (from 1 MiB) holding /boot/kernel, /boot/initrd and GRUB
#       (/boot/grub: grub.cfg and the i386-pc modules); core.img in the gap after the MBR.
#   grub-iso OUT KERNEL [INITRD] [CMDLINE]
#       hybrid ISO (grub-mkrescue: El Torito and an MBR), bootable as a CD or as a disk.
#   debian OUT [CMDLINE]
#       a whole installed Debian 12 (mmdebstrap: linux-image-cloud-amd64, systemd, GRUB as in
#       grub-disk on an ext4 root) with root password "petrel", hostname petrel-debian, a login on
#       ttyS0; CMDLINE is added to its kernel command line ("petrel.lean rw systemd.getty_auto=0":
#       a lean boot, see DEBIAN_LEAN_HOOK). Needs root (the root file system's owners and device nodes) and Debian's archive.
# GRUB's grub.cfg (both GRUB targets and debian) puts its terminal on the serial line (COM1, 115200),
# prints "petrel-grub: menu" there, waits PETREL_GRUB_TIMEOUT seconds (default 1) and boots the
# first entry: `linux KERNEL CMDLINE` (+ `initrd`). CMDLINE is written into grub.cfg as it is.
# --grub-cfg FILE (grub-disk, grub-iso): FILE is grub.cfg as it is instead (CMDLINE must be empty:
# FILE's entries say theirs; the kernel is /boot/kernel, the initrd /boot/initrd). Both GRUB targets
# have /boot/grub/grubenv, GRUB's empty environment block (1024 bytes), for load_env/save_env: a
# grub.cfg that saves a variable (as grub-reboot's next_entry) on a writable disk changes what the
# next boot does.
#
# Images are cached under DIR (--cache, else $PETREL_IMAGE_DIR, else build/images), named by a hash
# of the inputs (this script, the target, the files' contents, the arguments, the timeout, the
# versions of GRUB, mmdebstrap and e2fsprogs); OUT is a sparse copy of the cached image (a guest may
# write to it). --force rebuilds; images not used for a week are removed. The debian image is cached by the script alone: it changes only
# with --force (Debian's archive moves on).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$ROOT/scripts/mkimage.sh
CACHE=${PETREL_IMAGE_DIR:-$ROOT/build/images}
GRUB_TIMEOUT=${PETREL_GRUB_TIMEOUT:-1}
GRUB_LIB=/usr/lib/grub/i386-pc
MARKER="petrel-grub: menu"
DEBIAN_SUITE=bookworm
DEBIAN_PASSWORD=petrel
DEBIAN_HOSTNAME=petrel-debian
# Fixed file-system UUIDs: grub.cfg and fstab name the root by them.
GRUB_DISK_UUID=7e7e0001-5e7a-4c1d-9b00-000000000001
DEBIAN_UUID=7e7e0001-5e7a-4c1d-9b00-000000000002
FORCE=0
GRUB_CFG=""

die() { echo "mkimage: $*" >&2; exit 1; }
# Temporary files and directories, removed at exit whatever happens.
CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT
tmpdir() { # tmpdir VAR NAME: VAR = a new temporary directory
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/petrel-$2.XXXXXX")
	CLEANUP+=("$d")
	printf -v "$1" %s "$d"
}
log() { echo "mkimage: $*" >&2; }
usage() { sed -n '/^# Usage:/,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--cache) [[ $# -ge 2 ]] || usage; CACHE=$2; shift 2 ;;
	--cache=*) CACHE=${1#--cache=}; shift ;;
	--force) FORCE=1; shift ;;
	--grub-cfg) [[ $# -ge 2 ]] || usage; GRUB_CFG=$2; shift 2 ;;
	--grub-cfg=*) GRUB_CFG=${1#--grub-cfg=}; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[[ $# -ge 2 ]] || usage
TARGET=$1 OUT=$2
shift 2
[[ $GRUB_TIMEOUT =~ ^[0-9]+$ ]] || die "PETREL_GRUB_TIMEOUT must be a number of seconds"

need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null || die "$1 not found: install $2 (scripts/setup.sh does)"
}

# ---- cache ------------------------------------------------------------------------------------
# key ARGS...: a hash of this script and ARGS (files stand for their contents).
key() {
	{
		sha256sum <"$SELF"
		for a in "$@"; do
			if [[ -f $a ]]; then sha256sum <"$a"; else printf '%s\n' "$a"; fi
		done
		dpkg-query -W -f='${Package} ${Version}\n' grub-pc-bin grub-common xorriso mtools \
			mmdebstrap e2fsprogs fdisk 2>/dev/null || true
	} | sha256sum | cut -c1-16
}

# cache_build NAME BUILDER ARGS...: $CACHE/NAME, built there first by BUILDER FILE ARGS... if absent.
cache_build() {
	local name=$1 builder=$2
	shift 2
	local img=$CACHE/$name
	mkdir -p "$CACHE"
	if [[ $FORCE == 1 || ! -s $img ]]; then
		local t0=$SECONDS tmp=$img.tmp.$$
		CLEANUP+=("$tmp" "$tmp.fs")
		"$builder" "$tmp" "$@"
		mv -f "$tmp" "$img"
		log "built $img in $((SECONDS - t0)) s"
	else
		touch "$img"
		log "cached $img"
	fi
	# Images of this target not used for a week (other inputs, an older script) go.
	find "$CACHE" -maxdepth 1 -name "${name%-*}-*.img" -mtime +7 -delete
}

# cached NAME BUILDER ARGS...: OUT from the cache (cache_build), a sparse copy.
cached() {
	cache_build "$@"
	mkdir -p "$(dirname "$OUT")"
	CLEANUP+=("$OUT.tmp.$$")
	cp --sparse=always "$CACHE/$1" "$OUT.tmp.$$"
	mv -f "$OUT.tmp.$$" "$OUT"
	echo "$OUT"
}

# ---- GRUB -------------------------------------------------------------------------------------
# grub_cfg KERNEL INITRD CMDLINE: the configuration every target boots with (paths on GRUB's $root).
grub_cfg() {
	cat <<-EOF
	# written by petrel's scripts/mkimage.sh
	serial --unit=0 --speed=115200
	terminal_input serial console
	terminal_output serial console
	set timeout=$GRUB_TIMEOUT
	set default=0
	echo "$MARKER"
	menuentry "petrel" {
	EOF
	printf '\tlinux %s %s\n' "$1" "$3"
	[[ -z $2 ]] || printf '\tinitrd %s\n' "$2"
	echo "}"
}

# stage_boot DIR KERNEL INITRD CMDLINE: a GRUB target's file system: /boot/kernel, /boot/initrd,
# /boot/grub/grub.cfg (--grub-cfg's file, else grub_cfg's) and an empty /boot/grub/grubenv.
stage_boot() {
	mkdir -p "$1/boot/grub"
	cp "$2" "$1/boot/kernel"
	[[ -z $3 ]] || cp "$3" "$1/boot/initrd"
	if [[ -n $GRUB_CFG ]]; then
		cp "$GRUB_CFG" "$1/boot/grub/grub.cfg"
	else
		grub_cfg /boot/kernel "${3:+/boot/initrd}" "$4" >"$1/boot/grub/grub.cfg"
	fi
	grub_env >"$1/boot/grub/grubenv"
}

# grub_env: GRUB's environment block with no variables: its header line, '#' up to 1024 bytes
# (grub-editenv's format; save_env rewrites the file's blocks in place, never its size).
grub_env() {
	local head=$'# GRUB Environment Block\n'
	printf '%s' "$head"
	printf '%*s' $((1024 - ${#head})) '' | tr ' ' '#'
}

# put_le FILE OFFSET NBYTES VALUE: a little-endian field, written in place.
put_le() {
	local s="" i
	for ((i = 0; i < $3; i++)); do s+=$(printf '\\x%02x' $((($4 >> (8 * i)) & 0xff))); done
	printf '%b' "$s" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# get_le FILE OFFSET NBYTES
get_le() { od -An -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' '; }

# grub_install DISK FSROOT: GRUB for BIOS on an MBR disk whose first partition (ext2/3/4, at
# sector 2048) holds FSROOT: modules into FSROOT/boot/grub/i386-pc (before the file system is made),
# then core.img at sector 1 and boot.img's code in the MBR, as grub-bios-setup places them.
GRUB_EMBED=(biosdisk part_msdos ext2) # what core.img needs to read $prefix; the rest loads from it
grub_modules() {
	mkdir -p "$1/boot/grub/i386-pc"
	cp "$GRUB_LIB"/*.mod "$GRUB_LIB"/*.lst "$1/boot/grub/i386-pc/"
}
grub_install() {
	local disk=$1 core
	tmpdir core core
	core+=/core.img
	# "(,msdos1)": the BIOS boot drive (whatever its number), first partition.
	grub-mkimage -O i386-pc -d "$GRUB_LIB" -p '(,msdos1)/boot/grub' -o "$core" "${GRUB_EMBED[@]}"
	local size sectors
	size=$(stat -c %s "$core")
	sectors=$(((size + 511) / 512))
	((sectors <= 2047)) || die "core.img ($size bytes) does not fit before sector 2048"
	# diskboot.img (core.img's first sector) ends with one blocklist entry {u64 start; u16 len;
	# u16 segment}: the rest of core.img. grub-mkimage filled len and segment; start is ours.
	local bl=$((512 - 12))
	put_le "$core" $bl 8 2
	[[ $(get_le "$core" $((bl + 8)) 2) == $((sectors - 1)) ]] || die "core.img blocklist length is not $((sectors - 1))"
	[[ $(get_le "$core" $((bl + 10)) 2) == $((0x820)) ]] || die "core.img blocklist segment is not 0x820"
	dd if="$core" of="$disk" bs=512 seek=1 conv=notrunc status=none
	# boot.img: code up to the disk signature (440 bytes), keeping sfdisk's partition table.
	# kernel_sector (u64 at 0x5c) = 1; boot_drive (0x64) = 0xff: the drive the BIOS booted from;
	# the drive check (jmp at 0x66) becomes two nops, as grub-bios-setup does for hard disks.
	dd if="$GRUB_LIB/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
	put_le "$disk" $((0x5c)) 8 1
	put_le "$disk" $((0x64)) 1 0xff
	put_le "$disk" $((0x66)) 2 0x9090
}

# mbr_disk DISK FSROOT FSTYPE UUID EXTRA_MIB: DISK = MBR + one bootable partition from 1 MiB
# holding a FSTYPE file system made from FSROOT (its contents + EXTRA_MIB free), with GRUB.
mbr_disk() {
	local disk=$1 dir=$2 fstype=$3 uuid=$4 extra=$5
	need mkfs.ext2 e2fsprogs
	need sfdisk fdisk
	grub_modules "$dir"
	local used mib
	used=$(du -s --block-size=1M "$dir" | cut -f1)
	mib=$((used + used / 4 + extra))
	local fs=$disk.fs
	truncate -s "${mib}M" "$fs"
	mkfs.ext2 -q -F -t "$fstype" -U "$uuid" -L petrel -E root_owner=0:0 -d "$dir" "$fs" "${mib}M"
	rm -f "$disk"
	truncate -s $(((mib + 1) << 20)) "$disk"
	printf 'label: dos\nlabel-id: 0x70657472\nstart=2048, type=83, bootable\n' |
		sfdisk --quiet --no-reread --no-tell-kernel "$disk"
	dd if="$fs" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
	rm -f "$fs"
	grub_install "$disk"
}

build_grub_disk() { # FILE KERNEL INITRD CMDLINE
	local stage
	tmpdir stage grub-disk
	stage_boot "$stage" "$2" "$3" "$4"
	mbr_disk "$1" "$stage" ext2 "$GRUB_DISK_UUID" 4
}

build_grub_iso() { # FILE KERNEL INITRD CMDLINE
	need grub-mkrescue grub-common
	need xorriso xorriso
	need mformat mtools
	local stage log
	tmpdir stage grub-iso
	tmpdir log grub-iso-log
	log+=/log
	stage_boot "$stage" "$2" "$3" "$4"
	# -d: BIOS only (an EFI GRUB installed beside it would be added too); quiet xorriso.
	grub-mkrescue -d "$GRUB_LIB" -o "$1" "$stage" -- -volid PETREL >"$log" 2>&1 ||
		{ cat "$log" >&2; die "grub-mkrescue failed"; }
}

# The Debian disk: mmdebstrap (unshare mode: namespaces, no mounts on the host) into a tarball,
# unpacked as root (owners, device nodes) and made into the ext4 root with mkfs.ext4 -d.
DEBIAN_PACKAGES=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,grub-pc-bin,grub2-common,zstd
# A boot that costs little where guest ring 0 is emulated (a PVM host: each system call, page
# fault and interrupt of the guest runs ~1000x slower there). A customize hook (sh, $1 the new root):
# - the initramfs holds only the disk's drivers, loaded by name, and starts no udev (its walk of
#   every device costs minutes there): /dev/vda1 appears in devtmpfs, the root is found by UUID;
# - login waits an hour for the password, not 60 s (PAM's first run takes longer there);
# - with "petrel.lean" on the kernel command line, systemd skips the units a login on the serial
#   console does not need (DEBIAN_LEAN_UNITS: udev, the journal, fsck and remount of the root,
#   static nodes and modules, the API file systems nobody mounts, timers) and runs console-getty
#   on /dev/console. Give it as "petrel.lean rw systemd.getty_auto=0": the root mounted
#   read-write at once, and no serial-getty@ttyS0 (it would wait for udev's device unit).
#   Without the option the disk boots as any Debian does.
DEBIAN_LEAN_UNITS=(systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
	systemd-udev-trigger.service systemd-udev-settle.service systemd-journald.service
	systemd-journald.socket systemd-journald-dev-log.socket systemd-journald-audit.socket
	systemd-journal-flush.service systemd-fsck-root.service systemd-remount-fs.service
	systemd-random-seed.service systemd-sysusers.service systemd-sysctl.service
	systemd-modules-load.service kmod-static-nodes.service modprobe@.service
	systemd-tmpfiles-setup-dev.service systemd-tmpfiles-setup.service systemd-machine-id-commit.service
	systemd-update-utmp-runlevel.service systemd-user-sessions.service
	dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount
	sys-fs-fuse-connections.mount sys-kernel-config.mount e2scrub_reap.service getty-static.service
	getty@.service serial-getty@.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer
	e2scrub_all.timer fstrim.timer systemd-tmpfiles-clean.timer)
DEBIAN_LEAN_HOOK='
set -e
r=$1
echo MODULES=list >"$r/etc/initramfs-tools/conf.d/petrel.conf"
printf "virtio_pci\nvirtio_blk\n" >>"$r/etc/initramfs-tools/modules"
for s in init-top init-bottom; do
	mkdir -p "$r/etc/initramfs-tools/scripts/$s"
	printf "#!/bin/sh\n# petrel (scripts/mkimage.sh): no udev in the initramfs\nexit 0\n" \
		>"$r/etc/initramfs-tools/scripts/$s/udev"
	chmod 755 "$r/etc/initramfs-tools/scripts/$s/udev"
done
chroot "$r" update-initramfs -u -k all
sed -i "s/^LOGIN_TIMEOUT.*/LOGIN_TIMEOUT\t\t3600/" "$r/etc/login.defs"
d=$r/etc/systemd/system
for u in '"${DEBIAN_LEAN_UNITS[*]}"'; do
	mkdir -p "$d/$u.d"
	printf "[Unit]\nConditionKernelCommandLine=!petrel.lean\n" >"$d/$u.d/petrel-lean.conf"
done
mkdir -p "$d/console-getty.service.d" "$d/getty.target.wants"
printf "[Unit]\nConditionKernelCommandLine=petrel.lean\n" >"$d/console-getty.service.d/petrel-lean.conf"
ln -s /lib/systemd/system/console-getty.service "$d/getty.target.wants/console-getty.service"
'

build_debian() { # FILE
	need mmdebstrap mmdebstrap
	[[ $(id -u) == 0 ]] || die "the debian image needs root (its files' owners and device nodes)"
	local stage
	tmpdir stage debian
	local tar=$stage/root.tar dir=$stage/root
	# The customize hooks run inside the new system before it is packed.
	mmdebstrap --mode=unshare --variant=minbase --include="$DEBIAN_PACKAGES" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook="$DEBIAN_LEAN_HOOK" \
		--customize-hook="echo root:$DEBIAN_PASSWORD | chroot \"\$1\" chpasswd" \
		--customize-hook="echo $DEBIAN_HOSTNAME >\"\$1/etc/hostname\"" \
		--customize-hook="printf '127.0.0.1 localhost\n127.0.1.1 $DEBIAN_HOSTNAME\n' >\"\$1/etc/hosts\"" \
		--customize-hook="printf 'UUID=$DEBIAN_UUID / ext4 errors=remount-ro 0 1\n' >\"\$1/etc/fstab\"" \
		"$DEBIAN_SUITE" "$tar" >"$stage/mmdebstrap.log" 2>&1 ||
		{ tail -40 "$stage/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
	mkdir "$dir"
	tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar"
	rm -f "$tar"
	[[ -e $dir/vmlinuz && -e $dir/initrd.img ]] || die "no /vmlinuz or /initrd.img in the new system"
	# /vmlinuz and /initrd.img are the symlinks the kernel packages keep current (GRUB follows them).
	mkdir -p "$dir/boot/grub" "$dir/etc/default/grub.d"
	debian_grub_cfg "" >"$dir/boot/grub/grub.cfg"
	debian_grub_default "" >"$dir/etc/default/grub.d/petrel.cfg"
	mbr_disk "$1" "$dir" ext4 "$DEBIAN_UUID" 512
}

# debian_grub_cfg EXTRA: the disk's grub.cfg, EXTRA added to the kernel's command line.
debian_grub_cfg() { grub_cfg /vmlinuz /initrd.img "root=UUID=$DEBIAN_UUID ro console=ttyS0,115200${1:+ $1}"; }
# debian_grub_default EXTRA: the same for the guest's own update-grub (/etc/default/grub.d/petrel.cfg).
debian_grub_default() {
	printf '%s\n' "GRUB_TIMEOUT=$GRUB_TIMEOUT" 'GRUB_TERMINAL="serial console"' \
		'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"' "GRUB_CMDLINE_LINUX=\"console=ttyS0,115200${1:+ $1}\""
}

# build_debian_cmdline FILE BASE EXTRA: FILE = the cached debian disk BASE with EXTRA on its kernel
# command line: the two GRUB files replaced in the ext4 root with debugfs (no mount).
build_debian_cmdline() {
	local fs="$1?offset=1048576" t
	tmpdir t debian-cmdline
	cp --sparse=always "$2" "$1"
	debian_grub_cfg "$3" >"$t/grub.cfg"
	debian_grub_default "$3" >"$t/petrel.cfg"
	local f
	for f in /boot/grub/grub.cfg:grub.cfg /etc/default/grub.d/petrel.cfg:petrel.cfg; do
		debugfs -w -R "rm ${f%%:*}" "$fs" >/dev/null 2>&1
		debugfs -w -R "write $t/${f#*:} ${f%%:*}" "$fs" >/dev/null 2>&1
		# debugfs says nothing through its status: read the file back
		debugfs -R "cat ${f%%:*}" "$fs" 2>/dev/null | cmp -s - "$t/${f#*:}" || die "cannot write ${f%%:*} into $1"
	done
}

# ---- targets ----------------------------------------------------------------------------------
case $TARGET in
grub-disk | grub-iso)
	[[ $# -ge 1 && $# -le 3 ]] || usage
	kernel=$1 initrd=${2:-} cmdline=${3:-}
	[[ -f $kernel ]] || die "kernel $kernel not found"
	[[ -z $initrd || -f $initrd ]] || die "initrd $initrd not found"
	[[ $cmdline != *$'\n'* ]] || die "the command line has a newline"
	[[ -z $GRUB_CFG || -f $GRUB_CFG ]] || die "grub.cfg $GRUB_CFG not found"
	[[ -z $GRUB_CFG || -z $cmdline ]] || die "--grub-cfg and a command line: the file's entries say theirs"
	need grub-mkimage grub-common
	[[ -f $GRUB_LIB/boot.img ]] || die "$GRUB_LIB/boot.img not found: install grub-pc-bin (scripts/setup.sh does)"
	h=$(key "$TARGET" "$kernel" "${initrd:-no-initrd}" "$cmdline" "timeout=$GRUB_TIMEOUT" "${GRUB_CFG:-no-grub-cfg}")
	cached "$TARGET-$h.img" "build_${TARGET//-/_}" "$kernel" "$initrd" "$cmdline"
	;;
debian)
	[[ $# -le 1 ]] || usage
	extra=${1:-}
	[[ $extra != *$'\n'* ]] || die "the command line has a newline"
	need debugfs e2fsprogs
	[[ -z $GRUB_CFG ]] || die "--grub-cfg is for grub-disk and grub-iso (debian's grub.cfg names its root)"
	h=$(key debian "$DEBIAN_SUITE" "timeout=$GRUB_TIMEOUT")
	if [[ -z $extra ]]; then
		cached "debian-$h.img" build_debian
	else # the disk built once, then a copy per command line
		cache_build "debian-$h.img" build_debian
		cached "debian-$(key debian "$DEBIAN_SUITE" "timeout=$GRUB_TIMEOUT" "cmdline=$extra").img" \
			build_debian_cmdline "$CACHE/debian-$h.img" "$extra"
	fi
	;;
*) die "unknown target $TARGET (grub-disk, grub-iso, debian)" ;;
esac
