# SPDX-License-Identifier: Apache-2.0
"""Every endpoint before InstanceStart, with good and bad requests. Each answer is checked
against Firecracker's API spec (status allowed for the operation, body shape) by apilib."""
import json
import re
import signal
import subprocess
import time

import pytest

import apilib

KERNEL = "build/tests/guests/boot.elf"


def kernel():
    return str(apilib.guest("boot"))


# ---- GET /, /version ----

def test_instance_info(api):
    r = api.get("/")
    assert r.status == 200
    assert r.json == {"id": "anonymous-instance", "state": "Not started", "vmm_version": r.json["vmm_version"],
                      "app_name": "petrel"}
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", r.json["vmm_version"])


def test_instance_id_from_cli(workdir):
    p = apilib.Petrel(workdir, ["--id", "vm-42"])
    try:
        assert p.client().get("/").json["id"] == "vm-42"
    finally:
        p.close()


def test_version(api):
    r = api.get("/version")
    assert r.status == 200
    assert r.json["firecracker_version"] == api.get("/").json["vmm_version"]


def test_trailing_slash_and_query_are_accepted(api):
    assert api.get("/machine-config/").status == 200
    assert api.get("/version?x=1").status == 200


# ---- machine-config ----

DEFAULT_MC = {"vcpu_count": 1, "mem_size_mib": 128, "smt": False,  # no cpu_template: Firecracker omits None
              "track_dirty_pages": False, "huge_pages": "None"}


def test_machine_config_default(api):
    r = api.get("/machine-config")
    assert r.status == 200 and r.json == DEFAULT_MC


def test_machine_config_put_get(api):
    body = {"vcpu_count": 2, "mem_size_mib": 256, "smt": True, "cpu_template": "T2",
            "track_dirty_pages": True, "huge_pages": "None"}
    apilib.validate(body, apilib.request_schema("PUT", "/machine-config"))
    assert api.put("/machine-config", body).status == 204
    assert api.get("/machine-config").json == body
    # PUT resets what it leaves out to the defaults.
    assert api.put("/machine-config", {"vcpu_count": 4, "mem_size_mib": 512}).status == 204
    assert api.get("/machine-config").json == dict(DEFAULT_MC, vcpu_count=4, mem_size_mib=512)


def test_machine_config_patch(api):
    assert api.patch("/machine-config", {"mem_size_mib": 300}).status == 204
    assert api.patch("/machine-config", {"smt": True, "vcpu_count": 2}).status == 204
    assert api.get("/machine-config").json == dict(DEFAULT_MC, mem_size_mib=300, smt=True, vcpu_count=2)
    # null means "not given"
    assert api.patch("/machine-config", {"vcpu_count": 4, "smt": None}).status == 204
    assert api.get("/machine-config").json["smt"] is True


def test_machine_config_huge_pages(api, workdir):
    # Firecracker's machine-config huge_pages: None, Transparent (THP) and 2M (hugetlbfs)
    for hp in ("Transparent", "2M", "None"):
        assert api.patch("/machine-config", {"huge_pages": hp}).status == 204
        assert api.get("/machine-config").json["huge_pages"] == hp
        assert api.get("/vm/config").json["machine-config"]["huge_pages"] == hp
    r = api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 129, "huge_pages": "2M"})
    assert r.status == 400 and "2M needs an even mem_size_mib" in r.fault
    r = api.patch("/machine-config", {"huge_pages": "1G"})
    assert r.status == 400 and "expected one of None, Transparent, 2M" in r.fault
    # A pool too small for the VM: InstanceStart says so (and what to do) before anything is built.
    kernel = workdir / "kernel"
    kernel.write_bytes(b"\0" * 4096)
    assert api.put("/boot-source", {"kernel_image_path": str(kernel)}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 1024 * 1024,
                                       "huge_pages": "2M"}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 400 and "huge_pages 2M: the VM needs 524288 free 2 MiB huge pages" in r.fault, r
    assert "nr_hugepages" in r.fault
    assert api.get("/").json["state"] == "Not started"


