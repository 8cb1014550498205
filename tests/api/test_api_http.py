# SPDX-License-Identifier: Apache-2.0
"""The HTTP side of the API: many clients, keep-alive, pipelining, request size limits,
malformed requests and broken JSON. After every bad request the server must carry on."""
import json
import socket
import threading
import time

import pytest

import apilib


def still_serving(petrel):
    r = petrel.client().get("/")
    assert r.status == 200 and r.json["state"] == "Not started"


def test_keep_alive_many_requests_one_connection(api):
    for i in range(200):
        assert api.get("/machine-config").status == 200
        assert api.patch("/machine-config", {"mem_size_mib": 128 + i}).status == 204
    assert api.get("/machine-config").json["mem_size_mib"] == 327


def test_concurrent_clients(petrel, tmp_path):
    errors = []
    n_threads, n_req = 32, 25
    img = tmp_path / "empty.img"
    img.write_bytes(b"")

    def worker(k):
        c = apilib.Client(petrel.sock)
        try:
            for i in range(n_req):
                if i % 2:
                    r = c.get("/")
                    if r.status != 200:
                        errors.append(r)
                else:
                    r = c.put(f"/drives/d{k}_{i}", {"drive_id": f"d{k}_{i}", "path_on_host": str(img),
                                                    "is_root_device": False, "is_read_only": True})
                    if r.status not in (204, 400):  # 400 once the 16-drive table is full
                        errors.append(r)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:5]
    assert time.monotonic() - t0 < 30
    drives = petrel.client().get("/vm/config").json["drives"]
    assert len(drives) == 16  # DEVICES_MAX_DRIVES: the rest were refused, nothing corrupted


def test_many_idle_connections_do_not_block_others(petrel):
    socks = []
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(petrel.sock))
        socks.append(s)
    # One client sending half a request must not hold the server up either. (Past 64 open
    # connections petrel closes the oldest idle ones: use a recent one.)
    socks[-1].sendall(b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    try:
        still_serving(petrel)
    finally:
        for s in socks:
            s.close()


def test_pipelining(petrel):
    reqs = []
    for i in range(20):
        if i % 3 == 0:
            body = json.dumps({"mem_size_mib": 200 + i}).encode()
            reqs.append(b"PATCH /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            reqs.append(b"GET /machine-config HTTP/1.1\r\nHost: localhost\r\n\r\n")
    reqs.append(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = apilib.raw_exchange(petrel.sock, b"".join(reqs), timeout=10)
    resps = apilib.parse_responses(data)
    assert len(resps) == 21, data[-500:]
    mem = 128
    for i, (status, headers, body) in enumerate(resps[:20]):
        if i % 3 == 0:
            assert status == 204 and body == b""
            mem = 200 + i
        else:
            assert status == 200
            assert json.loads(body)["mem_size_mib"] == mem  # answered in order
    assert resps[20][0] == 200 and json.loads(resps[20][2])["state"] == "Not started"


def test_oversize_body_by_content_length(petrel):
    body = b'{"kernel_image_path": "' + b"a" * 60000 + b'"}'
    head = b"PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    data = apilib.raw_exchange(petrel.sock, head + body)
    resps = apilib.parse_responses(data)
    assert resps and resps[0][0] == 400, data[:300]
    fault = json.loads(resps[0][2])["fault_message"]
    assert "limit" in fault and "51200" in fault
    still_serving(petrel)


def test_oversize_body_chunked(petrel):
    chunk = b"a" * 8192
    parts = [b"PUT /boot-source HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"]
    for _ in range(10):
        parts.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    parts.append(b"0\r\n\r\n")
    data = apilib.raw_exchange(petrel.sock, b"".join(parts))
    resps = apilib.parse_responses(data)
    assert resps and resps[0][0] == 400, data[:300]
    assert "limit" in json.loads(resps[0][2])["fault_message"]
    still_serving(petrel)


def test_body_at_the_limit_is_read(api):
    # Exactly 51200 bytes of valid JSON: read whole, then judged on its content.
    pad = 51200 - len(b'{"vcpu_count": 1, "mem_size_mib": 128}')
    raw = b'{"vcpu_count": 1,' + b" " * pad + b' "mem_size_mib": 128}'
    assert len(raw) == 51200
    assert api.put("/machine-config", raw=raw).status == 204


def test_max_payload_option(workdir):
    p = apilib.Petrel(workdir, ["--http-api-max-payload-size", "100"])
    try:
        body = b'{"vcpu_count": 1, "mem_size_mib": 128' + b" " * 100 + b"}"
        data = apilib.raw_exchange(p.sock, b"PUT /machine-config HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        (status, _, answer), = apilib.parse_responses(data)
        assert status == 400 and b"100 bytes" in answer
        assert p.client().put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 128}).status == 204
    finally:
        p.close()


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost localhost\r\n\r\n",                    # header without a colon
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",     # bad content length
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET  HTTP/1.1\r\nHost: x\r\n\r\n",                            # no path
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",                           # unknown version
    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk
])
def test_malformed_requests(petrel, raw):
    data = apilib.raw_exchange(petrel.sock, raw, timeout=3)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    assert status is not None and 400 <= status < 600, data[:200]
    still_serving(petrel)


