# SPDX-License-Identifier: Apache-2.0
"""The real-Linux tests need /dev/kvm, like every guest test (tests/guests/guestlib.require):
without it they are skipped, not failed."""
import os

import pytest


@pytest.fixture(autouse=True)
def _needs_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no access to /dev/kvm")
