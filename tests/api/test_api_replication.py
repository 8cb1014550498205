# SPDX-License-Identifier: Apache-2.0
"""Active-passive replication (PUT /replication) with ring-3 test guests: a primary petrel
checkpoints its VM to a standby petrel; killed (or silenced), the standby runs the guest on from
the last checkpoint by itself. The counting guest checks its 8 MiB of memory on every line and
its console output is held per epoch, so what the outside saw from the primary followed by what
the standby prints is one count with no gap: the standby writes again the last epoch's output
the primary may not have written, so a repeat can only be that, verbatim (failover_console.py)."""
import os
import random
import signal
import time

import pytest

import apilib
import failover_console
from test_api_migration import (GEN, assert_image_clean, blkloop_on_a_qcow2_overlay, boot_blkloop,
                                gens, wait_exit)

ARGS = "every=4194304 fill_mib=8 rewrite=1"


def boot(petrel, api, args=ARGS, **machine):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": args}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, **machine}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^gen=2 ok$")


def repl(api):
    return api.get("/replication", check=False).json


def wait_repl(api, want, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = repl(api)
        if st.get("state") == want:
            return st
        time.sleep(0.02)
    pytest.fail(f"replication never {want}: {repl(api)}")


def wait_checkpoints(api, n, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = repl(api)
        if st.get("checkpoints", 0) >= n:
            return st
        time.sleep(0.02)
    pytest.fail(f"fewer than {n} checkpoints: {repl(api)}")


def pair(petrel, api, workdir, interval=50, timeout=500, args=ARGS, **primary):
    boot(petrel, api, args)
    return replicate(petrel, api, workdir, interval, timeout, **primary)


def standby(workdir, **body):
    """A petrel in workdir/standby listening as a standby (body: more of its PUT /replication;
    failure_timeout_ms 500 unless given): it and the URL the primary connects to."""
    d = workdir / "standby"
    d.mkdir()
    sb = apilib.Petrel(d)
    url = f"unix:{workdir / 'repl.sock'}"
    r = sb.client().put("/replication", {"role": "standby", "listen_url": url, "failure_timeout_ms": 500, **body},
                        check=False)
    if r.status != 204:
        sb.close()
    assert r.status == 204, r
    return sb, url


def replicate(petrel, api, workdir, interval=50, timeout=500, **primary):
    """A standby in workdir/standby for the running VM behind api, protected: the standby."""
    sb, url = standby(workdir, failure_timeout_ms=timeout)
    r = api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": interval,
                                 "failure_timeout_ms": timeout, **primary}, check=False)
    assert r.status == 204, r
    wait_repl(api, "protected")
    wait_repl(sb.client(), "protected")
    # The initial sync may throttle a busy guest; protected, it runs unthrottled (and a
    # throttle left running used to outlive the VM it kicks).
    assert "petrel_thrott" not in threads(petrel.proc.pid)
    return sb


def threads(pid):
    names = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            names.append(open(f"/proc/{pid}/task/{tid}/comm").read().strip())
        except OSError:
            pass
    return names


def test_primary_killed_standby_runs_on_with_no_console_output_lost(petrel, api, workdir):
    sb = pair(petrel, api, workdir)
    try:
        # A few checkpoints' worth of counting, then the primary dies without warning.
        st = wait_checkpoints(api, 4)
        assert st["last_pause_us"] > 0 and st["mean_checkpoint_bytes"] > 0, st
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        sapi = sb.client()
        st = wait_repl(sapi, "active", timeout=10)
        assert sapi.get("/").json["state"] == "Running"
        seen = petrel.out.text()
        last = max(gens(petrel))
        sb.expect(rf"^gen={last + 2} ok$")
        failover_console.join(seen, sb.out.text(), GEN)
        assert "FAIL" not in sb.out.text(), sb.describe()
        assert st["failover_ms"] >= 0 and st["generation"] == 2, st
    finally:
        sb.close()


