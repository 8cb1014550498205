# SPDX-License-Identifier: Apache-2.0
"""No test that needs KVM goes unrun (issue 50): every test this run registered as needing KVM
(petrel_test.require_kvm, @pytest.mark.needs_kvm) has a record in tests/kvm-record.json of a
pass on a host with KVM, with its file as it is now. tests/conftest.py puts this test last;
a partial run that registered nothing passes it. The record is written by
scripts/kvm-record.py from junit reports (docs/development.md#tests-that-need-kvm)."""
import warnings

import pytest

import petrel_test
from petrel_test import kvm_record


def test_every_kvm_test_has_a_record(request):
    items = request.session.items
    tests = {petrel_test.test_id(i) for i in items if i.nodeid in petrel_test.KVM_TESTS}
    record = kvm_record.load()
    found = kvm_record.problems(tests, record)
    for test, why in kvm_record.unrunnable(tests, record).items():
        if test not in found:
            warnings.warn(f"{test} needs KVM and has never run: no host here can run it ({why})")
    if found:
        passed = {petrel_test.test_id(i) for i in items if i.nodeid in petrel_test.KVM_PASSED}
        pytest.fail(kvm_record.explain(found, passed), pytrace=False)
