# SPDX-License-Identifier: Apache-2.0
import pytest

import petrel_test
import mgrlib


@pytest.fixture
def petreld():
    """A started petreld (jailed workers); torn down with its workers at the end."""
    started = []

    def make(**kw):
        p = mgrlib.Petreld(**kw)
        started.append(p)
        return p.start()

    yield make
    for p in started:
        p.close()


@pytest.fixture
def kvm():
    petrel_test.require_kvm()
    if not mgrlib.guest("counter").exists():
        pytest.skip("test guests not built")
