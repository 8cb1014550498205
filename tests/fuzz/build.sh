#!/usr/bin/env bash
# Build petrel's libFuzzer targets with ASan + UBSan: a meson configuration with -Dfuzz=true
# (clang; everything instrumented for coverage), then each tests/fuzz/fuzz_*.c linked against
# the real code (tests/fuzz/meson.build). Incremental: only what changed is rebuilt.
#
# Usage: tests/fuzz/build.sh [OUTDIR]      (default: build/fuzz; env CC, default clang;
#        JOBS, default nproc). The targets end up as OUTDIR/fuzz_* (what run.sh runs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-${FUZZ_OUT:-$ROOT/build/fuzz}}
CC=${CC:-clang}
JOBS=${JOBS:-$(nproc)}

if ! command -v "$CC" >/dev/null; then
	echo "fuzz/build: $CC not found (apt-get install clang)" >&2
	exit 1
fi

if [[ -f $OUT/build.ninja ]]; then
	# again: a new fuzz_*.c is found by configuring again
	meson setup --reconfigure "$OUT" "$ROOT" >/dev/null
else
	CC=$CC meson setup "$OUT" "$ROOT" -Dfuzz=true -Dguests=false -Dwerror=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi

TARGETS=()
for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
	TARGETS+=("$(basename "$f" .c)")
done
ninja -C "$OUT" -j "$JOBS" "${TARGETS[@]/#/tests/fuzz/}"
for t in "${TARGETS[@]}"; do
	ln -sf "tests/fuzz/$t" "$OUT/$t"
done
echo "fuzz/build: built ${TARGETS[*]} in $OUT"
