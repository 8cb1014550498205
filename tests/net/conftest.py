# SPDX-License-Identifier: Apache-2.0
"""tests/net: petreld's host networks for real, in network namespaces: bridges, taps, nftables
(every test: root, Debian's nftables, /dev/net/tun), and for the networks themselves dnsmasq and
busybox's udhcpc, each test's petreld in namespaces of its own (netlib.py). No KVM."""
import os
import shutil

import pytest

import netlib


@pytest.fixture(autouse=True)
def _root_and_nft():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, bridges, nftables)")
    if not shutil.which("nft"):
        pytest.skip("no nft (Debian's nftables)")
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun")


def pytest_collection_modifyitems(config, items):
    why = netlib.missing()
    if why:
        for item in items:
            if item.path.name in ("test_networks.py", "test_network_events.py", "test_vm_networks.py",
                                  "test_net_guests.py", "test_net_live.py"):
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def host():
    h = netlib.Host()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def jailed_host():
    """A host whose petreld starts jailed workers (VMs on its networks)."""
    h = netlib.Host(jailer=True)
    try:
        yield h
    finally:
        h.close()
