# SPDX-License-Identifier: Apache-2.0
"""No test that needs KVM goes unrun (issue 50): every test this run registered as needing KVM
(petrel_test.require_kvm, @pytest.mark.needs_kvm) has a record in tests/kvm-record.json of a
pass on a host with KVM, with its file as it is now. tests/conftest.py puts this test last;
a partial run that registered nothing passes it. The record is written by
scripts/kvm-record.py from junit reports (docs/development.md#tests-that-need-kvm)."""
import pytest

import petrel_test
from petrel_test import kvm_record


def test_every_kvm_test_has_a_record(request):
    items = request.session.items
    tests = {petrel_test.test_id(i) for i in items if i.nodeid in petrel_test.KVM_TESTS}
    found = kvm_record.problems(tests, kvm_record.load())
    if found:
        passed = {petrel_test.test_id(i) for i in items if i.nodeid in petrel_test.KVM_PASSED}
        pytest.fail(kvm_record.explain(found, passed), pytrace=False)
