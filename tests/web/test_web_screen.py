# SPDX-License-Identifier: Apache-2.0
"""A VM's screen through petreld without KVM (docs/display.md#petreld): the test tool
vnc_display (petrel's VNC server over a display in memory) listens where petreld looks for an
unjailed worker's VNC socket, beside an adopted worker. GET /vms/NAME/vnc relays it (Upgrade: rfb
for programs, WebSocket for the page), a read-only viewer's input is dropped by petreld,
malformed viewers are cut off, GET /vms/NAME/screenshot is a PNG of the frame (and, with
?width=N, the list's thumbnail), petrelctl vnc
gives a loopback port, the page's list shows the thumbnail, and the page's screen tab (noVNC in headless Chromium) shows the frame,
types and clicks; a read-only user's page only watches."""
import json
import re
import socket
import struct
import subprocess

import pytest

import rfblib
import weblib
from weblib import raw

BROWSER = ("Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors")
TOOL = weblib.mgrlib.BUILD / "tests" / "tools" / "vnc_display"


def Screen(p, name):
    """vnc_display at petreld's unjailed VNC path of VM name: <state>/sock/<name>.vnc."""
    if not TOOL.exists():
        pytest.skip("vnc_display not built")
    return rfblib.VncDisplay(TOOL, p.state / "sock" / f"{name}.vnc")


@pytest.fixture
def screen_vm(web, tmp_path):
    users = weblib.users_file(tmp_path / "users", {"ann": ("admin", "ann-pw"), "rob": ("readonly", "rob-pw")})
    p, fwd = web(args=["--users", str(users), "--web-login"])
    assert p.define("scr", display={"model": "bochs"})[0] == 201
    procs = weblib.mgrlib.leave_workers(p, ["scr"])
    p.stop()
    p.start()   # adopts the worker: a running VM without KVM
    scr = Screen(p, "scr")
    scr.cmd("fill 0 100 3366cc")
    yield p, fwd, scr
    scr.stop()
    for pr in procs:
        pr.kill()


def login(p, user, pw):
    st, head, body = raw(p.sock, "POST", "/auth/login", headers=BROWSER, body=json.dumps({"user": user, "password": pw}).encode())
    assert st == 200, body
    return "Cookie: " + re.search(r"(petrel_session=[0-9a-f]{64})", head).group(1), json.loads(body)


def test_relay_for_programs(screen_vm):
    p, _, scr = screen_vm
    c = rfblib.connect_petreld(p.sock, "scr").handshake()
    c.set_pixel_format_xrgb()
    c.set_encodings([0, rfblib.DESKTOP_SIZE, rfblib.QEMU_EXT_KEY])
    c.update()
    assert (c.width, c.height) == (320, 200) and c.pixel(10, 10) == 0x3366cc and c.pixel(10, 150) == 0
    c.qemu_key(ord("a"), 0x1e, True)
    c.key(0xff0d, True)
    c.pointer(5, 6, 1)
    assert scr.events() == ["key 0x1e 1", "key 0x1c 1", "abs 5 6 1"]
    c.close()
    # unknown VMs, stopped VMs, VMs without a screen
    assert raw(p.sock, "GET", "/vms/nope/vnc", headers=("Upgrade: rfb",))[0] == 404
    assert p.define("dark")[0] == 201
    assert raw(p.sock, "GET", "/vms/dark/vnc", headers=("Upgrade: rfb",))[0] == 409
    assert raw(p.sock, "GET", "/vms/scr/vnc")[0] == 400           # no Upgrade
    assert raw(p.sock, "POST", "/vms/scr/vnc")[0] == 405


def test_hostile_viewers_are_cut_off(screen_vm):
    p, _, scr = screen_vm
    cases = [
        b"\x07",                                           # a message the server does not take
        b"\x06\x00\x00\x00\x00\x10\x00\x01" + b"x" * 64,   # ClientCutText of 1 MiB + 1 announced
        b"\x06\x00\x00\x00\xff\xff\xff\xf0",               # the extended clipboard's negative length
        b"\x02\x00\x01\x00",                               # SetEncodings of 256
        b"\xff\x01" + b"\x00" * 10,                        # QEMU message other than the key event
    ]
    for bad in cases:
        c = rfblib.connect_petreld(p.sock, "scr").handshake()
        c.send(bad)
        with pytest.raises((rfblib.RFBError, OSError)):
            for _ in range(100):
                c.read_message()
        c.close()
    # a viewer that speaks first (before the server's greeting) reaches nothing
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(p.sock))
    s.sendall(b"GET /vms/scr/vnc HTTP/1.1\r\nHost: localhost\r\nUpgrade: rfb\r\n\r\n\x16\x03\x01GET / HTTP/1.1\r\n")
    data = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
    except OSError:
        pass
    s.close()
    assert b"101" in data.split(b"\r\n")[0]
    # the server and petreld are fine
    assert scr.p.poll() is None
    c = rfblib.connect_petreld(p.sock, "scr").handshake()
    c.set_pixel_format_xrgb()
    c.update()
    assert c.pixel(1, 1) == 0x3366cc
    c.close()
    assert p.api("GET", "/vms/scr")[0] == 200


