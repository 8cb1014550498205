# SPDX-License-Identifier: Apache-2.0
"""petrel's VNC server (src/ui/vnc.c over Debian's libvncserver) without a VM: the test tool
vnc_display serves a display in memory and prints the input the server passes on
(docs/display.md#vnc). The handshake, full and incremental updates of the lines that changed, a
mode change (DesktopSize), only the tiles that differ from what was sent, keys by keysym (the US map) and by QEMU's extended key event, the
pointer; and hostile clients: malformed and unknown messages, huge cut text, a pointer flood,
a client that stalls mid-message. After each the server still serves a new client."""
import os
import socket
import struct
import time
from pathlib import Path

import pytest

import rfblib

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "build" / "tests" / "tools" / "vnc_display"

if not TOOL.exists():
    pytest.skip("build/tests/tools/vnc_display is not built", allow_module_level=True)


class Server(rfblib.VncDisplay):
    def __init__(self, tmp_path, w=320, h=200):
        super().__init__(TOOL, tmp_path / "vnc.sock", w, h)
        self.sock = self.path

    def quiet(self, wait=0.5):
        return self.events(wait=wait)

    def client(self):
        c = rfblib.connect_unix(self.sock).handshake()
        c.set_pixel_format_xrgb()
        c.set_encodings([0, rfblib.DESKTOP_SIZE, rfblib.QEMU_EXT_KEY])
        return c

    def alive(self):
        assert self.p.poll() is None, self.p.stderr.read()
        c = self.client()
        c.update()
        c.close()


@pytest.fixture
def srv(tmp_path):
    s = Server(tmp_path)
    yield s
    assert s.stop() == 0


def test_handshake_and_frames(srv):
    c = srv.client()
    assert (c.width, c.height, c.name) == (320, 200, b"petrel")
    srv.cmd("fill 10 20 ff0000")
    c.update()
    assert c.pixel(5, 15) == 0xff0000 and c.pixel(5, 25) == 0
    assert c.qemu_keys, "the extended key event was not acknowledged"
    # incremental: only the lines that changed come
    srv.cmd("fill 100 104 00ff00")
    rects = c.update(incremental=True)
    assert rects == [(0, 100, 320, 4, 0)], rects
    assert c.pixel(300, 102) == 0x00ff00
    # a second viewer at once: shared, both see the screen
    c2 = srv.client()
    c2.update()
    assert c2.pixel(5, 15) == 0xff0000
    c2.close()
    c.close()


def test_only_pixels_that_changed(srv):
    """The display reports whole lines (the dirty log's pages); the server compares them with
    its shadow of the frame and sends only the 16-pixel tiles that differ, over the lines that
    changed (src/ui/vnc_damage.c)."""
    c = srv.client()
    srv.cmd("fill 10 20 ff0000")
    c.update()
    srv.cmd("fill 10 20 ff0000")          # rewritten the same: reported, nothing to send
    srv.cmd("rect 20 50 30 52 0000ff")    # tiles 16-31 of lines 50 and 51
    rects = c.update(incremental=True)
    assert rects == [(16, 50, 16, 2, 0)], rects
    assert c.pixel(25, 51) == 0x0000ff and c.pixel(35, 51) == 0 and c.pixel(5, 15) == 0xff0000
    # changed, sent, changed back: sent again (the shadow holds what the client was sent);
    # the marks of two looks wait together for the client's next request
    srv.cmd("rect 100 60 101 61 00ff00")
    rects = c.update(incremental=True)
    assert rects == [(96, 60, 16, 1, 0)], rects
    srv.cmd("rect 100 60 101 61 000000")
    srv.cmd("rect 300 70 320 71 ffffff")
    rects = c.update(incremental=True)
    assert sorted(rects) == [(96, 60, 16, 1, 0), (288, 70, 32, 1, 0)], rects
    assert c.pixel(100, 60) == 0 and c.pixel(310, 70) == 0xffffff
    c.close()


