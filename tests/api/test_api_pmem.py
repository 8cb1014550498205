# SPDX-License-Identifier: Apache-2.0
"""virtio-pmem's API (docs/pmem.md) as Firecracker's clients use it: PUT /pmem/{id} before the
start (Firecracker's docs/pmem.md and its swagger Pmem object: id and path_on_host required,
root_device, read_only and rate_limiter optional, null meaning "not given"), the backing file
checked at PUT like a drive's (no FIFO, no blocking open, not empty), one root device among
drives and pmem devices (Firecracker's PmemConfigError::AddingSecondRootDevice and
RootPmemDeviceAlreadyExist), PATCH /pmem/{id} only after the start, the "pmem" section of
GET /vm/config and of a config file, and the pmem metrics groups. Every answer is checked
against Firecracker's spec by apilib. The device itself: tests/unit/test_pmem.c; a real guest
mounting it: tests/linux/test_linux_pmem.py."""
import json
import os
import signal
import subprocess

import pytest

import apilib


@pytest.fixture
def image(workdir):
    p = workdir / "pmem.img"
    p.write_bytes(b"\0" * 8192)
    return p


def body(image, **kw):
    return {"id": "p0", "path_on_host": str(image), **kw}


def test_put_then_vm_config(api, image, workdir):
    assert api.put("/pmem/p0", body(image)).status == 204
    second = workdir / "second.img"
    second.write_bytes(b"x" * 3000)
    assert api.put("/pmem/p1", {"id": "p1", "path_on_host": str(second), "read_only": True,
                                "rate_limiter": {"ops": {"size": 10, "refill_time": 100}}}).status == 204
    pmem = api.get("/vm/config").json["pmem"]
    assert pmem == [
        {"id": "p0", "path_on_host": str(image), "root_device": False, "read_only": False, "rate_limiter": None},
        {"id": "p1", "path_on_host": str(second), "root_device": False, "read_only": True,
         "rate_limiter": {"bandwidth": None, "ops": {"size": 10, "one_time_burst": None, "refill_time": 100}}},
    ]
    # PUT on an existing id replaces it in place (it stays /dev/pmem0)
    assert api.put("/pmem/p0", body(image, read_only=True, root_device=True)).status == 204
    pmem = api.get("/vm/config").json["pmem"]
    assert [p["id"] for p in pmem] == ["p0", "p1"]
    assert pmem[0]["read_only"] is True and pmem[0]["root_device"] is True
    # what GET /vm/config reports is a valid PUT body again (the config file round trip)
    for p in pmem:
        assert api.put(f"/pmem/{p['id']}", p).status == 204
    assert api.get("/vm/config").json["pmem"] == pmem


def test_no_pmem_is_an_empty_list(api):
    assert api.get("/vm/config").json["pmem"] == []


def test_nulls_mean_not_given(api, image):
    r = api.put("/pmem/p0", body(image, root_device=None, read_only=None, rate_limiter=None))
    assert r.status == 204, r
    assert api.get("/vm/config").json["pmem"][0] == {"id": "p0", "path_on_host": str(image), "root_device": False,
                                                     "read_only": False, "rate_limiter": None}


@pytest.mark.parametrize("change,word", [
    ({"id": None}, "id: missing required field"),
    ({"path_on_host": None}, "path_on_host: missing required field"),
    ({"path_on_host": ""}, "path_on_host: must not be empty"),
    ({"path_on_host": 5}, "path_on_host: expected a string"),
    ({"root_device": "yes"}, "root_device: expected a boolean"),
    ({"read_only": 1}, "read_only: expected a boolean"),
    ({"rate_limiter": {"ops": {"size": 1}}}, "refill_time: missing required field"),
    ({"rate_limiter": []}, "rate_limiter: expected an object"),
    ({"size_mib": 1}, "size_mib: unknown field"),
    ({"id": "other"}, "does not match 'p0' in the path"),
    ({"id": "p-0"}, "id:"),
])
def test_put_bad_bodies(api, image, change, word):
    b = body(image)
    b.update(change)
    if b.get("id") is None:
        del b["id"]
    if b.get("path_on_host") is None:
        del b["path_on_host"]
    r = api.put("/pmem/p0" if b.get("id") != "p-0" else "/pmem/p-0", b)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/vm/config").json["pmem"] == []


def test_put_bad_files(api, workdir):
    empty = workdir / "empty.img"
    empty.write_bytes(b"")
    fifo = workdir / "fifo"
    os.mkfifo(fifo)
    for path, word in ((workdir / "missing.img", "cannot be opened"), (empty, "is empty"),
                       (workdir, "directory"), (fifo, "FIFO"), ("/dev/null", "character device")):
        for ro in (False, True):
            # a FIFO without a writer: answered at once, petrel never waits on it
            r = api.put("/pmem/p0", {"id": "p0", "path_on_host": str(path), "read_only": ro})
            assert r.status == 400 and word in r.fault and str(path) in r.fault, (path, r)
    assert api.get("/vm/config").json["pmem"] == []


def test_read_only_file_needs_read_only(api, image):
    if os.geteuid() == 0:
        pytest.skip("root opens read-only files for writing anyway")
    os.chmod(image, 0o444)
    r = api.put("/pmem/p0", body(image))
    assert r.status == 400 and "cannot be opened for writing" in r.fault, r
    assert api.put("/pmem/p0", body(image, read_only=True)).status == 204


