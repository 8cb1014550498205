# SPDX-License-Identifier: Apache-2.0
"""I/O goes on across a snapshot: ring-3 guests (tests/guests) keep virtio-net, vsock and the
serial console busy; the VM is paused and snapshotted mid-run, the first petrel is killed, and a
new petrel loads the snapshot onto a new tap / a new vsock socket.

- netloop: the host sends numbered frames through a tap (a window, resent after a timeout), the
  guest answers each and sends frames of its own; after the load (network_overrides: a new tap)
  numbers go on in both directions, every byte is checked at both ends, the guest's own frames
  arrive exactly once, and every receive buffer petrel held at the pause comes back.
- vsockloop: a guest-initiated and a host-initiated stream, each echoed; after the load
  (vsock_override: a new socket) the host's old connections are closed, the guest gets
  TRANSPORT_RESET, the device answers the old connections with RST, and new connections both
  ways carry data.
- uartloop: unusual UART settings and a THR-empty interrupt pending in the UART and the PIC are
  the same after the load; input typed while the VM was paused (waiting in the UART's FIFO) and
  input typed to the new petrel reach the guest, and its output goes on.
"""
import json
import re
import socket
import threading
import time

import pytest

import apilib
from test_api_snapshot import assert_counts_go_on, load, snapshot

from nethelp import Tap, build_frame, mac_bytes, parse_frame

MAC = "02:50:45:54:52:53"
DEADLINE = 60.0


def wait_until(cond, what, petrel=None, describe=None, timeout=DEADLINE):
    """Poll cond(); fail after timeout, or at once if petrel exited (a guest that failed ends
    the VM)."""
    end = time.monotonic() + timeout
    while not cond():
        exited = petrel and petrel.proc.poll() is not None
        if exited or time.monotonic() > end:
            why = "petrel exited before" if exited else f"waited {timeout:.0f} s for"
            extra = describe() + "\n" if describe else ""
            pytest.fail(f"{why} {what}\n{extra}{petrel.describe() if petrel else ''}")
        time.sleep(0.05)


def source_petrel(workdir, transport):
    """The first petrel; the API has no transport field, petrel's --virtio-transport says it."""
    d = workdir / "first"
    d.mkdir()
    return apilib.Petrel(d, args=["--virtio-transport", transport] if transport == "mmio" else [])


def boot(api, guest, args):
    img = str(apilib.guest(guest))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": args}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r


def assert_still_running(p):
    out = p.out.text()
    assert p.proc.poll() is None and "FAIL" not in out, p.describe()


# ---- virtio-net ----

def q_size(seq):
    return 60 + (seq * 97) % 1455


def g_size(seq):
    return 60 + (seq * 53) % 1455


class NetPeer(threading.Thread):
    """The host side of netloop: Q frames out in a window of 8, resent from the oldest
    unanswered one after a second without progress; R answers checked byte for byte; G frames
    must be numbered 0, 1, 2, ... with none missing or repeated. switch() reads everything the
    old tap still holds (one reader keeps the order) and goes on with another tap, or with none
    (silent) until the next switch: frames sent into a tap no petrel has open are dropped, and
    the guest would count the ones after them as gaps."""

    WINDOW = 8
    RESEND = 1.0

    def __init__(self, tap):
        super().__init__(daemon=True)
        self.tap = tap
        self.dst = mac_bytes(MAC)
        self.lock = threading.Lock()
        self.base = 0       # oldest Q not answered
        self.next = 0       # next Q to send
        self.sent = 0       # Qs ever sent: an R must answer one of them
        self.g = 0          # G frames seen
        self.resends = 0
        self.progress = time.monotonic()
        self.error = None
        self.stop = threading.Event()
        self.new_tap = None
        self.switched = threading.Event()

    def run(self):
        try:
            while not self.stop.is_set():
                if self.new_tap:
                    self._switch()
                self._step()
        except Exception as e:  # reported by the test
            self.error = e

    def _step(self):
        if self.tap is None:
            time.sleep(0.02)
            return
        while self.next < self.base + self.WINDOW:
            self.tap.sock.send(build_frame(self.dst, self.tap.mac, "Q", self.next, q_size(self.next)))
            self.next += 1
            self.sent = max(self.sent, self.next)
        try:
            self._take(self.tap.recv(0.1))
        except socket.timeout:
            pass
        if time.monotonic() - self.progress > self.RESEND:
            self.next = self.base  # go back: the window was lost (a paused VM, a tap gone)
            self.progress = time.monotonic()
            self.resends += 1

    def _take(self, data):
        kind, seq = parse_frame(data)  # the length field and every payload byte
        with self.lock:
            if kind == "R":
                assert len(data) == q_size(seq), f"R{seq}: {len(data)} bytes, Q{seq} had {q_size(seq)}"
                assert seq < self.sent, f"R{seq} answers a frame never sent (sent {self.sent})"
                if seq >= self.base:
                    self.base = seq + 1
                    self.progress = time.monotonic()
            elif kind == "G":
                assert seq == self.g, f"guest frame G{seq}, expected G{self.g} (lost or repeated)"
                assert len(data) == g_size(seq), f"G{seq}: {len(data)} bytes"
                self.g += 1
            else:
                raise AssertionError(f"unexpected frame {kind}{seq} from the guest")

    def _switch(self):
        while self.tap:  # what the old petrel wrote before it went away
            try:
                self._take(self.tap.recv(0.3))
            except socket.timeout:
                break
        self.tap, self.new_tap = self.new_tap[0], None
        self.next = self.base
        self.progress = time.monotonic()
        self.switched.set()

    def switch(self, tap):
        self.switched.clear()
        self.new_tap = (tap,)
        assert self.switched.wait(30), "the peer did not switch taps"

    def counts(self):
        with self.lock:
            if self.error:
                raise self.error
            return self.base, self.g


