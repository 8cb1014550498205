#!/usr/bin/env bash
# Build guest/initramfs.cpio (uncompressed): busybox-static, its applet links, scripts/guest-init as /init,
# /bin/envcheck (tests/linux/guest/envcheck.c, built static here: the check /init runs first),
# /bin/vsockcat (tests/linux/guest/vsockcat.c: a vsock client for the checks after a restore),
# and the kernel modules fetch-guest.sh put in guest/modules (with their load order).
#
# Usage: scripts/mkinitramfs.sh [--force]
# Env:   PETREL_GUEST_DIR (default: guest/), BUSYBOX (default: /bin/busybox from busybox-static)
# Rebuilds only when the output is missing or older than one of its inputs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST=${PETREL_GUEST_DIR:-$ROOT/guest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
INIT=$ROOT/scripts/guest-init
OUT=$GUEST/initramfs.cpio
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1

die() { echo "mkinitramfs: $*" >&2; exit 1; }

[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: install busybox-static (scripts/setup.sh does)"
# A dynamically linked busybox would need its libraries in the image; insist on the static one.
if LC_ALL=C ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is dynamically linked: install busybox-static"
fi
[[ -f $INIT ]] || die "$INIT missing"
command -v cpio >/dev/null || die "cpio not found: install cpio"

# Up to date? Compare against every input: busybox, init, this script, the modules.
ENVCHECK_SRC=$ROOT/tests/linux/guest/envcheck.c
VSOCKCAT_SRC=$ROOT/tests/linux/guest/vsockcat.c
MODLOAD_SRC=$ROOT/tests/linux/guest/modload.c
[[ -f $ENVCHECK_SRC && -f $VSOCKCAT_SRC && -f $MODLOAD_SRC ]] || die "$ENVCHECK_SRC, $VSOCKCAT_SRC or $MODLOAD_SRC missing"
command -v gcc >/dev/null || die "gcc not found: install build-essential (scripts/setup.sh does)"
inputs=("$BUSYBOX" "$INIT" "$ENVCHECK_SRC" "$VSOCKCAT_SRC" "$MODLOAD_SRC" "${BASH_SOURCE[0]}")
if [[ -d $GUEST/modules ]]; then
	inputs+=("$GUEST/modules")
	while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$GUEST/modules" -type f -print0)
fi
if [[ $FORCE == 0 && -s $OUT ]]; then
	stale=0
	for f in "${inputs[@]}"; do
		if [[ $f -nt $OUT ]]; then stale=1; break; fi
	done
	if [[ $stale == 0 ]]; then
		echo "mkinitramfs: $OUT is up to date"
		exit 0
	fi
fi

mkdir -p "$GUEST"
stage=$(mktemp -d "${TMPDIR:-/tmp}/petrel-initramfs.XXXXXX")
tmp_out=$OUT.tmp.$$
trap 'rm -rf "$stage" "$tmp_out"' EXIT

cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin dev proc sys etc root tmp run lib/modules
chmod 1777 tmp
install -m 0755 "$BUSYBOX" bin/busybox
install -m 0755 "$INIT" init
# The user-space self-check /init runs first in test mode (static: the initramfs has no libc).
gcc -static -O2 -s -pthread -Wall -Wextra -Werror -o bin/envcheck "$ENVCHECK_SRC" ||
	die "cannot build envcheck (needs gcc and libc6-dev's static libc)"
# A vsock client (busybox has none), for the checks after a restore.
gcc -static -O2 -s -Wall -Wextra -Werror -o bin/vsockcat "$VSOCKCAT_SRC" || die "cannot build vsockcat"
# Loads many kernel modules from one process (a process costs seconds where ring 0 is emulated).
gcc -static -O2 -s -Wall -Wextra -Werror -o bin/modload "$MODLOAD_SRC" || die "cannot build modload"

# One symlink per applet, at the path busybox itself reports (bin/ls, sbin/poweroff, ...).
nlinks=0
while IFS= read -r applet; do
	[[ -n $applet && $applet != bin/busybox ]] || continue
	[[ -e $applet || -L $applet ]] && continue
	mkdir -p "$(dirname "$applet")"
	ln -s /bin/busybox "$applet"
	nlinks=$((nlinks + 1))
done < <("$BUSYBOX" --list-full)
[[ -e bin/sh ]] || die "busybox has no sh applet"

# The kernel's built-in initramfs already has /dev/console, and init mounts devtmpfs over /dev;
# the nodes here are a fallback for kernels without either. mknod needs root: skip otherwise.
if [[ $(id -u) == 0 ]]; then
	mknod -m 0600 dev/console c 5 1
	mknod -m 0666 dev/null c 1 3
fi

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >etc/group <<'EOF'
root:x:0:
EOF
echo petrel >etc/hostname

nmods=0
if [[ -d $GUEST/modules ]]; then
	for ko in "$GUEST"/modules/*.ko; do
		[[ -e $ko ]] || continue
		install -m 0644 "$ko" lib/modules/
		# Drop the appended module signature (rewriting the ELF does): the kernel then loads the
		# module unverified (and taints itself) instead of checking an RSA signature in ring 0,
		# which takes seconds per module where ring 0 is emulated (PVM hosts).
		# No debug info, and no BTF: loading a module with BTF makes the kernel parse the whole
		# kernel's BTF first (measured: 93 s of guest time on a nested PVM host).
		strip --strip-debug --remove-section=.BTF "lib/modules/${ko##*/}"
		nmods=$((nmods + 1))
	done
	[[ -f $GUEST/modules/load-order ]] && install -m 0644 "$GUEST/modules/load-order" lib/modules/
fi

# newc is the format the kernel unpacks; owner root, sorted names and fixed mtimes keep it
# reproducible. Not compressed: on hosts that emulate guest ring 0 (PVM) the kernel spent
# ~150 s of a ~240 s boot inflating the gzip'd image, and copying ~4 MiB costs next to nothing.
find . -mindepth 1 -exec touch -h -d @0 {} +
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible >"$tmp_out"
mv -f "$tmp_out" "$OUT"

echo "mkinitramfs: wrote $OUT ($(stat -c %s "$OUT") bytes: busybox + $nlinks applet links, $nmods modules)"
