#!/usr/bin/env bash
# Run petrel's whole test suite: set up (packages, build, default guest), build a sanitizer
# configuration for the unit tests, then run every test with pytest.
# Ends with a line "N passed, N failed, N skipped"; exits non-zero if anything failed.
#
# Usage: scripts/test.sh [pytest args...]      e.g. scripts/test.sh -k guests
# Env:   PETREL_SKIP_SETUP=1  skip scripts/setup.sh (packages/build/guest already there)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ -z ${PETREL_SKIP_SETUP:-} ]]; then
	if [[ $(id -u) == 0 ]]; then
		scripts/setup.sh || { echo "test: setup failed"; echo "0 passed, 1 failed"; exit 1; }
	else
		sudo scripts/setup.sh || { echo "test: setup failed"; echo "0 passed, 1 failed"; exit 1; }
	fi
fi
ninja -C build || { echo "test: build failed"; echo "0 passed, 1 failed"; exit 1; }

# Unit tests run under AddressSanitizer and UndefinedBehaviorSanitizer.
if [[ ! -f build-asan/build.ninja ]]; then
	meson setup build-asan -Dguests=false -Db_sanitize=address,undefined -Db_lundef=false \
		>/dev/null || { echo "test: sanitizer configure failed"; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C build-asan || { echo "test: sanitizer build failed"; echo "0 passed, 1 failed"; exit 1; }

report=build/test-report.xml
/usr/bin/python3 -m pytest -v -rfEs --junitxml="$report" tests "$@"
status=$?

# One closing line in the plain form CI reads.
/usr/bin/python3 - "$report" "$status" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    t = sum(int(s.get("tests", 0)) for s in suites)
    f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    s = sum(int(x.get("skipped", 0)) for x in suites)
    print(f"{t - f - s} passed, {f} failed, {s} skipped")
except Exception as e:
    print(f"test: no report ({e})")
    print("0 passed, 1 failed")
    sys.exit(1)
PY
exit $status
