# SPDX-License-Identifier: Apache-2.0
"""The logger and metrics before InstanceStart: PUT /logger and /metrics, the lines they write,
the start-up metrics a launcher passes, FlushMetrics. Each answer is checked against
Firecracker's API spec (status allowed for the operation, body shape) by apilib."""
import json
import re
import signal
import subprocess
import time

import pytest

import apilib


# ---- logger ----

def test_logger(api, workdir, petrel):
    log = workdir / "fc.log"
    body = {"log_path": str(log), "level": "debug", "show_level": True, "show_log_origin": True}
    apilib.validate(dict(body, level="Debug"), apilib.request_schema("PUT", "/logger"))  # any case
    assert api.put("/logger", body).status == 204
    api.get("/machine-config")
    text = log.read_text()
    # Firecracker's shape: timestamp [id:thread:LEVEL:file:line] message
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[anonymous-instance:fc_api:DEBUG:"
                     r"api/router\.c:\d+\] API GET /machine-config: 200$", text, re.M), text
    # and, as Firecracker, each request at Info when it arrives
    assert re.search(r"\[anonymous-instance:fc_api:INFO:api/router\.c:\d+\] The API server received a "
                     r"Get request on \"/machine-config\"\.$", text, re.M), text
    cfg = api.get("/vm/config").json["logger"]
    assert cfg == {"log_path": str(log), "level": "Debug", "show_level": True, "show_log_origin": True}
    # Defaults of a new PUT: level Info, no level, no origin; module filters by source path.
    assert api.put("/logger", {"level": "Info", "module": "api"}).status == 204
    api.put("/boot-source", {"kernel_image_path": "/nonexistent"})
    lines = log.read_text().splitlines()
    assert re.search(r"\[anonymous-instance:fc_api\] API PUT /boot-source: 400 ", lines[-1]), lines[-1]
    assert lines[-2].endswith('[anonymous-instance:fc_api] The API server received a Put request on '
                              '"/boot-source" with body "{"kernel_image_path": "/nonexistent"}".'), lines[-2]
    # the metadata store's bodies stay out of the log
    api.put("/mmds", {"secret": "s3cr3t"})
    assert "s3cr3t" not in log.read_text()


@pytest.mark.parametrize("body,word", [
    ({"level": "Loud"}, "level"),
    ({"level": 3}, "string"),
    ({"show_level": "yes"}, "boolean"),
    ({"log_path": "/nonexistent/dir/log"}, "cannot open"),
    ({"log_path": ""}, "empty"),
    ({"colour": True}, "unknown"),
])
def test_logger_bad(api, body, word):
    r = api.put("/logger", body)
    assert r.status == 400 and word in r.fault, r


# ---- metrics ----

def test_metrics(petrel, api, workdir):
    m = workdir / "metrics.json"
    body = {"metrics_path": str(m), "emit_id": True, "properties": {"team": "petrel"}}
    apilib.validate(body, apilib.request_schema("PUT", "/metrics"))
    assert api.put("/metrics", body).status == 204
    assert api.get("/vm/config").json["metrics"] == body
    # Only once, like Firecracker.
    r = api.put("/metrics", {"metrics_path": str(workdir / "other")})
    assert r.status == 400 and "already" in r.fault
    # FlushMetrics is for a running microVM (Firecracker's rule); the line written at exit
    # shows the counters.
    r = api.put("/actions", {"action_type": "FlushMetrics"})
    assert r.status == 400 and "not supported before starting the microVM" in r.fault, r
    api.get("/vm/config")
    # a deprecated field is served and counted (Firecracker's deprecated_api group)
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "None"}).status == 204
    petrel.signal(signal.SIGTERM)  # the last line is written at exit
    assert petrel.wait() == -signal.SIGTERM, petrel.describe()
    line = json.loads(m.read_text().splitlines()[-1])
    assert line["id"] == "anonymous-instance" and line["properties"] == {"team": "petrel"}
    assert line["put_api_requests"]["metrics_count"] == 2
    assert line["put_api_requests"]["metrics_fails"] == 1
    assert line["put_api_requests"]["actions_count"] == 1
    assert line["put_api_requests"]["actions_fails"] == 1
    assert line["get_api_requests"]["vm_config_count"] == 2
    assert line["deprecated_api"]["deprecated_http_api_calls"] == 1
    assert line["uart"]["missed_write_count"] == 0 and line["block"]["rate_limiter_throttled_events"] == 0
    assert isinstance(line["utc_timestamp_ms"], int)
    # Firecracker's groups for the devices, the logger and latencies (a VM fills them in:
    # tests/api/test_api_vm.py), with its field names
    assert {"rx_bytes_count", "rx_packets_count", "rx_fails", "tx_bytes_count", "tx_packets_count",
            "tx_fails", "tx_malformed_frames", "no_rx_avail_buffer"} <= set(line["net"])
    assert {"rx_packets_count", "tx_packets_count", "rx_bytes_count", "tx_bytes_count",
            "conns_added", "conns_killed"} <= set(line["vsock"])
    assert line["logger"] == {"missed_log_count": 0, "metrics_fails": 0}
    assert line["latencies_us"] == {"full_create_snapshot": 0, "diff_create_snapshot": 0,
                                    "load_snapshot": 0, "pause_vm": 0, "resume_vm": 0}
    # api_server: CPU from exec to the API serving; the wall time needs a launcher's clock
    assert line["api_server"]["process_startup_time_cpu_us"] > 0
    assert line["api_server"]["process_startup_time_us"] == 0


def test_startup_metrics_from_a_launcher(workdir):
    # Firecracker's jailer passes --start-time-us (CLOCK_MONOTONIC), --start-time-cpu-us and
    # --parent-cpu-time-us; its test_startup_time reads api_server from the metrics.
    m = workdir / "metrics.json"
    start = time.monotonic_ns() // 1000
    p = apilib.Petrel(workdir, ["--metrics-path", m, "--start-time-us", str(start),
                                "--start-time-cpu-us", "0", "--parent-cpu-time-us", "5000"])
    try:
        p.client().get("/")
        p.signal(signal.SIGTERM)
        assert p.wait() == -signal.SIGTERM, p.describe()
    finally:
        p.close()
    api_server = json.loads(m.read_text().splitlines()[-1])["api_server"]
    assert 0 < api_server["process_startup_time_us"] < 60_000_000
    assert api_server["process_startup_time_cpu_us"] > 5000
    r = subprocess.run([str(apilib.petrel_bin()), "--api-sock", str(workdir / "x.sock"),
                        "--start-time-us", "soon"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--start-time-us: 'soon' is not a number" in r.stderr


@pytest.mark.parametrize("body,word", [
    ({}, "metrics_path"),
    ({"metrics_path": 1}, "string"),
    ({"metrics_path": "/nonexistent/dir/m"}, "cannot open"),
    ({"metrics_path": "/tmp/x", "properties": {"a": 1}}, "properties.a"),
    ({"metrics_path": "/tmp/x", "properties": []}, "properties"),
    ({"metrics_path": "/tmp/x", "emit_id": "no"}, "boolean"),
    ({"metrics_path": "/tmp/x", "format": "json"}, "unknown"),
])
def test_metrics_bad(api, body, word):
    r = api.put("/metrics", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/vm/config").json.get("metrics") is None  # Firecracker: null


def test_flush_metrics_before_start(api):
    """Firecracker refuses FlushMetrics before the start, metrics or not."""
    r = api.put("/actions", {"action_type": "FlushMetrics"})
    assert r.status == 400 and "not supported before starting the microVM" in r.fault
