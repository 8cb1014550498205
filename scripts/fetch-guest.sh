#!/usr/bin/env bash
# Fetch petrel's default guest into guest/ (git-ignored):
#   guest/vmlinuz            Debian's cloud kernel (bzImage), from linux-image-cloud-amd64
#   guest/vmlinux            the same kernel as an uncompressed ELF (for PVH boot), if it
#                            could be extracted from the bzImage payload
#   guest/kernel-version     e.g. 6.1.0-56-cloud-amd64
#   guest/kernel-package     the .deb it came from, name and version
#   guest/config             the kernel's build config
#   guest/drivers.txt        for each driver the guest wants: builtin, module or absent,
#                            and the CONFIG_ lines behind it
#   guest/modules/*.ko       the wanted drivers that are modules, with their dependencies,
#                            uncompressed
#   guest/modules/load-order those modules, dependencies first (busybox insmod reads no
#                            modules.dep)
# then builds guest/initramfs.cpio with scripts/mkinitramfs.sh.
#
# Usage: scripts/fetch-guest.sh [--force]     (--force: fetch the kernel again)
# Env:   PETREL_GUEST_DIR     where to put it (default: guest/)
#        PETREL_KERNEL_META   meta package to resolve (default: linux-image-cloud-amd64)
#        PETREL_KERNEL_DEB    use this linux-image-*.deb instead of downloading one
#        PETREL_GUEST_EXTRA_DRIVERS  more drivers to want, space-separated (scripts/fetch-guest-generic.sh: e1000)
# Needs: apt (run `apt-get update` once first), dpkg-deb; lz4/xz/zstd for vmlinux extraction.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST=${PETREL_GUEST_DIR:-$ROOT/guest}
META=${PETREL_KERNEL_META:-linux-image-cloud-amd64}
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1

# Drivers the guest wants, in the order init should load them (dependencies are added
# ahead of each automatically). Names as the kernel knows them ('-' and '_' are equal).
WANTED=(
	virtio_ring virtio                                      # virtio core
	virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci  # virtio over PCI
	virtio_mmio                                             # virtio over MMIO
	virtio_blk                                              # block
	failover net_failover virtio_net                        # network
	virtio_rng                                              # entropy
	virtio_balloon                                          # memory balloon
	virtio_mem                                              # memory hot-plug
	vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport  # vsock
	crc16 crc32c_generic mbcache jbd2 ext4                  # ext4 root disks
	libnvdimm nd_btt nd_pmem virtio_pmem                    # virtio-pmem (/dev/pmemN)
	fuse virtiofs                                           # virtio-fs (mount -t virtiofs TAG)
)
read -ra extra <<<"${PETREL_GUEST_EXTRA_DRIVERS:-}"
WANTED+=("${extra[@]}")
# The config symbols behind them, recorded in drivers.txt.
CONFIG_RE='^(# )?CONFIG_(VIRTIO[A-Z0-9_]*|HW_RANDOM_VIRTIO|VSOCKETS|VIRTIO_VSOCKETS[A-Z_]*|FUSE_FS|FUSE_DAX|PVPANIC[A-Z_]*|FAILOVER|NET_FAILOVER|E1000|EXT4_FS|JBD2|FS_MBCACHE|CRC16|CRYPTO_CRC32C|X86_MPPARSE|ACPI|PVH|KVM_GUEST|SERIAL_8250|RTC_DRV_CMOS|SERIO_I8042|KERNEL_(GZIP|XZ|LZ4|ZSTD|LZMA|LZO|BZIP2))( is not set|=)'

log() { echo "fetch-guest: $*"; }
die() {
	echo "fetch-guest: $*" >&2
	# A guest that only lacks drivers added since it was fetched still boots: keep it rather
	# than fail the whole setup (no network, say).
	if [[ -n ${KEEP_OLD:-} ]]; then
		echo "fetch-guest: keeping the guest in $GUEST as it is (without the newer drivers)" >&2
		rm -rf "${tmp:-}"
		exec "$ROOT/scripts/mkinitramfs.sh"
	fi
	exit 1
}

