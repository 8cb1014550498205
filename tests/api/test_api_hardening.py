# SPDX-License-Identifier: Apache-2.0
"""Hardening (issue 9): what an attacker tried through the API and the command line, and the
answer petrel must give now. None of these needs a VM."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import apilib


def status_and_body(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


@pytest.mark.parametrize("path", [b"/\x00x", b"/machine-config\x00/x", b"/%00x", b"/machine-config%00"])
def test_nul_in_the_path_is_refused(petrel, path):
    raw = apilib.raw_exchange(petrel.sock, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, body = status_and_body(raw)
    assert status == 400, raw
    assert petrel.client().get("/").status == 200  # and the API keeps serving


@pytest.mark.parametrize("headers,msg", [
    (b"Content-Length: 34\r\nContent-Length: 20\r\n", "conflicting Content-Length"),
    (b"Content-Length: 34\r\nContent-Length: 34\r\n", "more than one Content-Length"),
    (b"Content-Length: 34\r\nTransfer-Encoding: chunked\r\n", "both Content-Length and Transfer-Encoding"),
])
def test_ambiguous_body_framing_is_refused(petrel, headers, msg):
    body = b'{"vcpu_count":1,"mem_size_mib":64}'
    raw = apilib.raw_exchange(petrel.sock, b"PUT /machine-config HTTP/1.1\r\nHost: x\r\n" + headers +
                              b"Content-Type: application/json\r\nConnection: close\r\n\r\n" + body)
    status, text = status_and_body(raw)
    assert status == 400 and msg in text, raw
    assert petrel.client().get("/machine-config").json["mem_size_mib"] != 64  # nothing applied


@pytest.mark.parametrize("sent", [b"GET / HT", b"GET / HTTP/1.1\r\nHost: x\r\n", b"G\xf9\x01T\x00TH\x00P/",
                                  b"PUT /vm HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n{"])
def test_a_client_that_closes_mid_request_is_let_go(petrel, sent):
    """Half a request, then the client closes its side: the server closes the connection at
    once instead of keeping the slot until 64 newer connections push it out (found by
    fuzz_http: libmicrohttpd, the API's first HTTP server, missed in its edge-triggered epoll
    mode an end of file that arrived with the data)."""
    for _ in range(10):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(petrel.sock))
            s.sendall(sent)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            while s.recv(4096):
                pass  # an answer (400) may come first; then the end
    assert petrel.client().get("/").status == 200


def test_percent_escapes_still_work(api):
    assert api.get("/mach%69ne-config", check=False).status == 200


@pytest.fixture
def fifo(workdir):
    p = workdir / "fifo"
    os.mkfifo(p)
    return p


def drive(path, ro=True):
    return {"drive_id": "d", "path_on_host": str(path), "is_root_device": False, "is_read_only": ro}


@pytest.mark.parametrize("kind", ["fifo", "fifo_rw", "chardev", "directory"])
def test_drive_must_be_a_file_or_block_device(api, workdir, fifo, kind):
    path = {"fifo": fifo, "fifo_rw": fifo, "chardev": "/dev/zero", "directory": workdir}[kind]
    t0 = time.monotonic()
    r = api.put("/drives/d", drive(path, ro=kind != "fifo_rw"))
    assert r.status == 400, r
    assert time.monotonic() - t0 < 5, "the check blocked"
    want = {"fifo": "a FIFO", "fifo_rw": "a FIFO", "chardev": "a character device", "directory": "a directory"}[kind]
    assert want in r.fault, r.fault
    assert api.get("/").status == 200


@pytest.mark.parametrize("field", ["kernel_image_path", "initrd_path"])
def test_boot_files_must_be_regular(api, workdir, fifo, field):
    kernel = workdir / "k"
    kernel.write_bytes(b"\0" * 4096)
    body = {"kernel_image_path": str(kernel)}
    body[field] = str(fifo)
    r = api.put("/boot-source", body)
    assert r.status == 400 and "a FIFO" in r.fault, r
    r = api.put("/boot-source", {"kernel_image_path": "/dev/zero"})
    assert r.status == 400 and "character device" in r.fault, r


def test_config_file_fifo_does_not_hang(workdir, fifo):
    t0 = time.monotonic()
    r = subprocess.run([str(apilib.petrel_bin()), "--no-api", "--config-file", str(fifo)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert time.monotonic() - t0 < 10
    assert "config" in r.stderr.lower(), r.stderr


@pytest.mark.parametrize("mac", ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01"])
def test_multicast_guest_mac_is_accepted_with_a_warning(petrel, api, mac):
    # Firecracker takes it (a Linux guest then picks a random address): so does petrel, and warns
    r = api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": mac})
    assert r.status == 204, r
    assert api.get("/vm/config").json["network-interfaces"][0]["guest_mac"] == mac
    # the warning is logged before the answer, but reaches this test through a reader thread
    petrel.expect(rf"guest_mac: '{mac}' is a multicast address", timeout=10, stream="err")


def test_multicast_mac_on_the_command_line(workdir):
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--kernel", "/nonexistent", "--net", "tap=tap0,mac=03:00:00:00:00:01"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "multicast" in r.stderr, r.stderr


def test_vsock_never_takes_a_live_socket(workdir):
    """uds_path naming another petrel's live API socket is refused; a stale one is fine."""
    other = apilib.Petrel(workdir)
    b_dir = workdir / "b"
    b_dir.mkdir()
    b = apilib.Petrel(b_dir)
    try:
        api = b.client()
        r = api.put("/vsock", {"guest_cid": 3, "uds_path": str(other.sock)})
        assert r.status == 400 and "in use" in r.fault, r
        assert other.client().get("/").status == 200  # untouched
        plain = workdir / "plain"
        plain.write_text("x")
        r = api.put("/vsock", {"guest_cid": 3, "uds_path": str(plain)})
        assert r.status == 400 and plain.read_text() == "x"
        assert api.put("/vsock", {"guest_cid": 3, "uds_path": str(workdir / "v.sock")}).status == 204
    finally:
        b.close()
        other.close()


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_slow_clients_cannot_hold_the_api(petrel):
    """Hundreds of connections trickling one header byte at a time (and idle ones) must not
    keep a client out, nor eat petrel's file descriptors."""
    import socket
    import threading
    base = open_fds(petrel.proc.pid)
    stop = threading.Event()
    socks = []
    line = b"GET /machine-config HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10000

    def trickle():
        i = 0
        while not stop.is_set():
            for s in list(socks):
                try:
                    s.send(line[i % len(line):i % len(line) + 1])
                except OSError:
                    socks.remove(s)
                    try:
                        n = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        n.connect(str(petrel.sock))
                        socks.append(n)  # the attacker comes back at once
                    except OSError:
                        pass
            i += 1
            time.sleep(0.05)

    def connect():
        # The listen backlog may be full for a moment (EAGAIN): an attacker just retries.
        end = time.monotonic() + 10
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(petrel.sock))
                return s
            except BlockingIOError:
                s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)

    for _ in range(300):
        socks.append(connect())
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        time.sleep(1)
        for _ in range(10):
            t0 = time.monotonic()
            c = connect()
            try:
                c.settimeout(5)
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                raw = c.recv(4096)
            finally:
                c.close()
            assert raw.startswith(b"HTTP/1.1 200"), raw[:100]
            assert time.monotonic() - t0 < 5
        # Connections it cut are closed a moment later: the count settles near the soft limit
        # (64) plus at most 8 lingering, plus those the attacker re-opened within the last second
        # (a new connection is not cut in its first second, HTTP_NEW_GRACE_MS): far below the
        # 300 attackers. The bound was 80; a clean-clone run with a nested-KVM VM loading the
        # machine's two cores settled at 83 (the attacker re-opens each cut one within 50 ms).
        end = time.monotonic() + 5
        while open_fds(petrel.proc.pid) > base + 96 and time.monotonic() < end:
            time.sleep(0.05)
        n = open_fds(petrel.proc.pid)
        assert n <= base + 96, f"petrel holds {n - base} connections' descriptors"
    finally:
        stop.set()
        t.join(5)
        for s in socks:
            s.close()
    assert petrel.client().get("/").status == 200


