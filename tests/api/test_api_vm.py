# SPDX-License-Identifier: Apache-2.0
"""The API with a running microVM (freestanding test guests from tests/guests): Firecracker's
getting-started flow, the state rules after InstanceStart, pause/resume with a counting guest,
Ctrl-Alt-Del through the i8042, metrics with exit statistics, the boot timer, --config-file
and the Firecracker-style command line."""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import apilib


def start(api, name, args="", vcpus=1, mem=128):
    img = str(apilib.guest(name))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": args}).status == 204
    assert api.put("/machine-config", {"vcpu_count": vcpus, "mem_size_mib": mem}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r


def counts(petrel):
    return [int(n) for n in petrel.lines(r"^count=(\d+)$")]


def test_getting_started_flow(petrel, api, workdir):
    """Firecracker's getting-started sequence with curl-like requests; the guest runs, ends,
    and petrel exits with the guest's status."""
    log, metrics = workdir / "vm.log", workdir / "metrics.fifo"
    os.mkfifo(metrics)
    reader = open(os.open(metrics, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0)
    try:
        assert api.put("/logger", {"log_path": str(log), "level": "Info", "show_level": True}).status == 204
        assert api.put("/metrics", {"metrics_path": str(metrics)}).status == 204
        start(api, "boot", "console=ttyS0 petrel-test-token=1234 expect_mem=256", mem=256)
        assert petrel.wait() == 0, petrel.describe()
        assert re.search(r"^ok boot$", petrel.out.text(), re.M), petrel.describe()
        assert "guest wrote 0 to the debug-exit port" in petrel.err.text()
        assert re.search(r"INFO\] microVM started: 1 vCPU\(s\), 256 MiB", log.read_text())
        # The last metrics line is written at exit, through the named pipe.
        lines = reader.read().decode().splitlines()
        final = json.loads(lines[-1])
        assert final["exits"]["io-out"]["count"] > 0 and final["uart"]["tx_bytes"] > 0
    finally:
        reader.close()
    assert not petrel.sock.exists()  # removed on exit


def test_state_rules_after_start(petrel, api, workdir):
    start(api, "counter")
    petrel.expect(r"^count=2$")
    assert api.get("/").json["state"] == "Running"
    disk = workdir / "d.img"
    disk.write_bytes(b"\0" * 512)
    refused = [
        ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 128}),
        ("PATCH", "/machine-config", {"vcpu_count": 2}),
        ("PUT", "/boot-source", {"kernel_image_path": str(apilib.guest("boot"))}),
        ("PUT", "/cpu-config", {"cpuid_modifiers": []}),
        ("PUT", "/drives/d", {"drive_id": "d", "path_on_host": str(disk), "is_root_device": False}),
        ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0"}),
        ("PUT", "/vsock", {"guest_cid": 3, "uds_path": "/tmp/v.sock"}),
        ("PUT", "/entropy", {}),
        ("PUT", "/serial", {"serial_out_path": str(workdir / "s")}),
    ]
    for method, path, body in refused:
        r = api.request(method, path, body)
        assert r.status == 400 and "after the microVM has started" in r.fault, (method, path, r)
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 400 and "already" in r.fault
    r = api.patch("/drives/d", {"drive_id": "d", "path_on_host": str(disk)})
    assert r.status == 400 and "no drive" in r.fault
    r = api.patch("/network-interfaces/eth0", {"iface_id": "eth0"})
    assert r.status == 400 and "no network interface" in r.fault
    # Still allowed: reading. Logger and metrics are pre-boot configuration, as in Firecracker.
    assert api.get("/machine-config").json["vcpu_count"] == 1
    assert api.get("/vm/config").json["boot-source"]["kernel_image_path"].endswith("counter.elf")
    for path, body in (("/logger", {"level": "Debug"}), ("/metrics", {"metrics_path": str(workdir / "m")})):
        r = api.put(path, body)
        assert r.status == 400 and "after the microVM has started" in r.fault, (path, r)
    petrel.signal(signal.SIGTERM)
    assert petrel.wait() == -signal.SIGTERM
    assert "stopped by signal" in petrel.err.text()