def test_silent_primary_is_taken_over_after_the_timeout(petrel, api, workdir):
    sb = pair(petrel, api, workdir, timeout=300)
    try:
        wait_checkpoints(api, 3)
        sapi = sb.client()
        assert repl(sapi)["state"] == "protected"
        os.kill(petrel.proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        st = wait_repl(sapi, "active", timeout=10)
        # A stopped process keeps its socket open: only the failure timeout (300 ms after the
        # last message, which came at most one checkpoint interval before the stop on a quiet
        # host; more on a loaded one, hence the margin) can have fired.
        assert "went silent" in st["reason"], st
        assert time.monotonic() - t0 >= 0.15
        last = max(gens(petrel))
        sb.expect(rf"^gen={last + 2} ok$")
        failover_console.join(petrel.out.text(), sb.out.text(), GEN)
    finally:
        os.kill(petrel.proc.pid, signal.SIGKILL)
        sb.close()


def test_standby_killed_primary_runs_on_unprotected(petrel, api, workdir):
    sb = pair(petrel, api, workdir)
    sb.proc.kill()
    sb.close()
    st = wait_repl(api, "unprotected", timeout=10)
    assert st["output_held_bytes"] == 0 and st["output_dropped_bytes"] == 0, st
    before = max(gens(petrel))
    petrel.expect(rf"^gen={before + 2} ok$")  # its output flows again
    assert api.get("/").json["state"] == "Running"


def test_silent_standby_leaves_the_primary_unprotected(petrel, api, workdir):
    # The guest rewrites 64 MiB per line, so a checkpoint is larger than the socket's buffer: a
    # standby that stops reading (SIGSTOP: its socket stays open) stalls the primary's send, or
    # leaves its acknowledgement unsent; either way the failure timeout (500 ms) decides.
    sb = pair(petrel, api, workdir, args="every=4194304 fill_mib=64 rewrite=1")
    try:
        wait_checkpoints(api, 3)
        os.kill(sb.proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        st = wait_repl(api, "unprotected", timeout=10)
        assert time.monotonic() - t0 >= 0.3, st
        assert ("took no data for 500 ms" in st["reason"] or "went silent" in st["reason"]), st
        assert st["output_held_bytes"] == 0, st
        before = max(gens(petrel))
        petrel.expect(rf"^gen={before + 2} ok$")  # its output flows again
        assert api.get("/").json["state"] == "Running"
    finally:
        os.kill(sb.proc.pid, signal.SIGKILL)  # never woken: it would take over (docs: partition)
        sb.close()


def test_standby_killed_primary_stops_by_policy(petrel, api, workdir):
    sb = pair(petrel, api, workdir, on_standby_loss="stop")
    sb.proc.kill()
    sb.close()
    assert wait_exit(petrel, timeout=15) == 1, petrel.describe()
    assert "lost the standby" in petrel.err.text()


def test_guest_stopping_on_the_primary_is_not_taken_over(petrel, api, workdir):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": "every=4194304 lines=40"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    d = workdir / "standby"
    d.mkdir()
    sb = apilib.Petrel(d)
    try:
        url = f"unix:{workdir / 'repl.sock'}"
        assert sb.client().put("/replication", {"role": "standby", "listen_url": url}, check=False).status == 204
        assert api.put("/replication", {"role": "primary", "peer_url": url}, check=False).status == 204
        assert wait_exit(petrel, timeout=60) == 0  # the guest passes after 40 lines
        st = wait_repl(sb.client(), "stopped", timeout=10)
        assert "ended replication" in st["reason"], st
        assert sb.client().get("/").json["state"] == "Not started"
    finally:
        sb.close()


def test_requests_checked(petrel, api, workdir):
    for body, msg in (({}, "role"), ({"role": "primary"}, "peer_url"), ({"role": "standby"}, "listen_url"),
                      ({"role": "primary", "peer_url": "unix:/x", "on_standby_loss": "panic"}, "on_standby_loss"),
                      ({"role": "primary", "peer_url": "unix:/x", "checkpoint_interval_ms": 0}, "interval"),
                      ({"role": "standby", "listen_url": "unix:/x", "bogus": 1}, "bogus")):
        r = api.put("/replication", body, check=False)
        assert r.status == 400 and msg in r.fault, (body, r)
    assert repl(api) == {"role": "none"}
    r = api.put("/replication", {"role": "primary", "peer_url": "unix:/x"}, check=False)
    assert r.status == 400 and "running" in r.fault, r


def test_a_standby_timeout_an_interval_could_outlast_is_refused(petrel, api, workdir):
    # Between two healthy checkpoints the standby hears nothing for up to an interval and a
    # checkpoint's pause: with 300 ms epochs a 500 ms standby timeout would take a live primary
    # for dead. The primary tells its interval first; the standby refuses, both say why, and
    # the guest runs on, unprotected.
    boot(petrel, api)
    sb, url = standby(workdir)
    try:
        assert api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": 300},
                       check=False).status == 204
        st = wait_repl(api, "unprotected", timeout=30)
        assert "at least 700 ms" in st["reason"], st
        sst = wait_repl(sb.client(), "stopped", timeout=30)
        assert "failure_timeout_ms (500)" in sst["reason"], sst
        assert api.get("/").json["state"] == "Running"
        before = max(gens(petrel))
        petrel.expect(rf"^gen={before + 2} ok$")  # its output flows, not held
    finally:
        sb.close()


def test_network_output_commit_across_a_failover(petrel, api, workdir):
    """The guest sends numbered frames unprompted. While replicated, each leaves the primary's
    tap only once the standby has the checkpoint after it; after the primary is killed the
    standby sends on its own tap from there: a listener on both taps sees every number once."""
    import select
    from nethelp import Tap, parse_frame
    mac = "06:00:00:00:0b:01"
    taps = [Tap(), Tap()]
    for t in taps:
        t.open_socket()
    sb = None
    try:
        img = str(apilib.guest("netloop"))
        assert api.put("/boot-source", {"kernel_image_path": img,
                                        "boot_args": f"mac={mac} beacon=200000"}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
        assert api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": taps[0].name,
                                                    "guest_mac": mac}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        petrel.expect(r"^netloop: ready")
        sb, url = standby(workdir, network_overrides=[{"iface_id": "eth0", "host_dev_name": taps[1].name}])
        assert api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": 30},
                       check=False).status == 204
        seqs = {0: [], 1: []}

        def collect(until, timeout=30):
            end = time.monotonic() + timeout
            while not until() and time.monotonic() < end:
                ready, _, _ = select.select([t.sock for t in taps], [], [], 0.1)
                for i, t in enumerate(taps):
                    if t.sock in ready:
                        kind, seq = parse_frame(t.recv(1))
                        if kind == "B":
                            seqs[i].append(seq)
            assert until(), f"frames seen: {len(seqs[0])} on the primary's tap, {len(seqs[1])} on the standby's"

        wait_repl(api, "protected")
        collect(lambda: len(seqs[0]) >= 100)
        # At a moment not tied to a release of held frames (those come in bursts, one per
        # acknowledged checkpoint): read on for a random while first.
        stop_at = time.monotonic() + random.uniform(0.005, 0.1)
        collect(lambda: time.monotonic() >= stop_at)
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        wait_repl(sb.client(), "active", timeout=10)
        collect(lambda: len(seqs[1]) >= 100)
        a, b = seqs[0], seqs[1]
        # Never a repeat: nothing the outside saw is unknown to the standby's checkpoint.
        assert a == list(range(a[0], a[0] + len(a))) and b == list(range(b[0], b[0] + len(b))), (a[-5:], b[:5])
        assert b[0] > a[-1], f"the standby repeated frames the primary had sent: {a[-5:]} then {b[:5]}"
        # A gap only if the primary died between the standby's acknowledgement and writing that
        # checkpoint's frames (then they are lost, as on any link): at most one epoch's worth.
        assert b[0] - a[-1] - 1 <= 32, f"frames lost across the failover: {a[-1] + 1}..{b[0] - 1}"
        assert "FAIL" not in sb.out.text(), sb.describe()
    finally:
        if sb:
            sb.close()
        for t in taps:
            t.close()


