#!/usr/bin/env bash
# Boot the default guest (guest/vmlinuz + guest/initramfs.cpio, from scripts/fetch-guest.sh)
# in petrel with its serial console on this terminal: a busybox shell; `poweroff -f` stops it.
#
# Usage: scripts/boot.sh [extra petrel run options...]    e.g. scripts/boot.sh --stats
# Env:   PETREL (binary, default build/petrel), PETREL_KERNEL, PETREL_INITRD, PETREL_CPUS (2),
#        PETREL_MEM (MiB, 512), PETREL_CMDLINE_EXTRA (appended to the kernel command line)
# A slow host (nested, ring-0 emulation) takes minutes to reach the shell.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PETREL=${PETREL:-$ROOT/build/petrel}
KERNEL=${PETREL_KERNEL:-$ROOT/guest/vmlinuz}
INITRD=${PETREL_INITRD:-$ROOT/guest/initramfs.cpio}

# Kernel command line. Everything past console= is there to make a boot under very slow
# ring-0 emulation quicker or to make failures end the VM instead of hanging it.
CMDLINE=(
	console=ttyS0        # kernel messages and the shell on the 8250 UART = petrel's stdio
	panic=-1             # on a panic reboot at once: petrel exits instead of hanging
	nokaslr              # no random placement: skips the decompressor's relocation pass,
	                     # and guest RIPs match System.map when debugging
	tsc=reliable         # trust the TSC: no clocksource watchdog or TSC sync checks
	no_timer_check       # skip the IO-APIC timer check (a timed loop at boot)
	i8042.noaux          # do not probe for a PS/2 mouse port
	8250.nr_uarts=1      # only ttyS0: do not probe ttyS1..3
	random.trust_cpu=on  # seed the RNG from RDRAND instead of waiting for entropy
	cryptomgr.notests    # skip the crypto self-tests run at boot (ring-0 crunching)
	mitigations=off      # no speculative-execution mitigations: cheaper kernel entry/exit
	nowatchdog           # no soft/hard lockup detectors (slow guests trip them)
	audit=0              # no audit subsystem
)
CMDLINE_STR="${CMDLINE[*]}${PETREL_CMDLINE_EXTRA:+ $PETREL_CMDLINE_EXTRA}"

[[ -x $PETREL ]] || { echo "boot: $PETREL not found: build it (scripts/setup.sh)" >&2; exit 1; }
for f in "$KERNEL" "$INITRD"; do
	[[ -f $f ]] || { echo "boot: $f not found: run scripts/fetch-guest.sh" >&2; exit 1; }
done

# A user outside the kvm group cannot open /dev/kvm: go through sudo for petrel alone.
PREFIX=()
if [[ -e /dev/kvm && ! ( -r /dev/kvm && -w /dev/kvm ) ]] && command -v sudo >/dev/null; then
	PREFIX=(sudo --)
fi

exec "${PREFIX[@]}" "$PETREL" run --kernel "$KERNEL" --initrd "$INITRD" --cmdline "$CMDLINE_STR" \
	--cpus "${PETREL_CPUS:-2}" --mem "${PETREL_MEM:-512}" "$@"