def test_one_root_device(api, image, workdir):
    disk = workdir / "disk.img"
    disk.write_bytes(b"\0" * 4096)
    assert api.put("/pmem/p0", body(image, root_device=True)).status == 204
    r = api.put("/pmem/p1", {"id": "p1", "path_on_host": str(image), "root_device": True})
    assert r.status == 400 and "'p0' already is" in r.fault, r
    r = api.put("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True})
    assert r.status == 400 and "pmem device 'p0' already is" in r.fault, r
    # p0 itself may be PUT again as the root device, or stop being it
    assert api.put("/pmem/p0", body(image, root_device=True)).status == 204
    assert api.put("/pmem/p0", body(image, root_device=False)).status == 204
    assert api.put("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk),
                                      "is_root_device": True}).status == 204
    r = api.put("/pmem/p0", body(image, root_device=True))
    assert r.status == 400 and "drive 'rootfs' already is" in r.fault, r
    assert api.get("/vm/config").json["pmem"][0]["root_device"] is False


def test_patch_refused_before_start(api, image):
    assert api.put("/pmem/p0", body(image)).status == 204
    r = api.patch("/pmem/p0", {"id": "p0", "rate_limiter": {"ops": {"size": 1, "refill_time": 10}}})
    assert r.status == 400 and r.fault == "The requested operation is not supported before starting the microVM.", r


@pytest.mark.parametrize("b,word", [
    ({}, "id: missing required field"),
    ({"id": "p0", "path_on_host": "/x"}, "path_on_host: unknown field"),
    ({"id": "p1"}, "does not match"),
])
def test_patch_bodies_checked(api, b, word):
    r = api.patch("/pmem/p0", b)
    assert r.status == 400 and word in r.fault, r


def test_config_file_pmem_section_checked(workdir, image):
    cfg = workdir / "bad.json"
    cfg.write_text(json.dumps({"machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
                               "pmem": [{"id": "p0", "path_on_host": str(workdir / "nope.img")}]}))
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 2, p.describe()
        assert "pmem[0]" in p.err.text() and "cannot be opened" in p.err.text(), p.describe()
    finally:
        p.close()


def test_metrics_groups(petrel, api, workdir, image):
    m = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert api.put("/pmem/p0", body(image)).status == 204
    assert api.put("/pmem/p0", body(image, size=1)).status == 400
    petrel.signal(signal.SIGTERM)  # the last line is written at exit
    assert petrel.wait() == -signal.SIGTERM, petrel.describe()
    line = json.loads(m.read_text().splitlines()[-1])
    # Firecracker's PmemMetrics names (zero without a VM: no device yet), and petrel's counts
    assert {"activate_fails", "cfg_fails", "event_fails", "queue_event_count", "activate_count",
            "flush_count"} <= set(line["pmem"])
    assert line["pmem"]["flush_count"] == 0
    assert line["put_api_requests"]["pmem_count"] == 2
    assert line["put_api_requests"]["pmem_fails"] == 1


# After the start (needs /dev/kvm and the test guests: skips without).
def test_after_start(api, image):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    assert api.put("/pmem/p0", body(image)).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    r = api.put("/pmem/p1", {"id": "p1", "path_on_host": str(image)})
    assert r.status == 400 and "not supported after starting the microVM" in r.fault, r
    r = api.put("/pmem/p1", {"id": "p1", "path_on_host": "/nonexistent"})  # the state first
    assert r.status == 400 and "not supported after starting the microVM" in r.fault, r
    assert api.patch("/pmem/p0", {"id": "p0", "rate_limiter": {"ops": {"size": 5, "refill_time": 100}}}).status == 204
    assert api.get("/vm/config").json["pmem"][0]["rate_limiter"] == {"bandwidth": None, "ops": {
        "size": 5, "one_time_burst": None, "refill_time": 100}}   # Firecracker's nulls
    r = api.patch("/pmem/p9", {"id": "p9"})
    assert r.status == 400 and "No pmem device" in r.fault, r


# A snapshot carries the device's state, not the file: the load maps the same path again
# (docs/pmem.md). Needs /dev/kvm and the test guests: skips without.
def test_snapshot_maps_the_file_again(petrel, api, workdir, image):
    from test_api_snapshot import load, snapshot
    from test_api_vm import counts, start
    assert api.put("/pmem/p0", body(image, read_only=True)).status == 204
    start(api, "counter", "every=1048576")
    petrel.expect(r"^count=2$")
    state, mem = snapshot(api, workdir)
    last = max(counts(petrel))
    petrel.close()
    info = subprocess.run([str(apilib.petrel_bin()), "snapshot", "info", str(state)],
                          capture_output=True, text=True)
    assert "pmem (device id 27)" in info.stdout and "PMEM" in info.stdout, info.stdout
    p2 = load(workdir, "second", state, mem)
    try:
        api2 = p2.client()
        assert api2.get("/vm/config").json["pmem"][0]["path_on_host"] == str(image)
        p2.expect(rf"^count={last + 2}$")
    finally:
        p2.close()
    # the file changed size since: the load is refused and says why
    with open(image, "ab") as f:
        f.write(b"x")
    d = workdir / "third"
    d.mkdir()
    p3 = apilib.Petrel(d)
    try:
        r = p3.client().put("/snapshot/load", {"snapshot_path": str(state), "mem_backend":
                                               {"backend_type": "File", "backend_path": str(mem)}})
        assert r.status == 400 and "unchanged in size" in r.fault, r
    finally:
        p3.close()


def test_snapshot_load_refused_after_put(api, image):
    # a snapshot brings its own devices (its pmem devices included)
    assert api.put("/pmem/p0", body(image)).status == 204
    r = api.put("/snapshot/load", {"snapshot_path": "/nonexistent", "mem_backend":
                                   {"backend_type": "File", "backend_path": "/nonexistent"}})
    assert r.status == 400 and "boot-specific resources" in r.fault, r