def test_disk_writes_are_mirrored_to_the_standby(petrel, api, workdir):
    """mirror_disks (the default): the standby has a disk image of its own; the initial sync
    copies the disk and each checkpoint carries the epoch's writes, applied at commit. blkloop
    (keep=1) checks on each round what the round before wrote: after the failover the standby's
    disk has exactly what its memory says was written."""
    disk, copy = workdir / "p.img", workdir / "s.img"
    copy.write_bytes(b"")
    boot_blkloop(petrel, api, disk, rounds=3)
    sb, url = standby(workdir, drive_overrides=[{"drive_id": "disk", "path_on_host": str(copy)}])
    try:
        assert api.put("/replication", {"role": "primary", "peer_url": url}, check=False).status == 204
        wait_repl(api, "protected")
        st = wait_checkpoints(api, 5)
        assert st["total_bytes"] > 1 << 20, st  # the disk went over
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        wait_repl(sb.client(), "active", timeout=10)
        rnd = r"^blkloop round=(\d+) ok$"
        last = max(int(n) for n in petrel.lines(rnd))
        sb.expect(rf"^blkloop round={last + 5} ok$")
        failover_console.join(petrel.out.text(), sb.out.text(), rnd)
        assert "FAIL" not in sb.out.text(), sb.describe()
    finally:
        sb.close()


