#!/usr/bin/env bash
# Run tests that need KVM and enter their passes in tests/kvm-record.json
# (docs/development.md#tests-that-need-kvm), in runs of at most an hour each, so that a long
# list fits scripts/nested-kvm.sh's one-hour VM and a failure late in it loses nothing before.
#
# Usage: scripts/kvm-tests.sh [--nested] [--budget MINUTES] [TARGET...]
#   TARGET   test files, folders or ids (default: the ones `scripts/kvm-record.py status --ids`
#            names, missing or stale, from build/test-report.xml: run scripts/test.sh first)
#   --nested run each part inside scripts/nested-kvm.sh (a host without /dev/kvm; root)
#   --budget estimated minutes of tests per run (default 45; the times of earlier reports
#            under build/, 60 s for a test none timed); a nested run's VM gets 15 more
# Each run's junit report is kept in build/kvm-reports/STAMP/run-NN.xml and entered in the
# record as soon as the run ends; commit tests/kvm-record.json afterwards. The runs set
# PETREL_LINUX_EXTRA=1: the extra Linux boots run when named. Exit status: 0 if every run passed.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
nested=0 budget=45
while [[ $# -gt 0 ]]; do
	case $1 in
	--nested) nested=1; shift ;;
	--budget) budget=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
	*) break ;;
	esac
done
targets=("$@")
if ((${#targets[@]} == 0)); then
	ids=$(scripts/kvm-record.py status --ids) || exit 2
	[[ -n $ids ]] || { echo "kvm-tests: every registered test has a current record"; exit 0; }
	mapfile -t targets <<<"$ids"
fi

out=build/kvm-reports/$(date -u +%Y%m%dT%H%M%SZ)
scripts/kvm-record.py plan --out "$out" --budget "$((budget * 60))" "${targets[@]}" || exit 2
rc=0
for list in "$out"/run-*.txt; do
	report=${list%.txt}.xml
	cmd="cd $(printf %q "$ROOT") && mapfile -t ids < $(printf %q "$list") &&"
	cmd+=" PETREL_SKIP_SETUP=1 PETREL_LINUX_EXTRA=1 /usr/bin/python3 -m pytest -v -rfEs"
	cmd+=" -p no:cacheprovider --junitxml=$(printf %q "$report") \"\${ids[@]}\""
	echo "kvm-tests: $list ($(wc -l <"$list") tests)"
	if ((nested)); then
		PETREL_L1_TIMEOUT=$(((budget + 15) * 60)) scripts/nested-kvm.sh "$cmd" || rc=1
	else
		bash -c "$cmd" || rc=1
	fi
	if [[ -f $report ]]; then
		scripts/kvm-record.py update "$report" || rc=1
	else
		echo "kvm-tests: $list left no report"; rc=1
	fi
done
exit $rc
