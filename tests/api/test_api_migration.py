# SPDX-License-Identifier: Apache-2.0
"""Live migration between two petrel processes (PUT /migration/receive on the destination,
PUT /migration/send on the source) with ring-3 test guests. The counting guest rewrites and
checks an 8 MiB region on every line, so a page lost or stale on the destination fails it,
and its count must go on without a gap or a repeat."""
import re
import time

import pytest

import apilib
from test_api_snapshot import assert_counts_go_on

GEN = r"^gen=(\d+) ok$"


def gens(p):
    return [int(n) for n in p.lines(GEN)]


def counts(p):
    return [int(n) for n in p.lines(r"^count=(\d+)$")]


def boot(petrel, api, args="every=4194304 fill_mib=8 rewrite=1", vcpus=1, first=r"^gen=2 ok$"):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": args}).status == 204
    assert api.put("/machine-config", {"vcpu_count": vcpus, "mem_size_mib": 128}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(first, timeout=60)


def boot_blkloop(petrel, api, disk, rounds=5):
    """blkloop (keep=1: each round checks what the round before wrote) on a fresh 1 MiB
    writable drive `disk`, running until its round `rounds`."""
    disk.write_bytes(b"\0" * (1 << 20))
    assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("blkloop")),
                                    "boot_args": "keep=1"}).status == 204
    assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                    "is_read_only": False}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(rf"^blkloop round={rounds} ok$")


def blkloop_on_a_qcow2_overlay(api, workdir):
    """Configure (not start) blkloop keep=1 over 256 slots of a qcow2 overlay with 512-byte
    clusters over a 32 MiB base with data: each round allocates a new slot (L2 tables,
    refcount runs) until round 256. The overlay's path."""
    import shutil
    import subprocess
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img (qemu-utils) is not installed")
    base, top = workdir / "base.raw", workdir / "top.qcow2"
    base.write_bytes(bytes((i * 37 + 11) & 0xFF for i in range(1 << 16)) * 512)  # 32 MiB, no zero run
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-b", str(base),
                    "-F", "raw", str(top)], check=True)
    assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("blkloop")),
                                    "boot_args": "keep=1 slots=256"}).status == 204
    assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(top), "is_root_device": False,
                                    "is_read_only": False, "format": "qcow2"}).status == 204
    return top


def assert_image_clean(path):
    import subprocess
    r = subprocess.run(["qemu-img", "check", str(path)], capture_output=True, text=True)
    assert r.returncode in (0, 3) and "ERROR" not in r.stdout, r.stdout + r.stderr


def blkloop_moved(petrel, dapi, dst):
    """The migration completes, the source exits 0 and blkloop goes on on the destination, each
    round's check of the round before passing, with no gap or repeat in its rounds."""
    wait_state(dapi, "completed")
    assert wait_exit(petrel) == 0, petrel.describe()
    rounds = [int(n) for n in petrel.lines(r"^blkloop round=(\d+) ok$")]
    dst.expect(rf"^blkloop round={max(rounds) + 10} ok$")
    assert_counts_go_on(petrel.out.text(), dst.out.text(), r"^blkloop round=(\d+) ok$")
    assert "FAIL" not in dst.out.text(), dst.describe()


def destination(workdir, name="dst"):
    d = workdir / name
    d.mkdir()
    return apilib.Petrel(d)


def wait_exit(p, timeout=60):
    end = time.monotonic() + timeout
    while p.proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    return p.proc.poll()