def test_patch_drive_to_a_fifo_is_refused_at_once(api, workdir, fifo):
    """PATCH /drives/{id} checks the new file before taking any lock: a FIFO cannot hang it."""
    t0 = time.monotonic()
    r = api.patch("/drives/d", {"drive_id": "d", "path_on_host": str(fifo)})
    assert r.status == 400 and "a FIFO" in r.fault, r
    assert time.monotonic() - t0 < 5
    assert api.get("/").status == 200


# Found by a review of the API's own HTTP server (2026-11-25); each fails on its first version.

def test_head_answer_has_no_body(petrel):
    """A HEAD answer says its length but sends no body: a body would be read as the start of
    the next answer on the connection."""
    raw = apilib.raw_exchange(petrel.sock, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.1 "), raw[:200]
    assert rest.startswith(b"HTTP/1.1 200 "), raw[:300]  # the GET's answer follows at once


def test_http10_keep_alive_is_said(petrel):
    """An HTTP/1.0 client that asks for keep-alive is told so (else 1.0 means close, and it
    would wait for an end that never comes); without asking, the connection closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(petrel.sock))
    s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    head = s.recv(4096).partition(b"\r\n\r\n")[0].lower()
    s.close()
    assert b"connection: keep-alive" in head, head
    raw = apilib.raw_exchange(petrel.sock, b"GET / HTTP/1.0\r\n\r\n", timeout=5)
    assert raw.startswith(b"HTTP/1.1 200") and b"Connection: close" in raw, raw[:300]


def test_no_100_continue_for_http10(petrel):
    raw = apilib.raw_exchange(petrel.sock, b"PUT /machine-config HTTP/1.0\r\nExpect: 100-continue\r\n"
                              b"Content-Length: 34\r\n\r\n", timeout=1, expect_close=False)
    assert not raw.startswith(b"HTTP/1.1 100"), raw


def test_whitespace_before_a_header_colon_is_refused(petrel):
    """http-parser takes "Content-Length : N" as Content-Length; petrel would not have seen it
    as one (no size check up front: 10 GB read and dropped)."""
    raw = apilib.raw_exchange(petrel.sock, b"PUT /machine-config HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length : 10000000000\r\n\r\n")
    status, body = status_and_body(raw)
    assert status == 400 and "whitespace" in body, raw
    assert petrel.client().get("/").status == 200


def read_to_end(s):
    """Everything until the end of file; an error (ECONNRESET) instead of it fails."""
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            return data
        data += d


@pytest.mark.parametrize("size", [60000, 2000000])
def test_a_body_past_the_limit_gets_its_answer(petrel, size):
    """A body past the payload limit is refused before it is read, and the connection closes.
    Closed with the client's bytes unread, a client still sending its body got EPIPE before it
    could read the answer (2 MB), and one that had sent it all read the answer and then
    ECONNRESET (60 kB). Now petrel shuts its side and drops what still comes for a while (a
    lingering close): the whole body goes out, then the answer and the end of file."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(petrel.sock))
        s.sendall(b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % size + b" " * size)
        status, body = status_and_body(read_to_end(s))
    assert status == 400 and "larger than the limit" in body, body
    assert petrel.client().get("/").status == 200


def test_a_lingering_client_is_let_go(petrel):
    """After an answer that closes, a client that neither closes nor stops sending is cut
    after HTTP_LINGER_MS (2 s): its slot is not held for good."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(petrel.sock))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert read_to_end(s).startswith(b"HTTP/1.1 200")  # our side is shut: end of file
        start = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while time.monotonic() - start < 10:
                s.send(b"x" * 4096)   # dropped, until the linger is over
                time.sleep(0.01)
        assert 1.5 < time.monotonic() - start < 5
    assert petrel.client().get("/").status == 200


def test_lingering_connections_are_cut_before_idle_clients(petrel):
    """Past 64 connections the oldest idle one is cut to make room; connections that only
    linger (their answer is out, their client goes on sending) go first: they pushed an idle
    keep-alive client out in the lingering close's first version (a review)."""
    idle, garbage = [], []
    try:
        for _ in range(56):   # keep-alive clients, one request answered each, then idle
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(str(petrel.sock))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            idle.append(s)
        for _ in range(8):    # refused at once, then lingering (HTTP_LINGER_MAX of them)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(str(petrel.sock))
            s.sendall(b"\x00garbage\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 400")
            s.sendall(b"more")
            garbage.append(s)
        time.sleep(1.2)   # every connection past its first second
        assert petrel.client().get("/").status == 200   # the 65th: one is cut
        time.sleep(0.2)
        for s in idle:
            s.setblocking(False)
            try:
                assert s.recv(1) != b"", "an idle keep-alive client was cut"
            except BlockingIOError:
                pass   # still open
    finally:
        for s in idle + garbage:
            s.close()


def test_clients_that_never_read_cannot_hold_the_api(workdir):
    """Connections that pipeline requests and never read their answers were never cut (a whole
    request always waited behind the unread answers): 256 of them locked everyone out. (At
    Warning level: tens of thousands of requests are answered before the answers back up, and
    the Debug log of each would measure this test's pipe reader.)"""
    petrel = apilib.Petrel(workdir, level="Warning")
    held = []
    try:
        for _ in range(256):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(petrel.sock))
            s.setblocking(False)
            try:
                s.send(b"GET / HTTP/1.1\r\n\r\n" * 2000)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            held.append(s)
        time.sleep(1)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(str(petrel.sock))
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert c.recv(4096).startswith(b"HTTP/1.1 200")
        c.close()
    finally:
        for s in held:
            s.close()
        petrel.close()


def test_out_of_descriptors_does_not_spin(workdir):
    """accept() failing for want of descriptors left the socket readable: the API thread spun
    and logged a line each round until a connection closed."""
    sock = workdir / "emfile.sock"
    log = workdir / "emfile.log"
    with open(log, "w") as err:
        p = subprocess.Popen(["prlimit", "--nofile=40", str(apilib.petrel_bin()), "--api-sock", str(sock)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    held = []
    try:
        end = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < end:
            time.sleep(0.01)
        for _ in range(60):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(sock))
            held.append(s)
        time.sleep(0.5)

        def cpu():
            f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        c0 = cpu()
        time.sleep(2)
        assert cpu() - c0 < 0.5, "the API thread spins"
        for s in held:
            s.close()
        held = []
        assert apilib.Client(sock).get("/").status == 200  # and it serves again
        # SIGTERM still stops it with every descriptor held: its signalfd is made before the
        # API serves (made after, it could fail, and SIGTERM, blocked for it, went unseen)
        for _ in range(60):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(sock))
            held.append(s)
        time.sleep(0.5)
        p.terminate()
        assert p.wait(10) == -signal.SIGTERM
    finally:
        for s in held:
            s.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert sum(1 for _ in open(log)) < 20, open(log).read()[-500:]
