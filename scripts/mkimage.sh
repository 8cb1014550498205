#!/usr/bin/env bash
# The project's one disk-image builder: bootable disks for firmware-booted VMs (docs/firmware.md),
# made from Debian's packages with files only (no loop devices, no mounts): file systems with
# `mkfs.ext2 -d` and (EFI system partitions: FAT32) mtools' mformat/mcopy, the partition table (MBR
# or GPT) with sfdisk on the file, GRUB's i386-pc boot.img and core.img written by this script at
# the places grub-bios-setup would write them, GRUB's EFI application made by grub-mkimage.
#
# Usage: scripts/mkimage.sh [--cache DIR] [--force] [--grub-cfg FILE] [--efi] TARGET OUT ARGS...
#   grub-disk OUT KERNEL [INITRD] [CMDLINE]
#       MBR disk, one bootable ext2 partition (from 1 MiB) holding /boot/kernel, /boot/initrd and GRUB
#       (/boot/grub: grub.cfg and the i386-pc modules); core.img in the gap after the MBR.
#   grub-efi-disk OUT KERNEL [INITRD] [CMDLINE]
#       GPT disk for UEFI (OVMF), one EFI system partition (FAT32, from 1 MiB) holding
#       EFI/BOOT/BOOTX64.EFI (GRUB for x86_64-efi, grub-mkimage), /boot/kernel, /boot/initrd and
#       /boot/grub (grub.cfg and the x86_64-efi modules). GRUB's `linux` there (no Secure Boot)
#       starts the kernel by the 32-bit boot protocol (code32_start) with the EFI system table
#       and memory map in the zero page's efi_info; Debian's GRUB hands a kernel to its EFI stub
#       (linuxefi: handover_offset) only under Secure Boot.
#   grub-iso OUT KERNEL [INITRD] [CMDLINE]
#       hybrid ISO (grub-mkrescue: El Torito and an MBR), bootable as a CD or as a disk; with
#       grub-efi-amd64-bin installed also by UEFI (an El Torito EFI image, an EFI partition in
#       the MBR).
#   debian [--efi] OUT [CMDLINE]
#       a whole installed Debian 12 (mmdebstrap: linux-image-cloud-amd64, systemd, GRUB as in
#       grub-disk on an ext4 root) with root password "petrel", hostname petrel-debian, a login on
#       ttyS0; CMDLINE is added to its kernel command line ("petrel.lean rw systemd.getty_auto=0":
#       a lean boot, see DEBIAN_LEAN_HOOK). Needs root (the root file system's owners and device nodes) and Debian's archive.
#       --efi (here or before TARGET): a GPT disk for UEFI instead: an EFI system partition
#       (mounted at /boot/efi) with the system's GRUB for x86_64-efi at EFI/BOOT/BOOTX64.EFI and
#       EFI/debian/grubx64.efi, the ext4 root second; grub-efi-amd64-bin and efibootmgr installed.
#   direct-disk OUT LAYOUT KERNEL [INITRD] [CMDLINE]
#       a disk for a boot from the disk (boot-source.from_disk, docs/images.md), no GRUB installed:
#       LAYOUT is TABLE-FS[-KIND], TABLE mbr, gpt or bare (a file system without a table), FS ext2,
#       ext3 or ext4; KIND grub (the default: /boot/kernel, /boot/initrd, /boot/grub/grub.cfg and
#       grubenv, as grub-disk), links (only Debian's /vmlinuz and /initrd.img links to
#       /boot/vmlinuz-petrel and /boot/initrd.img-petrel) or bootpart (partition 1 the root, an
#       empty FS; partition 2 a separate ext2 /boot with /kernel, /initrd and /grub/grub.cfg,
#       whose entry finds it with `search --fs-uuid`).
#   debian-cloud OUT
#       a Debian 12 cloud template (docs/images.md#templates-and-cloud-init), qcow2: the cloud
#       kernel, cloud-init (NoCloud first), cloud-guest-utils (growpart: the root grows to the
#       disk), qemu-guest-agent, openssh-server (no host keys: cloud-init makes them per
#       instance), an empty /etc/machine-id, a login on ttyS0, no password and no user of its
#       own (cloud-init makes them). One GPT disk boots by BIOS and by UEFI: a BIOS boot partition
#       (GRUB's i386-pc core.img), an EFI system partition (GRUB for x86_64-efi at the
#       removable-media path), the ext4 root last (so growpart can grow it); both GRUBs read the
#       root's /boot/grub/grub.cfg. Needs root and Debian's archive, as debian does.
# GRUB's grub.cfg (every GRUB target and debian) puts its terminal on the serial line (COM1, 115200),
# prints "petrel-grub: menu" there, waits PETREL_GRUB_TIMEOUT seconds (default 1) and boots the
# first entry: `linux KERNEL CMDLINE` (+ `initrd`). CMDLINE is written into grub.cfg as it is.
# Under OVMF, whose console is on the serial line too, GRUB's output comes twice (its serial
# terminal and the firmware's console): the same grub.cfg works with a display and without one.
# --grub-cfg FILE (grub-disk, grub-efi-disk, grub-iso): FILE is grub.cfg as it is instead (CMDLINE must be empty:
# FILE's entries say theirs; the kernel is /boot/kernel, the initrd /boot/initrd). The GRUB targets
# have /boot/grub/grubenv, GRUB's empty environment block (1024 bytes), for load_env/save_env: a
# grub.cfg that saves a variable (as grub-reboot's next_entry) on a writable disk changes what the
# next boot does.
#
# Images are cached under DIR (--cache, else $PETREL_IMAGE_DIR, else build/images), named by a hash
# of the inputs (this script, the target, the files' contents, the arguments, the timeout, the
# versions of GRUB, mtools, mmdebstrap and e2fsprogs); OUT is a sparse copy of the cached image (a guest may
# write to it). --force rebuilds; images not used for a week are removed. The debian image is cached by the script alone: it changes only
# with --force (Debian's archive moves on).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$ROOT/scripts/mkimage.sh
CACHE=${PETREL_IMAGE_DIR:-$ROOT/build/images}
GRUB_TIMEOUT=${PETREL_GRUB_TIMEOUT:-1}
GRUB_LIB=/usr/lib/grub/i386-pc
GRUB_EFI_LIB=/usr/lib/grub/x86_64-efi
MARKER="petrel-grub: menu"
DEBIAN_SUITE=bookworm
DEBIAN_PASSWORD=petrel
DEBIAN_HOSTNAME=petrel-debian
# Fixed file-system UUIDs: grub.cfg and fstab name the root by them.
GRUB_DISK_UUID=7e7e0001-5e7a-4c1d-9b00-000000000001
DEBIAN_UUID=7e7e0001-5e7a-4c1d-9b00-000000000002
# GPT: the disks' and partitions' GUIDs, the EFI system partition's FAT serial (fstab names it).
GPT_DISK_GUID=7e7e0001-5e7a-4c1d-9b00-0000000000e0
GPT_ESP_GUID=7e7e0001-5e7a-4c1d-9b00-0000000000e1
GPT_ROOT_GUID=7e7e0001-5e7a-4c1d-9b00-0000000000e2
GPT_ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
GPT_LINUX_TYPE=0FC63DAF-8483-4772-8E79-3D69D8477DE4
ESP_SERIAL=7E7E0E51 # the FAT volume id: UUID=7E7E-0E51
GPT_BIOS_BOOT_TYPE=21686148-6449-6E6F-744E-656564454649 # GRUB's core.img on a GPT disk booted by BIOS
GPT_BIOS_BOOT_GUID=7e7e0001-5e7a-4c1d-9b00-0000000000e3
# the EFI system partition in fstab: nofail and a short wait (a lean boot starts no udev, so the
# device unit never appears)
DEBIAN_ESP_FSTAB="UUID=${ESP_SERIAL:0:4}-${ESP_SERIAL:4} /boot/efi vfat umask=0077,nofail,x-systemd.device-timeout=10s 0 0"
FORCE=0
GRUB_CFG=""
EFI=0

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
	--efi) EFI=1; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[[ $# -ge 2 ]] || usage
TARGET=$1
shift
[[ $TARGET != debian || $1 != --efi ]] || { EFI=1; shift; }
[[ $# -ge 1 ]] || usage
OUT=$1
shift
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
		dpkg-query -W -f='${Package} ${Version}\n' grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools \
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

# grub_install DISK [SECTOR PREFIX LIB MODULE...]: GRUB for BIOS: core.img (LIB's modules,
# default GRUB_LIB's; MODULE... built in, default GRUB_EMBED; $prefix PREFIX, default the first
# MBR partition's /boot/grub) at SECTOR (default 1: the gap after an MBR; a GPT disk's BIOS boot
# partition elsewhere) and boot.img's code in the MBR, as grub-bios-setup places them. The
# modules go into the file system beforehand (grub_modules).
GRUB_EMBED=(biosdisk part_msdos ext2) # what core.img needs to read $prefix; the rest loads from it
# grub_modules DIR [LIB]: LIB's modules (default GRUB_LIB's, i386-pc) into DIR/boot/grub/<platform>,
# where GRUB loads them from $prefix.
grub_modules() {
	local lib=${2:-$GRUB_LIB}
	mkdir -p "$1/boot/grub/${lib##*/}"
	cp "$lib"/*.mod "$lib"/*.lst "$1/boot/grub/${lib##*/}/"
}
grub_install() { # DISK [SECTOR PREFIX LIB MODULE...]
	local disk=$1 at=${2:-1} prefix=${3:-'(,msdos1)/boot/grub'} lib=${4:-$GRUB_LIB} core
	local embed=("${@:5}")
	((${#embed[@]})) || embed=("${GRUB_EMBED[@]}")
	tmpdir core core
	core+=/core.img
	# "(,msdos1)": the BIOS boot drive (whatever its number), first partition.
	grub-mkimage -O i386-pc -d "$lib" -p "$prefix" -o "$core" "${embed[@]}"
	local size sectors
	size=$(stat -c %s "$core")
	sectors=$(((size + 511) / 512))
	((at > 1 || sectors <= 2047)) || die "core.img ($size bytes) does not fit before sector 2048"
	# diskboot.img (core.img's first sector) ends with one blocklist entry {u64 start; u16 len;
	# u16 segment}: the rest of core.img. grub-mkimage filled len and segment; start is ours.
	local bl=$((512 - 12))
	put_le "$core" $bl 8 $((at + 1))
	[[ $(get_le "$core" $((bl + 8)) 2) == $((sectors - 1)) ]] || die "core.img blocklist length is not $((sectors - 1))"
	[[ $(get_le "$core" $((bl + 10)) 2) == $((0x820)) ]] || die "core.img blocklist segment is not 0x820"
	dd if="$core" of="$disk" bs=512 seek="$at" conv=notrunc status=none
	# boot.img: code up to the disk signature (440 bytes), keeping sfdisk's partition table.
	# kernel_sector (u64 at 0x5c) = where core.img is; boot_drive (0x64) = 0xff: the drive the BIOS booted from;
	# the drive check (jmp at 0x66) becomes two nops, as grub-bios-setup does for hard disks.
	dd if="$lib/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
	put_le "$disk" $((0x5c)) 8 "$at"
	put_le "$disk" $((0x64)) 1 0xff
	put_le "$disk" $((0x66)) 2 0x9090
}

# mbr_disk DISK FSROOT FSTYPE UUID EXTRA_MIB: DISK = MBR + one bootable partition from 1 MiB
# holding a FSTYPE file system made from FSROOT (its contents + EXTRA_MIB free), with GRUB.
mbr_disk() {
	local disk=$1 dir=$2 fstype=$3 uuid=$4 extra=$5
	need sfdisk fdisk
	grub_modules "$dir"
	ext_fs "$disk.fs" "$dir" "$fstype" "$uuid" "$extra"
	local mib=$(($(stat -c %s "$disk.fs") >> 20))
	rm -f "$disk"
	truncate -s $(((mib + 1) << 20)) "$disk"
	printf 'label: dos\nlabel-id: 0x70657472\nstart=2048, type=83, bootable\n' |
		sfdisk --quiet --no-reread --no-tell-kernel "$disk"
	dd if="$disk.fs" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
	rm -f "$disk.fs"
	grub_install "$disk"
}

# fs_mib DIR EXTRA_MIB MIN_MIB: the MiB a file system holding DIR needs: its contents + 25 % +
# EXTRA_MIB free, at least MIN_MIB.
fs_mib() {
	local used mib
	used=$(du -s --block-size=1M "$1" | cut -f1)
	mib=$((used + used / 4 + $2))
	echo $((mib > $3 ? mib : $3))
}

# ext_fs FILE DIR FSTYPE UUID EXTRA_MIB: FILE = an ext2/3/4 file system made from DIR (mkfs -d).
ext_fs() {
	need mkfs.ext2 e2fsprogs
	local mib
	mib=$(fs_mib "$2" "$5" 1)
	rm -f "$1"
	truncate -s "${mib}M" "$1"
	mkfs.ext2 -q -F -t "$3" -U "$4" -L petrel -E root_owner=0:0 -d "$2" "$1" "${mib}M"
}

# ---- UEFI -------------------------------------------------------------------------------------
# What GRUB's EFI application needs built in to read $prefix (GPT or an MBR, FAT or ext2/3/4);
# the rest it loads from $prefix/x86_64-efi. A prefix with no device is the partition OVMF loaded
# the application from; "(,gptN)/..." partition N of that disk.
GRUB_EFI_EMBED=(part_gpt part_msdos fat ext2)

# efi_grub FILE PREFIX [LIB]: GRUB for x86_64-efi (an EFI application) from LIB's modules
# (default GRUB_EFI_LIB).
efi_grub() {
	need grub-mkimage grub-common
	local lib=${3:-$GRUB_EFI_LIB}
	mkdir -p "$(dirname "$1")"
	grub-mkimage -O x86_64-efi -d "$lib" -p "$2" -o "$1" "${GRUB_EFI_EMBED[@]}"
}

# esp_fs FILE DIR [START]: FILE = the EFI system partition: FAT32 (at least 40 MiB: FAT32 wants 65525
# clusters) holding DIR's tree, made and filled on the file by mtools; its volume id ESP_SERIAL,
# its hidden sectors the partition's start (START, default sector 2048: gpt_disk's first).
esp_fs() {
	need mformat mtools
	local mib
	mib=$(fs_mib "$2" 4 40)
	rm -f "$1"
	truncate -s "${mib}M" "$1"
	MTOOLS_SKIP_CHECK=1 mformat -i "$1" -F -H "${3:-2048}" -N "$ESP_SERIAL" -v EFI ::
	MTOOLS_SKIP_CHECK=1 mcopy -Q -s -i "$1" "$2"/* ::/
}

# gpt_disk DISK FS:TYPE:GUID:NAME...: DISK = a GPT disk (sfdisk on the file; the disk's GUID
# GPT_DISK_GUID) with a partition per file system image FS (a whole number of MiB), in order from
# 1 MiB on, each of partition type TYPE, GUID and name NAME; the images are moved in (removed).
gpt_disk() {
	need sfdisk fdisk
	local disk=$1 p fs type guid name mib start=1 table
	shift
	table="label: gpt"$'\n'"label-id: $GPT_DISK_GUID"$'\n'
	for p in "$@"; do
		IFS=: read -r fs type guid name <<<"$p"
		mib=$(($(stat -c %s "$fs") >> 20))
		table+="start=$((start << 11)), size=$((mib << 11)), type=$type, uuid=$guid, name=\"$name\""$'\n'
		start=$((start + mib))
	done
	rm -f "$disk"
	truncate -s $(((start + 1) << 20)) "$disk" # the backup GPT in the last MiB
	printf '%s' "$table" | sfdisk --quiet --no-reread --no-tell-kernel "$disk"
	start=1
	for p in "$@"; do
		fs=${p%%:*}
		mib=$(($(stat -c %s "$fs") >> 20))
		dd if="$fs" of="$disk" bs=1M seek=$start conv=notrunc,sparse status=none
		rm -f "$fs"
		start=$((start + mib))
	done
}

ESP_PART="$GPT_ESP_TYPE:$GPT_ESP_GUID:EFI system partition"

build_grub_efi_disk() { # FILE KERNEL INITRD CMDLINE
	local stage
	tmpdir stage grub-efi-disk
	stage_boot "$stage" "$2" "$3" "$4"
	grub_modules "$stage" "$GRUB_EFI_LIB"
	# The removable-media path: what OVMF boots from a disk no boot variable names.
	efi_grub "$stage/EFI/BOOT/BOOTX64.EFI" /boot/grub
	CLEANUP+=("$1.esp")
	esp_fs "$1.esp" "$stage"
	gpt_disk "$1" "$1.esp:$ESP_PART"
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
	# Without -d grub-mkrescue adds every platform installed in /usr/lib/grub: i386-pc and, with
	# grub-efi-amd64-bin, x86_64-efi (its El Torito EFI image, also an EFI partition in the MBR).
	# Quiet xorriso.
	local only=(-d "$GRUB_LIB")
	[[ ! -d $GRUB_EFI_LIB ]] || only=()
	grub-mkrescue "${only[@]}" -o "$1" "$stage" -- -volid PETREL >"$log" 2>&1 ||
		{ cat "$log" >&2; die "grub-mkrescue failed"; }
}

# The Debian disk: mmdebstrap (unshare mode: namespaces, no mounts on the host) into a tarball,
# unpacked as root (owners, device nodes) and made into the ext4 root with mkfs.ext4 -d.
DEBIAN_PACKAGES=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,grub2-common
DEBIAN_GRUB_BIOS="grub-pc-bin"
DEBIAN_GRUB_EFI="grub-efi-amd64-bin,efibootmgr" # efibootmgr: the guest's own boot entries
# A boot that costs little where guest ring 0 is emulated (a PVM host: each system call, page
# fault and interrupt of the guest runs ~1000x slower there). A customize hook (sh, $1 the new root):
# - the initramfs holds only the disk's drivers, loaded by name, and starts no udev (its walk of
#   every device costs minutes there): /dev/vda1 appears in devtmpfs, the root is found by UUID;
#   it is gzip-compressed, not zstd (Debian's default): the kernel's zstd picks its BMI2 code by
#   the CPU's own CPUID bit, which PVM shows the guest, and each BMI2 instruction then exits to
#   petrel to be emulated (docs/user-guide.md#pvm-hosts): unpacking took more than 15 minutes;
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
printf "MODULES=list\nCOMPRESS=gzip\n" >"$r/etc/initramfs-tools/conf.d/petrel.conf"
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

# debian_tree DIR PACKAGES [HOOK...]: DIR = a new Debian system (mmdebstrap, minbase and PACKAGES,
# the lean hook, then each HOOK: a customize hook, sh with $1 the new root), unpacked as root.
debian_tree() {
	need mmdebstrap mmdebstrap
	[[ $(id -u) == 0 ]] || die "the debian images need root (their files' owners and device nodes)"
	local dir=$1 pkgs=$2 stage h hooks=()
	shift 2
	for h in "$@"; do hooks+=(--customize-hook="$h"); done
	tmpdir stage debian
	# The customize hooks run inside the new system before it is packed.
	mmdebstrap --mode=unshare --variant=minbase --include="$pkgs" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook="$DEBIAN_LEAN_HOOK" "${hooks[@]}" \
		"$DEBIAN_SUITE" "$stage/root.tar" >"$stage/mmdebstrap.log" 2>&1 ||
		{ tail -40 "$stage/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
	mkdir "$dir"
	tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' -xpf "$stage/root.tar"
	rm -f "$stage/root.tar"
	[[ -e $dir/vmlinuz && -e $dir/initrd.img ]] || die "no /vmlinuz or /initrd.img in the new system"
	# /vmlinuz and /initrd.img are the symlinks the kernel packages keep current (GRUB follows them).
	mkdir -p "$dir/boot/grub" "$dir/etc/default/grub.d"
	debian_grub_cfg "" >"$dir/boot/grub/grub.cfg"
	debian_grub_default "" >"$dir/etc/default/grub.d/petrel.cfg"
}

build_debian() { # FILE (EFI=1: the GPT disk for UEFI)
	local stage
	tmpdir stage debian
	local dir=$stage/root grub=$DEBIAN_GRUB_BIOS fstab
	fstab="UUID=$DEBIAN_UUID / ext4 errors=remount-ro 0 1"
	if [[ $EFI == 1 ]]; then
		grub=$DEBIAN_GRUB_EFI
		# nofail and a short wait: a lean boot starts no udev, so the device unit never appears.
		fstab+="\n$DEBIAN_ESP_FSTAB"
	fi
	debian_tree "$dir" "$DEBIAN_PACKAGES,$grub" \
		"echo root:$DEBIAN_PASSWORD | chroot \"\$1\" chpasswd" \
		"echo $DEBIAN_HOSTNAME >\"\$1/etc/hostname\"" \
		"printf '127.0.0.1 localhost\n127.0.1.1 $DEBIAN_HOSTNAME\n' >\"\$1/etc/hosts\"" \
		"printf '$fstab\n' >\"\$1/etc/fstab\""
	if [[ $EFI == 1 ]]; then
		debian_efi_disk "$1" "$dir"
	else
		mbr_disk "$1" "$dir" ext4 "$DEBIAN_UUID" 512
	fi
}

# The cloud template (debian-cloud): what a cloud image of Debian's has, NoCloud first.
DEBIAN_CLOUD_PACKAGES="$DEBIAN_PACKAGES,$DEBIAN_GRUB_BIOS,$DEBIAN_GRUB_EFI,cloud-init,cloud-guest-utils,fdisk,\
e2fsprogs,qemu-guest-agent,openssh-server,sudo,dbus,ifupdown,isc-dhcp-client,iproute2,netbase"
DEBIAN_CLOUD_HOSTNAME=debian
# cloud-init's settings for petrel's seeds: NoCloud (the "cidata" drive, or ds=nocloud in SMBIOS)
# before a cloud's metadata service (none answers on a petrel host: each probe waits for its
# timeout); the host name in /etc/hosts too (sudo resolves it); the C.UTF-8 locale, which needs no
# generation (cloud-init's default, en_US.UTF-8, is not generated in a minimal system: its locale
# module failed).
DEBIAN_CLOUD_CFG='# written by scripts/mkimage.sh of petrel (debian-cloud)
datasource_list: [NoCloud, ConfigDrive, None]
manage_etc_hosts: localhost
locale: C.UTF-8
'
# An instance of the template is made on its first boot: no machine id (systemd makes one, and the
# DHCP client id with it), no SSH host keys (cloud-init makes them), no random seed, no logs.
DEBIAN_CLOUD_HOOK='
set -e
r=$1
: >"$r/etc/machine-id"
rm -f "$r/var/lib/dbus/machine-id" "$r"/etc/ssh/ssh_host_*_key* "$r/var/lib/systemd/random-seed"
mkdir -p "$r/var/lib/dbus"
ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
rm -rf "$r"/var/lib/cloud/* "$r"/var/log/*.log
'

build_debian_cloud() { # FILE: the qcow2 template
	need qemu-img qemu-utils
	local stage
	tmpdir stage debian-cloud
	local dir=$stage/root disk=$stage/disk.img lib
	debian_tree "$dir" "$DEBIAN_CLOUD_PACKAGES" \
		"echo $DEBIAN_CLOUD_HOSTNAME >\"\$1/etc/hostname\"" \
		"printf '127.0.0.1 localhost\n127.0.1.1 $DEBIAN_CLOUD_HOSTNAME\n' >\"\$1/etc/hosts\"" \
		"printf 'UUID=$DEBIAN_UUID / ext4 errors=remount-ro 0 1\n$DEBIAN_ESP_FSTAB\n' >\"\$1/etc/fstab\"" \
		"$DEBIAN_CLOUD_HOOK"
	printf '%s' "$DEBIAN_CLOUD_CFG" >"$dir/etc/cloud/cloud.cfg.d/90_petrel.cfg"
	lib=$dir/usr/lib/grub
	[[ -f $lib/i386-pc/boot.img && -d $lib/x86_64-efi ]] || die "no GRUB for i386-pc and x86_64-efi in the new system"
	grub_modules "$dir" "$lib/i386-pc"
	grub_modules "$dir" "$lib/x86_64-efi"
	mkdir -p "$dir/boot/efi"
	# The EFI system partition: the removable-media path (what a UEFI firmware boots from a disk no
	# boot variable names) and Debian's own place.
	local esp prefix='(,gpt3)/boot/grub'
	tmpdir esp debian-cloud-esp
	efi_grub "$esp/EFI/BOOT/BOOTX64.EFI" "$prefix" "$lib/x86_64-efi"
	mkdir -p "$esp/EFI/debian"
	cp "$esp/EFI/BOOT/BOOTX64.EFI" "$esp/EFI/debian/grubx64.efi"
	CLEANUP+=("$disk.bios" "$disk.esp" "$disk.fs")
	truncate -s 1M "$disk.bios"
	esp_fs "$disk.esp" "$esp" 4096 # after the BIOS boot partition
	ext_fs "$disk.fs" "$dir" ext4 "$DEBIAN_UUID" 512
	gpt_disk "$disk" "$disk.bios:$GPT_BIOS_BOOT_TYPE:$GPT_BIOS_BOOT_GUID:BIOS boot partition" "$disk.esp:$ESP_PART" \
		"$disk.fs:$GPT_LINUX_TYPE:$GPT_ROOT_GUID:petrel"
	# core.img in the BIOS boot partition (sector 2048), reading the root by GPT.
	grub_install "$disk" 2048 "$prefix" "$lib/i386-pc" biosdisk part_gpt ext2
	rm -rf "$dir"
	qemu-img convert -q -f raw -O qcow2 "$disk" "$1"
}

# debian_efi_disk DISK ROOT: DISK = GPT: the EFI system partition with the system's own GRUB for
# x86_64-efi (its $prefix the ext4 root's /boot/grub) at the removable-media path and where
# Debian's grub-install puts it (EFI/debian/grubx64.efi: a boot entry of efibootmgr's can name
# it), then the ext4 root from ROOT.
debian_efi_disk() {
	local disk=$1 dir=$2 esp lib=$2/usr/lib/grub/x86_64-efi
	[[ -d $lib ]] || die "no $lib in the new system"
	tmpdir esp debian-esp
	grub_modules "$dir" "$lib"
	mkdir -p "$dir/boot/efi"
	efi_grub "$esp/EFI/BOOT/BOOTX64.EFI" '(,gpt2)/boot/grub' "$lib"
	mkdir -p "$esp/EFI/debian"
	cp "$esp/EFI/BOOT/BOOTX64.EFI" "$esp/EFI/debian/grubx64.efi"
	CLEANUP+=("$disk.esp")
	esp_fs "$disk.esp" "$esp"
	ext_fs "$disk.fs" "$dir" ext4 "$DEBIAN_UUID" 512
	gpt_disk "$disk" "$disk.esp:$ESP_PART" "$disk.fs:$GPT_LINUX_TYPE:$GPT_ROOT_GUID:petrel"
}

# debian_grub_cfg EXTRA: the disk's grub.cfg, EXTRA added to the kernel's command line.
debian_grub_cfg() { grub_cfg /vmlinuz /initrd.img "root=UUID=$DEBIAN_UUID ro console=ttyS0,115200${1:+ $1}"; }
# debian_grub_default EXTRA: the same for the guest's own update-grub (/etc/default/grub.d/petrel.cfg).
debian_grub_default() {
	printf '%s\n' "GRUB_TIMEOUT=$GRUB_TIMEOUT" 'GRUB_TERMINAL="serial console"' \
		'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"' "GRUB_CMDLINE_LINUX=\"console=ttyS0,115200${1:+ $1}\""
}

# build_debian_cmdline FILE BASE EXTRA: FILE = the cached debian disk BASE with EXTRA on its kernel
# command line: the two GRUB files replaced in the ext4 root (the last partition) with debugfs (no
# mount).
build_debian_cmdline() {
	local start fs t
	start=$(sfdisk --dump "$2" | sed -n 's/.*start= *\([0-9]*\),.*/\1/p' | tail -1)
	[[ -n $start ]] || die "no partition in $2"
	fs="$1?offset=$((start * 512))"
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

# ---- direct-disk: disks a boot from the disk reads (no GRUB installed) --------------------------
DIRECT_ROOT_UUID=7e7e0001-5e7a-4c1d-9b00-0000000000d1
DIRECT_BOOT_UUID=7e7e0001-5e7a-4c1d-9b00-0000000000d2
GPT_DIRECT_BOOT_GUID=7e7e0001-5e7a-4c1d-9b00-0000000000d3
GPT_DIRECT_ROOT_GUID=7e7e0001-5e7a-4c1d-9b00-0000000000d4

# direct_mbr DISK FS...: an MBR disk (sfdisk on the file) with a partition per file system image
# FS (a whole number of MiB), in order from 1 MiB on; the images are moved in.
direct_mbr() {
	need sfdisk fdisk
	local disk=$1 fs mib start=1 table
	shift
	table="label: dos"$'\n'"label-id: 0x70657472"$'\n'
	for fs in "$@"; do
		mib=$(($(stat -c %s "$fs") >> 20))
		table+="start=$((start << 11)), size=$((mib << 11)), type=83"$'\n'
		start=$((start + mib))
	done
	rm -f "$disk"
	truncate -s $((start << 20)) "$disk"
	printf '%s' "$table" | sfdisk --quiet --no-reread --no-tell-kernel "$disk"
	start=1
	for fs in "$@"; do
		mib=$(($(stat -c %s "$fs") >> 20))
		dd if="$fs" of="$disk" bs=1M seek=$start conv=notrunc,sparse status=none
		rm -f "$fs"
		start=$((start + mib))
	done
}

build_direct_disk() { # FILE LAYOUT KERNEL INITRD CMDLINE
	local out=$1 table fs kind root boot
	IFS=- read -r table fs kind <<<"$2"
	kind=${kind:-grub}
	tmpdir root direct-root
	case $kind in
	grub) stage_boot "$root" "$3" "$4" "$5" ;;
	links)
		mkdir -p "$root/boot"
		cp "$3" "$root/boot/vmlinuz-petrel"
		ln -s boot/vmlinuz-petrel "$root/vmlinuz"
		[[ -z $4 ]] || { cp "$4" "$root/boot/initrd.img-petrel"; ln -s boot/initrd.img-petrel "$root/initrd.img"; }
		;;
	bootpart)
		tmpdir boot direct-boot
		mkdir -p "$root/etc" "$boot/grub"
		echo petrel >"$root/etc/hostname"
		cp "$3" "$boot/kernel"
		[[ -z $4 ]] || cp "$4" "$boot/initrd"
		if [[ -n $GRUB_CFG ]]; then
			cp "$GRUB_CFG" "$boot/grub/grub.cfg"
		else
			{
				echo "search --no-floppy --fs-uuid --set=root $DIRECT_BOOT_UUID"
				grub_cfg /kernel "${4:+/initrd}" "$5"
			} >"$boot/grub/grub.cfg"
		fi
		grub_env >"$boot/grub/grubenv"
		CLEANUP+=("$out.boot")
		ext_fs "$out.boot" "$boot" ext2 "$DIRECT_BOOT_UUID" 1
		;;
	esac
	CLEANUP+=("$out.root")
	ext_fs "$out.root" "$root" "$fs" "$DIRECT_ROOT_UUID" 2
	local parts=("$out.root")
	[[ $kind != bootpart ]] || parts+=("$out.boot")
	case $table in
	bare) mv "$out.root" "$out" ;;
	mbr) direct_mbr "$out" "${parts[@]}" ;;
	gpt)
		local specs=("$out.root:$GPT_LINUX_TYPE:$GPT_DIRECT_ROOT_GUID:root")
		[[ $kind != bootpart ]] || specs+=("$out.boot:$GPT_LINUX_TYPE:$GPT_DIRECT_BOOT_GUID:boot")
		gpt_disk "$out" "${specs[@]}"
		;;
	esac
}

# ---- targets ----------------------------------------------------------------------------------
[[ $EFI == 0 || $TARGET == debian ]] || die "--efi is for debian (grub-efi-disk is the GRUB target's)"
case $TARGET in
grub-disk | grub-efi-disk | grub-iso)
	[[ $# -ge 1 && $# -le 3 ]] || usage
	kernel=$1 initrd=${2:-} cmdline=${3:-}
	[[ -f $kernel ]] || die "kernel $kernel not found"
	[[ -z $initrd || -f $initrd ]] || die "initrd $initrd not found"
	[[ $cmdline != *$'\n'* ]] || die "the command line has a newline"
	[[ -z $GRUB_CFG || -f $GRUB_CFG ]] || die "grub.cfg $GRUB_CFG not found"
	[[ -z $GRUB_CFG || -z $cmdline ]] || die "--grub-cfg and a command line: the file's entries say theirs"
	need grub-mkimage grub-common
	if [[ $TARGET == grub-efi-disk ]]; then
		[[ -f $GRUB_EFI_LIB/normal.mod ]] || die "$GRUB_EFI_LIB not found: install grub-efi-amd64-bin (scripts/setup.sh does)"
	else
		[[ -f $GRUB_LIB/boot.img ]] || die "$GRUB_LIB/boot.img not found: install grub-pc-bin (scripts/setup.sh does)"
	fi
	h=$(key "$TARGET" "$kernel" "${initrd:-no-initrd}" "$cmdline" "timeout=$GRUB_TIMEOUT" "${GRUB_CFG:-no-grub-cfg}")
	cached "$TARGET-$h.img" "build_${TARGET//-/_}" "$kernel" "$initrd" "$cmdline"
	;;
direct-disk)
	[[ $# -ge 2 && $# -le 4 ]] || usage
	layout=$1 kernel=$2 initrd=${3:-} cmdline=${4:-}
	[[ $layout =~ ^(mbr|gpt|bare)-(ext2|ext3|ext4)(-(grub|links|bootpart))?$ ]] ||
		die "layout $layout: TABLE-FS[-KIND], TABLE mbr|gpt|bare, FS ext2|ext3|ext4, KIND grub|links|bootpart"
	[[ $layout != bare-*-bootpart ]] || die "bootpart needs a partition table"
	[[ -f $kernel ]] || die "kernel $kernel not found"
	[[ -z $initrd || -f $initrd ]] || die "initrd $initrd not found"
	[[ $cmdline != *$'\n'* ]] || die "the command line has a newline"
	[[ -z $GRUB_CFG || -f $GRUB_CFG ]] || die "grub.cfg $GRUB_CFG not found"
	h=$(key "$TARGET" "$layout" "$kernel" "${initrd:-no-initrd}" "$cmdline" "${GRUB_CFG:-no-grub-cfg}")
	cached "$TARGET-$h.img" build_direct_disk "$layout" "$kernel" "$initrd" "$cmdline"
	;;
debian)
	[[ $# -le 1 ]] || usage
	extra=${1:-}
	[[ $extra != *$'\n'* ]] || die "the command line has a newline"
	need debugfs e2fsprogs
	[[ -z $GRUB_CFG ]] || die "--grub-cfg is for the GRUB targets (debian's grub.cfg names its root)"
	name=debian
	[[ $EFI == 0 ]] || name=debian-efi
	h=$(key "$name" "$DEBIAN_SUITE" "timeout=$GRUB_TIMEOUT")
	if [[ -z $extra ]]; then
		cached "$name-$h.img" build_debian
	else # the disk built once, then a copy per command line
		cache_build "$name-$h.img" build_debian
		cached "$name-$(key "$name" "$DEBIAN_SUITE" "timeout=$GRUB_TIMEOUT" "cmdline=$extra").img" \
			build_debian_cmdline "$CACHE/$name-$h.img" "$extra"
	fi
	;;
debian-cloud)
	[[ $# == 0 ]] || usage
	[[ -z $GRUB_CFG ]] || die "--grub-cfg is for the GRUB targets"
	need mkfs.ext2 e2fsprogs
	# The template is cached by the script alone, as debian is (Debian's archive moves on: --force).
	cached "debian-cloud-$(key debian-cloud "$DEBIAN_SUITE" "timeout=$GRUB_TIMEOUT").qcow2" build_debian_cloud
	;;
*) die "unknown target $TARGET (grub-disk, grub-efi-disk, grub-iso, direct-disk, debian, debian-cloud)" ;;
esac
