# SPDX-License-Identifier: Apache-2.0
"""Host-side helpers for the virtio-net and virtio-vsock tests: tap devices, network
namespaces and the test frame format of tests/guests/virtio_net_common.h.

Taps are created by `ip tuntap` with a per-test name, get no address and no IPv6 (so the
host sends nothing on them by itself), and are deleted afterwards. Creating them needs
CAP_NET_ADMIN: tests skip without it (and fail under CI)."""
import ctypes
import os
import shutil
import socket
import struct
import subprocess
import threading

import pytest

ETH_P_ALL = 0x0003
TEST_ETHERTYPE = 0x88B5
TEST_HDR_LEN = 25
PACKET_OUTGOING = 4
_counter = [0]


def pattern(seq, i):
    return (seq * 31 + i * 7 + 0x3C) & 0xFF


def build_frame(dst, src, kind, seq, length):
    hdr = dst + src + struct.pack("!H", TEST_ETHERTYPE) + b"PTST" + kind.encode() + struct.pack("<IH", seq, length)
    body = bytes(pattern(seq, i) for i in range(TEST_HDR_LEN, length))
    return hdr + body


def parse_frame(data):
    """(kind, seq) of a good test frame, or raise AssertionError saying what is wrong."""
    assert len(data) >= TEST_HDR_LEN, f"short frame ({len(data)} bytes)"
    assert data[12:14] == struct.pack("!H", TEST_ETHERTYPE) and data[14:18] == b"PTST", "not a test frame"
    kind = chr(data[18])
    seq, length = struct.unpack("<IH", data[19:25])
    assert length == len(data), f"frame says {length} bytes, is {len(data)}"
    want = bytes(pattern(seq, i) for i in range(TEST_HDR_LEN, length))
    assert data[TEST_HDR_LEN:] == want, f"frame {kind}{seq}: payload differs from the pattern"
    return kind, seq


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


# The virtio_net test guest (tests/guests/virtio_net.c): its MAC and frame sizes.
MAC = "02:50:45:54:52:4c"


def guest_size(s):
    return 60 + (s * 331) % 1455


def host_size(s):
    return 60 + (s * 97) % 1455


def exchange(tap, nout, nin, mac=MAC):
    """Host side of the virtio_net guest's protocol: its hello and `nout` frames in, `nin`
    frames out, its end frame with the count."""
    kind, seq = parse_frame(tap.recv(30))
    assert kind == "H", f"first frame is {kind}{seq}, expected the hello"
    for s in range(nout):
        data = tap.recv(10)
        kind, seq = parse_frame(data)
        assert (kind, seq) == ("D", s), f"expected guest frame D{s}, got {kind}{seq}"
        assert len(data) == guest_size(s), f"guest frame {s}: {len(data)} bytes, expected {guest_size(s)}"
    dst = mac_bytes(mac)
    for s in range(nin):
        tap.sock.send(build_frame(dst, tap.mac, "D", s, host_size(s)))
    kind, seq = parse_frame(tap.recv(60))
    assert (kind, seq) == ("E", nin), f"guest ended with {kind}{seq}, expected E{nin}"


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def need_net_admin():
    msg = None
    if os.geteuid() != 0:
        msg = "needs root (CAP_NET_ADMIN) for tap devices"
    elif not os.path.exists("/dev/net/tun"):
        msg = "no /dev/net/tun"
    elif not shutil.which("ip"):
        msg = "no `ip` (iproute2)"
    if msg:
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def unique_name(prefix, limit=15):
    """prefix, this process and a counter: unique on the host. limit: the longest name allowed
    (an interface name has 15 characters; None for names without a limit, like a namespace's).
    Never truncated: a cut counter made the 2nd and the 20th name the same."""
    _counter[0] += 1
    name = f"{prefix}{os.getpid() % 100000}-{_counter[0]}"
    if limit is not None and len(name) > limit:
        name = f"{prefix}{os.getpid() % 100000:x}{_counter[0]:x}"
        if len(name) > limit:
            raise ValueError(f"{name}: longer than {limit} characters")
    return name