@pytest.mark.parametrize("body,word", [
    ({}, "empty"),
    ({"vcpu_count": None}, "empty"),
    ({"bogus": 1}, "bogus"),
    ({"vcpu_count": 3, "smt": True}, "even"),
    ({"mem_size_mib": "big"}, "integer"),
])
def test_machine_config_patch_bad(api, body, word):
    r = api.patch("/machine-config", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/machine-config").json == DEFAULT_MC


@pytest.mark.parametrize("body,word", [
    ({"mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": 1}, "mem_size_mib"),
    ({"vcpu_count": "2", "mem_size_mib": 128}, "integer"),
    ({"vcpu_count": 2.0, "mem_size_mib": 128}, "integer"),
    ({"vcpu_count": True, "mem_size_mib": 128}, "integer"),
    ({"vcpu_count": 0, "mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": 65, "mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": -1, "mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": 1, "mem_size_mib": -5}, "mem_size_mib"),
    ({"vcpu_count": 1, "mem_size_mib": 8}, "mem_size_mib"),
    ({"vcpu_count": 1, "mem_size_mib": 2 ** 64}, "integer"),
    ({"vcpu_count": 3, "mem_size_mib": 128, "smt": True}, "even"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "smt": "yes"}, "boolean"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "Fast"}, "cpu_template"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "V1N1"}, "aarch64"),
    ({"vcpu_count": 1, "mem_size_mib": 129, "huge_pages": "2M"}, "even"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "1G"}, "huge_pages"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "track_dirty_pages": 1}, "boolean"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "gdb_socket_path": "/x"}, "unknown"),
])
def test_machine_config_put_bad(api, body, word):
    r = api.put("/machine-config", raw=json.dumps(body).encode())
    assert r.status == 400, r
    assert word in r.fault, r
    assert api.get("/machine-config").json == DEFAULT_MC  # nothing changed


# ---- boot-source ----

def test_boot_source(api, workdir):
    initrd = workdir / "initrd"
    initrd.write_bytes(b"x" * 100)
    body = {"kernel_image_path": kernel(), "initrd_path": str(initrd), "boot_args": "console=ttyS0 x=1"}
    apilib.validate(body, apilib.request_schema("PUT", "/boot-source"))
    assert api.put("/boot-source", body).status == 204
    assert api.get("/vm/config").json["boot-source"] == body
    # A second PUT replaces the whole boot source: no initrd, no boot_args any more (null, as
    # Firecracker reports them).
    assert api.put("/boot-source", {"kernel_image_path": kernel()}).status == 204
    assert api.get("/vm/config").json["boot-source"] == {"kernel_image_path": kernel(), "initrd_path": None,
                                                          "boot_args": None}


@pytest.mark.parametrize("body,word", [
    ({}, "kernel_image_path"),
    ({"boot_args": "x"}, "kernel_image_path"),
    ({"kernel_image_path": 5}, "string"),
    ({"kernel_image_path": ""}, "empty"),
    ({"kernel_image_path": "/nonexistent/vmlinux"}, "cannot be opened"),
    ({"kernel_image_path": "/"}, "directory"),
    ({"kernel_image_path": "KERNEL", "initrd_path": "/nonexistent/initrd"}, "initrd"),
    ({"kernel_image_path": "KERNEL", "boot_args": ["a"]}, "string"),
    ({"kernel_image_path": "KERNEL", "kernel_args": "a"}, "unknown"),
])
def test_boot_source_bad(api, body, word):
    body = {k: (kernel() if v == "KERNEL" else v) for k, v in body.items()}
    r = api.put("/boot-source", body)
    assert r.status == 400 and word in r.fault, r
    assert "boot-source" not in api.get("/vm/config").json


# ---- cpu-config ----

CPU_CONFIG = {"cpuid_modifiers": [{"leaf": "0x7", "subleaf": "0x0", "flags": 1, "modifiers": [
    {"register": "ebx", "bitmap": "0bxxxxxxxxxxxxxxxxxxxxxxxxxxx0xxxx"}]}]}