def test_pause_and_snapshots_while_replicated(petrel, api, workdir):
    """A replicated VM paused by its user stays paused across checkpoints; a snapshot (which
    would take the dirty page log from under the checkpoints) and a migration are refused."""
    sb = pair(petrel, api, workdir)
    try:
        wait_checkpoints(api, 2)
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        n = repl(api)["checkpoints"]
        wait_checkpoints(api, n + 3)
        assert api.get("/").json["state"] == "Paused"
        time.sleep(0.5)  # the last epoch's held output is out and read
        before = len(gens(petrel))
        time.sleep(0.5)
        assert len(gens(petrel)) == before, "the guest ran while paused"
        r = api.put("/snapshot/create", {"snapshot_path": str(workdir / "s"), "mem_file_path": str(workdir / "m")})
        assert r.status == 400 and "replication" in r.fault, r
        r = api.put("/migration/send", {"destination_url": "unix:/nowhere"}, check=False)
        assert r.status == 400 and "replicated" in r.fault, r
        assert api.patch("/vm", {"state": "Resumed"}).status == 204
        petrel.expect(rf"^gen={max(gens(petrel)) + 2} ok$")
    finally:
        sb.close()


def test_a_diff_snapshot_never_builds_across_replication(petrel, api, workdir):
    """Every checkpoint takes the dirty page log: once replication has ended (here its standby
    died), a Diff snapshot must not build on the Full one taken before it, which would miss
    every page the checkpoints took. A Full one comes first again, then Diffs work."""
    boot(petrel, api, track_dirty_pages=True)

    def snapshot(kind, name):
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        r = api.put("/snapshot/create", {"snapshot_type": kind, "snapshot_path": str(workdir / f"{name}.state"),
                                         "mem_file_path": str(workdir / f"{name}.mem")}, check=False)
        assert api.patch("/vm", {"state": "Resumed"}).status == 204
        return r

    assert snapshot("Full", "before").status == 204
    sb = replicate(petrel, api, workdir)
    wait_checkpoints(api, 3)
    sb.proc.kill()
    sb.close()
    wait_repl(api, "unprotected", timeout=10)
    r = snapshot("Diff", "across")
    assert r.status == 400 and "Full one first" in r.fault, r
    assert snapshot("Full", "after").status == 204
    assert snapshot("Diff", "next").status == 204


