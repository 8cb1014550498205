# SPDX-License-Identifier: Apache-2.0
"""MMDS over the API, without a VM: PUT/PATCH/GET /mmds, PUT /mmds/config and its validation,
the data store limit, the mmds-config section of --config-file and GET /vm/config, metrics.
Each test names the Firecracker test or doc it mirrors (tests/integration_tests/functional/
test_mmds.py, docs/mmds/mmds-user-guide.md). The guest side is tests/guests/mmds.c."""
import json
import signal
import subprocess

import pytest

import apilib

NET = {"iface_id": "eth0", "host_dev_name": "tap0"}
DATA = {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097",
                                 "local-hostname": "ip-10-251-50-12.ec2.internal"}}}


def add_net(api, iface="eth0", tap="tap0"):
    assert api.put(f"/network-interfaces/{iface}", {"iface_id": iface, "host_dev_name": tap}).status == 204


# Firecracker test_mmds_dummy: empty store is {}, PATCH before PUT is refused, PUT then PATCH.
def test_put_patch_get(api):
    r = api.get("/mmds")
    assert r.status == 200 and r.json == {}
    dummy = {"latest": {"meta-data": {"ami-id": "dummy"}}}
    r = api.patch("/mmds", dummy)
    assert r.status == 400 and "The MMDS data store is not initialized." in r.fault, r
    assert api.put("/mmds", dummy).status == 204
    assert api.get("/mmds").json == dummy
    patch = {"latest": {"meta-data": {"ami-id": "another_dummy", "secret_key": "eaasda48141411aeaeae"}}}
    assert api.patch("/mmds", patch).status == 204
    assert api.get("/mmds").json == patch
    # RFC 7396: null removes a member; a PUT replaces everything.
    assert api.patch("/mmds", {"latest": {"meta-data": {"secret_key": None}}}).status == 204
    assert api.get("/mmds").json == {"latest": {"meta-data": {"ami-id": "another_dummy"}}}
    assert api.put("/mmds", {"other": "x"}).status == 204
    assert api.get("/mmds").json == {"other": "x"}


# Firecracker test_mmds_limit_scenario with its defaults: the store limit is the API's payload
# limit (51200 bytes), counted on compact JSON; a PATCH that would outgrow it is a 413 and
# changes nothing. (A PUT over it cannot get past the HTTP payload limit: 400 there.)
def test_store_limit(api):
    dummy = {"latest": {"meta-data": {"ami-id": "dummy"}}}
    assert api.put("/mmds", dummy).status == 204
    fill = {"latest": {"meta-data": {"ami-id": "smth", "secret_key": "a" * 51137}}}
    assert api.patch("/mmds", fill).status == 204
    more = {"latest": {"meta-data": {"ami-id": "smth", "secret_key2": "b" * 10}}}
    r = api.patch("/mmds", more)
    assert r.status == 413 and "The MMDS patch request doesn't fit." in r.fault, r
    assert "secret_key2" not in api.get("/mmds").json["latest"]["meta-data"]
    assert api.patch("/mmds", {"latest": {"meta-data": {"ami-id": "smth", "secret_key": "a"}}}).status == 204
    assert len(json.dumps(api.get("/mmds").json, separators=(",", ":"))) == 59
    # exactly the limit fits
    exact = json.dumps({"latest": {"meta-data": {"ami-id": "smth", "secret_key": "a" * 51142}}},
                       separators=(",", ":")).encode()
    assert len(exact) == 51200
    assert api.request("PUT", "/mmds", raw=exact).status == 204
    assert api.patch("/mmds", {"x": "y"}).status == 413


def test_store_limit_follows_payload_limit(workdir):
    p = apilib.Petrel(workdir, ["--http-api-max-payload-size", "200000"])
    try:
        api = p.client()
        assert api.put("/mmds", {"k": "a" * 100000}).status == 204
        assert api.patch("/mmds", {"j": "b" * 99980}).status == 204    # 199997 bytes
        r = api.patch("/mmds", {"i": "c"})                                # 200005
        assert r.status == 413, r
    finally:
        p.close()


