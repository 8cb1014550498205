# SPDX-License-Identifier: Apache-2.0
"""A small RFB 3.8 client (RFC 6143) for the tests of petrel's VNC server and petreld's relay
(docs/display.md): the handshake without authentication, 32-bit XRGB pixels, raw encoding,
framebuffer update requests, key and pointer events, QEMU's extended key event, cut text, and
raw bytes for malformed messages. The frame is kept as a bytearray (B, G, R, X per pixel)."""
import queue
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

QEMU_EXT_KEY = -258
DESKTOP_SIZE = -223


class RFBError(Exception):
    pass


def recv_exact(sock, n):
    """n bytes from sock, or fewer when it ended. Not recv(n, MSG_WAITALL): a socket with a
    timeout is non-blocking underneath, and there the kernel hands back what has come so far."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


class RFBClient:
    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.width = self.height = 0
        self.name = b""
        self.fb = bytearray()
        self.qemu_keys = False   # the server acknowledged the extended key event

    # ---- plumbing ----
    def recv_exact(self, n):
        buf = recv_exact(self.sock, n)
        if len(buf) < n:
            raise RFBError(f"the server closed after {len(buf)} of {n} bytes")
        return buf

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def send_last(self, data):
        """Send data, end the sending side, read whatever comes until the server closes, close."""
        self.send(data)
        self.sock.shutdown(socket.SHUT_WR)
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.close()

    # ---- handshake ----
    def handshake(self, shared=True):
        ver = self.recv_exact(12)
        if not ver.startswith(b"RFB 003."):
            raise RFBError(f"not an RFB server: {ver!r}")
        self.send(b"RFB 003.008\n")
        n = self.recv_exact(1)[0]
        if n == 0:
            (ln,) = struct.unpack(">I", self.recv_exact(4))
            raise RFBError(self.recv_exact(ln).decode(errors="replace"))
        types = self.recv_exact(n)
        if 1 not in types:
            raise RFBError(f"no security type none in {list(types)}")
        self.send(b"\x01")
        (res,) = struct.unpack(">I", self.recv_exact(4))
        if res:
            raise RFBError("security handshake failed")
        self.send(b"\x01" if shared else b"\x00")
        w, h = struct.unpack(">HH", self.recv_exact(4))
        self.recv_exact(16)   # the server's pixel format
        (ln,) = struct.unpack(">I", self.recv_exact(4))
        self.name = self.recv_exact(ln)
        self.resize(w, h)
        return self

    def resize(self, w, h):
        self.width, self.height = w, h
        self.fb = bytearray(w * h * 4)

    # ---- client messages ----
    def set_pixel_format_xrgb(self):
        # 32 bpp, depth 24, little endian, true colour, max 255 each, shifts R16 G8 B0
        self.send(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))

    def set_encodings(self, encodings):
        self.send(struct.pack(">BxH", 2, len(encodings)) + b"".join(struct.pack(">i", e) for e in encodings))

    def request(self, incremental=False, x=0, y=0, w=None, h=None):
        w = self.width if w is None else w
        h = self.height if h is None else h
        self.send(struct.pack(">BBHHHH", 3, 1 if incremental else 0, x, y, w, h))

    def key(self, keysym, down):
        self.send(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def qemu_key(self, keysym, qnum, down):
        self.send(struct.pack(">BBHII", 255, 0, 1 if down else 0, keysym, qnum))

    def pointer(self, x, y, buttons=0):
        self.send(struct.pack(">BBHH", 5, buttons, x, y))

    def cut_text(self, text, length=None):
        self.send(struct.pack(">BxxxI", 6, len(text) if length is None else length) + text)

    # ---- server messages ----
    def read_message(self):
        """One server message: ("update", [rects]), ("bell",), ("cut", text), ("colours",)."""
        t = self.recv_exact(1)[0]
        if t == 0:
            _, n = struct.unpack(">BH", self.recv_exact(3))
            rects = []
            for _ in range(n):
                x, y, w, h, enc = struct.unpack(">HHHHi", self.recv_exact(12))
                if enc == 0:
                    data = self.recv_exact(w * h * 4)
                    for row in range(h):
                        o = ((y + row) * self.width + x) * 4
                        self.fb[o:o + w * 4] = data[row * w * 4:(row + 1) * w * 4]
                elif enc == DESKTOP_SIZE:
                    self.resize(w, h)
                elif enc == QEMU_EXT_KEY:
                    self.qemu_keys = True
                else:
                    raise RFBError(f"an encoding not asked for: {enc}")
                rects.append((x, y, w, h, enc))
            return ("update", rects)
        if t == 2:
            return ("bell",)
        if t == 3:
            self.recv_exact(3)
            (ln,) = struct.unpack(">I", self.recv_exact(4))
            return ("cut", self.recv_exact(ln))
        if t == 1:
            _, _, n = struct.unpack(">BHH", self.recv_exact(5))
            self.recv_exact(6 * n)
            return ("colours",)
        raise RFBError(f"server message type {t}")

    def update(self, incremental=False, timeout=10.0):
        """Request an update and read messages until one with pixels (or a resize) came."""
        self.request(incremental)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            kind = self.read_message()
            if kind[0] == "update" and any(r[4] in (0, DESKTOP_SIZE) for r in kind[1]):
                return kind[1]
        raise RFBError("no update")

    def pixel(self, x, y):
        o = (y * self.width + x) * 4
        b, g, r = self.fb[o], self.fb[o + 1], self.fb[o + 2]
        return (r << 16) | (g << 8) | b


def connect_unix(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return RFBClient(s, timeout)


def connect_petreld(sock_path, vm, timeout=10.0):
    """GET /vms/VM/vnc with Upgrade: rfb on petreld's socket: the stream after its 101."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock_path))
    s.sendall(f"GET /vms/{vm}/vnc HTTP/1.1\r\nHost: localhost\r\nUpgrade: rfb\r\nConnection: Upgrade\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        c = s.recv(1)
        if not c:
            raise RFBError(f"petreld closed: {head!r}")
        head += c
    if not head.startswith(b"HTTP/1.1 101"):
        raise RFBError(f"petreld answered {head!r} {s.recv(1024)!r}")
    return RFBClient(s, timeout)


def png_decode(data):
    """An 8-bit RGB or RGBA PNG (what petreld's screenshot is) as (width, height, pixel(x, y) -> 0xRRGGBB)."""
    import zlib
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    pos, idat, w = 8, b"", None
    while pos < len(data):
        (ln,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + ln]
        pos += 12 + ln
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out[y * stride:(y + 1) * stride] = line
        prev = line

    def pixel(x, y):
        o = y * stride + x * bpp
        return (out[o] << 16) | (out[o + 1] << 8) | out[o + 2]
    return w, h, pixel


class VncDisplay:
    """petrel's VNC server over a display in memory (build/tests/tools/vnc_display) at path:
    cmd() changes the screen ("fill Y0 Y1 RRGGBB", "mode W H", "off"); the input the server
    passed on comes as lines ("key 0xXT 1", "abs X Y BUTTONS")."""

    def __init__(self, tool, path, w=320, h=200):
        self.path = Path(path)
        self.p = subprocess.Popen([str(tool), str(self.path), str(w), str(h)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.p.stdout.readline().strip()
        if first != "ready":
            raise RFBError(f"vnc_display did not start: {first} {self.p.stderr.read()}")
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.strip())

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        time.sleep(0.05)

    def events(self, n=None, timeout=5.0, wait=1.0):
        """n lines (waiting up to timeout), or with n None all that came within wait seconds."""
        out = []
        if n is None:
            time.sleep(wait)
            while not self.lines.empty():
                out.append(self.lines.get())
            return out
        end = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < end:
            try:
                out.append(self.lines.get(timeout=0.1))
            except queue.Empty:
                pass
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        return self.p.returncode
