# SPDX-License-Identifier: Apache-2.0
"""TLS helpers of petreld's tests: certificates made with scripts/pki.sh, and HTTP requests
to petreld's TLS listener with Python's ssl (OpenSSL: an independent implementation of the
peer, so the tests check petreld's GnuTLS against another TLS stack)."""
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PKI = REPO / "scripts" / "pki.sh"


def have_certtool():
    return shutil.which("certtool") is not None


def make_pki(root, *hosts):
    """CA and host certificates under root: returns root (root/HOST is a host's --tls-dir)."""
    subprocess.run([str(PKI), str(root), *hosts], check=True, capture_output=True, text=True)
    return Path(root)


def context(ca, certdir=None, check_hostname=True):
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = check_hostname
    if certdir:
        ctx.load_cert_chain(str(Path(certdir) / "cert.pem"), str(Path(certdir) / "key.pem"))
    return ctx


def request(addr, ctx, method, path, body=None, server_hostname="127.0.0.1", timeout=10.0, raw=None):
    """One request over TLS: (status, parsed JSON body or None). TLS errors raise ssl.SSLError
    (or a ConnectionError when the server closes during the handshake)."""
    if raw is None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        raw = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data
    with socket.create_connection(addr, timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname=server_hostname) as t:
            t.sendall(raw)
            out = b""
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    break
                out += chunk
    head, _, rbody = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, (json.loads(rbody) if rbody.strip() else None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(addr, proc=None, timeout=10.0):
    """Until something listens on addr (petreld answers its Unix socket a moment before)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(addr, timeout=1).close()
            return
        except OSError:
            assert proc is None or proc.poll() is None, "petreld exited"
            assert time.monotonic() < deadline, f"nothing listens on {addr}"
            time.sleep(0.01)
