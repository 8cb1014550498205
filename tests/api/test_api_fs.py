# SPDX-License-Identifier: Apache-2.0
"""petrel's virtio-fs API (docs/virtio-fs.md): PUT /fs/{id} before the start (the back end's
socket must exist then), its validation errors, replacing by id, one device per tag, the
"fs" section of GET /vm/config (absent without devices). /fs is not in Firecracker's spec, so
its answers are checked here (check=False). The device with the real virtiofsd:
tests/unit/test_virtio_fs.c."""
import socket

import pytest


@pytest.fixture
def sock(workdir):
    path = workdir / "vfs.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    yield str(path)
    s.close()


def put(api, fs_id, body):
    return api.put(f"/fs/{fs_id}", body, check=False)


def test_put_then_vm_config(api, sock):
    assert "fs" not in api.get("/vm/config").json
    assert put(api, "share", {"id": "share", "socket": sock, "tag": "myfs"}).status == 204
    assert api.get("/vm/config", check=False).json["fs"] == [
        {"id": "share", "socket": sock, "tag": "myfs", "queue_size": 1024, "num_request_queues": 1}]
    # the same id again replaces it in place
    assert put(api, "share", {"id": "share", "socket": sock, "tag": "other", "queue_size": 256}).status == 204
    assert api.get("/vm/config", check=False).json["fs"] == [
        {"id": "share", "socket": sock, "tag": "other", "queue_size": 256, "num_request_queues": 1}]


@pytest.mark.parametrize("body,why", [
    ({"socket": "S", "tag": "t"}, "id: missing required field"),
    ({"id": "share", "tag": "t"}, "socket: missing required field"),
    ({"id": "share", "socket": "S"}, "tag: missing required field"),
    ({"id": "share", "socket": "S", "tag": "x" * 37}, "tag: must be 1 to 36 bytes"),
    ({"id": "share", "socket": "S", "tag": ""}, "tag: must be 1 to 36 bytes"),
    ({"id": "share", "socket": "S", "tag": "t", "queue_size": 100}, "queue_size: must be a power of two"),
    ({"id": "share", "socket": "S", "tag": "t", "num_request_queues": 16}, "num_request_queues"),
    ({"id": "share", "socket": "S", "tag": "t", "cache": "auto"}, "cache"),
    ({"id": "other", "socket": "S", "tag": "t"}, "id"),
])
def test_bad_bodies(api, sock, body, why):
    body = {k: (sock if v == "S" else v) for k, v in body.items()}
    r = put(api, "share", body)
    assert r.status == 400 and why in r.fault, r.fault


def test_socket_must_exist_and_tags_are_unique(api, sock, workdir):
    r = put(api, "share", {"id": "share", "socket": str(workdir / "none.sock"), "tag": "t"})
    assert r.status == 400 and "No such file or directory" in r.fault and "start the back end" in r.fault, r.fault
    notsock = workdir / "file"
    notsock.write_text("x")
    r = put(api, "share", {"id": "share", "socket": str(notsock), "tag": "t"})
    assert r.status == 400 and "is not a Unix socket" in r.fault, r.fault
    assert put(api, "a", {"id": "a", "socket": sock, "tag": "t"}).status == 204
    r = put(api, "b", {"id": "b", "socket": sock, "tag": "t"})
    assert r.status == 400 and "tag 't' is already fs 'a''s" in r.fault, r.fault


def test_config_file_fs_section(workdir, sock):
    import json
    import apilib
    cfg = workdir / "bad.json"
    cfg.write_text(json.dumps({"machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
                               "fs": [{"id": "share", "socket": sock, "tag": "a"},
                                      {"id": "two", "socket": str(workdir / "nope.sock"), "tag": "b"}]}))
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 2, p.describe()
        assert "fs[1]" in p.err.text() and "nope.sock" in p.err.text(), p.describe()
    finally:
        p.close()


def test_cli_fs_needs_a_tag(workdir, sock):
    import subprocess
    import apilib
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--fs", sock], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "--fs: no tag=TAG" in r.stderr, r.stderr
