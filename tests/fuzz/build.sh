#!/usr/bin/env bash
# Build petrel's libFuzzer targets with ASan + UBSan.
#
# Usage: tests/fuzz/build.sh [OUTDIR]      (default: build/fuzz; env CC, default clang)
# Every src/**/*.c except src/main.c is compiled once with fuzzer instrumentation into
# OUTDIR/obj, then each tests/fuzz/fuzz_*.c is linked against those objects into OUTDIR/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-${FUZZ_OUT:-$ROOT/build/fuzz}}
CC=${CC:-clang}
JOBS=${JOBS:-$(nproc)}

if ! command -v "$CC" >/dev/null; then
	echo "fuzz/build: $CC not found (apt-get install clang)" >&2
	exit 1
fi

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
CFLAGS=(-g -O1 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-gnu-variable-sized-type-not-at-end
	-D_GNU_SOURCE '-DPETREL_VERSION="fuzz"' -I"$ROOT/src" -pthread "${SAN[@]}")
LIBS=(-ljansson -lseccomp -lpthread -luring -lmicrohttpd -lz -llz4 -lzstd -llzma -lbz2 -llzo2 -lnettle)

mkdir -p "$OUT/obj"

# Library objects (instrumented for coverage, but without libFuzzer's main).
# the jailer is its own program; src/seccomp/gen is the build-time filter compiler (below)
mapfile -t SRCS < <(cd "$ROOT" && find src -name '*.c' ! -path src/main.c ! -path 'src/jail/*' ! -path 'src/seccomp/gen/*' | sort)
printf '%s\n' "${SRCS[@]}" | xargs -P "$JOBS" -I{} sh -c '
	src="$1"; shift; root="$1"; shift; out="$1"; shift
	obj="$out/obj/$(echo "$src" | tr / _ | sed "s/\.c$/.o/")"
	if [ ! -f "$obj" ] || [ "$root/$src" -nt "$obj" ] || [ -n "$(find "$root/src" -name "*.h" -newer "$obj" -print -quit)" ]; then
		"$0" "$@" -fsanitize=fuzzer-no-link -c "$root/$src" -o "$obj" || exit 255
	fi' "$CC" {} "$ROOT" "$OUT" "${CFLAGS[@]}"

OBJS=()
for s in "${SRCS[@]}"; do
	OBJS+=("$OUT/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')")
done

# The built-in seccomp filters, compiled to BPF at build time as meson does
# (src/seccomp/meson.build): the generator runs uninstrumented, its output is compiled in.
GEN_SRCS=(src/seccomp/gen/sc_gen.c src/seccomp/lists.c src/seccomp/policy.c src/seccomp/compile.c
	src/seccomp/libseccomp.c src/boot/payload_lib.c)
"$CC" -O1 -std=gnu11 -D_GNU_SOURCE -I"$ROOT/src" "${GEN_SRCS[@]/#/$ROOT/}" -ljansson -lpthread -o "$OUT/obj/sc_gen"
"$OUT/obj/sc_gen" "$OUT/obj/sc_builtin_bpf.c"
"$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link -c "$OUT/obj/sc_builtin_bpf.c" -o "$OUT/obj/sc_builtin_bpf.o"
OBJS+=("$OUT/obj/sc_builtin_bpf.o")

TARGETS=()
for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	"$CC" "${CFLAGS[@]}" -fsanitize=fuzzer -I"$ROOT/tests/fuzz" "$f" "${OBJS[@]}" "${LIBS[@]}" \
		-o "$OUT/$name"
	TARGETS+=("$name")
done
echo "fuzz/build: built ${TARGETS[*]} in $OUT"