def test_pause_resume(petrel, api):
    start(api, "counter")
    petrel.expect(r"^count=5$")
    t0 = time.monotonic()
    r = api.patch("/vm", {"state": "Paused"})
    assert r.status == 204, r
    assert time.monotonic() - t0 < 2
    assert api.get("/").json["state"] == "Paused"
    time.sleep(0.2)  # what was printed before the pause has arrived
    before = counts(petrel)
    time.sleep(1.0)  # ~45 lines a second while running
    assert counts(petrel) == before, "the guest kept counting while paused"
    assert api.patch("/vm", {"state": "Paused"}).status == 204  # already paused: fine
    assert api.get("/machine-config").status == 200  # the API works while paused
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    assert api.get("/").json["state"] == "Running"
    last = before[-1]
    petrel.expect(rf"^count={last + 5}$", timeout=10)
    seen = counts(petrel)
    assert seen == list(range(1, len(seen) + 1)), "the count skipped or restarted"
    assert api.patch("/vm", {"state": "Resumed"}).status == 204  # already running: fine
    petrel.signal(signal.SIGTERM)
    assert petrel.wait() == -signal.SIGTERM


def test_pause_then_stop(petrel, api):
    start(api, "counter")
    petrel.expect(r"^count=1$")
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    petrel.signal(signal.SIGTERM)  # a paused VM still stops
    assert petrel.wait(10) == -signal.SIGTERM


def test_send_ctrl_alt_del(petrel, api):
    start(api, "ctrlaltdel", "wait=30")
    petrel.expect(r"^ctrlaltdel: waiting$")
    r = api.put("/actions", {"action_type": "SendCtrlAltDel"})
    assert r.status == 204, r
    assert petrel.wait() == 0, petrel.describe()
    out = petrel.out.text()
    assert re.search(r"^ok ctrlaltdel$", out, re.M), petrel.describe()
    assert re.search(r"scancodes: 1d 38 53 d3 b8 9d$", out, re.M), out


def test_flush_metrics_has_exit_statistics(workdir):
    m = workdir / "metrics.json"
    p = apilib.Petrel(workdir, ["--metrics-path", m])
    try:
        api = p.client()
        start(api, "counter")
        p.expect(r"^count=3$")
        assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
        first = json.loads(m.read_text().splitlines()[-1])
        assert first["exits"]["io-out"]["count"] > 10, first
        assert first["exits"]["io-out"]["handle_us"] >= 0
        assert first["vcpu"]["exit_io_out"] == first["exits"]["io-out"]["count"]
        assert first["vcpu"]["kvm_run_us"] > 0
        assert set(first["exits"]) >= {"io-in", "io-out", "mmio-read", "mmio-write", "hlt",
                                       "shutdown", "emulated-insn", "interrupted", "other"}
        assert first["uart"]["tx_bytes"] >= len("count=1\ncount=2\ncount=3\n")
        assert set(first["i8042"]) == {"read_count", "write_count", "reset_count", "ctrl_alt_del_count"}
        assert first["put_api_requests"]["actions_count"] == 1  # InstanceStart (this one is in flight)
        assert first["put_api_requests"]["boot_source_count"] == 1
        assert isinstance(first["emulated_instructions"], dict)
        p.expect(r"^count=6$")
        assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
        second = json.loads(m.read_text().splitlines()[-1])
        # Increments since the last flush, like Firecracker's metrics.
        assert second["put_api_requests"]["actions_count"] == 1
        assert second["put_api_requests"]["boot_source_count"] == 0
        assert 0 < second["exits"]["io-out"]["count"]
        assert second["utc_timestamp_ms"] >= first["utc_timestamp_ms"]
        # latencies_us: the last pause and resume, as they are (not increases)
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        assert api.patch("/vm", {"state": "Resumed"}).status == 204
        assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
        third = json.loads(m.read_text().splitlines()[-1])
        assert third["latencies_us"]["pause_vm"] > 0 and third["latencies_us"]["resume_vm"] >= 0
        p.signal(signal.SIGTERM)
        assert p.wait() == -signal.SIGTERM
        lines = m.read_text().splitlines()
        assert len(lines) == 4  # and one more at exit
        assert json.loads(lines[-1])["latencies_us"] == third["latencies_us"]
    finally:
        p.close()