STAMP=$GUEST/.kernel-fetched
# A guest fetched before a driver was added to WANTED lacks it: fetch again then.
wanted_recorded() {
	local name
	for name in "${WANTED[@]}"; do
		grep -q "^$name " "$GUEST/drivers.txt" 2>/dev/null || return 1
	done
}
if [[ $FORCE == 0 && -f $STAMP && -s $GUEST/vmlinuz && -s $GUEST/kernel-version ]]; then
	if wanted_recorded; then
		log "kernel $(cat "$GUEST/kernel-version") already in $GUEST (--force fetches again)"
		exec "$ROOT/scripts/mkinitramfs.sh"
	fi
	log "the guest in $GUEST lacks drivers added to WANTED since it was fetched: fetching again"
	KEEP_OLD=1
fi

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (this script needs a Debian-based host)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/petrel-guest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- 1. the kernel package ------------------------------------------------------------------
if [[ -n ${PETREL_KERNEL_DEB:-} ]]; then
	[[ -f $PETREL_KERNEL_DEB ]] || die "PETREL_KERNEL_DEB=$PETREL_KERNEL_DEB: no such file"
	deb=$PETREL_KERNEL_DEB
else
	command -v apt-get >/dev/null || die "apt-get not found; set PETREL_KERNEL_DEB to a linux-image .deb"
	# apt downloads as the unprivileged _apt user when run as root: let it write here.
	if [[ $(id -u) == 0 ]] && id _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	# The meta package only depends on the real, versioned image package: resolve that.
	pkg=$(apt-cache depends "$META" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' || true)
	if [[ -z $pkg ]]; then
		# Fall back to reading the meta package's own control file.
		(cd "$tmp" && apt-get download -q "$META" >/dev/null) ||
			die "cannot find $META: run 'apt-get update' first (scripts/setup.sh does)"
		pkg=$(dpkg-deb -f "$tmp"/"$META"_*.deb Depends | sed 's/[,|]/\n/g' |
			sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1)
		[[ -n $pkg ]] || die "$META depends on no linux-image-<version> package"
	fi
	log "$META -> $pkg; downloading"
	(cd "$tmp" && apt-get download -q "$pkg") || die "apt-get download $pkg failed"
	deb=$(ls "$tmp"/"$pkg"_*.deb)
fi

pkgname=$(dpkg-deb -f "$deb" Package)
pkgver=$(dpkg-deb -f "$deb" Version)
x=$tmp/x
dpkg-deb -x "$deb" "$x"

images=("$x"/boot/vmlinuz-*)
vmlinuz=${images[0]}
[[ -f $vmlinuz ]] || die "$pkgname ships no boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
config=$x/boot/config-$kver
moddir=$x/lib/modules/$kver
[[ -d $moddir ]] || moddir=$x/usr/lib/modules/$kver
log "kernel $kver ($pkgname $pkgver)"

# --- 2. stage the output ----------------------------------------------------------------------
out=$tmp/out
mkdir -p "$out/modules"
cp "$vmlinuz" "$out/vmlinuz"
echo "$kver" >"$out/kernel-version"
echo "$pkgname $pkgver" >"$out/kernel-package"
[[ -f $config ]] && cp "$config" "$out/config"

# --- 3. modules --------------------------------------------------------------------------------
norm() { local n=${1##*/}; n=${n%%.ko*}; echo "${n//-/_}"; }

declare -A modpath=() builtin=() state=()
if [[ -d $moddir ]]; then
	while IFS= read -r -d '' f; do
		modpath[$(norm "$f")]=$f
	done < <(find "$moddir" -name '*.ko*' -print0)
	if [[ -f $moddir/modules.builtin ]]; then
		while IFS= read -r f; do builtin[$(norm "$f")]=1; done <"$moddir/modules.builtin"
	fi
fi

# Copy one module into the staged modules/ uncompressed; print its new file name.
unpack_module() {
	local src=$1 base
	base=${src##*/}
	case $src in
	*.ko) cp "$src" "$out/modules/$base" ;;
	*.ko.xz) base=${base%.xz}; xz -dc "$src" >"$out/modules/$base" ;;
	*.ko.zst) base=${base%.zst}; zstd -qdc "$src" >"$out/modules/$base" ;;
	*.ko.gz) base=${base%.gz}; gzip -dc "$src" >"$out/modules/$base" ;;
	*) die "unknown module compression: $src" ;;
	esac
	echo "$base"
}

# The module's own dependency list, from the depends= string in its .modinfo section.
module_depends() {
	tr '\0' '\n' <"$1" | awk '/^depends=/ && !seen { print substr($0, 9); seen = 1 }'
}