def test_read_only_viewers_input_dropped(screen_vm):
    import base64
    import os
    p, _, scr = screen_vm
    # a browser's WebSocket without the session's token in its query (another site's page): refused
    ck, _ = login(p, "ann", "ann-pw")
    st, _, _ = raw(p.sock, "GET", "/vms/scr/vnc", headers=(*BROWSER, ck, "Origin: http://localhost", "Upgrade: websocket",
                                                          "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                                                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="))
    assert st == 403
    for user, pw, typed in (("rob", "rob-pw", False), ("ann", "ann-pw", True)):
        ck, s = login(p, user, pw)
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(str(p.sock))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /vms/scr/vnc?csrf={s['csrf']} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"{BROWSER[0]}\r\n{ck}\r\nOrigin: http://localhost\r\n\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        ws = WsSock(sock)
        c = rfblib.RFBClient(ws).handshake()
        c.set_pixel_format_xrgb()
        c.set_encodings([0])
        c.update()
        assert c.pixel(1, 1) == 0x3366cc   # both see the screen
        c.key(ord("q"), True)
        c.pointer(7, 8, 1)
        c.update(incremental=False)        # still connected after its input
        ev = scr.events()
        assert ev == (["key 0x10 1", "abs 7 8 1"] if typed else []), (user, ev)
        sock.close()


class WsSock:
    """A client's WebSocket as a socket for RFBClient: each send one masked binary message."""

    def __init__(self, s):
        self.s = s
        self.buf = b""

    def settimeout(self, t):
        self.s.settimeout(t)

    def sendall(self, data):
        import os
        n = len(data)
        hdr = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536
                               else bytes([0x80 | 127]) + struct.pack(">Q", n))
        k = os.urandom(4)
        self.s.sendall(hdr + k + bytes(b ^ k[i % 4] for i, b in enumerate(data)))

    def recv(self, n):
        while not self.buf:
            try:
                op, data = weblib.ws_read(self.s)
            except weblib.WebSocketEnded:
                return b""
            if op == 8:
                return b""
            if op == 2:
                self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close(self):
        self.s.close()


def test_screenshot(screen_vm):
    p, _, scr = screen_vm
    scr.cmd("fill 150 160 ff8000")
    st, head, body = raw(p.sock, "GET", "/vms/scr/screenshot")
    assert st == 200 and "Content-Type: image/png" in head, head
    w, h, px = rfblib.png_decode(body)
    assert (w, h) == (320, 200)
    assert px(3, 3) == 0x3366cc and px(300, 155) == 0xff8000 and px(10, 190) == 0
    # a read-only user may take one too
    ck, _ = login(p, "rob", "rob-pw")
    assert raw(p.sock, "GET", "/vms/scr/screenshot", headers=(*BROWSER, ck))[0] == 200
    assert raw(p.sock, "GET", "/vms/nope/screenshot")[0] == 404
    # the list's thumbnails: scaled down to the width asked (the height in proportion), each
    # pixel its box's average; a width out of bounds refused
    st, head, body = raw(p.sock, "GET", "/vms/scr/screenshot?width=32")
    assert st == 200, head
    w, h, px = rfblib.png_decode(body)
    assert (w, h) == (32, 20) and px(0, 0) == 0x3366cc and px(20, 15) == 0xff8000 and px(5, 19) == 0
    for bad in ("width=15", "width=8193", "width=", "width=64x", "width=99999999999999999999"):
        assert raw(p.sock, "GET", f"/vms/scr/screenshot?{bad}")[0] == 400, bad
    assert raw(p.sock, "GET", "/vms/scr/screenshot?width=4000")[0] == 200   # wider: as it is
    assert [v for v in p.api("GET", "/vms")[1] if v["name"] == "scr"][0].get("display") is True


def test_petrelctl_vnc(screen_vm):
    p, _, scr = screen_vm
    r = subprocess.Popen([str(weblib.mgrlib.PETRELCTL), "--socket", str(p.sock), "vnc", "scr", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = r.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        c = rfblib.RFBClient(s).handshake()
        c.set_pixel_format_xrgb()
        c.set_encodings([0, rfblib.QEMU_EXT_KEY])
        c.update()
        assert c.pixel(2, 2) == 0x3366cc
        c.qemu_key(0, 0x39, True)
        assert scr.events() == ["key 0x39 1"]
        c.close()
    finally:
        r.kill()
        r.wait()
    bad = subprocess.run([str(weblib.mgrlib.PETRELCTL), "--socket", str(p.sock), "vnc", "nope"], capture_output=True, text=True)
    assert bad.returncode != 0 and "nope" in bad.stderr


def test_screen_in_the_page(screen_vm, browser_ok):
    p, fwd, scr = screen_vm
    adm = weblib.browser("screen", fwd.url, vm="scr", user="ann", password="ann-pw", typed="ab")
    assert adm["status"].startswith("connected"), adm
    assert adm["canvas"]["w"] >= 100 and adm["blue"], adm
    ev = scr.events()
    assert "key 0x1e 1" in ev and "key 0x30 1" in ev, ev              # 'a', 'b' by scan code
    assert any(e.startswith("abs ") for e in ev), ev                     # the click
    assert {"key 0x1d 1", "key 0x38 1", "key 0xe053 1"} <= set(ev), ev   # Ctrl-Alt-Del from the menu
    assert adm["shot"] == 200
    assert adm["thumb"] == {"w": 160, "h": 100}, adm   # the list's thumbnail of the 320x200 screen
    ro = weblib.browser("screen", fwd.url, vm="scr", user="rob", password="rob-pw", typed="ab")
    assert ro["status"].startswith("connected") and ro["blue"] and ro["menu"] == 0, ro
    assert scr.events() == [], "a read-only user's keys reached the guest"