def test_drive_and_entropy_attached(petrel, api, workdir):
    disk = workdir / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    drive = {"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True, "is_read_only": False}
    assert api.put("/drives/rootfs", drive).status == 204
    assert api.put("/entropy", {}).status == 204
    assert api.put("/metrics", {"metrics_path": str(workdir / "m.json")}).status == 204
    start(api, "counter")
    petrel.expect(r"^count=1$")
    assert api.get("/").json["state"] == "Running"
    cfg = api.get("/vm/config").json
    # Firecracker's shape: the defaults and unset optionals are reported too.
    assert cfg["drives"] == [dict(drive, partuuid=None, cache_type="Unsafe", io_engine="Sync", rate_limiter=None,
                                  socket=None)] and cfg["entropy"] == {"rate_limiter": None}
    # PATCH: the rate limiter is kept; the backing file can be swapped while running.
    rl = {"bandwidth": {"size": 4096, "refill_time": 100}}
    assert api.patch("/drives/rootfs", {"drive_id": "rootfs", "rate_limiter": rl}).status == 204
    # Firecracker reports a rate limiter's unset parts as null.
    got = api.get("/vm/config").json["drives"][0]["rate_limiter"]
    assert got["bandwidth"] == dict(rl["bandwidth"], one_time_burst=None) and got.get("ops") is None, got
    disk2 = workdir / "disk2.img"
    disk2.write_bytes(b"\0" * (2 << 20))
    r = api.patch("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk2)})
    assert r.status == 204, r.fault
    assert api.get("/vm/config").json["drives"][0]["path_on_host"] == str(disk2)
    petrel.expect(r"backing file is now .*disk2\.img \(raw\), 4096 sectors", stream="err")
    r = api.patch("/drives/rootfs", {"drive_id": "rootfs"})
    assert r.status == 400 and "nothing to update" in r.fault
    r = api.patch("/drives/other", {"drive_id": "other", "rate_limiter": rl})
    assert r.status == 400 and "no drive" in r.fault
    r = api.patch("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": "/nonexistent"})
    assert r.status == 400 and "cannot be opened" in r.fault
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    line = json.loads((workdir / "m.json").read_text().splitlines()[-1])
    assert {"read_count", "write_count", "flush_count", "io_errors", "rate_limiter_throttled_events"} <= \
        set(line["block_rootfs"]), line["block_rootfs"]
    assert set(line["block"]) == set(line["block_rootfs"])
    assert isinstance(line["entropy"]["entropy_bytes"], int)
    petrel.signal(signal.SIGTERM)
    assert petrel.wait() == -signal.SIGTERM


def test_patch_drive_matches_the_whole_id(petrel, api, workdir):
    """Two drive ids that share their first 20 characters (all a virtio-blk device's GET_ID
    answer holds): PATCH swaps the file of the drive it names, not of the other one."""
    ids = ["data_disk_0123456789_a", "data_disk_0123456789_b"]
    for i, drive_id in enumerate(ids):
        disk = workdir / f"{drive_id}.img"
        disk.write_bytes(b"\0" * (1 << 20))
        drive = {"drive_id": drive_id, "path_on_host": str(disk), "is_root_device": False,
                 "is_read_only": False}
        assert api.put(f"/drives/{drive_id}", drive).status == 204
    start(api, "counter")
    petrel.expect(r"^count=1$")
    # The device of the second drive, as petrel named it when it opened the drive's file.
    dev = petrel.expect(rf"(virtio-blk\d+): \S*{ids[1]}\.img", stream="err").group(1)
    new = workdir / "new.img"
    new.write_bytes(b"\0" * (2 << 20))
    r = api.patch(f"/drives/{ids[1]}", {"drive_id": ids[1], "path_on_host": str(new)})
    assert r.status == 204, r.fault
    m = petrel.expect(r"(virtio-blk\d+): backing file is now .*new\.img", stream="err")
    assert m.group(1) == dev, petrel.describe()
    drives = api.get("/vm/config").json["drives"]
    assert [d["path_on_host"] for d in drives] == [str(workdir / f"{ids[0]}.img"), str(new)]
    petrel.signal(signal.SIGTERM)
    assert petrel.wait() == -signal.SIGTERM


@pytest.mark.parametrize("engine", ["Sync", "Async"])
def test_drive_swaps_race_the_guest_resetting_its_device(workdir, engine):
    """Issue 9: the host swaps a drive's backing file between two images (PATCH /drives) as fast
    as the API answers while the guest resets its virtio-blk device again and again, half the
    time with reads in flight. Every read comes wholly from one of the two images, both images
    are seen, every PATCH succeeds, and the sanitizer build stays clean."""
    guestlib = apilib.guestlib
    a, b = workdir / "a.img", workdir / "b.img"
    data = guestlib.disk_pattern(4 << 20)
    a.write_bytes(data)
    b.write_bytes(bytes(x ^ 0xFF for x in data))
    p = apilib.Petrel(workdir, binary=guestlib.petrel_for_hostile(), env=dict(os.environ, **guestlib.HOSTILE_ENV),
                      timeout=240)
    try:
        api = p.client()
        drive = {"drive_id": "d", "path_on_host": str(a), "is_root_device": False, "is_read_only": False,
                 "io_engine": engine}
        assert api.put("/drives/d", drive).status == 204
        start(api, "blkswap", "secs=4")
        swaps = 0
        while p.proc.poll() is None and swaps < 100000:
            try:
                r = api.patch("/drives/d", {"drive_id": "d", "path_on_host": str(b if swaps % 2 == 0 else a)})
            except (OSError, http.client.HTTPException):
                break  # petrel exited while answering: its exit status tells why
            if r.status != 204:
                time.sleep(0.5)
                assert p.proc.poll() is not None, r.fault  # only a VM that has just ended may refuse
                break
            swaps += 1
        assert p.wait(120) == 0, p.describe()
        m = re.search(r"^blkswap rounds=(\d+) from_a=(\d+) from_b=(\d+)$", p.out.text(), re.M)
        assert m and int(m.group(2)) > 0 and int(m.group(3)) > 0, p.describe()
        guestlib.assert_sanitizer_clean(p.err.text())
        assert swaps >= 10, swaps
    finally:
        p.close()


def test_boot_timer(workdir):
    p = apilib.Petrel(workdir, ["--boot-timer"])
    try:
        start(p.client(), "counter", "boot_timer=1 lines=2")
        assert p.wait() == 0, p.describe()
        assert re.search(r"INFO\] Guest-boot-time = \d+ us \d+ ms, \d+ CPU us \d+ CPU ms", p.err.text()), \
            p.describe()
    finally:
        p.close()


def test_no_boot_timer_without_the_flag(petrel, api):
    start(api, "counter", "boot_timer=1 lines=2")
    assert petrel.wait() == 0, petrel.describe()
    assert "Guest-boot-time" not in petrel.err.text()


def test_serial_out_path(petrel, api, workdir):
    out = workdir / "console.txt"
    assert api.put("/serial", {"serial_out_path": str(out)}).status == 204
    start(api, "boot", "petrel-test-token=1234 expect_mem=128")
    assert petrel.wait() == 0, petrel.describe()
    assert re.search(r"^ok boot\r?$", out.read_text(), re.M)
    assert "ok boot" not in petrel.out.text()


def test_serial_rate_limiter(petrel, api, workdir):
    # Firecracker's serial rate_limiter: output past the bucket is dropped and counted in
    # uart.rate_limiter_dropped_bytes. 4 bytes, refilled at 4 bytes an hour: only the first four bytes
    # of the guest's first line ("boot: protocol=...") get out.
    out = workdir / "console.txt"
    metrics = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(metrics)}).status == 204
    assert api.put("/serial", {"serial_out_path": str(out),
                               "rate_limiter": {"size": 4, "refill_time": 3600 * 1000}}).status == 204
    start(api, "boot", "petrel-test-token=1234 expect_mem=128")
    assert petrel.wait() == 0, petrel.describe()
    assert out.read_text() == "boot"
    lines = [json.loads(line) for line in metrics.read_text().strip().splitlines()]
    dropped = sum(m["uart"]["rate_limiter_dropped_bytes"] for m in lines)  # increments per line
    assert dropped > 0
    assert sum(m["uart"]["tx_bytes"] for m in lines) == 4 + dropped