order=()
status=()
# Depth-first: dependencies before the module; built-in ones need nothing.
visit() {
	local name=$1 file dep deps
	[[ ${state[$name]:-} == visited ]] && return 0
	[[ ${state[$name]:-} == visiting ]] && die "module dependency cycle at $name"
	if [[ -n ${builtin[$name]:-} ]]; then
		state[$name]=visited
		status+=("$name builtin")
		return 0
	fi
	[[ -n ${modpath[$name]:-} ]] || return 1
	state[$name]=visiting
	file=$(unpack_module "${modpath[$name]}") || die "cannot copy ${modpath[$name]}"
	deps=$(module_depends "$out/modules/$file") || die "cannot read $file"
	for dep in ${deps//,/ }; do
		dep=$(norm "$dep")
		visit "$dep" || die "$name needs $dep, which $pkgname has neither built in nor as a module"
	done
	state[$name]=visited
	order+=("$file")
	status+=("$name module $file")
}

for name in "${WANTED[@]}"; do
	if ! visit "$name"; then
		status+=("$name absent")
		log "warning: $pkgname has no driver $name (neither built in nor a module)"
	fi
done
printf '%s\n' "${order[@]}" >"$out/modules/load-order"
[[ ${#order[@]} -gt 0 ]] || : >"$out/modules/load-order"

{
	echo "# Drivers petrel's guest wants in $pkgname $pkgver ($kver)."
	echo "# name  builtin|module <file>|absent   (modules load in modules/load-order)"
	printf '%s\n' "${status[@]}"
	echo
	echo "# From boot/config-$kver:"
	if [[ -f $config ]]; then grep -E "$CONFIG_RE" "$config" || true; fi
} >"$out/drivers.txt"

# --- 4. vmlinux: the bzImage payload, decompressed on the host --------------------------------
# Booting the ELF through PVH skips the in-guest decompressor (slow where guest ring 0 is
# emulated). Header fields (Documentation/x86/boot.rst): setup_sects at 0x1f1,
# payload_offset at 0x248 and payload_length at 0x24c, relative to the protected-mode code.
payload() { dd if="$1" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }
extract_vmlinux() {
	local img=$1 dst=$2 sects off len start magic
	sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$img" | tr -d ' ')
	[[ $sects == 0 ]] && sects=4
	off=$(od -An -tu4 -j $((0x248)) -N4 "$img" | tr -d ' ')
	len=$(od -An -tu4 -j $((0x24c)) -N4 "$img" | tr -d ' ')
	[[ $off -gt 0 && $len -gt 0 ]] || return 1
	start=$(((sects + 1) * 512 + off))
	magic=$(od -An -tx1 -j "$start" -N4 "$img" | tr -d ' ')
	# All but gzip have the uncompressed size appended (4 bytes); leave it out.
	case $magic in
	1f8b*) payload "$img" "$start" "$len" | gzip -dc >"$dst" 2>/dev/null || true ;;
	02214c18) payload "$img" "$start" $((len - 4)) | lz4 -dc >"$dst" 2>/dev/null ;;
	fd377a58) payload "$img" "$start" $((len - 4)) | xz -dc >"$dst" 2>/dev/null ;;
	28b52ffd) payload "$img" "$start" $((len - 4)) | zstd -qdc >"$dst" 2>/dev/null ;;
	*) return 1 ;;
	esac
	[[ $(od -An -tx1 -N4 "$dst" | tr -d ' ') == 7f454c46 ]]  # ELF
}
if extract_vmlinux "$out/vmlinuz" "$out/vmlinux"; then
	log "extracted vmlinux ($(stat -c %s "$out/vmlinux") bytes) for PVH boot"
else
	rm -f "$out/vmlinux"
	log "note: could not extract vmlinux from the bzImage (missing lz4/xz/zstd?); bzImage only"
fi

# --- 5. install into guest/ ---------------------------------------------------------------------
mkdir -p "$GUEST"
rm -rf "$GUEST/modules" "$GUEST/vmlinux" "$STAMP"
for f in vmlinuz vmlinux kernel-version kernel-package config drivers.txt; do
	[[ -e $out/$f ]] && mv -f "$out/$f" "$GUEST/$f"
done
mv "$out/modules" "$GUEST/modules"
echo "$pkgname $pkgver" >"$STAMP"

nb=$(grep -c ' builtin$' "$GUEST/drivers.txt" || true)
log "guest kernel in $GUEST: ${#order[@]} modules to load, $nb wanted drivers built in (see drivers.txt)"

exec "$ROOT/scripts/mkinitramfs.sh"
