# SPDX-License-Identifier: Apache-2.0
"""The web page over petreld's TLS listener (--listen-tcp, --tls-dir): a browser without a
client certificate must log in (read-only and admin roles), the cookie is Secure, HttpOnly,
SameSite=Strict; the WebSocket console works through TLS; a client certificate is an admin."""
import json
import re

import pytest

import weblib

import tlslib


@pytest.fixture
def tls_web(tmp_path):
    if not tlslib.have_certtool():
        pytest.skip("no certtool (gnutls-bin)")
    pki = tlslib.make_pki(tmp_path / "pki", "hosta,127.0.0.1,localhost", "operator")
    users = weblib.users_file(tmp_path / "users", {"ann": ("admin", "ann-pw"), "rob": ("readonly", "rob-pw")})
    port = tlslib.free_port()
    p = weblib.mgrlib.Petreld(args=["--web-dir", str(weblib.DIST), "--users", str(users), "--listen-tcp",
                                    f"127.0.0.1:{port}", "--tls-dir", str(pki / "hosta")], jailer=False).start()
    tlslib.wait_port(("127.0.0.1", port), p.proc)
    yield p, ("127.0.0.1", port), pki
    p.close()


def req(addr, ctx, method, path, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{addr[1]}", "Connection: close",
             f"Content-Length: {len(body)}", *headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    import socket
    with socket.create_connection(addr, timeout=10) as s, ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
        t.sendall(raw)
        out = b""
        while chunk := t.recv(65536):
            out += chunk
    head, _, rbody = out.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.decode(), rbody


def test_logins_over_tls(tls_web):
    p, addr, pki = tls_web
    assert p.define("t1")[0] == 201
    anon = tlslib.context(pki / "ca.pem")
    br = ("Sec-Fetch-Site: same-origin", f"Origin: https://127.0.0.1:{addr[1]}")
    # The page's files and the login are open; the API is not, without a login.
    assert req(addr, anon, "GET", "/ui/")[0] == 200
    assert req(addr, anon, "GET", "/vms")[0] == 401
    assert req(addr, anon, "GET", "/vms", headers=br)[0] == 401
    st, _, body = req(addr, anon, "GET", "/auth/session", headers=br)
    assert st == 401 and json.loads(body)["login"] is True  # TLS proves nothing: no session given
    st, head, body = req(addr, anon, "POST", "/auth/login", headers=br, body=b'{"user": "rob", "password": "rob-pw"}')
    assert st == 200 and json.loads(body)["role"] == "readonly"
    ck = "Cookie: " + re.search(r"(petrel_session=[0-9a-f]{64})", head).group(1)
    tok = "X-CSRF-Token: " + json.loads(body)["csrf"]
    assert req(addr, anon, "GET", "/vms", headers=(*br, ck))[0] == 200
    assert req(addr, anon, "POST", "/vms/t1/start", headers=(*br, ck, tok))[0] == 403
    # A session made over TLS is good only there (and the Unix socket's only there).
    assert weblib.raw(p.sock, "GET", "/vms", headers=("Sec-Fetch-Site: same-origin", ck))[0] == 401
    # A client certificate is an administrator, as for petreld's peers.
    op = tlslib.context(pki / "ca.pem", pki / "operator")
    st, _, body = req(addr, op, "GET", "/whoami")
    assert st == 200 and json.loads(body)["role"] == "admin"
    assert req(addr, op, "PUT", "/vms/t1/resources", body=b'{"cpu_weight": 120}')[0] == 200


def test_the_page_over_tls(tls_web, browser_ok):
    p, addr, _ = tls_web
    assert p.define("t2")[0] == 201
    url = f"https://127.0.0.1:{addr[1]}"
    ro = weblib.browser("login", url, user="rob", password="rob-pw", vm="t2")
    assert ro["role"] == "readonly" and ro["buttons"] == 0 and ro["put"] == 403
    assert ro["cookie"] == {"httpOnly": True, "secure": True, "sameSite": "Strict"} and ro["after_logout"] == 401
    adm = weblib.browser("login", url, user="ann", password="ann-pw", vm="t2")
    assert adm["role"] == "admin" and adm["put"] == 200
    assert p.api("GET", "/vms/t2")[1]["resources"]["cpu_weight"] == 150


def test_console_websocket_over_tls(tls_web):
    """The console's WebSocket through the TLS listener (its pump hands petreld a plain socket)."""
    import base64
    import os
    import socket
    p, addr, pki = tls_web
    assert p.define("t3")[0] == 201
    (p.state / "logs").mkdir(parents=True, exist_ok=True)
    (p.state / "logs" / "t3.worker.log").write_bytes(b"over tls <i>hi</i>\r\n")
    anon = tlslib.context(pki / "ca.pem")
    br = ("Sec-Fetch-Site: same-origin", f"Origin: https://127.0.0.1:{addr[1]}")
    st, head, body = req(addr, anon, "POST", "/auth/login", headers=br, body=b'{"user": "rob", "password": "rob-pw"}')
    assert st == 200
    ck = "Cookie: " + re.search(r"(petrel_session=[0-9a-f]{64})", head).group(1)
    csrf = json.loads(body)["csrf"]
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(addr, timeout=10) as s, anon.wrap_socket(s, server_hostname="127.0.0.1") as t:
        t.sendall((f"GET /vms/t3/console?csrf={csrf} HTTP/1.1\r\nHost: 127.0.0.1:{addr[1]}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"{ck}\r\n{br[0]}\r\n{br[1]}\r\n\r\n").encode())
        data = b""
        while b"over tls" not in data:
            chunk = t.recv(4096)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 101") and b"over tls <i>hi</i>" in data


def test_details_show_migration_and_replication(tls_web, browser_ok):
    """A VM's overview says what GET /vms/NAME/migration and /replica say: no migration under
    way, the last one that failed and why, not replicated. (The VM runs: a real worker with no
    guest, which refuses to send, so the migration fails after the target was asked.)"""
    p, addr, pki = tls_web
    assert p.define("mig")[0] == 201
    p.stop()
    workers = weblib.mgrlib.leave_workers(p, ["mig"])
    try:
        p.start()
        tlslib.wait_port(addr, p.proc)
        port = tlslib.free_port()   # nobody listens there
        st, r = p.api("POST", "/vms/mig/migrate", {"to": f"127.0.0.1:{port}"}, timeout=60)
        assert st == 502, r
        fwd = weblib.Forwarder(p.sock)
        try:
            res = weblib.browser("details", fwd.url, vm="mig")["status"]
        finally:
            fwd.close()
        assert res["Migration"] == "none under way", res
        assert res["Last migration"].startswith(f"migration failed to 127.0.0.1:{port}, "), res
        assert "cannot connect" in res["Last migration"], res
        assert res["Replication"] == "not replicated", res
    finally:
        for w in workers:
            w.kill()
