#!/usr/bin/env bash
# Fetch the generic Debian kernel of the default guest's version into guest-generic/
# (git-ignored), with the e1000 driver as a module, for tests/linux/test_linux_e1000.py, and the
# bochs DRM driver (bochs.ko and the DRM modules it needs) for tests/linux/test_linux_display.py.
# Debian's cloud kernel (guest/, scripts/fetch-guest.sh) is built without CONFIG_E1000; the
# generic image package of the same version (linux-image-<version>-amd64, what
# linux-image-amd64 depends on) ships drivers/net/ethernet/intel/e1000/e1000.ko and
# drivers/gpu/drm/tiny/bochs.ko (the cloud kernel has no DRM at all).
# Writes the same files as fetch-guest.sh (vmlinuz, vmlinux, modules/ with e1000.ko and the
# virtio drivers, drivers.txt, initramfs.cpio through scripts/mkinitramfs.sh).
#
# Usage: scripts/fetch-guest-generic.sh [--force]
# Env:   PETREL_GENERIC_GUEST_DIR  where to put it (default: guest-generic/)
#        PETREL_GUEST_DIR          the default guest, whose kernel version is matched (guest/)
#        PETREL_KERNEL_DEB         use this linux-image-*.deb instead of downloading one
# Needs: apt (run `apt-get update` once first), dpkg-deb; only Debian's archive is contacted.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT=${PETREL_GUEST_DIR:-$ROOT/guest}
OUT=${PETREL_GENERIC_GUEST_DIR:-$ROOT/guest-generic}
DRIVERS="e1000 bochs"

log() { echo "fetch-guest-generic: $*"; }
die() { echo "fetch-guest-generic: $*" >&2; exit 1; }

# PETREL_KERNEL_META: should fetch-guest.sh decide on its own to fetch again (the fast path below,
# when drivers were added to its list since), it fetches the generic kernel, not the cloud one,
# which has no e1000 and would replace this guest's kernel with one the test cannot use.
export PETREL_GUEST_DIR=$OUT PETREL_GUEST_EXTRA_DRIVERS=$DRIVERS PETREL_KERNEL_META=linux-image-amd64
# Already there with the drivers: fetch-guest.sh only brings the initramfs up to date. (A guest
# fetched before bochs was on the list is fetched again: its modules were not kept.)
have_drivers() {
	local d
	for d in $DRIVERS; do grep -q "^$d module " "$OUT/drivers.txt" 2>/dev/null || return 1; done
}
if [[ ${1:-} != --force && -f $OUT/.kernel-fetched ]] && have_drivers; then
	exec "$ROOT/scripts/fetch-guest.sh"
fi

if [[ -z ${PETREL_KERNEL_DEB:-} ]]; then
	command -v apt-get >/dev/null || die "apt-get not found; set PETREL_KERNEL_DEB to a linux-image .deb"
	# The same version as the default guest (6.1.0-56-cloud-amd64 -> linux-image-6.1.0-56-amd64),
	# else whatever linux-image-amd64 resolves to.
	if [[ -s $DEFAULT/kernel-version ]]; then
		kver=$(cat "$DEFAULT/kernel-version")
		pkg=linux-image-${kver%-cloud-amd64}-amd64
	else
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' || true)
		[[ -n $pkg ]] || die "cannot resolve linux-image-amd64: run 'apt-get update' first"
	fi
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/petrel-guest-generic.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# apt downloads as the unprivileged _apt user when run as root: let it write here.
	if [[ $(id -u) == 0 ]] && id _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	log "downloading $pkg"
	(cd "$tmp" && apt-get download -q "$pkg") || die "apt-get download $pkg failed (run 'apt-get update'?)"
	PETREL_KERNEL_DEB=$(ls "$tmp"/"$pkg"_*.deb)
	export PETREL_KERNEL_DEB
fi
# Not exec: the trap removes the download afterwards.
"$ROOT/scripts/fetch-guest.sh" --force
have_drivers || die "the kernel in $OUT lacks one of $DRIVERS as a module (see drivers.txt)"