def net_lines(text):
    return [tuple(map(int, m)) for m in re.findall(r"^netloop q=(\d+) g=(\d+) dups=(\d+) gaps=(\d+) irqs=(\d+)\n",
                                                   text, re.M)]


@pytest.mark.parametrize("transport,event_idx", [("pci", 0), ("mmio", 0), ("pci", 1), ("mmio", 1)],
                         ids=["pci", "mmio", "pci-event_idx", "mmio-event_idx"])
def test_net_traffic_goes_on_after_load(workdir, transport, event_idx):
    tap1 = Tap()
    tap1.open_socket()
    taps, peer, p1, p2 = [tap1], None, None, None
    try:
        p1 = source_petrel(workdir, transport)
        api = p1.client()
        assert api.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap1.name,
                                                    "guest_mac": MAC}).status == 204
        boot(api, "netloop", f"transport={transport} mac={MAC} event_idx={event_idx}")
        p1.expect(r"^netloop: ready")
        peer = NetPeer(tap1)
        peer.start()
        wait_until(lambda: peer.counts()[0] >= 300 and peer.counts()[1] >= 10, "300 frames each way", p1)
        state, mem = snapshot(api, workdir)  # the peer keeps sending into the paused VM's tap
        p1.close()
        peer.switch(None)  # reads what tap1 holds, then waits for the new petrel
        base, g = peer.counts()
        before = p1.out.text()
        assert "FAIL" not in before, before
        tap2 = Tap()
        tap2.open_socket()
        taps.append(tap2)
        p2 = load(workdir, "second", state, mem,
                  network_overrides=[{"iface_id": "eth0", "host_dev_name": tap2.name}])
        peer.switch(tap2)
        # Both directions go on from where they were, on the new tap; after 300 more frames
        # the guest has seen any receive buffer the device kept since the pause (it fails after 128).
        wait_until(lambda: peer.counts()[0] >= base + 300 and peer.counts()[1] >= g + 10,
                   "300 more frames each way after the load", p2)
        p2.expect(rf"^netloop q={(base + 256) // 64 * 64} ")
        assert_still_running(p2)
        after = p2.out.text()
        # Progress lines come every 64 frames: across both petrels, none missing or repeated.
        qs = [int(q) for q in re.findall(r"^netloop q=(\d+) ", before + after, re.M)]
        assert qs == [64 * (i + 1) for i in range(len(qs))], qs
        lines = net_lines(after)
        assert len(lines) >= 2, after
        assert lines[-1][4] > lines[0][4], f"no receive interrupt after the load: {lines}"
        assert lines[-1][3] == 0, \
            f"frames lost or out of order: {re.findall(r'^netloop: gap.*$', before + after, re.M)}, snapshot at Q{base}"
        peer.counts()  # re-raises a peer failure
        print(f"net {transport} event_idx={event_idx}: snapshot at Q{base} G{g}; now {peer.counts()}, "
              f"{peer.resends} resends, guest {lines[-1]}")
    finally:
        if peer:
            peer.stop.set()
            peer.join(5)
        for p in (p1, p2):
            if p:
                p.close()
        for t in taps:
            t.close()