def test_concurrent_instance_start(petrel, api):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img}).status == 204
    results = []

    def go():
        c = apilib.Client(petrel.sock)
        results.append(c.put("/actions", {"action_type": "InstanceStart"}).status)
        c.close()

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [204, 400, 400, 400], results
    petrel.signal(signal.SIGTERM)
    assert petrel.wait() == -signal.SIGTERM


def test_api_answers_quickly_while_the_guest_runs(petrel, api):
    start(api, "counter", vcpus=2)
    petrel.expect(r"^count=2$")
    worst = 0.0
    for _ in range(50):
        t0 = time.monotonic()
        assert api.get("/").status == 200
        worst = max(worst, time.monotonic() - t0)
    assert worst < 0.5, f"slowest GET / took {worst:.3f}s"
    petrel.signal(signal.SIGTERM)
    assert petrel.wait() == -signal.SIGTERM


# ---- --config-file and the command line ----

def write_config(workdir, name="boot", args="petrel-test-token=1234 expect_mem=64", extra=None):
    cfg = {"boot-source": {"kernel_image_path": str(apilib.guest(name)), "boot_args": args},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}
    cfg.update(extra or {})
    path = workdir / "vm.json"
    path.write_text(json.dumps(cfg))
    return path


def test_config_file_no_api(workdir):
    m = workdir / "m.json"
    cfg = write_config(workdir, extra={"metrics": {"metrics_path": str(m)},
                                       "logger": {"level": "Info", "show_level": True}})
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 0, p.describe()
        assert re.search(r"^ok boot$", p.out.text(), re.M)
        assert "INFO] microVM started" in p.err.text()
        assert json.loads(m.read_text().splitlines()[-1])["exits"]["io-out"]["count"] > 0
    finally:
        p.close()


