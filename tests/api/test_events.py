# SPDX-License-Identifier: Apache-2.0
"""The event monitor (--event-monitor PATH|fd=N, docs/events.md): JSON lines, one per lifecycle
change. Without /dev/kvm: the envelope, the `starting` and `exiting` events, a descriptor, a
reader that never reads (petrel must not hang), bad destinations refused. With it: the stream
of a whole lifecycle (boot, pause, snapshot, resume, restore, migration, a guest reset)."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

import apilib
from test_api_migration import wait_state
from test_api_vm import start

KEYS = {"timestamp", "monotonic_us", "seq", "id", "source", "event", "properties"}


def events(path_or_text):
    text = path_or_text if isinstance(path_or_text, str) else path_or_text.read_text()
    out = [json.loads(line) for line in text.splitlines()]
    for e in out:
        assert set(e) == KEYS, e
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e["timestamp"]), e
    seqs = [e["seq"] for e in out]
    assert seqs == list(range(1, len(out) + 1)), seqs   # nothing dropped, in order
    mono = [e["monotonic_us"] for e in out]
    assert mono == sorted(mono), mono
    return out


def names(evs):
    return [e["event"] for e in evs]


def run(args, timeout=10, **kw):
    return subprocess.run([str(apilib.petrel_bin())] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def test_start_and_exit_by_signal(workdir):
    ev = workdir / "events.jsonl"
    p = apilib.Petrel(workdir, ["--id", "vm-7", "--event-monitor", ev])
    try:
        assert p.client().get("/").status == 200
        p.signal(signal.SIGTERM)
        assert p.wait() == -signal.SIGTERM, p.describe()
    finally:
        p.close()
    evs = events(ev)
    assert names(evs) == ["starting", "exiting"], evs
    first, last = evs
    assert first["source"] == "vmm" and first["id"] == "vm-7" and first["properties"]["pid"] == p.proc.pid
    assert first["properties"]["firecracker_version"].endswith("+petrel." + first["properties"]["version"])
    assert last["properties"] == {"signal": 15, "signal_name": "SIGTERM"}
    assert oct(ev.stat().st_mode & 0o777) == oct(0o600)


def test_exit_status_through_a_descriptor(workdir):
    # fd=N: a pipe the parent made; a config file without a kernel fails the start: status 1
    cfg = workdir / "vm.json"
    cfg.write_text('{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}')
    rd, wr = os.pipe()
    try:
        r = run(["--no-api", "--config-file", cfg, "--event-monitor", f"fd={wr}"], pass_fds=(wr,))
        os.close(wr)
        wr = -1
        assert r.returncode == 1, r.stderr
        with os.fdopen(rd, "r") as f:
            rd = -1
            evs = events(f.read())
    finally:
        for fd in (rd, wr):
            if fd >= 0:
                os.close(fd)
    assert names(evs) == ["starting", "exiting"], evs
    assert evs[-1]["properties"] == {"status": 1} and evs[0]["id"] == "anonymous-instance"


def test_a_reader_that_never_reads_does_not_hang_petrel(workdir):
    # a named pipe already full: every event waits in petrel's buffer or is dropped; the API
    # answers at once and the exit waits at most a second for the reader
    fifo = workdir / "events.fifo"
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    wr = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            os.write(wr, b"x" * 4096)
    except BlockingIOError:
        pass
    p = apilib.Petrel(workdir, ["--event-monitor", fifo])
    try:
        api = p.client()
        t0 = time.monotonic()
        for _ in range(20):
            assert api.patch("/vm", {"state": "Paused"}).status == 400
        assert time.monotonic() - t0 < 5
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        assert p.wait(10) == -signal.SIGTERM, p.describe()
        assert time.monotonic() - t0 < 5
        assert "not written" in p.err.text(), p.describe()
    finally:
        p.close()
        os.close(rd)
        os.close(wr)


@pytest.mark.parametrize("spec,word", [
    ("/nonexistent/dir/events", "cannot open '/nonexistent/dir/events'"),
    ("/tmp", "cannot open '/tmp'"),
    ("/dev/null", "neither a file nor a named pipe"),
    ("fd=99", "descriptor '99'"),
    ("fd=1", "standard stream"),
    ("fd=x", "not a descriptor number"),
    ("", "expected PATH"),
])
def test_bad_destination_refused(workdir, spec, word):
    for args in (["--api-sock", workdir / "api.sock"], ["run", "--kernel", "/nonexistent"]):
        r = run([*args, "--event-monitor", spec])
        assert r.returncode == 2 and word in r.stderr, (args, r.stderr)
    assert not (workdir / "api.sock").exists()


def test_read_only_descriptor_refused(workdir):
    rd, wr = os.pipe()
    try:
        r = run(["--api-sock", workdir / "api.sock", "--event-monitor", f"fd={rd}"], pass_fds=(rd,))
        assert r.returncode == 2 and "read-only" in r.stderr, r.stderr
    finally:
        os.close(rd)
        os.close(wr)


# ---- with a VM (skipped without /dev/kvm, as apilib.guest does) ----

def test_whole_lifecycle(workdir):
    """Boot, pause, snapshot, resume, stop; restore the snapshot elsewhere, migrate it to a
    third petrel; and a guest that resets: every step is one event, in order."""
    a_ev, b_ev, c_ev, d_ev = (workdir / f"{n}.jsonl" for n in "abcd")
    (workdir / "a").mkdir()
    a = apilib.Petrel(workdir / "a", ["--id", "a", "--event-monitor", a_ev])
    try:
        api = a.client()
        start(api, "counter", "every=1048576")
        a.expect(r"^count=2$")
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        state, mem = workdir / "vm.state", workdir / "vm.mem"
        assert api.put("/snapshot/create", {"snapshot_path": str(state), "mem_file_path": str(mem)}).status == 204
        assert api.patch("/vm", {"state": "Resumed"}).status == 204
        a.signal(signal.SIGTERM)
        assert a.wait() == -signal.SIGTERM, a.describe()
    finally:
        a.close()
    evs = events(a_ev)
    assert names(evs) == ["starting", "booting", "started", "paused", "snapshot-taken", "resumed", "stopping",
                          "exiting"], evs
    by = {e["event"]: e for e in evs}
    assert by["booting"]["properties"]["vcpus"] == 1 and by["booting"]["properties"]["mem_size_mib"] == 128
    assert by["started"]["properties"] == {"vcpus": 1, "restored": False}
    assert by["snapshot-taken"]["properties"]["snapshot_path"] == str(state)
    assert by["stopping"]["source"] == "vm" and "signal 15" in by["stopping"]["properties"]["message"]
    assert by["exiting"]["properties"]["signal"] == 15

    # restored in b, then migrated to d
    (workdir / "b").mkdir()
    (workdir / "d").mkdir()
    b = apilib.Petrel(workdir / "b", ["--id", "b", "--event-monitor", b_ev])
    d = apilib.Petrel(workdir / "d", ["--id", "d", "--event-monitor", d_ev])
    try:
        bapi, dapi = b.client(), d.client()
        r = bapi.put("/snapshot/load", {"snapshot_path": str(state), "resume_vm": True,
                                        "mem_backend": {"backend_type": "File", "backend_path": str(mem)}})
        assert r.status == 204, r
        url = f"unix:{workdir / 'mig.sock'}"
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert bapi.put("/migration/send", {"destination_url": url}, check=False).status == 204
        wait_state(dapi, "completed")
        assert b.wait(30) == 0, b.describe()   # the source ends by itself once d runs the guest
        d.signal(signal.SIGTERM)
        assert d.wait() == -signal.SIGTERM, d.describe()
    finally:
        b.close()
        d.close()
    evs = events(b_ev)
    assert names(evs) == ["starting", "started", "snapshot-loaded", "migration-started", "migration-completed",
                          "stopping", "exiting"], evs
    by = {e["event"]: e for e in evs}
    assert by["started"]["properties"]["restored"] is True and by["snapshot-loaded"]["properties"]["resumed"] is True
    assert by["migration-started"]["properties"]["role"] == "source"
    assert by["migration-completed"]["properties"]["downtime_ms"] > 0
    assert by["exiting"]["properties"] == {"status": 0}
    evs = events(d_ev)
    assert names(evs) == ["starting", "migration-started", "started", "migration-completed", "stopping",
                          "exiting"], evs
    assert evs[1]["properties"]["role"] == "destination"

    # a guest that resets the machine with machine-config's reboot "stop": the guest's event,
    # then petrel's exit with status 0
    (workdir / "c").mkdir()
    c = apilib.Petrel(workdir / "c", ["--event-monitor", c_ev])
    try:
        api = c.client()
        assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("reset"))}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "reboot": "stop"}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        assert c.wait() == 0, c.describe()
    finally:
        c.close()
    evs = events(c_ev)
    assert names(evs) == ["starting", "booting", "started", "reset", "exiting"], evs
    assert evs[3]["source"] == "guest" and "reset" in evs[3]["properties"]["message"]
    assert evs[4]["properties"] == {"status": 0}

    # by default the machine resets and boots again: the VM's reset event, with its count
    e_ev = workdir / "e.jsonl"
    (workdir / "e").mkdir()
    d = apilib.Petrel(workdir / "e", ["--event-monitor", e_ev])
    try:
        start(d.client(), "reboot", "resets=2 mode=all")
        assert d.wait() == 0, d.describe()
    finally:
        d.close()
    evs = events(e_ev)
    assert names(evs) == ["starting", "booting", "started", "reset", "reset", "debug-exit", "exiting"], evs
    assert [e["source"] for e in evs[3:5]] == ["vm", "vm"], evs
    assert [e["properties"]["count"] for e in evs[3:5]] == [1, 2], evs
    assert "i8042" in evs[3]["properties"]["message"] and "ACPI" in evs[4]["properties"]["message"], evs


def test_guest_panic(workdir):
    """A guest that reports a kernel panic through the pvpanic port (0x505), then that its crash
    kernel took over: one `guest` event each, and the guest runs on to its own exit."""
    ev = workdir / "events.jsonl"
    p = apilib.Petrel(workdir, ["--event-monitor", ev])
    try:
        start(p.client(), "pvpanic", "crash=1")
        assert p.wait() == 0, p.describe()
        assert "the guest kernel panicked (pvpanic port written 0x1)" in p.err.text(), p.describe()
    finally:
        p.close()
    evs = events(ev)
    assert names(evs) == ["starting", "booting", "started", "panic", "crash-loaded", "debug-exit",
                          "exiting"], evs
    assert evs[3]["source"] == "guest" and evs[3]["properties"] == {
        "message": "the guest kernel panicked", "code": 1}, evs[3]
    assert evs[4]["source"] == "guest" and evs[4]["properties"]["code"] == 2, evs[4]
