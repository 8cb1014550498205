# SPDX-License-Identifier: Apache-2.0
"""The balloon's API without a VM (docs/balloon.md): PUT /balloon validation, GET before and
after, the runtime-only requests refused before the start, the "balloon" section of a config
file and of GET /vm/config. Every answer is checked against Firecracker's spec by apilib. The
device itself is tested in tests/unit/test_balloon.c."""
import json
import signal

import pytest

import apilib

GOOD = {"amount_mib": 16, "deflate_on_oom": True, "stats_polling_interval_s": 1}


def test_get_before_put(api):
    r = api.get("/balloon")
    assert r.status == 400 and "No balloon device found" in r.fault


def test_put_then_get(api):
    assert api.put("/balloon", GOOD).status == 204
    r = api.get("/balloon")
    assert r.status == 200
    assert r.json == {**GOOD, "free_page_reporting": False, "free_page_hinting": False}
    # PUT replaces the whole device definition
    assert api.put("/balloon", {"amount_mib": 0, "deflate_on_oom": False, "free_page_reporting": True}).status == 204
    assert api.get("/balloon").json["stats_polling_interval_s"] == 0
    assert api.get("/balloon").json["free_page_reporting"] is True
    cfg = api.get("/vm/config").json
    assert cfg["balloon"]["amount_mib"] == 0 and cfg["balloon"]["free_page_reporting"] is True


@pytest.mark.parametrize("body,word", [
    ({}, "amount_mib: missing required field"),
    ({"amount_mib": 1}, "deflate_on_oom: missing required field"),
    ({"amount_mib": -1, "deflate_on_oom": True}, "amount_mib"),
    ({"amount_mib": "1", "deflate_on_oom": True}, "amount_mib"),
    ({"amount_mib": 1, "deflate_on_oom": "yes"}, "deflate_on_oom: expected a boolean"),
    ({"amount_mib": 1, "deflate_on_oom": True, "stats_polling_interval_s": 70000}, "stats_polling_interval_s"),
    ({"amount_mib": 1, "deflate_on_oom": True, "free_page_hinting": 1}, "free_page_hinting: expected a boolean"),
    ({"amount_mib": 1, "deflate_on_oom": True, "what": 1}, "what: unknown field"),
    ({"amount_mib": 129, "deflate_on_oom": True}, "Amount of pages requested is too large"),
])
def test_put_bad(api, body, word):
    r = api.put("/balloon", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/balloon").status == 400  # nothing was configured


def test_amount_follows_machine_memory(api):
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}).status == 204
    assert api.put("/balloon", {"amount_mib": 200, "deflate_on_oom": False}).status == 204


