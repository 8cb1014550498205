# SPDX-License-Identifier: Apache-2.0
"""tests/net: petreld's host networks for real (bridges, nftables, dnsmasq, busybox udhcpc), each
test's petreld in network namespaces of its own (netlib.py). They need root, nft, dnsmasq and
udhcpc; no KVM."""
import os

import pytest

import netlib


def pytest_collection_modifyitems(config, items):
    why = netlib.missing()
    if why:
        for item in items:
            if str(item.path).startswith(os.path.dirname(__file__)):
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def host():
    h = netlib.Host()
    try:
        yield h
    finally:
        h.close()