def wait_state(api, want, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = api.get("/migration", check=False).json
        if st["state"] == want:
            return st
        if st["state"] == "failed" and want != "failed":
            pytest.fail(f"migration failed: {st}")
        time.sleep(0.05)
    pytest.fail(f"migration never {want}: {api.get('/migration', check=False).json}")


@pytest.mark.parametrize("vcpus", [1, 2])
def test_counting_guest_moves_with_its_memory(petrel, api, workdir, vcpus):
    boot(petrel, api, vcpus=vcpus)
    dst = destination(workdir)
    try:
        url = f"unix:{workdir / 'mig.sock'}"
        dapi = dst.client()
        assert dapi.get("/migration", check=False).json == {"state": "none"}
        r = dapi.put("/migration/receive", {"receiver_url": url}, check=False)
        assert r.status == 204, r
        r = api.put("/migration/send", {"destination_url": url, "downtime_ms": 300}, check=False)
        assert r.status == 204, r
        st = wait_state(dapi, "completed")
        # The source stops by itself once the destination runs the guest, with status 0.
        assert wait_exit(petrel) == 0, petrel.describe()
        last = max(gens(petrel))
        dst.expect(rf"^gen={last + 2} ok$")
        assert_counts_go_on(petrel.out.text(), dst.out.text(), GEN)
        assert "FAIL" not in dst.out.text(), dst.describe()
        assert dapi.get("/").json["state"] == "Running"
        assert st["role"] == "destination" and st["downtime_ms"] > 0 and st["bytes_sent"] >= 8 << 20, st
        cfg = dapi.get("/vm/config").json
        assert cfg["machine-config"]["vcpu_count"] == vcpus
        m = re.search(r"migration to \S+ completed: downtime ([0-9.]+) ms", petrel.err.text())
        assert m, petrel.describe()
    finally:
        dst.close()


def test_a_guest_that_arrived_migrates_on(petrel, api, workdir):
    """A → B → C: the completed receive on B gives way to B's send (a cluster moves a VM on
    from where an earlier move put it; B refused with "a migration is done" before)."""
    boot(petrel, api)
    b, c = destination(workdir, "b"), destination(workdir, "c")
    try:
        bapi, capi = b.client(), c.client()
        for src_api, dst_api, sock in ((api, bapi, "ab.sock"), (bapi, capi, "bc.sock")):
            url = f"unix:{workdir / sock}"
            assert dst_api.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
            r = src_api.put("/migration/send", {"destination_url": url}, check=False)
            assert r.status == 204, r
            wait_state(dst_api, "completed")
        assert wait_exit(petrel) == 0, petrel.describe()
        assert wait_exit(b) == 0, b.describe()
        last = max(gens(b))
        c.expect(rf"^gen={last + 2} ok$")
        assert_counts_go_on(b.out.text(), c.out.text(), GEN)
        assert "FAIL" not in c.out.text(), c.describe()
    finally:
        b.close()
        c.close()


def test_tcp_between_processes(petrel, api, workdir):
    boot(petrel, api)
    dst = destination(workdir)
    try:
        dapi = dst.client()
        port = 47000 + (int(time.time() * 1000) % 2000)
        r = dapi.put("/migration/receive", {"receiver_url": f"tcp:127.0.0.1:{port}"}, check=False)
        assert r.status == 204, r
        assert api.put("/migration/send", {"destination_url": f"tcp:127.0.0.1:{port}"}, check=False).status == 204
        wait_state(dapi, "completed")
        assert wait_exit(petrel) == 0
        last = max(gens(petrel))
        dst.expect(rf"^gen={last + 2} ok$")
        assert "FAIL" not in dst.out.text()
    finally:
        dst.close()


def test_unreachable_destination_leaves_the_source_running(petrel, api, workdir):
    boot(petrel, api)
    r = api.put("/migration/send", {"destination_url": f"unix:{workdir / 'nobody.sock'}"}, check=False)
    assert r.status == 204, r
    st = wait_state(api, "failed")
    assert "cannot connect" in st["reason"], st
    before = max(gens(petrel))
    petrel.expect(rf"^gen={before + 2} ok$")
    assert api.get("/").json["state"] == "Running"


def test_destination_killed_mid_stream_leaves_the_source_running(petrel, api, workdir):
    # A bigger guest memory so the stream takes a while.
    boot(petrel, api, args="every=4194304 fill_mib=96 rewrite=1")
    dst = destination(workdir)
    url = f"unix:{workdir / 'mig.sock'}"
    assert dst.client().put("/migration/receive", {"receiver_url": url}, check=False).status == 204
    assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
    time.sleep(0.02)
    dst.proc.kill()
    dst.close()
    st = wait_state(api, "failed")
    assert st["role"] == "source", st
    before = max(gens(petrel))
    petrel.expect(rf"^gen={before + 2} ok$", timeout=60)
    assert api.get("/").json["state"] == "Running"
    # Pause/resume work again after the failed migration.
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    assert api.patch("/vm", {"state": "Resumed"}).status == 204


def test_requests_checked(petrel, api, workdir):
    for body, msg in (({}, "destination_url"), ({"destination_url": "ftp:x"}, "tcp:HOST:PORT"),
                      ({"destination_url": "tcp:h:99999"}, "port"),
                      ({"destination_url": "unix:/x", "mode": "warp"}, "mode"),
                      ({"destination_url": "unix:/x", "bogus": 1}, "bogus")):
        r = api.put("/migration/send", body, check=False)
        assert r.status == 400 and msg in r.fault, (body, r)
    r = api.put("/migration/send", {"destination_url": "unix:/x"}, check=False)
    assert r.status == 400 and "not running" in r.fault, r
    boot(petrel, api)
    r = api.put("/migration/receive", {"receiver_url": f"unix:{workdir / 'm.sock'}"}, check=False)
    assert r.status == 400 and "not started" in r.fault, r


def test_garbage_stream_is_refused_and_the_destination_stays_usable(petrel, api, workdir):
    """A hostile source: the destination answers FAIL, builds nothing and can still boot."""
    import socket
    sock = workdir / "mig.sock"
    for payload in (b"GET / HTTP/1.0\r\n\r\n", b"HELO" + b"\0" * 12):
        assert api.put("/migration/receive", {"receiver_url": f"unix:{sock}"}, check=False).status == 204
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        s.recv(4096)
        s.close()
        st = wait_state(api, "failed")
        assert "migration stream" in st["reason"] or "closed" in st["reason"], st
    # Still a fresh instance: it boots a guest normally.
    boot(petrel, api)


def test_cli_incoming_and_migrate(petrel, api, workdir):
    """`petrel run --incoming URL` waits for a VM; `petrel migrate` drives the source's API."""
    import subprocess
    boot(petrel, api)
    url = f"unix:{workdir / 'cli.sock'}"
    dst = subprocess.Popen([str(apilib.petrel_bin()), "run", "--incoming", url, "--level", "Info"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while not (workdir / "cli.sock").exists() and time.monotonic() < end:
            time.sleep(0.02)
        r = subprocess.run([str(apilib.petrel_bin()), "migrate", "--api-sock", str(petrel.sock), "--to", url],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert wait_exit(petrel) == 0
        last = max(gens(petrel))
        out = apilib.read_until(dst, f"gen={last + 2} ok".encode())
        assert_counts_go_on(petrel.out.text(), out.decode(), GEN)
        r = subprocess.run([str(apilib.petrel_bin()), "migrate", "--to", url], capture_output=True, text=True)
        assert r.returncode == 2 and "usage" in r.stderr
    finally:
        dst.kill()
        dst.wait()


def test_a_guest_dirtying_faster_than_the_link_converges(petrel, api, workdir):
    """The guest rewrites 32 MiB over and over, faster than the stream (paced to 128 MiB/s)
    carries it: auto-converge throttles its vCPUs until the rest fits the downtime; every page
    arrives right."""
    boot(petrel, api, args="every=1 fill_mib=32 rewrite=1 passes=1000", first=r"^count=1$")
    dst = destination(workdir)
    try:
        url = f"unix:{workdir / 'mig.sock'}"
        dapi = dst.client()
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url, "downtime_ms": 20,
                                                    "max_bandwidth_mib_s": 128}, check=False).status == 204
        st = wait_state(dapi, "completed", timeout=120)
        assert wait_exit(petrel) == 0, petrel.describe()
        assert "vCPUs throttled to" in petrel.err.text(), petrel.err.text()[-2000:]
        last = max(counts(petrel))
        dst.expect(rf"^count={last + 2}$", timeout=120)
        assert_counts_go_on(petrel.out.text(), dst.out.text())
        assert "FAIL" not in dst.out.text(), dst.describe()
        assert st["iteration"] >= 2, st
    finally:
        dst.close()


@pytest.mark.parametrize("mode", ["postcopy", "auto"])
def test_postcopy_moves_a_busy_guest(petrel, api, workdir, mode):
    """Post-copy: the guest runs on the destination before all its memory is there; pages it
    touches are fetched on demand while the rest is pushed. "auto" switches to it when
    pre-copy does not converge (here: a guest rewriting 32 MiB, the stream paced to 64 MiB/s)."""
    boot(petrel, api, args="every=1 fill_mib=32 rewrite=1 passes=50", first=r"^count=1$")
    dst = destination(workdir)
    try:
        url = f"unix:{workdir / 'mig.sock'}"
        dapi = dst.client()
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        body = {"destination_url": url, "downtime_ms": 5, "mode": mode}
        if mode == "auto":
            body["max_bandwidth_mib_s"] = 64
        assert api.put("/migration/send", body, check=False).status == 204
        st = wait_state(dapi, "completed", timeout=120)
        assert wait_exit(petrel) == 0, petrel.describe()
        assert st["postcopy"] and st["postcopy_pages"] > 0, st
        last = max(counts(petrel))
        dst.expect(rf"^count={last + 2}$", timeout=60)
        assert_counts_go_on(petrel.out.text(), dst.out.text())
        assert "FAIL" not in dst.out.text(), dst.describe()
        assert "switched to post-copy" in petrel.err.text()
    finally:
        dst.close()


def test_source_killed_mid_stream_leaves_nothing_on_the_destination(petrel, api, workdir):
    boot(petrel, api, args="every=4194304 fill_mib=96 rewrite=1")
    dst = destination(workdir)
    try:
        url = f"unix:{workdir / 'mig.sock'}"
        dapi = dst.client()
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url, "max_bandwidth_mib_s": 64},
                       check=False).status == 204
        end = time.monotonic() + 30
        while dapi.get("/migration", check=False).json.get("bytes_sent", 0) < 1 << 20 and time.monotonic() < end:
            time.sleep(0.01)
        petrel.proc.kill()
        st = wait_state(dapi, "failed")
        assert "closed" in st["reason"] or "went away" in st["reason"], st
        assert dapi.get("/").json["state"] == "Not started"
        # A fresh instance again: it boots a guest of its own.
        boot(dst, dapi)
    finally:
        dst.close()