def test_config_file_with_api(workdir):
    cfg = write_config(workdir, "counter", "")
    p = apilib.Petrel(workdir, ["--config-file", cfg])
    try:
        api = p.client()
        p.expect(r"^count=1$")
        assert api.get("/").json["state"] == "Running"
        assert api.get("/machine-config").json["mem_size_mib"] == 64
        r = api.put("/actions", {"action_type": "InstanceStart"})
        assert r.status == 400 and "already" in r.fault
        p.signal(signal.SIGINT)
        assert p.wait() == -signal.SIGINT
    finally:
        p.close()


@pytest.mark.parametrize("doc,word", [
    ("{", "invalid JSON"),
    ('{"boot-source": {"kernel_image_path": "/nonexistent"}}', "cannot be opened"),
    ('{"machine-config": {"vcpu_count": 0, "mem_size_mib": 64}}', "vcpu_count"),
    ('{"balloon": {"amount_mib": 1}}', "deflate_on_oom: missing required field"),
    ('{"drives": [{"drive_id": "x", "path_on_host": "/nonexistent", "is_root_device": true}]}',
     "drives[0]"),
    ('{"what": 1}', "unknown field 'what'"),
])
def test_config_file_errors(workdir, doc, word):
    cfg = workdir / "bad.json"
    cfg.write_text(doc)
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 2, p.describe()
        assert word in p.err.text(), p.describe()
    finally:
        p.close()


def test_config_file_with_a_device_petrel_cannot_attach(workdir):
    cfg = write_config(workdir, extra={"vsock": {"guest_cid": 3, "uds_path": "/nonexistent/dir/v.sock"}})
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 1, p.describe()
        assert "cannot start the microVM: vsock" in p.err.text(), p.describe()
    finally:
        p.close()


def run_petrel(args, timeout=10):
    return subprocess.run([str(apilib.petrel_bin())] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args,word", [
    (["--no-api"], "--no-api needs --config-file"),
    (["--id", "bad id"], "--id"),
    (["--id", "x" * 65], "--id"),
    (["--level", "Loud"], "--level"),
    (["--api-sock"], "incomplete"),
    (["--bogus"], "--bogus"),
    (["extra"], "unexpected argument"),
    (["--seccomp-filter", "f.bpf"], "cannot read"),
    (["--http-api-max-payload-size", "0"], "payload"),
])
def test_cli_usage_errors(args, word):
    r = run_petrel(args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert word in r.stderr, r.stderr


def test_cli_version_and_help():
    r = run_petrel(["--version"])
    # Firecracker's first line (what its clients parse), then petrel's own words
    assert r.returncode == 0 and re.match(r"Firecracker v\d+\.\d+\.\d+\S*\+petrel\.\d+\.\d+\.\d+\n\npetrel \d+", r.stdout)
    for args in (["--help"], ["-h"], ["--api-sock", "/tmp/x", "--help"]):
        r = run_petrel(args)
        assert r.returncode == 0 and "--api-sock" in r.stdout and "--config-file" in r.stdout
        assert "petrel run" in r.stdout


def test_signal_before_start(petrel):
    petrel.signal(signal.SIGTERM)
    assert petrel.wait(10) == -signal.SIGTERM
    assert "before the microVM started" in petrel.err.text()
    assert not petrel.sock.exists()


def test_socket_in_use_stale_and_not_a_socket(workdir):
    a = apilib.Petrel(workdir)
    try:
        b = run_petrel(["--api-sock", a.sock])
        assert b.returncode == 1 and "in use" in b.stderr, b.stderr
        assert a.client().get("/").status == 200  # A is untouched
        a.proc.kill()  # leaves a stale socket file behind
        a.proc.wait()
        assert a.sock.exists()
        c = apilib.Petrel(workdir)
        try:
            assert c.client().get("/").status == 200
            c.expect(r"replacing stale socket", stream="err", timeout=5)
        finally:
            c.close()
    finally:
        a.close()
    plain = workdir / "plain"
    plain.write_text("x")
    r = run_petrel(["--api-sock", plain])
    assert r.returncode == 1 and "not a socket" in r.stderr
    assert plain.read_text() == "x"
