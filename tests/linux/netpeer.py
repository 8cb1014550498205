"""The host side of the real Linux guest's network: a network namespace holding HOST_IP and one
TCP server there that the guest's /init talks to (petrel.net=GUEST_IP/24,HOST_IP,PORT); and
the host end of its vsock (VsockPeer).

By default the namespace holds the tap itself (petrel runs in it). hostpair.lan() instead puts
the peer on a bridge that both migration "hosts" reach, so a guest can move and keep talking."""
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

import nethelp

TIMEOUT_S = 30 * 60  # the server gives up waiting for the guest after this


def accept_and_read(server, enough):
    """One connection on server and what it sends until EOF or enough(data); (conn, data)."""
    server.settimeout(TIMEOUT_S)
    conn, _ = server.accept()
    conn.settimeout(300)
    data = b""
    while not enough(data) and (chunk := conn.recv(65536)):
        data += chunk
    return conn, data


def ip(ns, *args):
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


class NetPeer:
    """The server reads the guest's data until EOF, then answers and closes. The answer is
    NET_REPLY at once, or, with a `release` event, 1 KiB every STREAM_GAP_S seconds until the
    event is set (a connection held open across a migration).
    Needs root; start() returns None when that is not available (outside CI).

    Every peer has the same names and addresses, the MAC that answers for HOST_IP (TAP_MAC)
    included: a guest restored from a snapshot taken beside one peer finds the next one where it
    left the first, its ARP entry still right."""

    TAP, MAC, HOST_IP, GUEST_IP, PORT = "ptap0", "02:70:65:74:72:01", "10.213.0.1", "10.213.0.2", 5555
    TAP_MAC = "02:70:65:74:72:fe"
    NET_REPLY = bytes((i * 7 + 3) & 0xFF for i in range(48 * 1024))
    STREAM_GAP_S = 0.1

    @staticmethod
    def available():
        missing = [w for w, ok in (("root", os.geteuid() == 0), ("/dev/net/tun", os.path.exists("/dev/net/tun")),
                                   ("ip", shutil.which("ip"))) if not ok]
        if missing and os.environ.get("CI"):
            pytest.fail(f"virtio-net check needs {', '.join(missing)}")
        return not missing

    @classmethod
    def start(cls, name="lnx", setup=None, release=None):
        """A peer in a new namespace petrel-NAME-PID. setup(ns) puts HOST_IP there (default:
        on the tap TAP, which petrel then opens)."""
        if not cls.available():
            return None
        peer = cls()
        peer.ns = f"petrel-{name}-{os.getpid()}"
        peer.release, peer.got, peer.sent = release, None, None
        peer.streaming = threading.Event()  # the guest's data is in; the answer is going out
        try:
            subprocess.run(["ip", "netns", "add", peer.ns], check=True, capture_output=True)
            ip(peer.ns, "link", "set", "lo", "up")
            (setup or peer._tap)(peer.ns)
            peer.server = peer._listen()
        except Exception:
            peer.close()
            raise
        peer.thread = threading.Thread(target=peer._serve, daemon=True)
        peer.thread.start()
        return peer

    def _tap(self, ns):
        ip(ns, "tuntap", "add", "dev", self.TAP, "mode", "tap", "vnet_hdr")
        ip(ns, "link", "set", self.TAP, "address", self.TAP_MAC)
        ip(ns, "addr", "add", f"{self.HOST_IP}/24", "dev", self.TAP)
        ip(ns, "link", "set", self.TAP, "up")

    def _listen(self):
        s = nethelp.socket_in(self.ns)
        s.bind((self.HOST_IP, self.PORT))
        s.listen(1)
        return s

    def _serve(self):
        try:
            conn, self.got = accept_and_read(self.server, lambda data: False)
            with conn:
                self.streaming.set()
                if self.release is None:
                    conn.sendall(self.NET_REPLY)
                    self.sent = self.NET_REPLY
                    return
                sent = bytearray()
                while not self.release.is_set():
                    off = len(sent) % len(self.NET_REPLY)
                    piece = self.NET_REPLY[off:off + 1024]
                    conn.sendall(piece)
                    sent += piece
                    self.sent = bytes(sent)
                    time.sleep(self.STREAM_GAP_S)
        except OSError:
            pass

    def argv_prefix(self):
        return ["ip", "netns", "exec", self.ns]

    def close(self):
        if getattr(self, "server", None):
            self.server.close()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def cmdline_arg(self):
        """The guest's kernel command line switch that makes /init use this peer."""
        return f"petrel.net={self.GUEST_IP}/24,{self.HOST_IP},{self.PORT}"

    def check(self, checks, prefix, where):
        """The guest's PETREL-CHECK {prefix}-ping/-tx-sha256/-rx-sha256 lines against what this
        peer saw: a ping answered, the guest's bytes arrived whole, the answer came back whole."""
        net = {k: checks.get(f"{prefix}-{k}", "missing") for k in ("ping", "tx-sha256", "rx-sha256")}
        assert net["ping"] == "ok", f"guest could not ping {self.HOST_IP}: {net}" + where
        self.thread.join(30)
        assert self.got is not None and hashlib.sha256(self.got).hexdigest() == net["tx-sha256"], \
            f"host got {len(self.got or b'')} bytes over TCP, not what the guest sent: {net}" + where
        assert self.sent is not None and net["rx-sha256"] == hashlib.sha256(self.sent).hexdigest(), \
            f"guest did not receive the host's {len(self.sent or b'')}-byte answer: {net}" + where


class VsockPeer:
    """The host end of a guest-initiated vsock connection: petrel hands a connection to port
    PORT to the Unix socket UDS_PATH_PORT (Firecracker's scheme). Listens there, reads one line,
    answers REPLY and closes; `got` is the line."""

    PORT = 5000
    REPLY = b"hello from the host over vsock\n"

    def __init__(self, uds_path):
        self.path = f"{uds_path}_{self.PORT}"
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(self.path)
        self.server.listen(1)
        self.got = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, self.got = accept_and_read(self.server, lambda data: b"\n" in data)
            with conn:
                conn.sendall(self.REPLY)
        except OSError:
            pass

    def check(self, checks, where):
        """The guest's PETREL-CHECK restored-vsock line against what this peer saw."""
        self.thread.join(30)
        assert self.got == b"hello from the guest\n", f"host got {self.got!r} over vsock" + where
        assert checks.get("restored-vsock") == self.REPLY.decode().strip(), \
            f"guest got {checks.get('restored-vsock')!r} over vsock" + where

    def close(self):
        self.server.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
