#!/usr/bin/env bash
# A whole Debian 12 (scripts/mkimage.sh debian: MBR, ext4 root, GRUB's grub.cfg naming /vmlinuz)
# booted directly from its disk (petrel run --from-disk, docs/images.md#booting-from-the-disk) to
# its serial login prompt, through a qcow2 overlay so the image stays as it was. Prints the
# seconds from start to the prompt, the "boot from disk" line and the kernel's version; exit 0
# when the prompt came. Minutes on a PVM host (systemd in emulated ring 0), ~30-45 s under nested
# KVM (scripts/nested-kvm.sh; there with PETREL_SKIP_SETUP=1 and absolute paths).
#
# Usage: scripts/diskboot-debian.sh [IMAGE]   (default: scripts/mkimage.sh debian's, cached)
# Env:   DISKBOOT_LIMIT seconds to wait for the prompt (default 3600), DISKBOOT_OUT the console
#        and log (default build/diskboot-debian.out), PETREL_BUILD
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PETREL_BUILD:-$ROOT/build}
OUT=${DISKBOOT_OUT:-$BUILD/diskboot-debian.out}
LIMIT=${DISKBOOT_LIMIT:-3600}
img=${1:-}
if [[ -z $img ]]; then
	img=$BUILD/diskboot-debian.img
	bash "$ROOT/scripts/mkimage.sh" debian "$img" >/dev/null || { echo "diskboot-debian: no Debian image"; exit 1; }
fi
work=$(mktemp -d "${BUILD}/diskboot-debian.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$BUILD/petrel" image create-overlay -F raw "$(realpath "$img")" "$work/root.qcow2" >/dev/null ||
	{ echo "diskboot-debian: cannot make the overlay"; exit 1; }
start=$(date +%s.%N)
"$BUILD/petrel" run --from-disk --disk "$work/root.qcow2,root" --mem 1024 --level Info >"$OUT" 2>&1 </dev/null &
pid=$!
status=1
while :; do
	if grep -aq "login:" "$OUT"; then
		printf 'diskboot-debian: login prompt %.1f s after the start\n' "$(echo "$(date +%s.%N) - $start" | bc)"
		status=0
		break
	fi
	kill -0 $pid 2>/dev/null || { echo "diskboot-debian: petrel ended first"; break; }
	[[ $(echo "$(date +%s) - $start < $LIMIT" | bc) == 1 ]] || { echo "diskboot-debian: no prompt in $LIMIT s"; break; }
	sleep 0.5
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
grep -a "boot from disk" "$OUT" | cut -c1-300
grep -a -m1 "Linux version" "$OUT" | tr -d '\r' | cut -c1-160
exit $status
