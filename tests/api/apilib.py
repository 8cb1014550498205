# SPDX-License-Identifier: Apache-2.0
"""Helpers for the API tests: start petrel with an API socket, talk HTTP over it, and check
responses against Firecracker's OpenAPI (swagger 2.0) description, the API's contract.

The spec is read from $PETREL_API_SPEC or ../shared/reference/firecracker-api.yaml next to the
repository (see DESIGN.md). Without it the tests skip, or fail when $CI is set.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
import guestlib  # (build_dir, guest_image, require)

SPEC_PATH = Path(os.environ.get("PETREL_API_SPEC",
                                REPO.parent / "shared" / "reference" / "firecracker-api.yaml"))
DEFAULT_TIMEOUT = 30.0


def petrel_bin() -> Path:
    return guestlib.petrel_bin()


def guest(name: str) -> Path:
    """Path of a test guest (skips when guests or /dev/kvm are missing)."""
    return guestlib.require(name, "elf")


def boot_kernel() -> str:
    """The boot test guest as a kernel_image_path (skips as guest() does)."""
    return str(guest("boot"))


# ---- the spec ----

_spec = None


def spec():
    global _spec
    if _spec is None:
        if not SPEC_PATH.is_file():
            msg = f"API spec not found at {SPEC_PATH} (set PETREL_API_SPEC)"
            if os.environ.get("CI"):
                pytest.fail(msg)
            pytest.skip(msg)
        with open(SPEC_PATH) as f:
            _spec = yaml.load(f, Loader=_SpecLoader)
    return _spec


class _SpecLoader(yaml.SafeLoader):
    """YAML 1.1 reads the enum value Off (logger level) as false: only true/false are booleans."""


_SpecLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_SpecLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false|True|False)$"),
                                  list("tTfF"))


def _resolve(schema):
    while "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = spec()["definitions"][name]
    return schema


def validate(value, schema, where="body"):
    """Check value against a swagger 2.0 schema. Objects are checked strictly: a property the
    schema does not list is an error (petrel must answer in exactly the spec's shapes)."""
    schema = _resolve(schema)
    errors = []
    _validate(value, schema, where, errors)
    assert not errors, "response does not match the spec:\n  " + "\n  ".join(errors)


def _validate(v, s, where, errors):
    s = _resolve(s)
    t = s.get("type", "object" if "properties" in s else None)
    if t == "object":
        if not isinstance(v, dict):
            errors.append(f"{where}: expected an object, got {v!r}")
            return
        props = s.get("properties", {})
        for r in s.get("required", []):
            if r not in v:
                errors.append(f"{where}: required property {r!r} missing")
        extra = s.get("additionalProperties")
        for k, val in v.items():
            if val is None and k not in s.get("required", []):
                continue  # Firecracker writes unset optionals as null
            if k in props:
                _validate(val, props[k], f"{where}.{k}", errors)
            elif isinstance(extra, dict):
                _validate(val, extra, f"{where}.{k}", errors)
            elif extra is not True:
                errors.append(f"{where}: property {k!r} is not in the spec")
    elif t == "array":
        if not isinstance(v, list):
            errors.append(f"{where}: expected an array, got {v!r}")
            return
        for i, item in enumerate(v):
            _validate(item, s.get("items", {}), f"{where}[{i}]", errors)
    elif t == "string":
        if not isinstance(v, str):
            errors.append(f"{where}: expected a string, got {v!r}")
    elif t == "integer":
        if not isinstance(v, int) or isinstance(v, bool):
            errors.append(f"{where}: expected an integer, got {v!r}")
    elif t == "boolean":
        if not isinstance(v, bool):
            errors.append(f"{where}: expected a boolean, got {v!r}")
    elif t == "number":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            errors.append(f"{where}: expected a number, got {v!r}")
    if "enum" in s and v not in s["enum"]:
        errors.append(f"{where}: {v!r} is not one of {s['enum']}")
    if isinstance(v, int) and not isinstance(v, bool):
        if "minimum" in s and v < s["minimum"]:
            errors.append(f"{where}: {v} < minimum {s['minimum']}")
        if "maximum" in s and v > s["maximum"]:
            errors.append(f"{where}: {v} > maximum {s['maximum']}")


def spec_operation(method: str, path: str):
    """The spec's operation for a concrete path ("/drives/rootfs" matches "/drives/{drive_id}")."""
    if len(path) > 1:
        path = path.rstrip("/")  # petrel accepts one trailing slash, like Firecracker
    for template, ops in spec()["paths"].items():
        rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(rx, path) and method.lower() in ops:
            return ops[method.lower()]
    return None


def request_schema(method: str, path: str):
    op = spec_operation(method, path)
    for p in (op or {}).get("parameters", []):
        if p.get("in") == "body":
            return p["schema"]
    return None


def check_response(method: str, path: str, status: int, body: bytes, content_type=None):
    """The status must be one the spec lists for the operation (or its default), and the body
    must match the schema given for it; 204 has no body; errors carry a fault_message."""
    op = spec_operation(method, path)
    assert op is not None, f"{method} {path} is not in the spec"
    responses = op["responses"]
    resp = responses.get(status, responses.get(str(status)))
    if resp is None:
        assert "default" in responses, f"{method} {path}: status {status} not allowed by the spec"
        resp = responses["default"]
    if status == 204:
        assert body == b"", f"{method} {path}: 204 with a body {body!r}"
        return None
    assert body, f"{method} {path}: {status} without a body"
    assert content_type is None or content_type.startswith("application/json"), content_type
    value = json.loads(body)
    if "schema" in resp:
        validate(value, resp["schema"], f"{method} {path} {status}")
    if status >= 400:
        assert isinstance(value.get("fault_message"), str) and value["fault_message"], value
    return value


# ---- HTTP over the Unix socket ----

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=DEFAULT_TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(path)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def fault(self):
        return (self.json or {}).get("fault_message", "")

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Client:
    """Keep-alive HTTP client for one API socket; every answer is checked against the spec
    (unless check=False)."""

    def __init__(self, path):
        self.path = path
        self.conn = None

    def request(self, method, url, body=None, raw=None, check=True, headers=None):
        if self.conn is None:
            self.conn = UnixHTTPConnection(self.path)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        try:
            self.conn.request(method, url, body=data, headers=hdrs)
            r = self.conn.getresponse()
            payload = r.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            self.close()
            raise
        resp = Response(r.status, payload, r.headers)
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        if check:
            check_response(method, url.split("?")[0], r.status, payload,
                           r.getheader("Content-Type"))
        return resp

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def put(self, url, body=None, **kw):
        return self.request("PUT", url, body, **kw)

    def patch(self, url, body=None, **kw):
        return self.request("PATCH", url, body, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def raw_exchange(path, data: bytes, timeout=5.0, expect_close=True) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it (or timeout)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed: its answer is still to be read
        chunks = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
            if not expect_close:
                break
        return b"".join(chunks)
    finally:
        s.close()


def parse_responses(data: bytes):
    """Split a byte stream of HTTP/1.1 responses: [(status, headers dict, body)]."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


# ---- a petrel process ----

def read_until(proc, needle: bytes, timeout=60.0) -> bytes:
    """A CLI petrel's stdout until needle appears, within timeout seconds (it fails the test
    with what came, instead of waiting for ever on a guest that went silent)."""
    os.set_blocking(proc.stdout.fileno(), False)
    out, end = b"", time.monotonic() + timeout
    while needle not in out:
        assert time.monotonic() < end and proc.poll() is None, \
            f"{needle!r} never came (exit {proc.poll()}): {out[:400]!r} ... {out[-400:]!r}"
        chunk = proc.stdout.read()
        if chunk:
            out += chunk
        else:
            time.sleep(0.02)
    return out


class _Reader(threading.Thread):
    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.data = b""
        self.cond = threading.Condition()
        self.eof = False

    def run(self):
        while True:
            d = self.stream.read1(65536)
            with self.cond:
                if not d:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.data += d
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return self.data.decode("utf-8", "replace").replace("\r", "")


class Petrel:
    """`petrel --api-sock DIR/api.sock [args]` with the console on pipes.

    Extra args are appended; --debug-exit is on by default so test guests end the VM."""

    def __init__(self, tmp_path, args=(), api=True, debug_exit=True, level="Debug", wait=True,
                 timeout=60.0, prefix=(), binary=None, env=None):
        self.sock = Path(tmp_path) / "api.sock"
        self.log = Path(tmp_path) / "petrel.log"
        self.cmd = [str(binary or petrel_bin())]
        if api:
            self.cmd += ["--api-sock", str(self.sock)]
        if debug_exit:
            self.cmd.append("--debug-exit")
        if level:
            self.cmd += ["--level", level, "--show-level"]
        self.cmd += [str(a) for a in args]
        self.cmd = [str(a) for a in prefix] + self.cmd  # e.g. ip netns exec NS
        if not petrel_bin().exists():
            pytest.skip(f"{petrel_bin()} not built")
        self.deadline = time.monotonic() + timeout
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=REPO, env=env)
        self.out = _Reader(self.proc.stdout)
        self.err = _Reader(self.proc.stderr)
        self.out.start()
        self.err.start()
        self.clients = []
        if api and wait:
            self.wait_for_socket()

    def wait_for_socket(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sock.exists():
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(str(self.sock))
                    s.close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        pytest.fail(f"API socket never came up\n{self.describe()}")

    def client(self) -> Client:
        c = Client(self.sock)
        self.clients.append(c)
        return c

    def expect(self, pattern, timeout=DEFAULT_TIMEOUT, stream="out"):
        """Wait until stdout (or stderr) matches; returns the match. A pattern that ends at the
        end of a line ($) matches complete lines only: "^count=1$" must not match the start of
        "count=12" still being written, and what lines() counts next must include the match."""
        rd = self.out if stream == "out" else self.err
        rx = re.compile(pattern, re.M)
        whole_lines = pattern.endswith("$")
        end = time.monotonic() + timeout
        with rd.cond:
            while True:
                text = rd.data.decode("utf-8", "replace").replace("\r", "")
                m = rx.search(text[:text.rfind("\n") + 1] if whole_lines else text)
                if m:
                    return m
                left = end - time.monotonic()
                if left <= 0 or rd.eof:
                    break
                rd.cond.wait(min(left, 0.1))
        pytest.fail(f"petrel {stream} never matched {pattern!r}\n{self.describe()}")

    def lines(self, pattern):
        """Matches of `pattern` in the complete lines so far: a line still being written
        (say "count=1" of "count=12") must not match."""
        text = self.out.text()
        return re.findall(pattern, text[:text.rfind("\n") + 1], re.M)

    def wait(self, timeout=DEFAULT_TIMEOUT) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"petrel did not exit within {timeout}s\n{self.describe()}")
        self.out.join(5)  # everything it wrote has been read
        self.err.join(5)
        return rc

    def signal(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def describe(self):
        return (f"$ {' '.join(self.cmd)}\nexit status {self.proc.poll()}\n--- stdout ---\n"
                f"{self.out.text()[-3000:]}\n--- stderr ---\n{self.err.text()[-5000:]}")

    def close(self):
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        # The readers end at EOF (the process is gone); close their pipes after them.
        self.out.join(2)
        self.err.join(2)
        for s in (self.proc.stdout, self.proc.stderr):
            try:
                s.close()
            except OSError:
                pass
