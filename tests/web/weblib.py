# SPDX-License-Identifier: Apache-2.0
"""Helpers of the web page's tests: a real petreld serving the built page (web/dist), a
forwarder from a loopback TCP port to its Unix socket (what `ssh -L PORT:/run/petreld/petreld.sock`
gives an operator), a users file, and the browser side (tests/web/e2e.mjs: headless Debian
Chromium driven by playwright-core from web/node_modules)."""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import mgrlib
from rfblib import recv_exact

REPO = mgrlib.REPO
DIST = REPO / "web" / "dist"
NODE_MODULES = REPO / "web" / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")
E2E = Path(__file__).resolve().parent / "e2e.mjs"


def browser_missing():
    """Why the browser tests cannot run here, or None."""
    if not shutil.which("node"):
        return "node is not installed"
    if not (NODE_MODULES / "playwright-core").is_dir():
        return "web/node_modules missing: scripts/setup.sh runs npm ci"
    if not (DIST / "index.html").is_file():
        return "web/dist missing: scripts/setup.sh builds the page (npm run build)"
    if not CHROMIUM.exists():
        return "no /usr/bin/chromium"
    return None


class Forwarder:
    """127.0.0.1:PORT -> the Unix socket, one thread pair per connection (as ssh -L)."""

    def __init__(self, sock_path):
        self.sock_path = str(sock_path)
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _connect(self):
        """A connection to petreld's socket. A connect that failed is tried again for a second:
        once in some thirty runs of tests/web on a PVM host it failed with ENOENT while petreld
        served on (the page then lacked app.js); each failure is said on stderr, which pytest
        shows with the test's failure."""
        for attempt in range(10):
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                u.connect(self.sock_path)
                return u
            except OSError as e:
                u.close()
                there = os.path.exists(self.sock_path)
                print(f"Forwarder: connect to {self.sock_path} (try {attempt + 1}): {e!r}; "
                      f"the path {'exists' if there else 'is missing'}", file=sys.stderr)
                time.sleep(0.1)
        return None

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = self._connect()
            if not u:
                c.close()
                continue
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def close(self):
        self.closed = True
        try:  # wakes the accept thread: a close alone left it blocked in accept() for good
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()


def users_file(path, users):
    """users: {name: (role, password)} -> a users file made by petrelctl web-user."""
    for name, (role, password) in users.items():
        r = subprocess.run([str(mgrlib.PETRELCTL), "web-user", "--users", str(path), name, role],
                           input=password + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    return path


def browser(scenario, url, timeout=180, **params):
    """Run one scenario of e2e.mjs against url; returns its JSON result (asserts it passed)."""
    env = dict(os.environ, E2E_PARAMS=json.dumps(params))
    try:
        r = subprocess.run(["node", str(E2E), scenario, url], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else b or ""
        raise AssertionError(f"{scenario} did not end in {timeout} s:\n{text(e.stdout)}\n{text(e.stderr)}") from None
    out = r.stdout.strip().splitlines()
    assert r.returncode == 0, f"{scenario} failed:\n{r.stdout}\n{r.stderr}"
    return json.loads(out[-1]) if out else None


class WebSocketEnded(AssertionError):
    """The server's WebSocket ended before (or in the middle of) a frame."""


def ws_read(s):
    """One WebSocket frame a server sent (unmasked): (opcode, payload); WebSocketEnded when the
    stream ends first."""
    h = recv_exact(s, 2)
    if len(h) < 2:
        raise WebSocketEnded("the WebSocket ended")
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    data = recv_exact(s, n)
    if len(data) < n:
        raise WebSocketEnded(f"the WebSocket ended after {len(data)} of a frame's {n} bytes")
    return h[0] & 0x0F, data


def raw(sock, method, path, headers=(), body=b""):
    """A request with the headers a browser would send; returns (status, headers text, body)."""
    lines = [f"{method} {path} HTTP/1.1", "Connection: close", f"Content-Length: {len(body)}", *headers]
    if not any(h.lower().startswith("host:") for h in headers):
        lines.append("Host: localhost")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(str(sock))
        s.sendall(data)
        resp = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    head, _, rbody = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode(errors="replace"), rbody
