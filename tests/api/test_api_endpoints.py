# SPDX-License-Identifier: Apache-2.0
"""GET /, /version, actions and the request rules before InstanceStart (methods, paths, bodies,
what is not implemented, deprecated fields), with good and bad requests. Each answer is checked
against Firecracker's API spec (status allowed for the operation, body shape) by apilib."""
import re

import pytest

import apilib


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
        # Firecracker's words (its clients may match them)
        assert r.status == 400 and r.fault == "The requested operation is not supported before starting the microVM."
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
    assert api.put("/boot-source", {"kernel_image_path": apilib.boot_kernel(),
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
