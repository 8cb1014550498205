# SPDX-License-Identifier: Apache-2.0
"""tests/net: petreld's host networks for real, in network namespaces (bridges, taps, nftables):
they need root and Debian's nftables; they skip without them."""
import os
import shutil

import pytest


@pytest.fixture(autouse=True)
def _root_and_nft():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, bridges, nftables)")
    if not shutil.which("nft"):
        pytest.skip("no nft (Debian's nftables)")
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun")
