# SPDX-License-Identifier: Apache-2.0
"""tls: migration and replication endpoints of a petrel worker, without KVM (docs/migration.md#tls):
the certificates a request names are loaded by the request (a bad one is its 400), the receiver
and the standby listen with TLS and demand a client certificate from our CA, a refused or
garbled peer fails the receive with the reason, and petrel keeps serving. The peer here is
Python's ssl (OpenSSL), not petrel's GnuTLS. Whole migrations over tls: run with KVM
(tests/manager/test_manager_migrate_guest.py)."""
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import apilib

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("certtool") is None, reason="certtool (gnutls-bin) not installed")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    subprocess.run([str(REPO / "scripts" / "pki.sh"), str(root / "ours"), "dst,127.0.0.1", "src"], check=True,
                   capture_output=True)
    subprocess.run([str(REPO / "scripts" / "pki.sh"), str(root / "theirs"), "rogue"], check=True, capture_output=True)
    forged = root / "forged"     # trusts our CA, but its certificate is another CA's
    forged.mkdir()
    shutil.copy(root / "ours" / "ca.pem", forged)
    for f in ("cert.pem", "key.pem"):
        shutil.copy(root / "theirs" / "rogue" / f, forged)
    return root


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port, pki, who):
    ctx = ssl.create_default_context(cafile=str(pki / "ours" / "ca.pem"))
    ctx.load_cert_chain(str(pki / who / "cert.pem"), str(pki / who / "key.pem"))
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def wait_failed(api, path, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        st = api.get(path, check=False).json
        if st.get("state") in ("failed", "stopped"):
            return st
        assert time.monotonic() < deadline, st
        time.sleep(0.05)


def test_bad_tls_requests(api, pki, workdir):
    d = str(pki / "ours" / "dst")
    for body, msg in (({"receiver_url": "tls:127.0.0.1:1"}, "needs tls_dir"),
                      ({"receiver_url": "tcp:127.0.0.1:1", "tls_dir": d}, "tls: urls only"),
                      ({"receiver_url": "tls:127.0.0.1:1", "tls_dir": str(workdir)}, "ca.pem"),
                      ({"receiver_url": "tls:127.0.0.1:1", "tls_dir": ""}, "tls_dir"),
                      ({"receiver_url": "tls:127.0.0.1:1", "tls_dir": 7}, "tls_dir"),
                      ({"receiver_url": "tls:127.0.0.1", "tls_dir": d}, "tls:HOST:PORT")):
        r = api.put("/migration/receive", body, check=False)
        assert r.status == 400 and msg in r.fault, (body, r)
    r = api.put("/migration/send", {"destination_url": "tls:127.0.0.1:1"}, check=False)
    assert r.status == 400, r
    r = api.put("/replication", {"role": "standby", "listen_url": "tls:127.0.0.1:1"}, check=False)
    assert r.status == 400 and "needs tls_dir" in r.fault, r
    r = api.put("/replication", {"role": "primary", "peer_url": "tls:127.0.0.1:1", "tls_dir": str(workdir)},
                check=False)
    assert r.status == 400 and "ca.pem" in r.fault, r
    assert api.get("/", check=False).status == 200


def test_receiver_confirms_a_good_client_then_fails_on_garbage(api, pki):
    port = free_port()
    r = api.put("/migration/receive", {"receiver_url": f"tls:127.0.0.1:{port}", "tls_dir": str(pki / "ours" / "dst")},
                check=False)
    assert r.status == 204, r
    with connect(port, pki, "ours/src") as t:
        assert t.recv(1) == b"P"          # the receiver accepted our certificate
        t.sendall(b"not a migration stream" * 10)
        st = wait_failed(api, "/migration")
    assert st["role"] == "destination" and st["reason"], st
    assert api.get("/", check=False).status == 200


@pytest.mark.parametrize("who, why", [("forged", "certificate is refused"), (None, "no certificate")])
def test_receiver_refuses_a_client_without_our_certificate(api, pki, who, why):
    port = free_port()
    r = api.put("/migration/receive", {"receiver_url": f"tls:127.0.0.1:{port}", "tls_dir": str(pki / "ours" / "dst")},
                check=False)
    assert r.status == 204, r
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        if who:
            t = connect(port, pki, who)
        else:
            ctx = ssl.create_default_context(cafile=str(pki / "ours" / "ca.pem"))
            t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                server_hostname="127.0.0.1")
        with t:
            t.recv(1)                      # TLS 1.3: the refusal comes after the handshake
            raise ConnectionError("closed")
    st = wait_failed(api, "/migration")
    assert why in st["reason"], st
    assert api.get("/", check=False).status == 200


def test_standby_refuses_a_forged_primary(api, pki):
    port = free_port()
    r = api.put("/replication", {"role": "standby", "listen_url": f"tls:127.0.0.1:{port}",
                                 "tls_dir": str(pki / "ours" / "dst")}, check=False)
    assert r.status == 204, r
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with connect(port, pki, "forged") as t:
            t.recv(1)
            raise ConnectionError("closed")
    st = wait_failed(api, "/replication")
    assert "certificate is refused" in st["reason"], st
    assert api.get("/", check=False).status == 200