def test_migrate_disks_without_shared_storage(petrel, api, workdir):
    """migrate_disks: the disk goes with the VM. blkloop keeps 32 writes in flight and (keep=1)
    checks on each round what it wrote the round before, so a chunk written during the copy and
    not sent again fails it on the destination, which runs on an image of its own
    (drive_overrides)."""
    disk, copy = workdir / "src.img", workdir / "dst.img"
    copy.write_bytes(b"")
    boot_blkloop(petrel, api, disk)
    dst = destination(workdir)
    try:
        dapi = dst.client()
        url = f"unix:{workdir / 'mig.sock'}"
        # Without an image of its own the destination would write into the source's disk: the
        # source's lock on it refuses that (on one host), or the destination sees it is the
        # source's file when the disk copy starts.
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url, "migrate_disks": True}, check=False).status == 204
        st = wait_state(dapi, "failed")
        assert "source's own file" in st["reason"] or "in use by another process" in st["reason"], st
        assert wait_state(api, "failed")["role"] == "source"
        assert dapi.put("/migration/receive", {"receiver_url": url, "drive_overrides": [
            {"drive_id": "disk", "path_on_host": str(copy)}]}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url, "migrate_disks": True}, check=False).status == 204
        blkloop_moved(petrel, dapi, dst)
        assert copy.stat().st_size == 1 << 20
    finally:
        dst.close()


