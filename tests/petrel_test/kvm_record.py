# SPDX-License-Identifier: Apache-2.0
"""The record of where each test that needs KVM last passed (tests/kvm-record.json), and what a
run's junit report says about it. Standard library only: scripts/kvm-record.py and the suite
(tests/conftest.py, tests/style/test_kvm_record.py) share it.

The record maps a test id (tests/DIR/FILE.py::NAME[PARAMS]) to its last pass:

    {"blob": git blob of the test's file in that run, "commit": HEAD of that run,
     "date": when the run started (UTC), "host": "kvm" | "pvm" | "nested-kvm"[, "dirty": true]}

A test is up to date while its file's blob is the recorded one: a change to the file after the
recorded run (committed or not) makes it stale.

A test that no host the project has can run (it needs hardware none of them has) gets instead

    {"blob": ..., "commit": ..., "date": ..., "host": "none", "unrunnable": why}

by hand (`scripts/kvm-record.py unrunnable TEST --why ...`): the check accepts it while the
file is unchanged and names it in every run (a warning), and the next pass replaces it."""
import datetime
import hashlib
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "tests" / "kvm-record.json"
PVM = Path("/sys/module/kvm_pvm")
HOSTS = ("kvm", "pvm", "nested-kvm")
MISSING = "never passed where KVM is (no record)"


def blob(path):
    """The file's git blob id, as `git hash-object` gives it (the repository has no filters)."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def host_kind(kvm):
    """The kind of host a run with (kvm) or without a usable /dev/kvm is on: scripts/nested-kvm.sh
    says nested-kvm in PETREL_HOST_KIND; a host with kvm_pvm loaded is pvm."""
    if not kvm:
        return "none"
    return os.environ.get("PETREL_HOST_KIND") or ("pvm" if PVM.exists() else "kvm")


def git(*args):
    r = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def run_properties():
    """What the junit report's testsuite says about the run."""
    import petrel_test
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": "1" if dirty else "0",
            "host_kind": host_kind(petrel_test.kvm_usable()),
            "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _properties(node):
    return {p.get("name"): p.get("value") for p in node.findall("properties/property")}


def read_report(path):
    """[(run properties, [(test id, blob during the run, passed)])] of a junit report, one
    entry per testsuite; only the testcases marked needs_kvm."""
    root = ET.parse(path).getroot()
    runs = []
    for suite in [root] if root.tag == "testsuite" else root.findall("testsuite"):
        cases = []
        for case in suite.iter("testcase"):
            p = _properties(case)
            if p.get("needs_kvm") == "1":
                passed = not any(case.find(t) is not None for t in ("failure", "error", "skipped"))
                cases.append((p["test_id"], p["blob"], passed))
        runs.append((_properties(suite), cases))
    return runs


def load(path=RECORD):
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def save(record, path=RECORD):
    """One line per test id, sorted: a run changes the lines of the tests it passed."""
    lines = [f"  {json.dumps(k)}: {json.dumps(record[k], sort_keys=True)}" for k in sorted(record)]
    Path(path).write_text("{\n" + ",\n".join(lines) + ("\n" if lines else "") + "}\n")


def update(record, reports):
    """Enter the passes of KVM tests in the reports; a pass replaces an earlier one (by the
    runs' start). Returns the ids entered; raises ValueError for a report that cannot be."""
    entered = set()
    for path in reports:
        for run, cases in read_report(path):
            host = run.get("host_kind")
            if host not in HOSTS:
                if any(passed for _, _, passed in cases):
                    raise ValueError(f"{path}: host kind {host!r}: not a run with KVM "
                                     "(a report without tests/conftest.py's properties?)")
                continue
            entry = {"blob": None, "commit": run["commit"], "date": run["started"], "host": host}
            if run.get("dirty") == "1":
                entry["dirty"] = True
            for test, blob_then, passed in cases:
                if passed and record.get(test, {}).get("date", "") <= entry["date"]:
                    record[test] = dict(entry, blob=blob_then)
                    entered.add(test)
    return entered


def registered(reports):
    """The ids of the tests the reports say need KVM, whatever their outcome."""
    return {test for path in reports for _, cases in read_report(path) for test, _, _ in cases}


def problems(tests, record, root=ROOT):
    """{test id: why} for the tests (ids) with no record, or whose file is not the recorded one."""
    out = {}
    for test in sorted(tests):
        path = Path(root) / test.partition("::")[0]
        entry = record.get(test)
        if entry is None:
            out[test] = MISSING
        elif not path.exists():
            out[test] = f"{path.relative_to(root)} is gone"
        elif blob(path) != entry["blob"]:
            out[test] = (f"its file changed after it passed ({entry['host']}, "
                         f"{entry['commit'][:12]}, {entry['date']})")
    return out


def mark_unrunnable(record, test, why, root=ROOT):
    """Enter test as one that no host here can run, for the reason why (see the module's doc)."""
    path = Path(root) / test.partition("::")[0]
    if not path.is_file():
        raise ValueError(f"{test}: no file {path}")
    props = run_properties()
    record[test] = {"blob": blob(path), "commit": props["commit"], "date": props["started"],
                    "host": "none", "unrunnable": why}


def unrunnable(tests, record):
    """{test id: why} for the tests (ids) whose record says no host here can run them."""
    return {t: record[t]["unrunnable"] for t in sorted(tests) if "unrunnable" in record.get(t, {})}


def prune(record, collected):
    """Drop the entries of test ids that are no longer collected; returns them."""
    gone = sorted(set(record) - set(collected))
    for test in gone:
        del record[test]
    return gone


def by_directory(tests):
    """{tests/DIR: [ids]}, sorted."""
    out = {}
    for test in sorted(tests):
        out.setdefault(test.partition("::")[0].rsplit("/", 1)[0], []).append(test)
    return out


def explain(found, passed=()):
    """The check's message: the problems by directory, and how to fix them (passed: the ids
    that passed in the run that found them)."""
    lines = [f"{len(found)} test(s) that need KVM have no record of passing as they are now "
             "(tests/kvm-record.json, docs/development.md#tests-that-need-kvm):"]
    for d, tests in by_directory(found).items():
        lines.append(f"  {d}: {len(tests)}")
        lines += [f"    {t}: {found[t]}{' (passed in this run)' * (t in passed)}" for t in tests]
    if set(found) & set(passed):
        lines.append("Those that passed in this run: `scripts/kvm-record.py update REPORT.xml` (its "
                     "--junitxml; scripts/test.sh's is build/test-report.xml) enters them.")
    if set(found) - set(passed):
        lines.append("Those that did not pass in this run: run them where KVM is (scripts/kvm-tests.sh [--nested] TESTS...: "
                     "it enters their passes; a test that skips on PVM hosts needs KVM or --nested).")
    lines.append("Then commit tests/kvm-record.json.")
    return "\n".join(lines)
