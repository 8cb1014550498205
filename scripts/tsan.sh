#!/usr/bin/env bash
# Run tests against a ThreadSanitizer build of petrel: data races between vCPU, I/O, API,
# migration and replication threads (issue 9: "two vCPUs hitting one device at once").
#
# Builds build-tsan/ (clang, -fsanitize=thread) and points the tests at a build directory whose
# `petrel` runs it with --no-seccomp (TSan's runtime makes system calls no allow-list has) and
# whose guests are build/'s. A race makes petrel exit 66, so the test that ran it fails; every
# report is also kept in OUT/tsan.PID (TSan's log_path).
#
# Usage: scripts/tsan.sh [pytest args...]   (default: tests/guests tests/virtio tests/api)
#        e.g. scripts/nested-kvm.sh 'cd /work/main && scripts/tsan.sh tests/virtio -k hostile'
# Env:   PETREL_TSAN_OUT  where the reports go (default /var/tmp/petrel-tsan)
# Tests of seccomp itself are left out (the filters are off). Expect some failures that are not
# races: test_cli_usage_errors with --seccomp-filter (the wrapper adds --no-seccomp), thread
# checks that meet TSan's own background thread, and replication's failure timeouts, which a
# 5-15x slower petrel can miss.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${PETREL_TSAN_OUT:-/var/tmp/petrel-tsan}

if [[ ! -f build-tsan/build.ninja ]]; then
	# -Werror off: clang warns where gcc does not (GNU extensions the code relies on)
	CC=clang meson setup build-tsan -Dguests=false -Db_sanitize=thread -Db_lundef=false -Dwerror=false >/dev/null
fi
ninja -C build-tsan petrel >/dev/null
ninja -C build >/dev/null

fake=$(mktemp -d /var/tmp/petrel-tsan-build.XXXXXX)
trap 'rm -rf "$fake"' EXIT
ln -s "$ROOT/build/tests" "$fake/tests"
cat >"$fake/petrel" <<EOF
#!/usr/bin/env bash
# petrel run ... / petrel [--api-sock ...]: the TSan build without seccomp
echo "\$*" >>"$OUT/runs"
if [[ \${1:-} == run ]]; then shift; exec "$ROOT/build-tsan/petrel" run --no-seccomp "\$@"; fi
case \${1:-} in -*|"") exec "$ROOT/build-tsan/petrel" --no-seccomp "\$@";; esac
exec "$ROOT/build-tsan/petrel" "\$@"
EOF
chmod +x "$fake/petrel"

mkdir -p "$OUT"
rm -f "$OUT"/tsan.* "$OUT/runs"
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 log_path=$OUT/tsan suppressions=$ROOT/scripts/tsan.supp"
export PETREL_BUILD="$fake" PETREL_ASAN_BUILD="$fake"   # hostile guests too
[[ $# -gt 0 ]] || set -- tests/guests tests/virtio tests/api
status=0
/usr/bin/python3 -m pytest -q -rf -p no:cacheprovider -k "not seccomp" "$@" || status=$?
reports=$(ls "$OUT"/tsan.* 2>/dev/null | wc -l)
echo "tsan: $(wc -l <"$OUT/runs" 2>/dev/null || echo 0) petrel runs, $reports with reports (in $OUT)"
grep -h "^SUMMARY: ThreadSanitizer" "$OUT"/tsan.* 2>/dev/null | sort | uniq -c | sort -rn || true
exit $status
