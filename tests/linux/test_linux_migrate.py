"""The real Linux guest moves between two "hosts" while it runs and keeps a TCP connection open
across the move: two network namespaces joined by a veth pair, one petrel in each (hostpair.py),
and a third namespace for the guest's LAN, which each host's tap joins through a bridge
(hostpair.lan). The source loads the snapshot test_linux_api.py took at the guest's console
prompt (no boot: a restore takes milliseconds) and resumes it; the typed line makes /init open
a TCP connection to the peer on the LAN, send 64 KiB and read the answer, which the peer sends
1 KiB at a time, holding the connection open. Then the destination receives the VM over TCP
across the veth (PUT /migration/receive, then /migration/send on the source); the source must
exit 0 once the destination runs the guest; the peer sends on for a while and closes; the guest
must have received every byte over the one connection (the bytes sent after the switch reach it
through the destination's tap, once the guest has announced where it is now), then uses
virtio-rng and virtio-blk, sleeps on a timer, opens a vsock connection to the host (through the
destination's own Unix socket, vsock_override) and powers off on the destination; petrel exits 0.
The drive is shared storage (the same path on both hosts).

Runs after test_linux_api.py (file order); fails if that test left no snapshot.
Consoles in build/linux-migrate-{source,destination}.log."""
import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import hostpair
import linuxlib
import test_linux_api as linux_api
from netpeer import NetPeer, VsockPeer

INPUT_LINE = "restored-by-migration"  # "restored...": /init uses its devices again; "+net": the LAN
PORT = 47139
# Generous: on a PVM host the guest's ring 0 is emulated and every page the guest touches
# while the copy runs is sent again.
MIGRATION_TIMEOUT_S = 10 * 60
AFTER_SWITCH_S = 5  # how long the peer goes on sending to the guest on the destination


def test_linux_migrates_between_namespaces_and_answers_on_the_destination():
    linux_api.require_snapshot()
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-mig-", dir="/tmp"))
    hosts = []
    release = threading.Event()
    net = linux_api.snapshot_has_net() and NetPeer.available()
    try:
        with hostpair.two_hosts() as (a, b), \
                (hostpair.lan(a, b, release) if net else contextlib.nullcontext()) as peer:
            src = hostpair.HostPetrel(a, work / "src.sock", "migrate-source")
            hosts.append(src)
            dst = hostpair.HostPetrel(b, work / "dst.sock", "migrate-destination")
            hosts.append(dst)
            linuxlib.load_snapshot(src.api, linux_api.SNAP_STATE, linux_api.SNAP_MEM)
            line = INPUT_LINE + "+vsock" + ("+net" if peer else "")
            vsock = VsockPeer(work / "dst-v.sock")  # the destination's own vsock socket
            src.proc.stdin.write(f"{line}\n".encode())
            src.proc.stdin.flush()
            if peer:  # the connection is open and the peer is sending: move the guest now
                end = time.monotonic() + MIGRATION_TIMEOUT_S
                while not peer.streaming.wait(0.2) and time.monotonic() < end and src.proc.poll() is None:
                    src.pump()
                assert peer.streaming.is_set(), f"the guest never sent its data to the peer\n{src.con.tail()}"
            url = f"tcp:{hostpair.IP_B}:{PORT}"
            r = dst.api.put("/migration/receive", {"receiver_url": url, "vsock_override": {
                "uds_path": str(work / "dst-v.sock")}}, check=False)
            assert r.status == 204, f"migration receive: {r}"
            t0 = time.time()
            r = src.api.put("/migration/send", {"destination_url": url}, check=False)
            assert r.status == 204, f"migration send: {r}"
            st = hostpair.wait_for(dst, "/migration", lambda s: s.get("state") in ("completed", "failed"),
                                   hosts, MIGRATION_TIMEOUT_S)
            assert st.get("state") == "completed", \
                f"destination: {st}; source: {src.api.get('/migration', check=False).json}" \
                f"\n--- source ---\n{src.con.tail()}\n--- destination ---\n{dst.con.tail()}"
            print(f"migrated in {time.time() - t0:.2f} s: downtime {st.get('downtime_ms')} ms, "
                  f"total {st.get('total_ms')} ms, {st.get('bytes_sent')} bytes sent")
            sent_at_switch = len(peer.sent or b"") if peer else 0
            try:
                src_rc = src.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                src_rc = None
            src.pump()
            assert src_rc == 0, f"the source did not exit 0 after the switch: {src_rc}\n{src.con.tail()}"
            assert dst.api.get("/").json["state"] == "Running"
            if peer:
                end = time.monotonic() + AFTER_SWITCH_S
                while time.monotonic() < end:
                    dst.pump()
                    time.sleep(0.1)
                release.set()
            run = linuxlib.run_console(dst.proc, dst.con, time.time(), None, restored=True,
                                       checks_timeout=10 * 60)
            run.absorb_earlier(src.con)  # the echo and the first checks came before the switch
            where = linuxlib.assert_goes_on_from_the_prompt(run, dst.proc, dst.con, dst.log_path, line,
                                                            after="migration")
            checks = {k: v for k, (_, v) in run.checks.items()}
            vsock.check(checks, where)
            vsock.close()
            if peer:
                peer.check(checks, "restored-net", where)
                print(f"one TCP connection across the move: {len(peer.sent)} bytes to the guest, "
                      f"{len(peer.sent) - sent_at_switch} of them after the switch")
                assert len(peer.sent) > sent_at_switch, "the peer sent nothing after the switch" + where
    finally:
        for h in hosts:
            h.close()
        shutil.rmtree(work, ignore_errors=True)