def test_mode_change_and_blank(srv):
    c = srv.client()
    c.update()
    srv.cmd("mode 640 480")
    rects = c.update(incremental=True)
    assert (c.width, c.height) == (640, 480) and any(r[4] == rfblib.DESKTOP_SIZE for r in rects)
    srv.cmd("off")
    c.update(incremental=True)
    assert (c.width, c.height) == (640, 480)   # the blank screen is 640x480
    c.close()


def test_keys_and_pointer(srv):
    c = srv.client()
    c.update()
    # keysyms through the US map: 'a', 'A' (the same key; Shift is the client's), Return, F1, Right Ctrl
    for ks in (ord("a"), ord("A"), 0xff0d, 0xffbe, 0xffe4):
        c.key(ks, True)
        c.key(ks, False)
    assert srv.events(10) == ["key 0x1e 1", "key 0x1e 0", "key 0x1e 1", "key 0x1e 0", "key 0x1c 1", "key 0x1c 0",
                              "key 0x3b 1", "key 0x3b 0", "key 0xe01d 1", "key 0xe01d 0"]
    # QEMU's extended key event: the scan code wins over the keysym (an AZERTY 'a' is the key Q)
    c.qemu_key(ord("a"), 0x10, True)
    c.qemu_key(0xff8d, 0x9c, False)           # keypad Enter: 0xe0 0x1c as 0x9c
    c.qemu_key(ord("z"), 0, True)             # no scan code: the keysym's
    assert srv.events(3) == ["key 0x10 1", "key 0xe01c 0", "key 0x2c 1"]
    # a keysym without a key on a US keyboard: nothing
    c.key(0x20ac, True)                        # EuroSign
    c.pointer(10, 20, 1)
    c.pointer(400, 300, 4)                     # beyond the screen: clipped to it
    assert srv.events(2) == ["abs 10 20 1", "abs 319 199 4"]
    c.close()


def test_malformed_messages(srv):
    bad = [
        b"\x07",                                   # an unknown message type
        b"\xff\x01\x00\x00" + b"\x00" * 8,         # QEMU message, not the key event
        b"\x02\x00\xff\xff",                       # SetEncodings announcing 65535 and ending
        b"\x00\x00\x00\x00" + bytes([13, 24, 0, 1]) + b"\x00" * 12,  # SetPixelFormat 13 bpp
    ]
    for b in bad:
        c = srv.client()
        c.update()
        c.send_last(b)
        srv.alive()
    # garbage instead of the handshake
    for junk in (b"HELLO WORLD\n" * 4, b"\x16\x03\x01\x00", b"RFB 003.008\n\x09"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(str(srv.sock))
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
        srv.alive()


def test_huge_cut_text(srv):
    c = srv.client()
    c.update()
    # a length of 2 GiB announced (the library refuses more than 1 MiB and closes)
    c.cut_text(b"x" * 100, length=0x7fffffff)
    # and a real 900 KiB one on another connection: read and dropped (no clipboard to the guest)
    c2 = srv.client()
    c2.update()
    c2.cut_text(b"y" * (900 << 10))
    c2.update()
    c2.close()
    c.close()
    srv.alive()
    rss = int(Path(f"/proc/{srv.p.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert rss < 64 << 20, f"the server holds {rss >> 20} MiB"


def test_pointer_flood(srv):
    c = srv.client()
    c.update()
    msg = b"".join(struct.pack(">BBHH", 5, 0, i % 320, i % 200) for i in range(100000))
    t = time.monotonic()
    c.send(msg)
    c.update()   # answered after the flood: the server kept up
    took = time.monotonic() - t
    events = srv.quiet(1.0)
    assert len(events) > 1000 and all(e.startswith("abs ") for e in events)
    assert took < 30, took
    c.close()
    srv.alive()


def test_stalled_client_does_not_stop_others(srv):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(srv.sock))
    s.recv(12)
    s.sendall(b"RFB 003.008\n")
    s.recv(2)
    s.sendall(b"\x01")
    s.recv(4)
    s.sendall(b"\x01")
    s.recv(1024)
    s.sendall(b"\x03\x00\x00")   # a FramebufferUpdateRequest cut short, then silence
    # the server waits for the rest (at most 5 s) and then drops it; others are served after
    t = time.monotonic()
    srv.alive()
    assert time.monotonic() - t < 15
    s.close()