def test_a_standby_that_took_over_gets_a_new_standby(petrel, api, workdir):
    """After a failover the running VM is protected again by attaching a new standby to it; its
    checkpoints carry the next generation."""
    sb = pair(petrel, api, workdir)
    sb2 = None
    try:
        wait_checkpoints(api, 2)
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        sapi = sb.client()
        wait_repl(sapi, "active", timeout=10)
        d = workdir / "standby2"
        d.mkdir()
        sb2 = apilib.Petrel(d)
        url2 = f"unix:{workdir / 'repl2.sock'}"
        assert sb2.client().put("/replication", {"role": "standby", "listen_url": url2}, check=False).status == 204
        r = sapi.put("/replication", {"role": "primary", "peer_url": url2}, check=False)
        assert r.status == 204, r
        st = wait_repl(sapi, "protected")
        assert st["role"] == "primary" and st["generation"] == 3, st
        st2 = wait_repl(sb2.client(), "protected")
        assert st2["generation"] == 3, st2
        # And the second failover works too.
        sb.proc.kill()
        sb.wait()  # and its output read to the end
        wait_repl(sb2.client(), "active", timeout=10)
        sb2.expect(r"^gen=\d+ ok$")
        assert "FAIL" not in sb2.out.text()
    finally:
        sb.close()
        if sb2:
            sb2.close()


@pytest.mark.parametrize("how", ["killed", "silent"])
def test_shared_storage_disk_lock_goes_to_the_standby_only_from_a_dead_primary(petrel, api, workdir, how):
    """mirror_disks false (shared storage): the standby opens the primary's own image, unlocked,
    and takes its write lock at takeover. From a killed primary it gets it and runs the guest
    on (and holds the lock: a third petrel is refused); a primary that is only silent (stopped,
    alive) still holds it, so the standby does not run a second copy of the guest on the same
    disk: it stops and says why, and the primary, continued, runs on."""
    disk = workdir / "shared.img"
    disk.write_bytes(b"\0" * (1 << 20))
    drive = {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False, "is_read_only": False}
    assert api.put("/drives/disk", drive).status == 204
    d = workdir / "standby"
    d.mkdir()
    sb = apilib.Petrel(d)
    other = None
    try:
        boot(petrel, api)
        url = f"unix:{workdir / 'repl.sock'}"
        sapi = sb.client()
        assert sapi.put("/replication", {"role": "standby", "listen_url": url, "failure_timeout_ms": 300},
                        check=False).status == 204
        assert api.put("/replication", {"role": "primary", "peer_url": url, "mirror_disks": False,
                                        "failure_timeout_ms": 300}, check=False).status == 204
        wait_repl(api, "protected")
        wait_checkpoints(api, 3)
        if how == "killed":
            petrel.proc.kill()
            petrel.wait()  # and its output read to the end
            wait_repl(sapi, "active", timeout=10)
            last = max(gens(petrel))
            sb.expect(rf"^gen={last + 2} ok$")
            failover_console.join(petrel.out.text(), sb.out.text(), GEN)
            d2 = workdir / "other"
            d2.mkdir()
            other = apilib.Petrel(d2)
            oapi = other.client()
            r = oapi.put("/drives/disk", drive, check=False)
            if r.status == 204:  # opened at the start, not when configured
                assert oapi.put("/boot-source", {"kernel_image_path": str(apilib.guest("counter"))}).status == 204
                r = oapi.put("/actions", {"action_type": "InstanceStart"}, check=False)
            assert r.status == 400 and "in use by another process" in r.fault, r
        else:
            os.kill(petrel.proc.pid, signal.SIGSTOP)
            st = wait_repl(sapi, "stopped", timeout=10)
            assert "in use by another process" in st.get("reason", ""), st
            os.kill(petrel.proc.pid, signal.SIGCONT)
            last = max(gens(petrel))
            petrel.expect(rf"^gen={last + 2} ok$")
            assert sapi.get("/").json["state"] != "Running"
    finally:
        if other:
            other.close()
        sb.close()


