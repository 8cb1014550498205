# SPDX-License-Identifier: Apache-2.0
"""An E1000 ("model": "e1000", petrel's extension of PUT /network-interfaces) across a snapshot
and a live migration:
the ring-3 driver of tests/guests/e1000_net.c sends its frames through the first petrel's tap,
the VM is paused and snapshotted while the guest waits for the host's frames, the first petrel
is killed, and a new petrel loads the snapshot onto a new tap (network_overrides). The card's
rings, registers, EEPROM and interrupt state come back: the host's frames reach the guest
through the new tap, in order and intact, and the guest's end frame comes out there. The same
with the VM live-migrated between two petrels on two taps instead of snapshotted, and with it
replicated to a standby petrel that takes over when the primary is killed."""
import time

import apilib
from test_api_snapshot import load, snapshot

from nethelp import Tap, build_frame, mac_bytes, parse_frame, unique_name, host_size

MAC = "02:50:45:54:52:45"


def test_api_accepts_the_e1000_model(petrel, api):
    assert api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "e1kx0",
                                                "model": "e1000"}).status == 204
    r = api.put("/network-interfaces/eth1", {"iface_id": "eth1", "host_dev_name": "e1kx1", "model": "pcnet"})
    assert r.status == 400 and b"model" in r.body, r


def start_guest(api, img, tap, nout, nin):
    assert api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap.name,
                                                "guest_mac": MAC, "model": "e1000"}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": str(img),
                                    "boot_args": f"mac={MAC} out={nout} in={nin} hold_ms=0 wait_s=300"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    kind, seq = parse_frame(tap.recv(60))
    assert kind == "H", (kind, seq)
    for s in range(nout):
        kind, seq = parse_frame(tap.recv(30))
        assert (kind, seq) == ("D", s)
    time.sleep(0.5)  # the guest now waits for our frames, its receive ring set up


def finish_on(tap, nin):
    """Send the guest its frames on tap; its end frame must say it got them all."""
    dst = mac_bytes(MAC)
    for s in range(nin):
        tap.sock.send(build_frame(dst, tap.mac, "D", s, host_size(s)))
    while True:
        kind, seq = parse_frame(tap.recv(120))
        if kind == "E":
            break
    assert seq == nin, f"the guest received {seq} of {nin} frames after the switch"


def test_e1000_traffic_goes_on_across_a_migration(workdir):
    from test_api_migration import wait_exit, wait_state
    img = apilib.guest("e1000_net")
    taps = [Tap(name=unique_name("e1kc")), Tap(name=unique_name("e1kd"))]
    for t in taps:
        t.open_socket()
    (workdir / "src").mkdir()
    (workdir / "dst").mkdir()
    src, dst = apilib.Petrel(workdir / "src"), None
    try:
        api = src.client()
        start_guest(api, img, taps[0], 6, 40)
        dst = apilib.Petrel(workdir / "dst")
        dapi = dst.client()
        url = f"unix:{workdir / 'mig.sock'}"
        r = dapi.put("/migration/receive", {"receiver_url": url, "network_overrides": [
            {"iface_id": "eth0", "host_dev_name": taps[1].name}]}, check=False)
        assert r.status == 204, r
        assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
        wait_state(dapi, "completed")
        assert wait_exit(src) == 0, src.describe()
        finish_on(taps[1], 40)
        dst.expect(r"^ok e1000_net$")
    finally:
        for p in (src, dst):
            if p:
                p.close()
        for t in taps:
            t.close()


def test_e1000_traffic_goes_on_after_load(workdir):
    img = apilib.guest("e1000_net")
    tap1 = Tap(name=unique_name("e1ka"))
    tap1.open_socket()
    taps, p1, p2 = [tap1], None, None
    nout, nin = 6, 40
    try:
        (workdir / "first").mkdir()
        p1 = apilib.Petrel(workdir / "first")
        api = p1.client()
        start_guest(api, img, tap1, nout, nin)
        state, mem = snapshot(api, workdir)
        p1.close()
        tap2 = Tap(name=unique_name("e1kb"))
        tap2.open_socket()
        taps.append(tap2)
        p2 = load(workdir, "second", state, mem,
                  network_overrides=[{"iface_id": "eth0", "host_dev_name": tap2.name}])
        finish_on(tap2, nin)
        p2.expect(r"^ok e1000_net$")
    finally:
        for p in (p1, p2):
            if p:
                p.close()
        for t in taps:
            t.close()


def test_e1000_traffic_goes_on_across_a_failover(workdir):
    """Replicated (PUT /replication) to a standby with its own tap, the primary killed while the
    guest waits for the host's frames: the standby runs the VM on from its last checkpoint, the
    card's state with it, and the host's frames reach the guest through the standby's tap."""
    from test_api_replication import standby, wait_repl
    img = apilib.guest("e1000_net")
    taps = [Tap(name=unique_name("e1ke")), Tap(name=unique_name("e1kf"))]
    for t in taps:
        t.open_socket()
    (workdir / "primary").mkdir()
    prim, sb = apilib.Petrel(workdir / "primary"), None
    try:
        api = prim.client()
        start_guest(api, img, taps[0], 6, 40)
        sb, url = standby(workdir, network_overrides=[{"iface_id": "eth0", "host_dev_name": taps[1].name}])
        r = api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": 50},
                    check=False)
        assert r.status == 204, r
        wait_repl(api, "protected")
        prim.proc.kill()
        prim.wait()
        wait_repl(sb.client(), "active", timeout=10)
        finish_on(taps[1], 40)
        sb.expect(r"^ok e1000_net$")
    finally:
        for p in (prim, sb):
            if p:
                p.close()
        for t in taps:
            t.close()
