#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The record of where each test that needs KVM last passed: tests/kvm-record.json, written
from the junit reports of runs on hosts with KVM (docs/development.md#tests-that-need-kvm).

  scripts/kvm-record.py update REPORT.xml...   enter the passes of KVM tests (a later pass
                        [--prune]               replaces an earlier one); --prune also drops
                                                the entries of test ids pytest no longer collects
  scripts/kvm-record.py check [REPORT.xml...]  exit 1 listing the tests the reports registered as
                                                needing KVM that have no record of their file as
                                                it is (default: build/test-report.xml)
  scripts/kvm-record.py status [REPORT.xml...] [--ids]
                                                per directory: recorded, stale, missing; --ids
                                                prints the ids of the stale and missing ones
  scripts/kvm-record.py unrunnable TEST --why TEXT
                                                enter TEST as one no host here can run (it needs
                                                hardware none has); the check names it in every
                                                run, and its next pass replaces the entry
  scripts/kvm-record.py plan --out DIR [--budget S] TARGET...
                                                split the tests (files, folders, ids) into runs of
                                                at most S seconds (default 2700), timed from
                                                earlier reports (build/**/*.xml): DIR/run-NN.txt,
                                                one id a line (scripts/kvm-tests.sh)

Reports come from `pytest --junitxml` runs with tests/conftest.py (scripts/test.sh writes
build/test-report.xml, scripts/linux-extra.sh build/linux-extra-report.xml). Standard
library only."""
import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from petrel_test import kvm_record  # noqa: E402

DEFAULT_REPORT = ROOT / "build" / "test-report.xml"
GUESS = 60.0   # seconds, for a test no earlier report timed
# the suite's interpreter (scripts/test.sh): pytest is Debian's, not in another python3 on PATH
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def reports_or_default(reports):
    if reports:
        return reports
    if not DEFAULT_REPORT.exists():
        sys.exit(f"kvm-record: no report given and no {DEFAULT_REPORT.relative_to(ROOT)} (scripts/test.sh)")
    return [DEFAULT_REPORT]


def collect(targets):
    """The test ids pytest collects from the targets (all of tests/ without any)."""
    r = subprocess.run([PYTHON, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                        *(targets or ["tests"])], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PETREL_LINUX_EXTRA="1"))
    ids = [line for line in r.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    if r.returncode != 0 or not ids:
        sys.exit(f"kvm-record: pytest --collect-only failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return ids


def cmd_update(a):
    record = kvm_record.load(a.record)
    try:
        entered = kvm_record.update(record, a.reports)
    except (ValueError, KeyError, ET.ParseError) as e:
        sys.exit(f"kvm-record: {e}")
    gone = kvm_record.prune(record, collect([])) if a.prune else []
    kvm_record.save(record, a.record)
    print(f"kvm-record: {len(entered)} pass(es) entered, {len(gone)} entry(ies) pruned, "
          f"{len(record)} test(s) in {a.record}")
    for test in gone:
        print(f"  pruned {test}")


def cmd_check(a):
    found = kvm_record.problems(kvm_record.registered(reports_or_default(a.reports)), kvm_record.load(a.record))
    if found:
        sys.exit(kvm_record.explain(found))
    print("kvm-record: every test the reports registered as needing KVM has a current record")


def cmd_status(a):
    tests = kvm_record.registered(reports_or_default(a.reports)) | set(kvm_record.load(a.record))
    found = kvm_record.problems(tests, kvm_record.load(a.record))
    if a.ids:
        print("\n".join(found))
        return
    def row(name, ids):
        missing = sum(1 for t in ids if found.get(t) == kvm_record.MISSING)
        stale = sum(1 for t in ids if t in found) - missing
        print(f"{name:28} {len(ids):8} {len(ids) - stale - missing:8} {stale:6} {missing:8}")

    print(f"{'directory':28} {'need KVM':>8} {'current':>8} {'stale':>6} {'missing':>8}")
    for d, ids in kvm_record.by_directory(tests).items():
        row(d, ids)
    row("total", tests)


def cmd_unrunnable(a):
    record = kvm_record.load(a.record)
    try:
        kvm_record.mark_unrunnable(record, a.test, a.why)
    except ValueError as e:
        sys.exit(f"kvm-record: {e}")
    kvm_record.save(record, a.record)
    print(f"kvm-record: {a.test} entered as unrunnable here: {a.why}")


def timings(paths):
    """{test id: longest time an earlier report gave it} (ids as tests/conftest.py writes them,
    or from classname and name for tests without them)."""
    out = {}
    for path in paths:
        try:
            cases = ET.parse(path).getroot().iter("testcase")
        except ET.ParseError:
            continue
        for case in cases:
            p = {x.get("name"): x.get("value") for x in case.findall("properties/property")}
            test = p.get("test_id") or f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
            out[test] = max(out.get(test, 0.0), float(case.get("time") or 0))
    return out


def plan(ids, times, budget):
    """Runs of consecutive ids (pytest's order: a file's tests stay together where they fit)
    whose estimated time is at most budget; a test longer than the budget runs alone."""
    runs, cur, total = [], [], 0.0
    for test in ids:
        t = times.get(test, GUESS)
        if cur and total + t > budget:
            runs.append(cur)
            cur, total = [], 0.0
        cur.append(test)
        total += t
    return runs + [cur] if cur else runs


def cmd_plan(a):
    runs = plan(collect(a.targets), timings(sorted((ROOT / "build").glob("**/*.xml"))), a.budget)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for n, run in enumerate(runs, 1):
        (out / f"run-{n:02}.txt").write_text("\n".join(run) + "\n")
    print(f"kvm-record: {sum(map(len, runs))} test(s) in {len(runs)} run(s) in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", type=Path, default=kvm_record.RECORD, help=argparse.SUPPRESS)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("update")
    p.add_argument("reports", nargs="*")
    p.add_argument("--prune", action="store_true")
    for name in ("check", "status"):
        p = sub.add_parser(name)
        p.add_argument("reports", nargs="*")
        if name == "status":
            p.add_argument("--ids", action="store_true")
    p = sub.add_parser("unrunnable")
    p.add_argument("test")
    p.add_argument("--why", required=True)
    p = sub.add_parser("plan")
    p.add_argument("targets", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--budget", type=float, default=2700)
    a = ap.parse_args()
    {"update": cmd_update, "check": cmd_check, "status": cmd_status, "plan": cmd_plan,
     "unrunnable": cmd_unrunnable}[a.cmd](a)


if __name__ == "__main__":
    main()