def test_vsock_streams_across_a_failover(petrel, api, workdir):
    """A replicated vsockloop guest (a guest-to-host and a host-to-guest stream, each echoed):
    its vsock output is held per epoch on the primary, so the echoes go on one checkpoint
    behind; after a kill -9 of the primary the host sides of the old connections are gone, the
    standby's guest gets TRANSPORT_RESET and RSTs for its old connections, and new connections
    through the standby's own socket carry data both ways. Every byte the host saw, before and
    after, is checked."""
    from test_api_snapshot_io import (CID, IN_PORT, OUT_PORT, EchoClient, EchoServer, vsock_reset_and_new_connections,
                                      wait_until)
    from test_api_snapshot_io import boot as boot_guest
    uds1, uds2 = workdir / "v1.sock", workdir / "v2.sock"
    s1, s2 = EchoServer(f"{uds1}_{OUT_PORT}"), EchoServer(f"{uds2}_{OUT_PORT}")
    s1.start()
    s2.start()
    c1 = c2 = sb = None
    try:
        assert api.put("/vsock", {"guest_cid": CID, "uds_path": str(uds1)}).status == 204
        boot_guest(api, "vsockloop", f"transport=pci cid={CID} out_port={OUT_PORT} in_port={IN_PORT}")
        petrel.expect(rf"^vsockloop: gen=0 listening on {IN_PORT}, connecting to {OUT_PORT}$")
        c1 = EchoClient(uds1, IN_PORT)
        c1.start()
        wait_until(lambda: s1.conns and s1.conns[0][0] >= 16384 and c1.sent >= 16384, "traffic before", petrel)
        sb, url = standby(workdir, vsock_override={"uds_path": str(uds2)})
        assert api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": 30},
                       check=False).status == 204
        wait_repl(api, "protected")
        out0, in0 = s1.conns[0][0], c1.sent
        wait_until(lambda: s1.conns[0][0] >= out0 + 16384 and c1.sent >= in0 + 16384,
                   "16 KiB more each way while replicated", petrel,
                   lambda: f"server {s1.conns}, client {c1.sent} {c1.end}, {repl(api)}")
        assert repl(api)["checkpoints"] > 0
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        wait_repl(sb.client(), "active", timeout=10)
        wait_until(lambda: c1.end and s1.conns[0][1], "the old connections to close",
                   describe=lambda: f"client {c1.end}, server {s1.conns}")
        c2 = vsock_reset_and_new_connections(sb, uds2, s2, 16384)
        assert s1.error is None and s2.error is None, (s1.error, s2.error)
        assert c2.end is None and len(s2.conns) == 1, (c2.end, s2.conns)
        assert "FAIL" not in sb.out.text(), sb.describe()
    finally:
        for c in (c1, c2):
            if c:
                c.stop.set()
        if sb:
            sb.close()
        s1.close()
        s2.close()


def test_shared_qcow2_overlay_is_read_again_at_takeover(petrel, api, workdir):
    """Shared storage (mirror_disks false) with a qcow2 overlay (512-byte clusters, so the
    guest's writes add L2 tables and refcount runs) over a base with data: the standby opened
    the overlay at the initial sync and the primary went on allocating in it, so at takeover
    the standby reads its tables again. blkloop (keep=1, a new slot each round) then reads on
    the standby what the primary's last rounds wrote, and the overlay passes qemu-img check
    afterwards."""
    top = blkloop_on_a_qcow2_overlay(api, workdir)
    sb, url = standby(workdir)
    try:
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        # The standby opens the overlay now, while the guest's first rounds run.
        assert api.put("/replication", {"role": "primary", "peer_url": url, "mirror_disks": False,
                                        "checkpoint_interval_ms": 30}, check=False).status == 204
        wait_repl(api, "protected")
        wait_checkpoints(api, 3)
        # the rounds the assertions below count on: the guest may not have finished one yet
        # when the third checkpoint is taken on a busy host (two fuzzers beside it: 3 runs of 6)
        petrel.expect(r"^blkloop round=2 ok\n")
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        wait_repl(sb.client(), "active", timeout=10)
        rnd = r"^blkloop round=(\d+) ok$"
        last = max(int(n) for n in petrel.lines(rnd))
        # Each round allocates a new 128 KiB slot (256 of them): the primary's last rounds
        # allocated theirs after the standby opened the overlay, and the standby reads them.
        assert 1 < last < 256, last
        sb.expect(rf"^blkloop round={last + 10} ok$")
        failover_console.join(petrel.out.text(), sb.out.text(), rnd)
        assert "FAIL" not in sb.out.text(), sb.describe()
    finally:
        sb.close()
    assert_image_clean(top)