@pytest.mark.parametrize("method,path,body", [
    ("PATCH", "/balloon", {"amount_mib": 1}),
    ("GET", "/balloon/statistics", None),
    ("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 2}),
])
def test_runtime_requests_refused_before_start(api, method, path, body):
    assert api.put("/balloon", GOOD).status == 204
    r = api.request(method, path, body)
    assert r.status == 400 and "not supported before starting the microVM" in r.fault, r


@pytest.mark.parametrize("path,body,word", [
    ("/balloon", {}, "amount_mib: missing required field"),
    ("/balloon", {"amount_mib": 1, "deflate_on_oom": True}, "deflate_on_oom: unknown field"),
    ("/balloon/statistics", {}, "stats_polling_interval_s: missing required field"),
    ("/balloon/statistics", {"stats_polling_interval_s": -3}, "stats_polling_interval_s"),
])
def test_patch_bodies_checked(api, path, body, word):
    r = api.patch(path, body)
    assert r.status == 400 and word in r.fault, r


def test_put_with_hinting(api):
    body = {"amount_mib": 0, "deflate_on_oom": False, "free_page_hinting": True}
    assert api.put("/balloon", body).status == 204
    assert api.get("/balloon").json == {**body, "stats_polling_interval_s": 0, "free_page_reporting": False}
    assert api.get("/vm/config").json["balloon"]["free_page_hinting"] is True


# Firecracker's rpc_interface.rs: the hinting requests are runtime-only (OperationNotSupportedPreBoot),
# with or without a balloon, with or without a body.
HINTING = [
    ("PATCH", "/balloon/hinting/start", None),
    ("PATCH", "/balloon/hinting/start", {"acknowledge_on_stop": False}),
    ("GET", "/balloon/hinting/status", None),
    ("PATCH", "/balloon/hinting/stop", None),
    ("PATCH", "/balloon/hinting/stop", {}),
]


@pytest.mark.parametrize("with_balloon", [False, True])
@pytest.mark.parametrize("method,path,body", HINTING)
def test_hinting_refused_before_start(api, with_balloon, method, path, body):
    if with_balloon:
        assert api.put("/balloon", {**GOOD, "free_page_hinting": True}).status == 204
    r = api.request(method, path, body)
    assert r.status == 400, r
    assert r.fault == "The requested operation is not supported before starting the microVM.", r


@pytest.mark.parametrize("method,path,raw,word", [
    ("PATCH", "/balloon/hinting/start", b"[]", "must be a JSON object"),
    ("PATCH", "/balloon/hinting/start", b"{\"acknowledge_on_stop\": \"yes\"}", "acknowledge_on_stop: expected a boolean"),
    ("PATCH", "/balloon/hinting/stop", b"{", "not supported before starting"),  # not read, as in Firecracker
    ("PATCH", "/balloon/hinting/stop", b"garbage", "not supported before starting"),
    ("GET", "/balloon/hinting/status", b"{}", "takes no request body"),
    ("PUT", "/balloon/hinting/start", b"{}", "Invalid request method"),
    ("GET", "/balloon/hinting", None, "Invalid request method"),
])
def test_hinting_bad_requests(api, method, path, raw, word):
    r = api.request(method, path, raw=raw, check=False)
    assert r.status == 400 and word in r.fault, r


# After the start (needs /dev/kvm: skips without): a tiny guest without a balloon driver.
# Firecracker's words: VmmActionError::BalloonUpdate around FindDeviceError::DeviceNotFound,
# BalloonError::HintingNotEnabled and BalloonError::DeviceNotActive.
@pytest.mark.parametrize("balloon,answers", [
    (None, {"start": "Balloon update error: Failed perform action on device: Device not found",
            "status": "Balloon update error: Failed perform action on device: Device not found",
            "stop": "Balloon update error: Failed perform action on device: Device not found"}),
    ({"amount_mib": 0, "deflate_on_oom": False},
     {"start": "Balloon update error: Balloon: Attempting to use hinting when not enabled",
      "status": "Balloon update error: Balloon: Attempting to use hinting when not enabled",
      "stop": "Balloon update error: Balloon: Attempting to use hinting when not enabled"}),
    ({"amount_mib": 0, "deflate_on_oom": False, "free_page_hinting": True},
     {"start": "Balloon update error: Balloon: Device not activated yet.",
      "status": None,
      "stop": "Balloon update error: Balloon: Device not activated yet."}),
])
def test_hinting_after_start(api, balloon, answers):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    if balloon:
        assert api.put("/balloon", balloon).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    for name, method in (("start", "PATCH"), ("status", "GET"), ("stop", "PATCH")):
        r = api.request(method, f"/balloon/hinting/{name}")
        if answers[name] is None:
            assert r.status == 200 and r.json == {"host_cmd": 0, "guest_cmd": None}, r
        else:
            assert r.status == 400 and r.fault == answers[name], r


def test_config_file_balloon_section_checked(workdir):
    cfg = workdir / "bad.json"
    cfg.write_text('{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}, '
                   '"balloon": {"amount_mib": 65, "deflate_on_oom": true}}')
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 2, p.describe()
        assert "too large" in p.err.text(), p.describe()
    finally:
        p.close()


def test_metrics_group(petrel, api, workdir):
    m = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert api.put("/balloon", GOOD).status == 204
    assert api.patch("/balloon", {"amount_mib": 1}).status == 400
    assert api.get("/balloon").status == 200
    petrel.signal(signal.SIGTERM)  # the last line is written at exit
    assert petrel.wait() == -signal.SIGTERM, petrel.describe()
    line = json.loads(m.read_text().splitlines()[-1])
    # Firecracker's balloon group, with its names (zero without a VM)
    assert {"activate_fails", "inflate_count", "stats_updates_count", "stats_update_fails", "deflate_count",
            "event_fails", "free_page_report_count", "free_page_report_freed"} <= set(line["balloon"])
    assert line["balloon"]["inflate_count"] == 0
    assert line["put_api_requests"]["balloon_count"] == 1
    assert line["patch_api_requests"]["balloon_fails"] == 1
    assert line["get_api_requests"]["balloon_count"] == 1


def test_snapshot_load_refused_after_put(api):
    # a snapshot brings its own devices (its balloon included)
    assert api.put("/balloon", GOOD).status == 204
    r = api.put("/snapshot/load", {"snapshot_path": "/nonexistent", "mem_backend":
                                   {"backend_type": "File", "backend_path": "/nonexistent"}})
    assert r.status == 400 and "boot-specific resources" in r.fault, r


def test_hinting_run_with_a_ring3_driver(petrel, api, workdir):
    """tests/guests/virtio_balloon.c hint=1 (needs /dev/kvm: skips without): the guest waits for
    a run, sends its id and 32 pages (they read as zero afterwards), STOPs and sees DONE (no
    body: acknowledge_on_stop is true), then hints 32 written pages with the old id after
    DONE, which keep their data. The metrics count the 32 ranges dropped and 32 left alone."""
    img = str(apilib.guest("virtio_balloon"))
    m = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": "hint=1"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}).status == 204
    assert api.put("/balloon", {"amount_mib": 0, "deflate_on_oom": False, "free_page_hinting": True}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^hint: ready$")
    assert api.get("/balloon/hinting/status").json == {"host_cmd": 0, "guest_cmd": None}
    assert api.patch("/balloon/hinting/start").status == 204
    petrel.expect(r"^virtio-balloon hinted=32$")
    assert petrel.wait() == 0, petrel.describe()
    assert "ok virtio_balloon" in petrel.out.text(), petrel.describe()
    line = json.loads(m.read_text().splitlines()[-1])
    b = line["balloon"]
    assert b["free_page_hint_count"] == 32 and b["free_page_hint_freed"] == 32 * 4096, b
    assert b["free_page_hint_ignored"] == 32 and b["free_page_hint_fails"] == 0, b
