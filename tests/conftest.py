# SPDX-License-Identifier: Apache-2.0
"""Loaded by pytest before any test module under tests/: the shared test framework
(tests/petrel_test) makes apilib, guestlib, nethelp, jaillib ... importable by name.

It also keeps the record of the tests that need KVM (docs/development.md#tests-that-need-kvm):
a test marked needs_kvm is registered at collection (and skipped without /dev/kvm), one that
calls petrel_test.require_kvm() when it does; the junit report (--junitxml) carries, per such
test, its id and its file's git blob, and for the run its commit and kind of host, which
scripts/kvm-record.py turns into tests/kvm-record.json; tests/style/test_kvm_record.py, moved
to the end of the run, fails for a registered test without a record of its file as it is."""
import pytest
from _pytest.junitxml import xml_key

import petrel_test  # noqa: F401
from petrel_test import kvm_record

CHECK = ("test_kvm_record.py", "test_every_kvm_test_has_a_record")   # tests/style


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_kvm: the test needs /dev/kvm (registered at "
                            "collection, skipped without it; petrel_test.require_kvm at run time)")


@pytest.hookimpl(trylast=True)  # after the folders' hooks (tests/linux marks its tests)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("needs_kvm"):
            petrel_test.KVM_TESTS.add(item.nodeid)
            if not petrel_test.kvm_usable():
                item.add_marker(pytest.mark.skip(reason=petrel_test.NO_KVM))
    last = [i for i in items if (i.path.name, i.name) == CHECK]
    items[:] = [i for i in items if i not in last] + last


def pytest_sessionstart(session):
    """The run's commit and kind of host, in the junit report's testsuite properties."""
    xml = session.config.stash.get(xml_key, None)
    if xml is not None:
        for name, value in kvm_record.run_properties().items():
            xml.add_global_property(name, value)


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed and report.nodeid in petrel_test.KVM_TESTS:
        petrel_test.KVM_PASSED.add(report.nodeid)


def pytest_runtest_teardown(item):
    """A test that needs KVM: its id and its file's blob, in its junit testcase (the teardown
    report carries the item's user_properties, whichever phase registered it)."""
    if item.nodeid in petrel_test.KVM_TESTS:
        item.user_properties += [("needs_kvm", "1"), ("test_id", petrel_test.test_id(item)),
                                 ("blob", kvm_record.blob(item.path))]
