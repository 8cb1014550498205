# SPDX-License-Identifier: Apache-2.0
"""petrel's virtio-console ports and the guest agent's switch (docs/guest-agent.md): PUT
/console-ports/{port_id} and PUT /guest-agent before the start, their validation errors,
replacing by port_id, one port per name, a socket path already taken, the sections of GET
/vm/config (absent when not set). Not in Firecracker's spec: answers checked here
(check=False). The device itself: tests/unit/test_vcon.c, tests/virtio/test_virtio_console.py."""
import socket

import pytest


def put(api, port_id, body):
    return api.put(f"/console-ports/{port_id}", body, check=False)


def test_put_then_vm_config(api, workdir):
    cfg = api.get("/vm/config").json
    assert "console-ports" not in cfg and "guest-agent" not in cfg
    path = str(workdir / "c.sock")
    assert put(api, "logs", {"port_id": "logs", "name": "org.example.logs", "socket_path": path}).status == 204
    assert put(api, "agent", {"port_id": "agent", "name": "org.qemu.guest_agent.0"}).status == 204
    # the same port_id again replaces it in place
    assert put(api, "logs", {"port_id": "logs", "name": "org.example.logs2"}).status == 204
    assert api.put("/guest-agent", {"enabled": True}, check=False).status == 204
    cfg = api.get("/vm/config", check=False).json
    assert cfg["console-ports"] == [{"port_id": "logs", "name": "org.example.logs2"},
                                    {"port_id": "agent", "name": "org.qemu.guest_agent.0"}]
    assert cfg["guest-agent"] == {"enabled": True, "timeout_ms": 5000}


@pytest.mark.parametrize("body,why", [
    ({"name": "n"}, "port_id: missing required field"),
    ({"port_id": "p"}, "name: missing required field"),
    ({"port_id": "p", "name": "a/b"}, "not printable ASCII other than '/'"),
    ({"port_id": "p", "name": "x" * 128}, "must be 1 to 127 bytes"),
    ({"port_id": "p", "name": "n", "socket_path": "x" * 108}, "socket_path: must be 1 to 107 bytes"),
    ({"port_id": "p", "name": "n", "speed": 1}, "speed"),
    ({"port_id": "q", "name": "n"}, "port_id"),
])
def test_bad_bodies(api, body, why):
    r = put(api, "p", body)
    assert r.status == 400 and why in r.fault, r


def test_names_unique_and_at_most_16(api):
    assert put(api, "a", {"port_id": "a", "name": "same"}).status == 204
    r = put(api, "b", {"port_id": "b", "name": "same"})
    assert r.status == 400 and "already port 'a'" in r.fault, r
    for i in range(15):
        assert put(api, f"p{i}", {"port_id": f"p{i}", "name": f"n{i}"}).status == 204
    r = put(api, "x", {"port_id": "x", "name": "x"})
    assert r.status == 400 and "at most 16" in r.fault, r


def test_a_taken_socket_path_is_refused(api, workdir):
    path = workdir / "live.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    try:
        r = put(api, "p", {"port_id": "p", "name": "n", "socket_path": str(path)})
        assert r.status == 400 and "is taken" in r.fault, r
    finally:
        s.close()


@pytest.mark.parametrize("body,why", [
    ({}, "enabled: missing required field"),
    ({"enabled": True, "timeout_ms": 0}, "timeout_ms"),
    ({"enabled": "yes"}, "enabled"),
    ({"enabled": True, "ping": 1}, "ping"),
])
def test_guest_agent_bodies(api, body, why):
    r = api.put("/guest-agent", body, check=False)
    assert r.status == 400 and why in r.fault, r
