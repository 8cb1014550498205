# SPDX-License-Identifier: Apache-2.0
import pytest

import weblib


@pytest.fixture
def web():
    """make(**kw): a petreld serving the page (without the jailer: no root or KVM needed) and a
    loopback TCP forwarder to its socket; everything is torn down at the end."""
    started = []

    def make(args=(), jailer=False):
        p = weblib.mgrlib.Petreld(args=["--web-dir", str(weblib.DIST), *args], jailer=jailer).start()
        fwd = weblib.Forwarder(p.sock)
        started.append((p, fwd))
        return p, fwd

    yield make
    for p, fwd in started:
        fwd.close()
        p.close()


@pytest.fixture
def browser_ok():
    why = weblib.browser_missing()
    if why:
        pytest.skip(why)
