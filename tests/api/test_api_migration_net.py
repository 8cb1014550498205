# SPDX-License-Identifier: Apache-2.0
"""Live migration with virtio-net traffic in flight: netloop answers the host's numbered
frames and sends its own while the VM moves from a petrel on one tap to a petrel on another
(network_overrides). Traffic goes on in both directions after the switch; the guest's own
frames arrive once each (none lost, none repeated), the host's may be lost in the switch as
on any link (the host resends)."""
import re

import apilib
from test_api_migration import wait_exit, wait_state
from test_api_snapshot_io import MAC, NetPeer, Tap, assert_still_running, boot, wait_until


def test_net_traffic_goes_on_across_a_migration(workdir):
    taps = [Tap(), Tap()]
    for t in taps:
        t.open_socket()
    (workdir / "src").mkdir()
    (workdir / "dst").mkdir()
    src, dst, peer = apilib.Petrel(workdir / "src"), None, None
    try:
        api = src.client()
        assert api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": taps[0].name,
                                                    "guest_mac": MAC}).status == 204
        boot(api, "netloop", f"mac={MAC}")
        src.expect(r"^netloop: ready")
        peer = NetPeer(taps[0])
        peer.start()
        wait_until(lambda: peer.counts()[0] >= 300 and peer.counts()[1] >= 10, "300 frames each way", src)
        dst = apilib.Petrel(workdir / "dst")
        dapi = dst.client()
        url = f"unix:{workdir / 'mig.sock'}"
        r = dapi.put("/migration/receive", {"receiver_url": url, "network_overrides": [
            {"iface_id": "eth0", "host_dev_name": taps[1].name}]}, check=False)
        assert r.status == 204, r
        assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
        wait_state(dapi, "completed")
        assert wait_exit(src) == 0, src.describe()
        peer.switch(taps[1])  # what the old tap holds first, then the new one
        base, g = peer.counts()
        wait_until(lambda: peer.counts()[0] >= base + 300 and peer.counts()[1] >= g + 10,
                   "300 more frames each way after the migration", dst)
        assert_still_running(dst)
        text = src.out.text() + dst.out.text()
        assert "FAIL" not in text, dst.describe()
        qs = [int(q) for q in re.findall(r"^netloop q=(\d+) ", text, re.M)]
        assert qs == [64 * (i + 1) for i in range(len(qs))], qs  # the guest's progress: one count
        peer.counts()  # G frames: each once (the peer asserts it), and its other checks
    finally:
        if peer:
            peer.stop.set()
            peer.join(5)
        for p in (src, dst):
            if p:
                p.close()
        for t in taps:
            t.close()