def test_cpu_config(api):
    apilib.validate(CPU_CONFIG, apilib.request_schema("PUT", "/cpu-config"))
    assert api.put("/cpu-config", CPU_CONFIG).status == 204
    got = api.get("/vm/config").json["cpu-config"]
    assert got["cpuid_modifiers"][0]["leaf"] == "0x7"


@pytest.mark.parametrize("body,word", [
    ({"cpuid_modifiers": [{"leaf": "0x7"}]}, "subleaf"),
    ({"cpuid_modifiers": [{"leaf": "0x7", "subleaf": "0", "flags": 0, "modifiers": [
        {"register": "r9", "bitmap": "0b" + "x" * 32}]}]}, "register"),
    ({"cpuid_modifiers": [{"leaf": "0x7", "subleaf": "0", "flags": 0, "modifiers": [
        {"register": "eax", "bitmap": "0b1"}]}]}, "bitmap"),
    ({"reg_modifiers": []}, "aarch64"),
    ({"what": []}, "unknown"),
])
def test_cpu_config_bad(api, body, word):
    r = api.put("/cpu-config", body)
    assert r.status == 400 and word in r.fault, r


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
    assert petrel.wait() == 0, petrel.describe()
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
        assert p.wait() == 0, p.describe()
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


# ---- devices (validated and kept; the VM cannot attach them until virtio lands) ----

def test_drives(api, workdir):
    disk = workdir / "disk.img"
    disk.write_bytes(b"\0" * 4096)
    body = {"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True,
            "is_read_only": False, "cache_type": "Writeback", "io_engine": "Sync",
            "partuuid": "0eaa91a0-01",
            "rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100, "one_time_burst": 10},
                             "ops": {"size": 10, "refill_time": 1000}}}
    apilib.validate(body, apilib.request_schema("PUT", "/drives/rootfs"))
    assert api.put("/drives/rootfs", body).status == 204
    data = {"drive_id": "data", "path_on_host": str(disk), "is_root_device": False, "is_read_only": True}
    assert api.put("/drives/data", data).status == 204
    drives = api.get("/vm/config").json["drives"]
    assert [d["drive_id"] for d in drives] == ["rootfs", "data"]
    assert drives[0] == dict(body, socket=None)  # Firecracker reports unset optionals as null
    # PUT on an existing id updates it in place.
    assert api.put("/drives/rootfs", dict(body, is_read_only=True)).status == 204
    drives = api.get("/vm/config").json["drives"]
    assert [d["drive_id"] for d in drives] == ["rootfs", "data"] and drives[0]["is_read_only"]
    # A second root device is refused.
    r = api.put("/drives/data", dict(data, is_root_device=True))
    assert r.status == 400 and "root" in r.fault
    # PATCH is for a running microVM only.
    r = api.patch("/drives/data", {"drive_id": "data", "path_on_host": str(disk)})
    assert r.status == 400 and "after the microVM has started" in r.fault


