# SPDX-License-Identifier: Apache-2.0
"""virtio-console with MULTIPORT (docs/guest-agent.md), driven from ring 3 by
tests/guests/virtio_console.c: the guest does what Linux's driver does (DEVICE_READY, PORT_READY
for each DEVICE_ADD), finds its port by name, opens it and echoes each line the host sends as
"echo:LINE".

- data both ways over a socket port (PCI and MMIO), the host's open and close seen by the
  guest (PORT_OPEN from the device), the guest's seen by the device (its log), a second port
  with nobody connected beside it;
- snapshot/restore and migration with the port open: the host reconnects to the same path and
  the guest is told again (PORT_OPEN re-sent); the line in flight arrives;
- hostile guests: garbage control messages and chains are refused and the port still works;
  a flood of open/close and 16 MiB written against a host that reads slowly arrive whole, and
  the VMM answers its API meanwhile.
"""
import json
import socket
import time

import pytest

import apilib
from guestlib import Guest, assert_passed, require
from test_vsock import read_line

PORT = "org.petrel.test.0"


def connect(path, timeout=30):
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            s.settimeout(60)
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def echo(s, text):
    s.sendall(text.encode() + b"\n")
    got = read_line(s)
    assert got == b"echo:" + text.encode() + b"\n", got


def quit_and_wait(g, s):
    """The guest's last line: it closes its port and passes."""
    s.sendall(b"quit\n")
    res = g.wait()
    assert_passed(res, "virtio_console")
    return res


def config(tmp_path, img, cmdline, ports):
    cfg = {"boot-source": {"kernel_image_path": str(img), "boot_args": cmdline},
           "console-ports": ports}
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    return ["--config", str(path)]


def start(tmp_path, mode="echo", transport="pci", extra_ports=()):
    img = require("virtio_console")
    sock = tmp_path / "c.sock"
    ports = [*extra_ports, {"port_id": "test", "name": PORT, "socket_path": str(sock)}]
    args = config(tmp_path, img, f"transport={transport} port={PORT} mode={mode}", ports)
    if transport == "mmio":
        args += ["--virtio-transport", "mmio"]
    g = Guest(img, mem=128, timeout=240, extra=["--level", "Info", *args])
    return g, sock


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_echo_both_ways_open_and_close_seen(tmp_path, transport):
    other = {"port_id": "idle", "name": "org.petrel.idle", "socket_path": str(tmp_path / "idle.sock")}
    g, sock = start(tmp_path, transport=transport, extra_ports=[other])
    try:
        g.expect(rf"^vcon: port 2 {PORT}$", timeout=60)
        g.expect(r"^vcon: opened$", timeout=60)
        s = connect(sock)
        g.expect(r"^vcon: host open$", timeout=30)
        echo(s, "hello")
        echo(s, "x" * 3000)                       # longer than one receive buffer
        # The guest closes its port: what the host sends meanwhile waits and arrives after it
        # opened it again.
        s.sendall(b"close\n")
        g.expect(r"^vcon: closed$", timeout=30)
        s.sendall(b"while closed\n")
        g.expect(r"^vcon: reopened$", timeout=30)
        assert read_line(s) == b"echo:while closed\n"
        s.close()
        g.expect(r"^vcon: host closed$", timeout=30)
        s = connect(sock)                         # one client at a time, again and again
        g.expect(r"(?s)host closed.*^vcon: host open$", timeout=30)
        echo(s, "again")
        res = quit_and_wait(g, s)
    finally:
        g.kill()
    assert "vcon: echoed 4" in res.stdout, res.describe()
    for what in ("opened", "closed"):
        assert f"the guest {what} port 2 ({PORT})" in res.stderr, res.describe()
    assert not (tmp_path / "c.sock").exists(), "the socket was left behind"


def test_garbage_control_messages_are_refused(tmp_path):
    g, sock = start(tmp_path, mode="garbage")
    try:
        g.expect(r"^vcon: garbage done$", timeout=120)
        s = connect(sock)
        g.expect(r"^vcon: host open$", timeout=30)
        echo(s, "still here")
        res = quit_and_wait(g, s)
    finally:
        g.kill()
    assert "control message refused" in res.stderr, res.describe()


def test_flood_against_a_slow_reader(tmp_path):
    g, sock = start(tmp_path, mode="flood")
    try:
        g.expect(r"^vcon: port 1 ", timeout=60)
        s = connect(sock)
        time.sleep(2)                             # the guest's writes fill the socket and wait
        want = bytes((ord("a") + i % 26) for i in range(65536)) * 256
        got = bytearray()
        while len(got) < len(want):
            d = s.recv(min(1 << 20, len(want) - len(got)))
            assert d, f"the stream ended after {len(got)} bytes"
            got += d
        assert bytes(got) == want
        g.expect(r"^vcon: flood done$", timeout=60)
        echo(s, "after the flood")
        quit_and_wait(g, s)
    finally:
        g.kill()


def api_boot(api, sock, mode="echo"):
    port = {"port_id": "test", "name": PORT, "socket_path": str(sock)}
    assert api.put("/console-ports/test", port, check=False).status == 204
    assert api.put("/console-ports/other", {"port_id": "other", "name": PORT}, check=False).status == 400  # names unique
    cfg = api.get("/vm/config", check=False).json
    assert cfg["console-ports"] == [port], cfg
    img = str(apilib.guest("virtio_console"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": f"port={PORT} mode={mode}"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r
    assert api.put("/console-ports/late", {"port_id": "late", "name": "x"}, check=False).status == 400   # before the start only


def test_snapshot_and_restore_with_the_port_open(tmp_path):
    sock = tmp_path / "c.sock"
    (tmp_path / "first").mkdir()
    p1 = apilib.Petrel(tmp_path / "first")
    p2 = None
    try:
        api = p1.client()
        api_boot(api, sock)
        p1.expect(r"^vcon: opened$", timeout=60)
        s = connect(sock)
        p1.expect(r"^vcon: host open$", timeout=30)
        echo(s, "before the snapshot")
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        state, mem = tmp_path / "snap.state", tmp_path / "snap.mem"
        r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                         "mem_file_path": str(mem)})
        assert r.status == 204, r
        p1.close()
        s.close()
        (tmp_path / "second").mkdir()
        p2 = apilib.Petrel(tmp_path / "second")
        body = {"snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
                "resume_vm": True}
        r = p2.client().put("/snapshot/load", body)
        assert r.status == 204, f"{r}\n{p2.describe()}"
        # The device listens again; the guest is told the host side went (no client yet), then
        # came back; it never opened its port again: the device kept that it was open.
        p2.expect(r"^vcon: host closed$", timeout=30)
        s = connect(sock)
        p2.expect(r"(?s)host closed.*^vcon: host open$", timeout=30)
        echo(s, "after the restore")
        assert p2.client().get("/vm/config", check=False).json["console-ports"][0]["name"] == PORT
        s.sendall(b"quit\n")
        p2.expect(r"^ok virtio_console$", timeout=60)
    finally:
        for p in (p1, p2):
            if p:
                p.close()
