#!/usr/bin/env bash
# Write src/startup.order: the functions `petrel run` executes from exec to its first guest
# instruction and exit, which the link places together (meson.build, lld's
# --symbol-ordering-file), so that the kernel maps fewer of petrel's text pages at start
# (docs/performance.md#start-up); and src/startup-rodata.ld: the read-only data the same run
# reads, which the link places at the head of the read-only segment
# (scripts/startup-rodata.py, docs/performance.md#startup-rodata). Run it after large changes to
# the start path, then build again; a stale list only costs locality, never correctness (names
# no longer defined are ignored).
#
# Needs /dev/kvm (the first-insn guest runs), valgrind (callgrind for the functions, lackey for
# the data) and a build linked with lld (the data's link map). The runs are traced with
# `--no-seccomp` (valgrind does not know the seccomp system call), so the seccomp start-up
# code (src/seccomp/seccomp.c, sigsys.c, builtin.c, src/util/thread.c) is added by name.
#
# Usage: scripts/startup-order.sh [BUILD]     (default: build)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
PETREL=$BUILD/petrel
OUT=$ROOT/src/startup.order
command -v valgrind >/dev/null || { echo "startup-order: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
[[ -x $PETREL ]] || { echo "startup-order: $PETREL not built" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the same first-insn guest bench/run.py times
(cd "$ROOT" && /usr/bin/python3 -c "
import sys, pathlib; sys.path.insert(0, 'bench'); import run
run.BUILD = pathlib.Path('$tmp'); (run.BUILD / 'bench').mkdir()
print(run.first_insn_guest())" >/dev/null)
guest=$tmp/bench/first-insn.elf

run=("$PETREL" run --no-seccomp --kernel "$guest" --debug-exit --mem 128)
traced_run_failed() { echo "startup-order: the traced run failed:" >&2; tail -5 "$tmp/run.log" >&2; exit 1; }

# The link map of the binary traced: its link command again, with -Map (the same inputs give
# the same binary), checked before the traced runs
link=$(cd "$BUILD" && ninja -t commands petrel | tail -1)
[[ $link == *-fuse-ld=lld* ]] || { echo "startup-order: $PETREL is not linked with lld (scripts/setup.sh installs it)" >&2; exit 1; }
(cd "$BUILD" && eval "$link -o $tmp/petrel -Wl,-Map=$tmp/petrel.map")
cmp -s "$tmp/petrel" "$PETREL" || { echo "startup-order: $PETREL is not what its link command makes: build it first" >&2; exit 1; }

valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "${run[@]}" >"$tmp/run.log" 2>&1 || traced_run_failed

{
	echo "# The functions petrel runs at start, placed together by the link (scripts/startup-order.sh"
	echo "# wrote this; see docs/performance.md#start-up). One symbol per line."
	callgrind_annotate --threshold=100 "$tmp/cg.out" 2>/dev/null |
		grep -F "[$(readlink -f "$PETREL")]" | sed -E 's/.*:([A-Za-z_][A-Za-z0-9_.]*) \[.*/\1/' |
		grep -E '^[A-Za-z_][A-Za-z0-9_.]*$'
	# (each in the static library meson built it into: libpetrel.a, libpetrel_util.a, ...)
	for o in src_seccomp_seccomp.c.o src_seccomp_sigsys.c.o src_seccomp_builtin.c.o src_util_thread.c.o; do
		f=$(ls "$BUILD"/libpetrel*.a.p/"$o" | head -1)
		nm --defined-only "$f" | awk '$2 ~ /^[tT]$/ {print $3}'
	done
} | awk '!seen[$0]++' >"$tmp/startup.order"

# The data: every load and store of the same run (lackey)
valgrind --tool=lackey --trace-mem=yes --log-fd=3 "${run[@]}" 3>&1 >"$tmp/run.log" 2>&1 |
	grep -E '^ [LSM] ' >"$tmp/mem.trace" || traced_run_failed
/usr/bin/python3 "$ROOT/scripts/startup-rodata.py" "$PETREL" "$tmp/petrel.map" "$tmp/mem.trace" \
	"$tmp/startup.order" "$ROOT/src/startup-rodata.ld"
mv "$tmp/startup.order" "$OUT"
echo "startup-order: $(grep -vc '^#' "$OUT") functions in $OUT"