class Tap:
    """A persistent tap `name` (up, no addresses, IPv6 off) and a packet socket bound to it.
    netns: made in that network namespace; owner: (uid, gid) that may attach to it without
    CAP_NET_ADMIN (a jailed petrel)."""

    def __init__(self, name=None, mtu=None, netns=None, owner=None):
        need_net_admin()
        self.name = name or unique_name("pt")
        self.netns = netns
        pre = ["ip", "netns", "exec", netns] if netns else []
        own = ["user", str(owner[0]), "group", str(owner[1])] if owner else []
        run(*pre, "ip", "tuntap", "add", "dev", self.name, "mode", "tap", "vnet_hdr", *own)
        run(*pre, "sysctl", "-qw", f"net.ipv6.conf.{self.name}.disable_ipv6=1", check=False)
        if mtu:
            run(*pre, "ip", "link", "set", self.name, "mtu", str(mtu))
        run(*pre, "ip", "link", "set", self.name, "up")
        out = run(*pre, "ip", "-o", "link", "show", self.name).stdout
        self.mac = mac_bytes(out.split("link/ether ")[1].split()[0])
        self.sock = None

    def _sys(self, key):
        return f"/sys/class/net/{self.name}/{key}"

    def open_socket(self, proto=TEST_ETHERTYPE):
        args = (socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        s = socket_in(self.netns, *args) if self.netns else socket.socket(*args)
        s.bind((self.name, proto))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock = s
        return s

    def recv(self, timeout):
        """The next frame the tap received (from petrel), skipping our own outgoing ones."""
        self.sock.settimeout(timeout)
        while True:
            data, addr = self.sock.recvfrom(65536)
            if addr[2] != PACKET_OUTGOING:
                return data

    def stat(self, key):
        return int(open(self._sys(f"statistics/{key}")).read())

    def close(self):
        if self.sock:
            self.sock.close()
        pre = ["ip", "netns", "exec", self.netns] if self.netns else []
        run(*pre, "ip", "link", "del", self.name, check=False)


def in_netns(netns, fn):
    """fn() run on a helper thread that entered network namespace netns (setns): what it opens
    (a socket, a tap) stays in that namespace wherever it is used from. Its result, or its
    exception raised here."""
    libc = ctypes.CDLL(None, use_errno=True)
    result = {}

    def work():
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        except OSError as e:
            result["err"] = e
            return
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                result["err"] = OSError(ctypes.get_errno(), "setns")
                return
            result["value"] = fn()
        except Exception as e:  # noqa: BLE001 - raised in the caller's thread
            result["err"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "err" in result:
        raise result["err"]
    return result["value"]


def socket_in(netns, *args):
    """A socket created inside network namespace netns."""
    return in_netns(netns, lambda: socket.socket(*args))


class Netns:
    """A network namespace `name`, deleted on close."""

    def __init__(self, name=None):
        need_net_admin()
        self.name = name or unique_name("petrel-ns", limit=None)
        run("ip", "netns", "add", self.name)
        run("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def socket(self, *args):
        """A socket created inside the namespace."""
        return socket_in(self.name, *args)

    def close(self):
        run("ip", "netns", "del", self.name, check=False)


def two_hosts(ip_a="10.213.7.1", ip_b="10.213.7.2"):
    """Two "hosts" for migration and failover tests: two namespaces joined by a veth pair, with
    ip_a and ip_b (/24) on its ends. Returns (a, b); closing the namespaces removes the veth.
    On an error both are closed and it is raised."""
    a, b = Netns(), Netns()
    try:
        va, vb = unique_name("pva"), unique_name("pvb")
        run("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        run("ip", "link", "set", va, "netns", a.name)
        run("ip", "link", "set", vb, "netns", b.name)
        for ns, dev, ip in ((a, va, ip_a), (b, vb, ip_b)):
            run(*ns.exec_prefix(), "ip", "addr", "add", f"{ip}/24", "dev", dev)
            run(*ns.exec_prefix(), "ip", "link", "set", dev, "up")
    except BaseException:
        a.close()
        b.close()
        raise
    return a, b