# Firecracker's command line: --metadata FILE fills the store at start, --mmds-size-limit sets
# its limit (default: the API payload limit). Firecracker test_mmds.py test_mmds_limit_scenario
# and the --metadata flow of docs/mmds/mmds-user-guide.md.
def test_metadata_file_and_size_limit(workdir):
    md = workdir / "metadata.json"
    md.write_text(json.dumps(DATA))
    p = apilib.Petrel(workdir, ["--metadata", md, "--mmds-size-limit", "1000"])
    try:
        api = p.client()
        assert api.get("/mmds").json == DATA
        r = api.patch("/mmds", {"k": "a" * 1000})
        assert r.status == 413 and "The MMDS patch request doesn't fit." in r.fault, r
        assert api.get("/mmds").json == DATA
    finally:
        p.close()


@pytest.mark.parametrize("content,args,word", [
    ("{\"a\": ", [], "is not JSON"),
    (json.dumps({"k": "a" * 2000}), ["--mmds-size-limit", "1000"], "MMDS limit exceeded"),
    (None, [], "cannot read"),
    ("{}", ["--mmds-size-limit", "0"], "--mmds-size-limit: '0' is not a size"),
])
def test_metadata_file_refused(workdir, content, args, word):
    md = workdir / "metadata.json"
    if content is not None:
        md.write_text(content)
    r = subprocess.run([str(apilib.petrel_bin()), "--api-sock", str(workdir / "s.sock"), "--metadata",
                        str(md), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and word in r.stderr, (r.returncode, r.stderr)


@pytest.mark.parametrize("raw,word", [
    (b"{\"a\": ", "invalid JSON"),
    (b"[1, ", "invalid JSON"),
    (b"{\"a\": 1, \"a\": 2}", "invalid JSON"),
])
def test_bad_bodies(api, raw, word):
    r = api.request("PUT", "/mmds", raw=raw)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/mmds").json == {}


# Firecracker's store is a serde_json::Value: PUT /mmds takes any JSON value (its
# api_server/request/mmds.rs parse_put_mmds, data_store.rs put_data), a PATCH that is not an
# object replaces the document (mmds/mod.rs json_patch, RFC 7396 section 2), GET /mmds
# answers the document as it is and {} for null (parsed_request.rs
# success_response_with_mmds_value). The spec calls the body an object; the implementation
# is what clients meet. Responses that are not objects are checked by hand (check=False).
@pytest.mark.parametrize("doc", ["text", [1, "a", {"k": "v"}], 42, 4.5, True, False])
def test_put_any_json_value(api, doc):
    r = api.request("PUT", "/mmds", raw=json.dumps(doc).encode())
    assert r.status == 204, r
    r = api.request("GET", "/mmds", check=False)
    assert r.status == 200 and r.json == doc, r


def test_put_null_and_patch_non_objects(api):
    r = api.request("PATCH", "/mmds", raw=b'"early"')
    assert r.status == 400 and "The MMDS data store is not initialized." in r.fault, r
    assert api.request("PUT", "/mmds", raw=b"null").status == 204
    assert api.get("/mmds").json == {}                       # a null store shows as {}
    assert api.patch("/mmds", {"a": {"b": 1}}).status == 204  # initialized: PATCH works
    assert api.get("/mmds").json == {"a": {"b": 1}}
    assert api.request("PATCH", "/mmds", raw=b'["x", 2]').status == 204
    assert api.request("GET", "/mmds", check=False).json == ["x", 2]
    assert api.patch("/mmds", {"c": None, "d": "e"}).status == 204   # object over an array
    assert api.get("/mmds").json == {"d": "e"}
    assert api.request("PATCH", "/mmds", raw=b'"str"').status == 204
    assert api.request("GET", "/mmds", check=False).json == "str"
    assert api.request("PATCH", "/mmds", raw=b"null").status == 204
    assert api.get("/mmds").json == {}


def test_scalar_store_limit(workdir):
    p = apilib.Petrel(workdir, ["--mmds-size-limit", "100"])
    try:
        api = p.client()
        assert api.request("PUT", "/mmds", raw=json.dumps("a" * 98).encode()).status == 204  # 100 bytes
        r = api.request("PUT", "/mmds", raw=json.dumps("a" * 99).encode())
        assert r.status == 413 and "The MMDS patch request doesn't fit." in r.fault, r
        r = api.request("PATCH", "/mmds", raw=json.dumps(["b" * 100]).encode())
        assert r.status == 413, r
        assert api.request("GET", "/mmds", check=False).json == "a" * 98
    finally:
        p.close()


def test_metadata_file_any_json_value(workdir):
    md = workdir / "metadata.json"
    md.write_text("[1, 2]")
    p = apilib.Petrel(workdir, ["--metadata", md])
    try:
        assert p.client().request("GET", "/mmds", check=False).json == [1, 2]
    finally:
        p.close()


# Only the metadata store takes values that are not objects: every other body is still an object.
@pytest.mark.parametrize("method,path,raw,word", [
    ("PUT", "/mmds/config", b"[1]", "the request body must be a JSON object"),
    ("PUT", "/machine-config", b"[]", "the request body must be a JSON object"),
    ("PATCH", "/balloon", b"[5]", "the request body must be a JSON object"),
    ("PUT", "/boot-source", b"\"x\"", "invalid JSON"),
    ("PUT", "/actions", b"42", "invalid JSON"),
    ("PUT", "/logger", b"null", "invalid JSON"),
])
def test_other_endpoints_still_want_objects(api, method, path, raw, word):
    r = api.request(method, path, raw=raw)
    assert r.status == 400 and word in r.fault, r


# Firecracker docs/mmds/mmds-user-guide.md "Configuring ... MMDS" and test_mmds.py configure_mmds.
def test_config_and_vm_config(api):
    add_net(api)
    r = api.put("/mmds/config", {"network_interfaces": ["eth0"], "version": "V2",
                                 "ipv4_address": "169.254.170.2", "imds_compat": True})
    assert r.status == 204, r
    assert api.get("/vm/config").json["mmds-config"] == {
        "version": "V2", "network_interfaces": ["eth0"], "ipv4_address": "169.254.170.2", "imds_compat": True}
    # Defaults: V1 at 169.254.169.254, not IMDS-compatible.
    assert api.put("/mmds/config", {"network_interfaces": ["eth0"]}).status == 204
    assert api.get("/vm/config").json["mmds-config"] == {
        "version": "V1", "network_interfaces": ["eth0"], "ipv4_address": "169.254.169.254", "imds_compat": False}


def test_vm_config_without_mmds_is_null(api):
    assert api.get("/vm/config").json["mmds-config"] is None


# Firecracker's MmdsConfigError texts (vmm_config/mmds.rs) and its deny_unknown_fields.
@pytest.mark.parametrize("body,word", [
    ({"network_interfaces": []}, "The list of network interface IDs that allow forwarding MMDS requests is empty."),
    ({"network_interfaces": ["eth9"]}, "does not correspond to any existing network interface"),
    ({"network_interfaces": ["eth0"], "ipv4_address": "10.0.0.1"}, "The MMDS IPv4 address is not link local."),
    ({"network_interfaces": ["eth0"], "ipv4_address": "169.254.0.5"}, "not link local"),
    ({"network_interfaces": ["eth0"], "ipv4_address": "169.254.255.5"}, "not link local"),
    ({"network_interfaces": ["eth0"], "ipv4_address": "not-an-ip"}, "ipv4_address"),
    ({"network_interfaces": ["eth0"], "version": "V3"}, "version"),
    ({"network_interfaces": ["eth0"], "imds_compat": "yes"}, "imds_compat"),
    ({"network_interfaces": "eth0"}, "network_interfaces"),
    ({"version": "V2"}, "network_interfaces: missing required field"),
    ({"network_interfaces": ["eth0"], "extra": 1}, "extra"),
])
def test_config_validation(api, body, word):
    add_net(api)
    r = api.put("/mmds/config", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/vm/config").json["mmds-config"] is None


# Firecracker test_deprecated_mmds_config: V1 (also by default) answers with a Deprecation header.
@pytest.mark.parametrize("version,deprecated", [(None, True), ("V1", True), ("V2", False)])
def test_v1_deprecated(api, version, deprecated):
    add_net(api)
    body = {"network_interfaces": ["eth0"]}
    if version:
        body["version"] = version
    r = api.put("/mmds/config", body)
    assert r.status == 204
    assert (r.headers.get("Deprecation") == "true") == deprecated, dict(r.headers)


def test_methods(api):
    r = api.request("GET", "/mmds/config", check=False)
    assert r.status == 400 and "Invalid request method" in r.fault, r
    r = api.request("DELETE", "/mmds", check=False)
    assert r.status == 400, r


# The mmds-config section of a Firecracker vm_config.json (tests/framework/vm_config_with_mmdsv2.json).
def test_config_file_section(workdir):
    kernel = workdir / "k.bin"
    kernel.write_bytes(b"\0" * 4096)
    doc = {"boot-source": {"kernel_image_path": str(kernel)},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
           "network-interfaces": [{"iface_id": "1", "host_dev_name": "tap0"}],
           "mmds-config": {"version": "V2", "ipv4_address": "169.254.169.250", "network_interfaces": ["1"]}}
    cfg = workdir / "vm.json"
    cfg.write_text(json.dumps(doc))
    r = subprocess.run([str(apilib.petrel_bin()), "--no-api", "--config-file", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    # It parses; what fails is the start (no KVM here, or a kernel of zeroes), not the config.
    assert r.returncode == 1, r.stderr
    assert "mmds-config" not in r.stderr, r.stderr
    doc["mmds-config"]["network_interfaces"] = ["2"]
    cfg.write_text(json.dumps(doc))
    r = subprocess.run([str(apilib.petrel_bin()), "--no-api", "--config-file", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "does not correspond to any existing network interface" in r.stderr, r.stderr


# Firecracker's metrics: put/patch/get_api_requests.mmds_* and the mmds group.
def test_metrics(petrel, api, workdir):
    m = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert api.put("/mmds", DATA).status == 204
    assert api.patch("/mmds", {"x": "y"}).status == 204
    assert api.get("/mmds").status == 200
    assert api.request("PUT", "/mmds", raw=b"[1").status == 400   # not JSON
    petrel.signal(signal.SIGTERM)
    assert petrel.wait() == -signal.SIGTERM, petrel.describe()
    line = json.loads(m.read_text().splitlines()[-1])
    assert line["put_api_requests"]["mmds_count"] == 2 and line["put_api_requests"]["mmds_fails"] == 1
    assert line["patch_api_requests"]["mmds_count"] == 1
    assert line["get_api_requests"]["mmds_count"] == 1
    assert line["mmds"]["rx_accepted"] == 0 and "rx_invalid_token" in line["mmds"]


# ---- the guest side (needs /dev/kvm: skips without it) ----

GUEST_MAC = "02:50:45:54:4d:44"


@pytest.mark.parametrize("version,model", [("V1", "virtio"), ("V2", "virtio"), ("V2", "e1000")])
def test_guest_reads_metadata(workdir, version, model):
    """tests/guests/mmds.c through virtio-net (Firecracker test_mmds.py test_mmds_response,
    test_mmds_v2_negative, test_guest_mmds_hang): ARP, listings, strings, JSON, 404, V1 without
    and with a bad token, V2's 401s and token, an oversized request reset; nothing for the
    metadata address reaches the tap. The same through petrel's E1000 ("model": "e1000")."""
    img = str(apilib.guest("mmds"))
    from nethelp import Tap
    tap = Tap()
    sock = tap.open_socket(proto=0x0003)   # everything petrel writes to the tap
    p = apilib.Petrel(workdir)
    try:
        api = p.client()
        assert api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap.name,
                                                    "guest_mac": GUEST_MAC, "model": model}).status == 204
        assert api.put("/mmds/config", {"network_interfaces": ["eth0"], "version": version}).status == 204
        assert api.put("/mmds", {"latest": {"meta-data": {"ami-id": "ami-12345678",
                                                          "reservation-id": "r-fea54097"}}}).status == 204
        assert api.put("/boot-source", {"kernel_image_path": img,
                                        "boot_args": f"mac={GUEST_MAC} version={version[1]} model={model}"}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        assert p.wait(120) == 0, p.describe()
        assert "ok mmds" in p.out.text(), p.describe()
        sock.setblocking(False)
        leaked = []
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                break
            if b"\xa9\xfe\xa9\xfe" in data[14:42]:
                leaked.append(data[:42].hex())
        assert not leaked, f"frames for the metadata address reached the tap: {leaked}"
    finally:
        p.close()
        tap.close()
