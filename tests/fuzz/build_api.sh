#!/usr/bin/env bash
# Build the REST API's libFuzzer target (tests/fuzz/fuzz_api.c) with ASan + UBSan, on its own:
# every src/**/*.c except src/main.c is compiled with fuzzer instrumentation into OUTDIR/obj-api
# (kept apart from build.sh's objects), then linked with fuzz_api.c into OUTDIR/fuzz_api, where
# tests/fuzz/run.sh finds it:
#
#   tests/fuzz/build_api.sh && FUZZ_NO_BUILD=1 tests/fuzz/run.sh fuzz_api
#
# Usage: tests/fuzz/build_api.sh [OUTDIR]   (default: build/fuzz; env CC, default clang)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-${FUZZ_OUT:-$ROOT/build/fuzz}}
CC=${CC:-clang}
JOBS=${JOBS:-$(nproc)}

if ! command -v "$CC" >/dev/null; then
	echo "fuzz/build_api: $CC not found (apt-get install clang)" >&2
	exit 1
fi

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
CFLAGS=(-g -O1 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
	-Wno-gnu-variable-sized-type-not-at-end -D_GNU_SOURCE '-DPETREL_VERSION="fuzz"'
	-I"$ROOT/src" -pthread "${SAN[@]}")
LIBS=(-ljansson -lmicrohttpd -luring -lpthread)
OBJ=$OUT/obj-api

mkdir -p "$OBJ"
mapfile -t SRCS < <(cd "$ROOT" && find src -name '*.c' ! -path src/main.c | sort)
printf '%s\n' "${SRCS[@]}" | xargs -P "$JOBS" -I{} sh -c '
	src="$1"; shift; root="$1"; shift; obj="$1/$(echo "$src" | tr / _ | sed "s/\.c$/.o/")"; shift
	if [ ! -f "$obj" ] || [ "$root/$src" -nt "$obj" ] || [ -n "$(find "$root/src" -name "*.h" -newer "$obj" -print -quit)" ]; then
		"$0" "$@" -fsanitize=fuzzer-no-link -c "$root/$src" -o "$obj" || exit 255
	fi' "$CC" {} "$ROOT" "$OBJ" "${CFLAGS[@]}"

OBJS=()
for s in "${SRCS[@]}"; do
	OBJS+=("$OBJ/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')")
done
"$CC" "${CFLAGS[@]}" -fsanitize=fuzzer -I"$ROOT/tests/fuzz" "$ROOT/tests/fuzz/fuzz_api.c" \
	"${OBJS[@]}" "${LIBS[@]}" -o "$OUT/fuzz_api"
echo "fuzz/build_api: built $OUT/fuzz_api"
