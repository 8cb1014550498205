# SPDX-License-Identifier: Apache-2.0
"""virtio-vsock served in user space, driven from ring 3 by tests/guests/virtio_vsock.c.

Host side, Firecracker's conventions:
  guest -> host: the test listens on <uds>_<out_port>; the guest connects, sends 256 KiB
                 (twice petrel's per-connection buffer), shuts down its side; the test checks
                 the bytes and answers with a reply that the guest reads through a 16 KiB
                 window (petrel must respect the guest's credit).
  host -> guest: the test connects to <uds>, writes "CONNECT <port>\\n", gets "OK <port>\\n",
                 sends data, shuts down, and reads the guest's echo until EOF. A CONNECT to a
                 port nobody listens on in the guest just closes.
"""
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from guestlib import Guest, assert_passed, petrel_bin, require, run_hostile

CID = 42
OUT_PORT = 6000
IN_PORT = 5000


def out_pattern(n):
    return bytes(((i * 13 + (i >> 8) + 1) & 0xFF) for i in range(n))


def recv_all(s, timeout=30):
    s.settimeout(timeout)
    chunks = []
    while True:
        d = s.recv(65536)
        if not d:
            return b"".join(chunks)
        chunks.append(d)


class Server(threading.Thread):
    """Listens on <uds>_<port>: reads everything, checks it, replies, closes."""

    def __init__(self, path, expect_len, reply_len):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(60)
        self.expect_len, self.reply_len = expect_len, reply_len
        self.error = None
        self.got = None

    def run(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                # Read slowly at first: petrel has to buffer and hold back the guest's credit.
                time.sleep(0.3)
                self.got = recv_all(conn)
                reply = bytes(b ^ 0xA5 for b in out_pattern(self.reply_len))
                conn.sendall(reply)
        except Exception as e:  # reported by the test
            self.error = e


def connect(uds, port, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(uds))
    s.sendall(f"CONNECT {port}\n".encode())
    return s


def read_line(s):
    line = b""
    while not line.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            break
        line += d
    return line


def run_vsock(tmp_path, transport="pci", kind="elf", use_json=False, out_bytes=256 * 1024, reply=200000):
    img = require("virtio_vsock", kind)
    uds = tmp_path / "v.sock"
    server = Server(f"{uds}_{OUT_PORT}", out_bytes, reply)
    server.start()
    cmdline = f"transport={transport} cid={CID} out_port={OUT_PORT} in_port={IN_PORT} out_bytes={out_bytes}"
    if use_json:
        cfg = {"boot-source": {"kernel_image_path": str(img), "boot_args": cmdline},
               "vsock": {"guest_cid": CID, "uds_path": str(uds)}}
        (tmp_path / "vm.json").write_text(json.dumps(cfg))
        extra = ["--config", str(tmp_path / "vm.json")]
    else:
        extra = ["--vsock", f"cid={CID},uds={uds},transport={transport}"]
    g = Guest(img, cmdline=None if use_json else cmdline, mem=128, timeout=90, extra=["--level", "Info", *extra])
    try:
        g.expect(r"vsock: listening on %d" % IN_PORT, timeout=60)
        # Nobody listens on IN_PORT + 1: the guest's RST closes our socket without "OK".
        s = connect(uds, IN_PORT + 1)
        assert recv_all(s) == b"", "CONNECT to a port without listener got an answer"
        s.close()
        s = connect(uds, IN_PORT)
        line = read_line(s)
        m = re.fullmatch(rb"OK (\d+)\n", line)
        assert m, f"CONNECT answered {line!r}"
        assert int(m.group(1)) >= 1 << 30
        data = os.urandom(100_000)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        echo = recv_all(s)
        s.close()
        assert echo == data, f"echo: {len(echo)} bytes back of {len(data)}, equal={echo == data}"
        res = g.wait()
    finally:
        g.kill()
    server.join(5)
    assert server.error is None, server.error
    assert server.got == out_pattern(out_bytes), \
        f"the host got {len(server.got or b'')} bytes from the guest, expected its {out_bytes}-byte pattern"
    assert_passed(res, "virtio_vsock")
    assert f"virtio-vsock out={out_bytes} reply={reply} echo=100000" in res.stdout, res.stdout
    assert not uds.exists(), "petrel left its socket behind"
    return res


@pytest.mark.parametrize("kind", ["elf", "bzimage"])
def test_vsock_pci_both_directions(tmp_path, kind):
    res = run_vsock(tmp_path, kind=kind)
    m = re.search(r"vsock: reply \d+ bytes, (\d+) credit updates", res.stdout)
    assert m and int(m.group(1)) > 0, "petrel never sent a credit update for a 256 KiB stream"
    assert "2 host-initiated and 1 guest-initiated connections (1 refused)" in res.stderr, res.stderr


def test_vsock_mmio(tmp_path):
    run_vsock(tmp_path, transport="mmio")


def test_vsock_from_json_config(tmp_path):
    run_vsock(tmp_path, use_json=True, out_bytes=8192, reply=1000)


def test_vsock_cli_errors(tmp_path):
    petrel = petrel_bin()
    if not petrel.exists():
        pytest.skip("petrel not built")
    for arg, msg in [("cid=2,uds=/tmp/x", "cid"), ("uds=/tmp/x", "cid"), ("cid=5", "uds"),
                     ("cid=5,uds=/tmp/x,port=1", "unknown")]:
        p = subprocess.run([str(petrel), "run", "--kernel", "/nonexistent", "--vsock", arg],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (arg, p.stderr)
        assert msg in p.stderr, (arg, p.stderr)
    # A socket path too long for sockaddr_un (with room for "_<port>") fails at start.
    img = require("virtio_vsock", "elf")
    long_path = tmp_path / ("x" * 100)
    p = subprocess.run([str(petrel), "run", "--kernel", str(img), "--vsock", f"cid=5,uds={long_path}"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and "uds_path" in p.stderr, p.stderr


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_vsock_hostile_guest(tmp_path, transport):
    uds = tmp_path / "v.sock"
    # Port 7000: accepts and never reads (the credit test); port 7001: echo for the final check.
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sink.bind(f"{uds}_7000")
    sink.listen(8)
    echo = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    echo.bind(f"{uds}_7001")
    echo.listen(8)
    accepted = []

    def echo_server():
        echo.settimeout(60)
        while True:
            try:
                c, _ = echo.accept()
            except OSError:
                return
            try:
                with c:
                    c.sendall(recv_all(c, timeout=20))
            except OSError:
                pass

    t = threading.Thread(target=echo_server, daemon=True)
    t.start()
    try:
        run_hostile("virtio_vsock_evil", ["--mem", "128", "--cmdline", f"transport={transport} cid={CID}",
                                          "--vsock", f"cid={CID},uds={uds},transport={transport}"], cases_at_least=12)
    finally:
        sink.settimeout(0.1)
        try:
            while True:
                accepted.append(sink.accept()[0])
        except OSError:
            pass
        for a in accepted:
            a.close()
        echo.close()
        sink.close()
