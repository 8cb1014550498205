# SPDX-License-Identifier: Apache-2.0
"""Memory hot-plug's API without a VM (Firecracker's /hotplug/memory, virtio-mem): PUT
validation with Firecracker's defaults and rules, GET and PATCH refused before the start, the "memory-hotplug" section of a config file and of GET /vm/config, the metrics.
Every answer is checked against Firecracker's spec by apilib. The device itself is tested in
tests/unit/test_virtio_mem.c."""
import json
import signal

import pytest

import apilib


@pytest.mark.parametrize("configured", [False, True])
def test_get_before_start(api, configured):
    # Firecracker: a status only a running microVM has, configured or not
    if configured:
        assert api.put("/hotplug/memory", {"total_size_mib": 1024}).status == 204
    r = api.get("/hotplug/memory")
    assert r.status == 400 and r.fault == "The requested operation is not supported before starting the microVM.", r


def test_put_defaults(api):
    # Firecracker's defaults, seen in GET /vm/config before the start
    assert api.put("/hotplug/memory", {"total_size_mib": 1024}).status == 204
    assert api.get("/vm/config").json["memory-hotplug"] == {"total_size_mib": 1024, "slot_size_mib": 128,
                                                            "block_size_mib": 2}
    # PUT replaces the definition; null fields take their defaults
    assert api.put("/hotplug/memory", {"total_size_mib": 512, "slot_size_mib": 256, "block_size_mib": 8}).status == 204
    assert api.get("/vm/config").json["memory-hotplug"]["block_size_mib"] == 8
    assert api.put("/hotplug/memory", {"total_size_mib": 512, "slot_size_mib": None,
                                       "block_size_mib": None}).status == 204
    cfg = api.get("/vm/config").json
    assert cfg["memory-hotplug"] == {"total_size_mib": 512, "slot_size_mib": 128, "block_size_mib": 2}


def test_vm_config_null_without_it(api):
    assert api.get("/vm/config").json["memory-hotplug"] is None


@pytest.mark.parametrize("body,word", [
    ({}, "total_size_mib: missing required field"),
    ({"total_size_mib": None}, "total_size_mib: missing required field"),
    ({"total_size_mib": -128}, "total_size_mib"),
    ({"total_size_mib": "1024"}, "total_size_mib: expected an integer"),
    ({"total_size_mib": 1.5}, "total_size_mib: expected an integer"),
    ({"total_size_mib": 1024, "block_size_mib": 1}, "Block size must not be lower than 2 MiB"),
    ({"total_size_mib": 1024, "block_size_mib": 3}, "Block size must be a power of 2"),
    ({"total_size_mib": 1024, "slot_size_mib": 127}, "Slot size must not be lower than 128 MiB"),
    ({"total_size_mib": 1024, "slot_size_mib": 130, "block_size_mib": 4}, "Slot size must be a multiple of block size"),
    ({"total_size_mib": 64}, "Total size must not be lower than slot size"),
    ({"total_size_mib": 1000}, "Total size must be a multiple of slot size"),
    ({"total_size_mib": 2 ** 32}, "total_size_mib"),
    ({"total_size_mib": 2 ** 32 - 128}, "below 1 TiB"),
    ({"total_size_mib": 1024, "requested_size_mib": 0}, "requested_size_mib: unknown field"),
])
def test_put_bad(api, body, word):
    r = api.put("/hotplug/memory", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/vm/config").json["memory-hotplug"] is None  # nothing was configured


def test_patch_refused_before_start(api):
    assert api.put("/hotplug/memory", {"total_size_mib": 1024}).status == 204
    r = api.patch("/hotplug/memory", {"requested_size_mib": 128})
    assert r.status == 400 and "not supported before starting the microVM" in r.fault, r


@pytest.mark.parametrize("body,word", [
    ({}, "requested_size_mib: missing required field"),
    ({"requested_size_mib": None}, "requested_size_mib: missing required field"),
    ({"requested_size_mib": -2}, "requested_size_mib"),
    ({"requested_size_mib": True}, "requested_size_mib: expected an integer"),
    ({"requested_size_mib": 2, "total_size_mib": 4}, "total_size_mib: unknown field"),
])
def test_patch_body_checked(api, body, word):
    r = api.patch("/hotplug/memory", body)
    assert r.status == 400 and word in r.fault, r


def test_config_file_section_accepted(workdir):
    # a config file starts the VM at once: without a kernel that fails (status 1), after the
    # memory-hotplug section was taken (a bad section is status 2, below)
    good = workdir / "good.json"
    good.write_text('{"memory-hotplug": {"total_size_mib": 256, "block_size_mib": 4}}')
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", good], api=False, level=None)
    try:
        assert p.wait() == 1, p.describe()
        assert "no boot source" in p.err.text(), p.describe()
    finally:
        p.close()


def test_config_file_section_checked(workdir):
    cfg = workdir / "bad.json"
    cfg.write_text('{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}, '
                   '"memory-hotplug": {"total_size_mib": 100}}')
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 2, p.describe()
        assert "memory-hotplug" in p.err.text() and "slot size" in p.err.text(), p.describe()
    finally:
        p.close()


def test_metrics_group(petrel, api, workdir):
    m = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert api.put("/hotplug/memory", {"total_size_mib": 128}).status == 204
    assert api.patch("/hotplug/memory", {"requested_size_mib": 2}).status == 400
    assert api.get("/hotplug/memory").status == 400   # before the start
    petrel.signal(signal.SIGTERM)  # the last line is written at exit
    assert petrel.wait() == -signal.SIGTERM, petrel.describe()
    line = json.loads(m.read_text().splitlines()[-1])
    # Firecracker's memory_hotplug group, with its names (zero without a VM)
    group = line["memory_hotplug"]
    assert {"activate_fails", "queue_event_fails", "queue_event_count", "plug_count", "plug_bytes", "plug_fails",
            "unplug_count", "unplug_bytes", "unplug_fails", "unplug_discard_fails", "unplug_all_count",
            "unplug_all_fails", "state_count", "state_fails"} <= set(group)
    assert group["plug_agg"] == {"min_us": 0, "max_us": 0, "sum_us": 0}
    assert line["put_api_requests"]["hotplug_memory_count"] == 1
    assert line["patch_api_requests"]["hotplug_memory_fails"] == 1
    assert line["get_api_requests"]["hotplug_memory_count"] == 1


def test_snapshot_load_refused_after_put(api):
    # a snapshot brings its own devices (its virtio-mem included)
    assert api.put("/hotplug/memory", {"total_size_mib": 1024}).status == 204
    r = api.put("/snapshot/load", {"snapshot_path": "/nonexistent", "mem_backend":
                                   {"backend_type": "File", "backend_path": "/nonexistent"}})
    assert r.status == 400 and "boot-specific resources" in r.fault, r
