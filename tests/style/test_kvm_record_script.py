# SPDX-License-Identifier: Apache-2.0
"""The record of the tests that need KVM (tests/petrel_test/kvm_record.py, scripts/kvm-record.py,
the hooks in tests/conftest.py): junit reports in, tests/kvm-record.json out, and the check."""
import importlib.util
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from petrel_test import ROOT, kvm_record

SCRIPT = ROOT / "scripts" / "kvm-record.py"
A, B, C = "tests/x/test_a.py::test_one", "tests/x/test_a.py::test_two[p q]", "tests/y/test_b.py::test_three"


def report(path, cases, host="pvm", started="2030-01-02T03:04:05Z", commit="c0ffee", dirty="0"):
    """A junit report as pytest writes it with tests/conftest.py: cases are (id, blob, outcome,
    needs KVM); outcome "passed", "skipped", "failure" or "error"."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="pytest")
    props = ET.SubElement(suite, "properties")
    for name, value in (("commit", commit), ("dirty", dirty), ("host_kind", host), ("started", started)):
        ET.SubElement(props, "property", name=name, value=value)
    for test, blob, outcome, kvm in cases:
        case = ET.SubElement(suite, "testcase", classname="x", name=test.split("::")[1], time="1.5")
        if kvm:
            p = ET.SubElement(case, "properties")
            for name, value in (("needs_kvm", "1"), ("test_id", test), ("blob", blob)):
                ET.SubElement(p, "property", name=name, value=value)
        if outcome != "passed":
            ET.SubElement(case, outcome, message="why")
    ET.ElementTree(suites).write(path)
    return path


@pytest.fixture
def tree(tmp_path):
    """A repository's test files: tests/x/test_a.py and tests/y/test_b.py; {id: blob}."""
    for f in ("tests/x/test_a.py", "tests/y/test_b.py"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(f"# {f}\n")
    return {t: kvm_record.blob(tmp_path / t.split("::")[0]) for t in (A, B, C)}


def test_blob_is_gits():
    path = ROOT / "tests" / "conftest.py"
    r = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no git here: {r.stderr}")
    assert kvm_record.blob(path) == r.stdout.strip()


def test_update_enters_the_passes_of_kvm_tests_only(tmp_path, tree):
    rep = report(tmp_path / "r.xml", [(A, tree[A], "passed", True), (B, tree[B], "skipped", True),
                                      (C, tree[C], "failure", True), ("tests/z.py::plain", "0", "passed", False)])
    record = {}
    assert kvm_record.update(record, [rep]) == {A}
    assert record == {A: {"blob": tree[A], "commit": "c0ffee", "date": "2030-01-02T03:04:05Z", "host": "pvm"}}
    assert kvm_record.registered([rep]) == {A, B, C}
    # what the check says: B and C never passed; A is current
    found = kvm_record.problems({A, B, C}, record, root=tmp_path)
    assert found == {B: kvm_record.MISSING, C: kvm_record.MISSING}
    text = kvm_record.explain(found, passed={C})
    assert "tests/x: 1" in text and "tests/y: 1" in text and f"{C}: {kvm_record.MISSING} (passed in this run)" in text
    assert "update REPORT.xml" in text and "kvm-tests.sh" in text


def test_a_changed_file_makes_its_tests_stale(tmp_path, tree):
    record = {}
    kvm_record.update(record, [report(tmp_path / "r.xml", [(t, tree[t], "passed", True) for t in (A, B, C)])])
    assert kvm_record.problems({A, B, C}, record, root=tmp_path) == {}
    (tmp_path / "tests/x/test_a.py").write_text("# changed\n")
    found = kvm_record.problems({A, B, C}, record, root=tmp_path)
    assert set(found) == {A, B} and "changed after it passed (pvm, c0ffee" in found[A]
    (tmp_path / "tests/y/test_b.py").unlink()
    assert "is gone" in kvm_record.problems({C}, record, root=tmp_path)[C]


def test_an_unrunnable_test_counts_while_its_file_is_unchanged_and_a_pass_replaces_it(tmp_path, tree):
    record = {}
    kvm_record.mark_unrunnable(record, A, "needs AVX-512F from KVM", root=tmp_path)
    assert record[A]["host"] == "none" and record[A]["blob"] == tree[A]
    assert kvm_record.problems({A}, record, root=tmp_path) == {}
    assert kvm_record.unrunnable({A, B}, record) == {A: "needs AVX-512F from KVM"}
    with pytest.raises(ValueError):
        kvm_record.mark_unrunnable(record, "tests/x/test_none.py::test_n", "why", root=tmp_path)
    kvm_record.update(record, [report(tmp_path / "r.xml", [(A, tree[A], "passed", True)],
                                      started="2999-01-01T00:00:00Z")])
    assert kvm_record.unrunnable({A}, record) == {} and record[A]["host"] == "pvm"
    kvm_record.mark_unrunnable(record, A, "why", root=tmp_path)
    (tmp_path / "tests/x/test_a.py").write_text("# changed\n")
    assert A in kvm_record.problems({A}, record, root=tmp_path)


def test_a_later_pass_replaces_an_earlier_one(tmp_path, tree):
    early = report(tmp_path / "1.xml", [(A, "old", "passed", True), (B, tree[B], "passed", True)],
                   host="nested-kvm", started="2030-01-01T00:00:00Z", commit="aaa")
    late = report(tmp_path / "2.xml", [(A, tree[A], "passed", True), (B, tree[B], "skipped", True)],
                  host="pvm", started="2030-01-02T00:00:00Z", commit="bbb", dirty="1")
    for order in ([early, late], [late, early]):
        record = {}
        kvm_record.update(record, order)
        assert record[A] == {"blob": tree[A], "commit": "bbb", "date": "2030-01-02T00:00:00Z",
                             "host": "pvm", "dirty": True}
        assert record[B]["host"] == "nested-kvm"   # skipped on the later run: the earlier pass stays


def test_a_run_without_kvm_is_not_a_pass(tmp_path, tree):
    skipped = report(tmp_path / "1.xml", [(A, tree[A], "skipped", True)], host="none")
    record = {}
    assert kvm_record.update(record, [skipped]) == set() and record == {}
    with pytest.raises(ValueError, match="host kind 'none'"):
        kvm_record.update(record, [report(tmp_path / "2.xml", [(A, tree[A], "passed", True)], host="none")])


def test_prune_and_save(tmp_path, tree):
    record = {}
    kvm_record.update(record, [report(tmp_path / "r.xml", [(t, tree[t], "passed", True) for t in (C, A, B)])])
    assert kvm_record.prune(record, [A, C, "tests/other.py::new"]) == [B]
    path = tmp_path / "record.json"
    kvm_record.save(record, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and len(lines) == 4   # one line a test, sorted
    assert lines[1].startswith(f'  "{A}": {{"blob"') and lines[2].startswith(f'  "{C}"')
    assert kvm_record.load(path) == record == json.loads(path.read_text())
    kvm_record.save({}, path)
    assert kvm_record.load(path) == {}


def script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_the_script_updates_and_checks(tmp_path):
    """Against real files of the tree: a pass entered by `update` satisfies `check`."""
    real = "tests/style/test_layers.py::test_the_tree_keeps_its_layers"
    other = "tests/style/test_layers.py::test_an_upward_include_fails"
    blob = kvm_record.blob(ROOT / "tests/style/test_layers.py")
    rep = report(tmp_path / "r.xml", [(real, blob, "passed", True), (other, blob, "skipped", True)])
    rec = tmp_path / "record.json"
    r = script("--record", rec, "update", rep)
    assert r.returncode == 0 and "1 pass(es) entered" in r.stdout, r.stdout + r.stderr
    r = script("--record", rec, "check", rep)
    assert r.returncode == 1 and other in r.stderr and real not in r.stderr, r.stdout + r.stderr
    r = script("--record", rec, "status", "--ids", rep)
    assert r.stdout.split("\n")[:1] == [other], r.stdout + r.stderr
    r = script("--record", rec, "update", report(tmp_path / "2.xml", [(other, blob, "passed", True)]))
    assert r.returncode == 0, r.stdout + r.stderr
    r = script("--record", rec, "check", rep)
    assert r.returncode == 0, r.stdout + r.stderr


def test_plan_keeps_runs_within_the_budget():
    spec = importlib.util.spec_from_file_location("kvm_record_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ids = ["a", "b", "c", "d", "e"]
    runs = mod.plan(ids, {"a": 1000, "b": 1000, "c": 5000, "d": 10}, 2500)
    assert runs == [["a", "b"], ["c"], ["d", "e"]]   # e: the guess (60 s)
    assert sum(runs, []) == ids


def test_the_suite_registers_kvm_tests_in_the_report(tmp_path):
    """tests/conftest.py as a plugin over a small test file: the report carries the run's
    properties, and needs_kvm, the id and the blob for the tests that need KVM only."""
    f = tmp_path / "test_fake.py"
    f.write_text("import petrel_test, pytest\n\n"
                 "def test_runtime():\n    petrel_test.require_kvm()\n\n"
                 "@pytest.mark.needs_kvm\ndef test_marked():\n    pass\n\n"
                 "def test_plain():\n    pass\n")
    xml = tmp_path / "r.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                        f"--junitxml={xml}", str(f)], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT / "tests"), PETREL_HOST_KIND="nested-kvm"))
    assert r.returncode == 0, r.stdout + r.stderr
    [(run, cases)] = kvm_record.read_report(xml)
    assert run["host_kind"] in ("nested-kvm", "none") and run["started"].endswith("Z") and run["commit"]
    assert {c[0] for c in cases} == {"test_fake.py::test_runtime", "test_fake.py::test_marked"}  # outside the tree
    assert all(c[1] == kvm_record.blob(f) for c in cases)