def test_shared_storage_hands_the_disk_lock_over(petrel, api, workdir):
    """Shared storage (no migrate_disks): both sides open the same writable image. Only the side
    running the guest may hold its write lock, so the destination opens it unlocked and takes
    the lock when it runs the guest, after the source let go of it; blkloop's writes go on
    from the destination into the same file, and a third petrel still cannot open it."""
    disk = workdir / "shared.img"
    boot_blkloop(petrel, api, disk)
    dst = destination(workdir)
    other = destination(workdir, "other")
    try:
        dapi = dst.client()
        url = f"unix:{workdir / 'mig.sock'}"
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
        blkloop_moved(petrel, dapi, dst)
        # The destination holds the lock now.
        oapi = other.client()
        r = oapi.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                      "is_read_only": False}, check=False)
        if r.status == 204:  # opened at the start, not when configured
            assert oapi.put("/boot-source", {"kernel_image_path": str(apilib.guest("blkloop"))}).status == 204
            r = oapi.put("/actions", {"action_type": "InstanceStart"}, check=False)
        assert r.status == 400 and "in use by another process" in r.fault, r
    finally:
        other.close()
        dst.close()


def test_shared_qcow2_overlay_is_read_again_by_the_destination(petrel, api, workdir):
    """Shared storage with a qcow2 overlay (512-byte clusters: the guest's writes add L2 tables
    and refcount runs) over a base with data: the destination opened the overlay when the
    migration began, the source went on allocating in it, so the destination must read its
    tables again when it takes it over (and the source must leave them complete: everything
    committed, its reserved runs given back). blkloop (keep=1, a new slot each round) then
    reads on the destination what the source's last round wrote into a slot it allocated after
    the destination opened the overlay; the overlay passes qemu-img check afterwards."""
    top = blkloop_on_a_qcow2_overlay(api, workdir)
    dst = destination(workdir)
    try:
        dapi = dst.client()
        url = f"unix:{workdir / 'mig.sock'}"
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        # The destination opens the overlay now; the guest's rounds each allocate a new 128 KiB
        # slot (256 of them) all through the copy, which is paced to last a few rounds.
        assert api.put("/migration/send", {"destination_url": url, "max_bandwidth_mib_s": 1},
                       check=False).status == 204
        blkloop_moved(petrel, dapi, dst)
        last = max(int(n) for n in petrel.lines(r"^blkloop round=(\d+) ok$"))
        # The source's last round allocated its slot after the destination opened the overlay,
        # and the destination's first round read it back.
        assert 1 < last < 256, last
    finally:
        dst.close()
    assert_image_clean(top)
