# SPDX-License-Identifier: Apache-2.0
"""petreld's TCP listener (docs/manager.md#the-tls-listener): TLS only, mutual certificate
authentication against the CA of --tls-dir, the principal every handler sees, and refusals
(no certificate, another CA's, no TLS at all) that leave petreld serving. No KVM needed."""
import socket
import ssl
import subprocess
import time

import pytest

import mgrlib
import tlslib

pytestmark = pytest.mark.skipif(not tlslib.have_certtool(), reason="certtool (gnutls-bin) not installed")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    tlslib.make_pki(root / "ours", "hosta,127.0.0.1,localhost", "hostb,127.0.0.1", "operator")
    tlslib.make_pki(root / "theirs", "intruder,127.0.0.1")
    return root


@pytest.fixture
def listener(petreld, pki):
    port = tlslib.free_port()
    p = petreld(args=["--listen-tcp", f"127.0.0.1:{port}", "--tls-dir", str(pki / "ours" / "hosta")], jailer=False)
    tlslib.wait_port(("127.0.0.1", port), p.proc)
    return p, ("127.0.0.1", port)


def ours(pki, who="hostb"):
    return tlslib.context(pki / "ours" / "ca.pem", pki / "ours" / who)


def test_client_certificate_is_an_admin_principal(listener, pki):
    p, addr = listener
    st, who = tlslib.request(addr, ours(pki, "operator"), "GET", "/whoami")
    assert st == 200
    assert who["kind"] == "tls-certificate" and who["role"] == "admin"
    assert who["subject"] == "CN=operator,O=petrel"
    assert who["remote"].startswith("127.0.0.1:")
    assert tlslib.request(addr, ours(pki), "GET", "/vms") == (200, [])
    # the Unix socket's clients are known by their credentials
    st, who = p.api("GET", "/whoami")
    assert st == 200 and who["kind"] == "unix" and who["uid"] == 0 and who["pid"] > 0


def test_anonymous_tls_may_only_ask_who_it_is(listener, pki):
    p, addr = listener
    anon = tlslib.context(pki / "ours" / "ca.pem")
    st, who = tlslib.request(addr, anon, "GET", "/whoami")
    assert st == 200 and who["kind"] == "tls-anonymous" and who["role"] is None
    for method, path in (("GET", "/vms"), ("POST", "/vms"), ("GET", "/events"), ("DELETE", "/vms/x")):
        st, body = tlslib.request(addr, anon, method, path)
        assert st == 401, (method, path)
        assert "client certificate" in body["fault_message"]


def test_certificate_of_another_ca_is_refused(listener, pki):
    p, addr = listener
    intruder = tlslib.context(pki / "ours" / "ca.pem", pki / "theirs" / "intruder")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tlslib.request(addr, intruder, "GET", "/vms")
    time.sleep(0.2)
    assert "certificate is refused" in p.log.read_text()
    # petreld serves on, both ways
    assert tlslib.request(addr, ours(pki), "GET", "/vms")[0] == 200
    assert p.api("GET", "/")[0] == 200


def test_client_checks_the_server_certificate(listener, pki):
    p, addr = listener
    # a client that trusts another CA refuses petreld's certificate ...
    with pytest.raises(ssl.SSLCertVerificationError):
        tlslib.request(addr, tlslib.context(pki / "theirs" / "ca.pem"), "GET", "/whoami")
    # ... and so does one that expected another host's name
    with pytest.raises(ssl.SSLCertVerificationError):
        tlslib.request(addr, ours(pki), "GET", "/whoami", server_hostname="hostb")
    assert tlslib.request(addr, ours(pki), "GET", "/whoami", server_hostname="hosta")[0] == 200


def test_plain_http_and_garbage_on_the_tls_port(listener, pki):
    p, addr = listener
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(b"GET /vms HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while True:     # no HTTP answer: an alert at most, then the end
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert b"HTTP/1.1" not in data and b"[]" not in data
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(bytes(range(256)) * 64)
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
    assert tlslib.request(addr, ours(pki), "GET", "/vms")[0] == 200


def test_silent_clients_do_not_hold_the_listener(listener, pki):
    p, addr = listener
    silent = [socket.create_connection(addr) for _ in range(10)]
    try:
        t0 = time.monotonic()
        assert tlslib.request(addr, ours(pki), "GET", "/whoami")[0] == 200
        assert time.monotonic() - t0 < 5
    finally:
        for s in silent:
            s.close()


def test_event_stream_and_keep_alive_over_tls(listener, pki):
    p, addr = listener
    ctx = ours(pki)
    with socket.create_connection(addr, timeout=10) as s, ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
        # two requests on one connection
        for _ in range(2):
            t.sendall(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += t.recv(1)
            n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
            body = b""
            while len(body) < n:
                body += t.recv(n - len(body))
            assert b"tls-certificate" in body
    with socket.create_connection(addr, timeout=10) as s, ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
        t.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        st, _ = p.api("POST", "/vms", {"boot-source": {"kernel_image_path": "/nonexistent"}, "petrel": {"name": "x"}})
        assert st == 400     # no event for a refused definition; define one that is accepted:
        kernel = p.root / "k"
        kernel.write_bytes(b"\0" * 4096)
        st, _ = p.api("POST", "/vms", {"boot-source": {"kernel_image_path": str(kernel)},
                                       "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
                                       "petrel": {"name": "tlsev"}})
        assert st == 201
        data = b""
        deadline = time.monotonic() + 10
        while b'"defined"' not in data and time.monotonic() < deadline:
            data += t.recv(4096)
        assert b'"tlsev"' in data and b'"defined"' in data


def test_listener_needs_tls(pki, tmp_path):
    base = [str(mgrlib.PETRELD), "--foreground", "--no-jailer", "--state-dir", str(tmp_path / "s"),
            "--defs-dir", str(tmp_path / "d"), "--listen-tcp", "127.0.0.1:0"]
    r = subprocess.run(base, capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "needs --tls-dir" in r.stderr
    r = subprocess.run(base + ["--tls-dir", str(tmp_path / "none")], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "ca.pem" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("ca.pem", "cert.pem", "key.pem"):
        (bad / f).write_text("not a certificate\n")
    r = subprocess.run(base + ["--tls-dir", str(bad)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "ca.pem" in r.stderr


def test_pki_script_names_hosts_and_keeps_existing(tmp_path):
    root = tlslib.make_pki(tmp_path / "p", "h1,10.9.8.7,h1.example")
    info = subprocess.run(["certtool", "-i", "--infile", str(root / "h1" / "cert.pem")], capture_output=True,
                          text=True, check=True).stdout
    assert "CN=h1" in info and "DNSname: h1.example" in info and "IPAddress: 10.9.8.7" in info
    assert "TLS WWW Client" in info and "TLS WWW Server" in info
    assert (root / "h1" / "key.pem").stat().st_mode & 0o077 == 0
    before = (root / "h1" / "cert.pem").read_bytes()
    tlslib.make_pki(root, "h1", "h2")
    assert (root / "h1" / "cert.pem").read_bytes() == before and (root / "h2" / "cert.pem").exists()
    assert (root / "h2" / "ca.pem").read_bytes() == (root / "ca.pem").read_bytes()