# ---- vsock ----

CID = 7
OUT_PORT = 6000
IN_PORT = 5000


def out_pat(start, n):
    return bytes(((i * 7 + (i >> 8) * 3 + 0x11) & 0xFF) for i in range(start, start + n))


def in_pat(start, n):
    return bytes(((i * 13 + (i >> 9) + 0x5B) & 0xFF) for i in range(start, start + n))


class EchoServer(threading.Thread):
    """Listens on <uds>_<port> for the guest's connections: checks each stream against the
    guest's pattern from offset 0 and echoes it; records [bytes, how it ended] per connection."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.conns = []
        self.error = None

    def run(self):
        try:
            while True:
                try:
                    c, _ = self.sock.accept()
                except OSError:
                    return  # closed by the test
                rec = [0, None]
                self.conns.append(rec)
                self._serve(c, rec)
        except Exception as e:
            self.error = e

    def _serve(self, c, rec):
        c.settimeout(DEADLINE)
        with c:
            while True:
                try:
                    d = c.recv(65536)
                except ConnectionResetError:
                    rec[1] = "reset"
                    return
                if not d:
                    rec[1] = "eof"
                    return
                assert d == out_pat(rec[0], len(d)), f"guest stream corrupt at byte {rec[0]}"
                c.sendall(d)
                rec[0] += len(d)

    def close(self):
        self.sock.close()


class EchoClient(threading.Thread):
    """Connects through petrel's socket to the guest's port ("CONNECT L"), sends its pattern in
    chunks of 1..4000 bytes and checks the echo of each; `end` says how the connection ended."""

    def __init__(self, uds, port):
        super().__init__(daemon=True)
        self.uds, self.port = uds, port
        self.sent = 0
        self.end = None
        self.stop = threading.Event()

    def run(self):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(DEADLINE)
            s.connect(str(self.uds))
            s.sendall(f"CONNECT {self.port}\n".encode())
            line = b""
            while not line.endswith(b"\n"):
                d = s.recv(1)
                if not d:
                    self.end = f"closed before OK ({line!r})"
                    return
                line += d
            if not re.fullmatch(rb"OK \d+\n", line):
                self.end = f"answered {line!r}"
                return
            with s:
                k = 0
                while not self.stop.is_set():
                    k += 1
                    n = 1 + (k * 997) % 4000
                    data = in_pat(self.sent, n)
                    s.sendall(data)
                    echo = b""
                    while len(echo) < n:
                        d = s.recv(n - len(echo))
                        if not d:
                            self.end = "eof"
                            return
                        echo += d
                    if echo != data:
                        self.end = f"echo corrupt at byte {self.sent}"
                        return
                    self.sent += n
        except (ConnectionResetError, BrokenPipeError):
            self.end = "reset"
        except Exception as e:
            self.end = f"error: {e!r}"


def vsock_reset_and_new_connections(p, uds, server, need):
    """The vsockloop guest in petrel p lost its host connections (a load, a takeover): it gets
    TRANSPORT_RESET, its old connections are answered with RST, and its next generation's
    connections through p's socket uds (and server's) carry `need` bytes each way. The client."""
    p.expect(r"^vsockloop: transport reset event \(gen 0\)$")
    p.expect(r"^vsockloop: transport reset, old connections reset \(out=rst in=rst\)$")
    p.expect(rf"^vsockloop: gen=1 listening on {IN_PORT}, connecting to {OUT_PORT}$")
    c = EchoClient(uds, IN_PORT)
    c.start()
    wait_until(lambda: server.conns and server.conns[0][0] >= need and c.sent >= need,
               f"{need} bytes each way on new connections", p,
               lambda: f"server {server.conns} {server.error}, client {c.sent} {c.end}")
    return c


def vsock_progress(text, gen):
    got = re.findall(rf"^vsockloop gen={gen} out=(\d+) in=(\d+)\n", text, re.M)
    return tuple(map(int, got[-1])) if got else (0, 0)


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_vsock_after_load_resets_old_connections_and_new_ones_work(workdir, transport):
    uds1, uds2 = workdir / "v1.sock", workdir / "v2.sock"
    args = f"transport={transport} cid={CID} out_port={OUT_PORT} in_port={IN_PORT}"
    s1 = EchoServer(f"{uds1}_{OUT_PORT}")
    s2 = EchoServer(f"{uds2}_{OUT_PORT}")
    s1.start()
    s2.start()
    c1 = c2 = p1 = p2 = None
    try:
        p1 = source_petrel(workdir, transport)
        api = p1.client()
        assert api.put("/vsock", {"guest_cid": CID, "uds_path": str(uds1)}).status == 204
        boot(api, "vsockloop", args)
        p1.expect(rf"^vsockloop: gen=0 listening on {IN_PORT}, connecting to {OUT_PORT}$")
        c1 = EchoClient(uds1, IN_PORT)
        c1.start()
        wait_until(lambda: s1.conns and s1.conns[0][0] >= 65536 and c1.sent >= 65536,
                   "64 KiB each way on the first connections", p1,
                   lambda: f"server {s1.conns} {s1.error}, client {c1.sent} {c1.end}")
        state, mem = snapshot(api, workdir)
        assert c1.end is None and s1.conns[0][1] is None, (c1.end, s1.conns)
        p1.close()
        # The old petrel is gone, and the host sides of its connections with it.
        wait_until(lambda: c1.end and s1.conns[0][1], "the old connections to close",
                   describe=lambda: f"client {c1.end}, server {s1.conns} {s1.error}")
        assert c1.end in ("eof", "reset") and s1.conns[0][1] in ("eof", "reset"), (c1.end, s1.conns)
        assert len(s1.conns) == 1
        before = p1.out.text()
        assert "transport reset" not in before and "FAIL" not in before, before

        p2 = load(workdir, "second", state, mem, vsock_override={"uds_path": str(uds2)})
        c2 = vsock_reset_and_new_connections(p2, uds2, s2, 65536)
        assert_still_running(p2)
        after = p2.out.text()
        assert after.count("transport reset event") == 1, after
        assert len(s2.conns) == 1 and s2.conns[0][1] is None and c2.end is None, (s2.conns, c2.end)
        assert s1.error is None and s2.error is None, (s1.error, s2.error)
        out, inn = vsock_progress(after, 1)
        assert out >= 16384 and inn >= 16384, after
        print(f"vsock {transport}: before {vsock_progress(before, 0)}, after {(out, inn)}")
    finally:
        for c in (c1, c2):
            if c:
                c.stop.set()
        for p in (p1, p2):
            if p:
                p.close()
        s1.close()
        s2.close()


# ---- serial ----

def uart_rx_bytes(metrics, api):
    """Bytes the UART took from the console so far (metrics lines hold increments)."""
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    return sum(json.loads(line)["uart"]["rx_bytes"] for line in metrics.read_text().splitlines())


def test_serial_state_and_console_io_after_load(workdir):
    d = workdir / "first"
    d.mkdir()
    metrics = workdir / "metrics.json"
    p1 = apilib.Petrel(d, ["--metrics-path", metrics])
    p2 = None
    try:
        api = p1.client()
        boot(api, "uartloop", "")
        p1.expect(r"^uartloop: READY$")
        p1.expect(r"^uart check=2 ok ")
        typed = b"before the snapshot\n"
        p1.proc.stdin.write(typed)
        p1.proc.stdin.flush()
        p1.expect(r"^echo: before the snapshot$")
        # Typed while the VM is paused: it waits in the UART's receive FIFO, which the snapshot
        # must carry to the new petrel.
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        queued = b"queued while paused\n"
        p1.proc.stdin.write(queued)
        p1.proc.stdin.flush()
        wait_until(lambda: uart_rx_bytes(metrics, api) >= len(typed) + len(queued),
                   "the console input to reach the UART", p1, timeout=20)
        state, mem = workdir / "snap.state", workdir / "snap.mem"
        r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                         "mem_file_path": str(mem)})
        assert r.status == 204, r
        p1.close()
        before = p1.out.text()
        assert "queued while paused" not in before and "FAIL" not in before, before
        last = int(re.findall(r"^uart check=(\d+) ok", before, re.M)[-1])

        p2 = load(workdir, "second", state, mem)
        p2.expect(r"^echo: queued while paused$")
        p2.proc.stdin.write(b"typed after the load\n")
        p2.proc.stdin.flush()
        p2.expect(r"^echo: typed after the load$")
        p2.expect(rf"^uart check={last + 3} ok thri=\d+ rx=\d+$")
        assert_still_running(p2)
        after = p2.out.text()
        assert_counts_go_on(before, after, r"^uart check=(\d+) ok ")
        assert after.count("echo: queued while paused") == 1, after
        print(f"serial: snapshot after check {last}; after the load: {re.findall(r'^uart check=.*$', after, re.M)[-1]}")
    finally:
        for p in (p1, p2):
            if p:
                p.close()
