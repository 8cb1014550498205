# SPDX-License-Identifier: Apache-2.0
"""Devices before InstanceStart: drives, network interfaces, vsock, entropy and serial are
validated and kept, a device the VM cannot attach fails InstanceStart, and null means "not
given" in device bodies and config files. Each answer is checked against Firecracker's API spec
(status allowed for the operation, body shape) by apilib."""
import json
import subprocess

import pytest

import apilib


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
    # Firecracker reports unset optionals as null (a bucket's one_time_burst too)
    limiter = {"bandwidth": body["rate_limiter"]["bandwidth"], "ops": dict(body["rate_limiter"]["ops"], one_time_burst=None)}
    assert drives[0] == dict(body, socket=None, rate_limiter=limiter)
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
    # null, as Firecracker reports it (an absent bucket and one_time_burst too)
    rx = {"bandwidth": {"size": 100, "one_time_burst": None, "refill_time": 10}, "ops": None}
    assert nets == [dict(body, rx_rate_limiter=rx, tx_rate_limiter=None)]
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
    assert api.get("/vm/config").json["entropy"] == {"rate_limiter": {  # with Firecracker's nulls
        "bandwidth": {"size": 1000, "one_time_burst": None, "refill_time": 100}, "ops": None}}
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
    assert api.put("/boot-source", {"kernel_image_path": apilib.boot_kernel()}).status == 204
    r = api.put(path, body)
    if r.status == 204:
        r = api.put("/actions", {"action_type": "InstanceStart"})
        assert r.status == 400 and "cannot start the microVM" in r.fault, r
    assert r.status == 400 and any(w in r.fault for w in word), r
    assert api.get("/").json["state"] == "Not started"


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
