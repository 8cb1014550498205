# SPDX-License-Identifier: Apache-2.0
"""Live migration between two "hosts": two network namespaces joined by a veth pair, one petrel
in each with its own tap of the same name, migrating over TCP across the veth. The guest has a
virtio-net interface: after the switch the destination announces its MAC (a RARP) on its own
tap, so a switch behind it would learn the new port."""
import socket

import pytest

import apilib
from test_api_migration import GEN, assert_counts_go_on, gens, wait_exit, wait_state

from nethelp import Tap, mac_bytes, two_hosts

GUEST_MAC = "06:00:00:00:0a:07"
ETH_P_RARP = 0x8035


@pytest.fixture
def hosts():
    a, b = two_hosts("10.213.7.1", "10.213.7.2")
    try:
        taps = [Tap(name="ptmig", netns=a.name), Tap(name="ptmig", netns=b.name)]
        yield a, b
        for t in taps:
            t.close()
    finally:
        a.close()
        b.close()


def test_migrate_between_namespaces_over_tcp_and_announce(hosts, workdir):
    a, b = hosts
    (workdir / "a").mkdir()
    (workdir / "b").mkdir()
    src = apilib.Petrel(workdir / "a", prefix=a.exec_prefix())
    dst = apilib.Petrel(workdir / "b", prefix=b.exec_prefix())
    rarp = b.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_RARP))
    rarp.bind(("ptmig", ETH_P_RARP))
    rarp.settimeout(5)
    try:
        api, dapi = src.client(), dst.client()
        img = str(apilib.guest("counter"))
        assert api.put("/boot-source", {"kernel_image_path": img,
                                        "boot_args": "every=4194304 fill_mib=8 rewrite=1"}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
        assert api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "ptmig",
                                                    "guest_mac": GUEST_MAC}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        src.expect(r"^gen=2 ok$")
        url = "tcp:10.213.7.2:47133"
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
        st = wait_state(dapi, "completed")
        assert wait_exit(src) == 0, src.describe()
        last = max(gens(src))
        dst.expect(rf"^gen={last + 2} ok$")
        assert_counts_go_on(src.out.text(), dst.out.text(), GEN)
        assert "FAIL" not in dst.out.text()
        cfg = dapi.get("/vm/config").json
        assert cfg["network-interfaces"][0]["host_dev_name"] == "ptmig", cfg
        # The announcement on the destination's tap: broadcast, from the guest's MAC, RARP.
        frame = rarp.recv(2048)
        assert frame[0:6] == b"\xff" * 6 and frame[6:12] == mac_bytes(GUEST_MAC), frame.hex()
        assert frame[12:14] == b"\x80\x35" and frame[20:22] == b"\x00\x03", frame.hex()
        assert st["bytes_sent"] >= 8 << 20
    finally:
        rarp.close()
        src.close()
        dst.close()