@pytest.mark.parametrize("path,body,word", [
    ("/drives/a", {"drive_id": "b", "path_on_host": "DISK", "is_root_device": False}, "does not match"),
    ("/drives/a-b", {"drive_id": "a-b", "path_on_host": "DISK", "is_root_device": False}, "drive_id"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "DISK"}, "is_root_device"),
    ("/drives/a", {"drive_id": "a", "is_root_device": False}, "path_on_host"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "DISK", "is_root_device": 0}, "boolean"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "DISK", "is_root_device": False,
                   "cache_type": "Lazy"}, "cache_type"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "DISK", "is_root_device": False,
                   "io_engine": "Turbo"}, "io_engine"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "DISK", "is_root_device": False,
                   "rate_limiter": {"ops": {"size": 1}}}, "refill_time"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "DISK", "is_root_device": False,
                   "rate_limiter": {"ops": {"size": -1, "refill_time": 1}}}, "size"),
    ("/drives/a", {"drive_id": "a", "socket": "/tmp/vhost.sock", "is_root_device": False}, "vhost-user"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "/nonexistent/disk", "is_root_device": False},
     "cannot be opened"),
    ("/drives/a", {"drive_id": "a", "path_on_host": "DISK", "is_root_device": False, "size": 1}, "unknown"),
])
def test_drives_bad(api, workdir, path, body, word):
    disk = workdir / "disk.img"
    disk.write_bytes(b"\0" * 512)
    body = {k: (str(disk) if v == "DISK" else v) for k, v in body.items()}
    r = api.put(path, body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/vm/config").json["drives"] == []


def test_drive_path_needs_an_id(api):
    r = api.put("/drives/", {"drive_id": "", "path_on_host": "/x", "is_root_device": False}, check=False)
    assert r.status == 400


def test_network_interfaces(api):
    body = {"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02", "mtu": 1500,
            "rx_rate_limiter": {"bandwidth": {"size": 100, "refill_time": 10}}}
    apilib.validate(body, apilib.request_schema("PUT", "/network-interfaces/eth0"))
    assert api.put("/network-interfaces/eth0", body).status == 204
    nets = api.get("/vm/config").json["network-interfaces"]
    assert nets == [dict(body, tx_rate_limiter=None)]  # null, as Firecracker reports it
    r = api.put("/network-interfaces/eth1", {"iface_id": "eth1", "host_dev_name": "tap0"})
    assert r.status == 400 and "tap0" in r.fault
    r = api.put("/network-interfaces/eth1", {"iface_id": "eth1", "host_dev_name": "tap1",
                                             "guest_mac": "06:00:AC:10:00:02"})
    assert r.status == 400 and "guest_mac" in r.fault
    r = api.patch("/network-interfaces/eth0", {"iface_id": "eth0"})
    assert r.status == 400 and "after the microVM has started" in r.fault


@pytest.mark.parametrize("body,word", [
    ({"iface_id": "eth0"}, "host_dev_name"),
    ({"host_dev_name": "tap0"}, "iface_id"),
    ({"iface_id": "eth1", "host_dev_name": "tap0"}, "does not match"),
    ({"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "zz:00:00:00:00:00"}, "guest_mac"),
    ({"iface_id": "eth0", "host_dev_name": "tap0", "mtu": 67}, "mtu"),
    ({"iface_id": "eth0", "host_dev_name": "tap0", "mtu": 65536}, "mtu"),
    ({"iface_id": "eth0", "host_dev_name": "tap0", "allow_mmds_requests": True}, "unknown"),
])
def test_network_interfaces_bad(api, body, word):
    r = api.put("/network-interfaces/eth0", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/vm/config").json["network-interfaces"] == []


def test_vsock(api):
    body = {"guest_cid": 3, "uds_path": "/tmp/petrel-v.sock"}
    apilib.validate(body, apilib.request_schema("PUT", "/vsock"))
    assert api.put("/vsock", body).status == 204
    assert api.get("/vm/config").json["vsock"] == body
    assert api.put("/vsock", {"guest_cid": 7, "uds_path": "/tmp/b.sock", "vsock_id": "v"}).status == 204
    assert api.get("/vm/config").json["vsock"]["guest_cid"] == 7


@pytest.mark.parametrize("body,word", [
    ({"guest_cid": 2, "uds_path": "/tmp/v.sock"}, "guest_cid"),
    ({"guest_cid": 2 ** 32, "uds_path": "/tmp/v.sock"}, "guest_cid"),
    ({"guest_cid": 3}, "uds_path"),
    ({"uds_path": "/tmp/v.sock"}, "guest_cid"),
    ({"guest_cid": 3, "uds_path": "/tmp/v.sock", "port": 1}, "unknown"),
])
def test_vsock_bad(api, body, word):
    r = api.put("/vsock", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/vm/config").json.get("vsock") is None  # Firecracker: null


def test_entropy(api):
    assert api.put("/entropy", {}).status == 204
    body = {"rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}}
    assert api.put("/entropy", body).status == 204
    assert api.get("/vm/config").json["entropy"] == body
    r = api.put("/entropy", {"rate_limiter": {"bandwidth": {"refill_time": 100}}})
    assert r.status == 400 and "size" in r.fault
    r = api.put("/entropy", {"rate": 1})
    assert r.status == 400 and "unknown" in r.fault


def test_serial(api, workdir):
    r = api.put("/serial", {"serial_out_path": str(workdir / "console.txt")})
    assert r.status == 204
    # Firecracker's SerialDevice.rate_limiter is a TokenBucket (bytes of output)
    r = api.put("/serial", {"rate_limiter": {"size": 1024, "refill_time": 100}})
    assert r.status == 204
    r = api.put("/serial", {"rate_limiter": {"size": 1024, "refill_time": 100, "one_time_burst": 10}})
    assert r.status == 204
    r = api.put("/serial", {"rate_limiter": {"size": 1024}})
    assert r.status == 400 and "rate_limiter.refill_time" in r.fault
    r = api.put("/serial", {"rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}})
    assert r.status == 400 and "rate_limiter.bandwidth: unknown field" in r.fault
    r = api.put("/serial", {"rate_limiter": {"size": -1, "refill_time": 1}})
    assert r.status == 400 and "rate_limiter.size" in r.fault
    r = api.put("/serial", {"rate_limiter": 5})
    assert r.status == 400 and "rate_limiter: expected an object" in r.fault
    r = api.put("/serial", {"serial_out_path": "/nonexistent/dir/x"})
    assert r.status == 400 and "cannot open" in r.fault


@pytest.mark.parametrize("path,body,word", [
    ("/vsock", {"guest_cid": 3, "uds_path": "/nonexistent/dir/v.sock"}, ("vsock",)),
    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap-name-far-too-long"},
     ("tap", "host_dev_name")),
])
def test_instance_start_reports_a_device_it_cannot_attach(api, path, body, word):
    """A configured device is never silently left out: when the VM cannot attach it,
    InstanceStart fails with a 400 naming it (or the PUT already refused it), and the
    instance stays "Not started"."""
    assert api.put("/boot-source", {"kernel_image_path": kernel()}).status == 204
    r = api.put(path, body)
    if r.status == 204:
        r = api.put("/actions", {"action_type": "InstanceStart"})
        assert r.status == 400 and "cannot start the microVM" in r.fault, r
    assert r.status == 400 and any(w in r.fault for w in word), r
    assert api.get("/").json["state"] == "Not started"


# ---- vm/config as a whole ----

def test_vm_config_full(api, workdir):
    api.put("/boot-source", {"kernel_image_path": kernel(), "boot_args": "a=b"})
    api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 64})
    api.put("/cpu-config", CPU_CONFIG)
    api.put("/vsock", {"guest_cid": 3, "uds_path": "/tmp/v.sock"})
    api.put("/entropy", {})
    api.put("/logger", {"level": "Debug"})
    api.put("/metrics", {"metrics_path": str(workdir / "m")})
    cfg = api.get("/vm/config").json  # validated against FullVmConfiguration
    assert {k for k, v in cfg.items() if v is not None} == {
        "boot-source", "machine-config", "cpu-config", "drives", "network-interfaces", "pmem", "vsock", "entropy",
        "logger", "metrics"}
    assert cfg["drives"] == [] and cfg["pmem"] == [] and cfg["network-interfaces"] == []
    # What petrel does not have is there as null, as Firecracker reports it.
    assert cfg["balloon"] is None and cfg["mmds-config"] is None


# ---- actions and state rules before start ----

@pytest.mark.parametrize("body,word", [
    ({}, "action_type"),
    ({"action_type": "Reboot"}, "not one of"),
    ({"action_type": 1}, "string"),
    ({"action_type": "InstanceStart", "payload": {}}, "unknown"),
])
def test_actions_bad(api, body, word):
    r = api.put("/actions", body)
    assert r.status == 400 and word in r.fault, r


def test_actions_before_start(api):
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 400 and "boot-source" in r.fault
    r = api.put("/actions", {"action_type": "SendCtrlAltDel"})
    assert r.status == 400 and "not started" in r.fault
    for state in ("Paused", "Resumed"):
        r = api.patch("/vm", {"state": state})
        assert r.status == 400 and "not running" in r.fault
    r = api.patch("/vm", {"state": "Stopped"})
    assert r.status == 400 and "not one of" in r.fault
    assert api.get("/").json["state"] == "Not started"


def test_instance_start_reports_a_bad_kernel(api, workdir):
    bogus = workdir / "not-a-kernel"
    bogus.write_bytes(b"hello" * 1000)
    assert api.put("/boot-source", {"kernel_image_path": str(bogus)}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 400 and "cannot start the microVM" in r.fault, r
    assert len(r.fault) > len("cannot start the microVM: ") + 5  # says why
    assert api.get("/").json["state"] == "Not started"
    # The instance can still be configured and started afterwards.
    assert api.put("/boot-source", {"kernel_image_path": kernel(),
                                    "boot_args": "petrel-test-token=1234 expect_mem=128"}).status == 204


# ---- endpoints petrel does not implement yet ----

@pytest.mark.parametrize("method,path,body", [
])
def test_not_supported_yet(api, method, path, body):
    r = api.request(method, path, body)
    assert r.status == 400 and "not supported yet" in r.fault, r


@pytest.mark.parametrize("path,body,why", [
    ("/snapshot/create", {"snapshot_path": "/s"}, "mem_file_path: missing"),
    ("/snapshot/create", {"snapshot_path": "/s", "mem_file_path": "/m", "extra": 1}, "extra"),
    ("/snapshot/create", {"snapshot_path": "/s", "mem_file_path": "/m", "snapshot_type": "Half"}, "snapshot_type"),
    ("/snapshot/create", {"snapshot_path": 5, "mem_file_path": "/m"}, "snapshot_path"),
    ("/snapshot/load", {"mem_file_path": "/m"}, "snapshot_path: missing"),
    ("/snapshot/load", {"snapshot_path": "/s"}, "exactly one of mem_backend and mem_file_path"),
    ("/snapshot/load", {"snapshot_path": "/s", "mem_file_path": "/m",
                        "mem_backend": {"backend_type": "File", "backend_path": "/m"}}, "exactly one"),
    ("/snapshot/load", {"snapshot_path": "/s", "mem_backend": {"backend_type": "Disk", "backend_path": "/m"}},
     "backend_type"),
    ("/snapshot/load", {"snapshot_path": "/s", "mem_file_path": "/m", "resume_vm": "yes"}, "resume_vm"),
    ("/snapshot/load", {"snapshot_path": "/s", "mem_file_path": "/m", "network_overrides": [{"iface_id": "a"}]},
     "host_dev_name"),
    ("/snapshot/load", {"snapshot_path": "/s", "mem_file_path": "/m", "vsock_override": {}}, "uds_path"),
    ("/snapshot/load", {"snapshot_path": "/nonexistent.state", "mem_file_path": "/m"}, "nonexistent.state"),
    ("/snapshot/create", {"snapshot_path": "/s", "mem_file_path": "/m"}, "paused"),
])
def test_snapshot_requests_checked(api, path, body, why):
    """Bodies are checked like Firecracker's (unknown fields, types, the mem_* rule) and the
    state rules hold (create needs a paused VM); every refusal says why."""
    r = api.put(path, body)
    assert r.status == 400 and why in r.fault, r
    assert api.get("/").json["state"] == "Not started"


@pytest.mark.parametrize("method,path", [
    ("GET", "/nothing"), ("GET", "/actions"), ("DELETE", "/"), ("POST", "/actions"),
    ("PUT", "/"), ("GET", "/drives/x"), ("GET", "/vm"), ("PUT", "/vm/config"), ("GET", "//version"),
    ("GET", "/machine-config/extra"), ("GET", "/drives/a/b"),
])
def test_invalid_method_or_path(api, method, path):
    r = api.request(method, path, check=False)
    assert r.status == 400, r
    assert "Invalid request method and/or path" in r.json["fault_message"]


def test_body_rules(api):
    r = api.request("GET", "/machine-config", raw=b'{"a": 1}')
    assert r.status == 400 and "no request body" in r.fault
    r = api.request("PUT", "/machine-config")
    assert r.status == 400 and "needs a JSON request body" in r.fault
    r = api.request("PATCH", "/vm", raw=b"")
    assert r.status == 400


# ---- null means "not given" (Firecracker's serde Option fields) ----
# Firecracker's own config files and SDKs send null for unset optionals; petrel refused them
# (issue 13). Source: Firecracker's vm_config.json layout (`firecracker --config-file`), and
# tests/integration_tests/functional/test_api.py sending None for optional fields.

def test_nulls_in_device_bodies_are_not_given(api, workdir):
    img = workdir / "d.img"
    img.write_bytes(b"\0" * 65536)
    r = api.put("/drives/rootfs", {"drive_id": "rootfs", "partuuid": None, "is_root_device": True,
                                   "cache_type": "Unsafe", "is_read_only": None, "path_on_host": str(img),
                                   "io_engine": None, "rate_limiter": None, "socket": None})
    assert r.status == 204, r
    r = api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": None,
                                             "mtu": None, "rx_rate_limiter": None, "tx_rate_limiter": None})
    assert r.status == 204, r
    r = api.put("/drives/d2", {"drive_id": "d2", "is_root_device": False, "path_on_host": str(img),
                               "rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100, "one_time_burst": None},
                                                "ops": None}})
    assert r.status == 204, r
    cfg = api.get("/vm/config").json
    assert cfg["drives"][0]["is_read_only"] is False
    r = api.put("/logger", {"log_path": str(workdir / "log"), "level": None, "show_level": None,
                            "show_log_origin": None, "module": None})
    assert r.status == 204, r
    r = api.put("/serial", {"serial_out_path": None, "rate_limiter": None})
    assert r.status == 204, r


def test_firecracker_layout_config_file_with_nulls_parses(workdir):
    kernel, img = workdir / "k.bin", workdir / "d.img"
    kernel.write_bytes(b"\0" * 4096)
    img.write_bytes(b"\0" * 65536)
    doc = {
        "boot-source": {"kernel_image_path": str(kernel), "boot_args": "console=ttyS0", "initrd_path": None},
        "drives": [{"drive_id": "rootfs", "partuuid": None, "is_root_device": True, "cache_type": "Unsafe",
                    "is_read_only": False, "path_on_host": str(img), "io_engine": "Sync", "rate_limiter": None,
                    "socket": None}],
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 64, "smt": False, "track_dirty_pages": False,
                           "huge_pages": "None"},
        "cpu-config": None, "balloon": None,
        "network-interfaces": [{"iface_id": "eth0", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "tap0",
                                "mtu": None, "rx_rate_limiter": None, "tx_rate_limiter": None}],
        "vsock": None, "logger": None, "metrics": None, "mmds-config": None, "entropy": None,
    }
    cfg = workdir / "vm_config.json"
    cfg.write_text(json.dumps(doc))
    r = subprocess.run([str(apilib.petrel_bin()), "--no-api", "--config-file", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    # The file parses: what fails is the start (no KVM here, or a kernel of zeroes), not the
    # configuration (exit status 2 with a field named).
    assert r.returncode == 1, r.stderr
    assert "expected" not in r.stderr and "missing required" not in r.stderr, r.stderr


# ---- deprecated fields: served, with a Deprecation header (Firecracker's api_server) ----

@pytest.mark.parametrize("path,body,deprecated", [
    ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "None"}, True),
    ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}, False),
    ("/vsock", {"guest_cid": 3, "uds_path": "/tmp/petrel-dep.sock", "vsock_id": "v"}, True),
    ("/vsock", {"guest_cid": 3, "uds_path": "/tmp/petrel-dep.sock"}, False),
])
def test_deprecation_header(api, path, body, deprecated):
    r = api.put(path, body)
    assert r.status == 204, r
    assert (r.headers.get("Deprecation") == "true") == deprecated, dict(r.headers)