def test_unparseable_request_line(petrel):
    # Not even "METHOD SP PATH": a 400 and the end of the connection; the server itself must
    # carry on.
    data = apilib.raw_exchange(petrel.sock, b"GARBAGE\r\n\r\n", timeout=3)
    assert data.startswith(b"HTTP/1.1 400"), data[:200]
    still_serving(petrel)


def test_oversize_headers(petrel):
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"
    data = apilib.raw_exchange(petrel.sock, raw, timeout=3)
    assert data.startswith(b"HTTP/1.1 4"), data[:200]
    still_serving(petrel)


def test_client_disconnects_mid_request(petrel):
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(petrel.sock))
        s.sendall(b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"vcpu")
        s.close()
    still_serving(petrel)


@pytest.mark.parametrize("raw,word", [
    (b"{", "invalid JSON"),
    (b'{"vcpu_count": 1, "mem_size_mib": 128', "invalid JSON"),
    (b'{"vcpu_count": 1, "mem_size_mib": 128} trailing', "invalid JSON"),
    (b'{"vcpu_count": 1, "vcpu_count": 2, "mem_size_mib": 128}', "duplicate"),
    (b"[1, 2]", "JSON object"),
    (b'"text"', "invalid JSON"),
    (b"null", "invalid JSON"),
    (b'{"vcpu_count": 1, "mem_size_mib": 128, "x": "\xff\xfe"}', "invalid JSON"),
    (b'{"vcpu_count": 1,\x00 "mem_size_mib": 128}', "invalid JSON"),
    (b'{"vcpu_count": 1e400, "mem_size_mib": 128}', "invalid JSON"),
    (b'{"vcpu_count": 99999999999999999999999, "mem_size_mib": 128}', "invalid JSON"),
    (b"\xef\xbb\xbf{}", "invalid JSON"),
])
def test_broken_json(api, petrel, raw, word):
    r = api.put("/machine-config", raw=raw)
    assert r.status == 400, r
    assert word in r.fault, r
    still_serving(petrel)


def test_deeply_nested_json(api, petrel):
    raw = b'{"a":' * 5000 + b"1" + b"}" * 5000
    r = api.put("/cpu-config", raw=raw[:51200] if len(raw) > 51200 else raw)
    assert r.status == 400
    still_serving(petrel)


def test_fault_messages_are_valid_json_for_any_path(api):
    # Bytes that are not UTF-8 in the path end up in the message; it must stay valid JSON.
    data = apilib.raw_exchange(api.path, b"GET /\xff\xfe%00x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resps = apilib.parse_responses(data)
    assert resps and resps[0][0] == 400
    assert "fault_message" in json.loads(resps[0][2])
