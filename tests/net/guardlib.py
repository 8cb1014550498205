# SPDX-License-Identifier: Apache-2.0
"""A bench for petreld's tap guards (src/manager/net/guards.c), shared by tests/net/test_guards.py
and bench/guards.py: in a fresh network namespace a bridge, a tap opened here (TUNSETIFF
IFF_TAP|IFF_NO_PI; what is written to its fd is the "guest's" frames entering the bridge) and a
veth whose other end is in a second namespace, the honest other side, where a packet socket sees
what crossed the bridge. The guards are driven with tests/tools/guardctl inside the namespace.
Frames are built here byte by byte (Ethernet, ARP, IPv4, IPv6, UDP, ICMPv6)."""
import fcntl
import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

from nethelp import in_netns

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PETREL_BUILD", ROOT / "build")).resolve()
GUARDCTL = BUILD / "tests" / "tools" / "guardctl"

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

GUEST_MAC = "52:54:00:12:34:56"
PEER_MAC = "52:54:00:aa:bb:cc"
BCAST = "ff:ff:ff:ff:ff:ff"
GUEST_V4 = "10.9.0.5"
PEER_V4 = "10.9.0.1"
GUEST_V6 = "fd00:9::5"
PEER_V6 = "fd00:9::1"

_count = [0]


def run(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def open_tap(name):
    """A tap of this name in the calling thread's namespace; its fd (closing it removes the tap)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def link_local(mac):
    """The modified EUI-64 link-local address of mac."""
    m = mac_bytes(mac)
    iid = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:]
    return socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + b"\0" * 6 + iid)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ether(dst, src, etype, payload, vlan=None):
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return mac_bytes(dst) + mac_bytes(src) + tag + struct.pack("!H", etype) + payload


def arp(src_mac, sender_mac, sender_ip, target_ip, op=1):
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac_bytes(sender_mac) + socket.inet_aton(sender_ip)
    body += b"\0" * 6 + socket.inet_aton(target_ip)
    return ether(BCAST, src_mac, 0x0806, body + b"\0" * 18)


def udp4(src_mac, dst_mac, saddr, daddr, sport, dport, payload, vlan=None):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                      socket.inet_aton(saddr), socket.inet_aton(daddr))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return ether(dst_mac, src_mac, 0x0800, hdr + udp, vlan=vlan)


def _ip6(src_mac, dst_mac, saddr, daddr, nh, l4):
    s, d = socket.inet_pton(socket.AF_INET6, saddr), socket.inet_pton(socket.AF_INET6, daddr)
    pseudo = s + d + struct.pack("!IxxxB", len(l4), nh)
    off = 6 if nh == 17 else 2   # where the checksum sits in UDP / ICMPv6
    l4 = l4[:off] + struct.pack("!H", csum(pseudo + l4)) + l4[off + 2:]
    hdr = struct.pack("!IHBB", 0x60000000, len(l4), nh, 255) + s + d
    return ether(dst_mac, src_mac, 0x86DD, hdr + l4)


def udp6(src_mac, dst_mac, saddr, daddr, sport, dport, payload):
    return _ip6(src_mac, dst_mac, saddr, daddr, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def icmp6(src_mac, dst_mac, saddr, daddr, typ, body):
    return _ip6(src_mac, dst_mac, saddr, daddr, 58, struct.pack("!BBHI", typ, 0, 0, 0) + body)


class Lab:
    """The namespaces, the bridge, the guest's tap (self.tap_fd) and the peer's packet socket."""

    def __init__(self, tap="pgtap0"):
        _count[0] += 1
        tag = f"{os.getpid()}-{_count[0]}"
        self.ns, self.peer_ns, self.tap = f"petrel-guards-{tag}", f"petrel-gpeer-{tag}", tap
        self.tap_fd, self.sock = None, None
        run("ip", "netns", "add", self.ns)
        try:
            run("ip", "netns", "add", self.peer_ns)
            for ns in (self.ns, self.peer_ns):
                # nothing of the hosts' own (IPv6 autoconfiguration, MLD) on the wire
                run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
                run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
            n = ("ip", "-n", self.ns)
            run(*n, "link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
            run(*n, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", self.peer_ns)
            run("ip", "-n", self.peer_ns, "link", "set", "veth1", "address", PEER_MAC, "up")
            self.tap_fd = in_netns(self.ns, lambda: open_tap(tap))
            for dev in ("veth0", tap):
                run(*n, "link", "set", dev, "master", "br0", "up")
            run(*n, "link", "set", "br0", "up")

            def sock():
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                s.bind(("veth1", ETH_P_ALL))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                return s
            self.sock = in_netns(self.peer_ns, sock)
        except BaseException:
            self.close()
            raise

    def guardctl(self, *args, check=True):
        return run("ip", "netns", "exec", self.ns, str(GUARDCTL), *args, check=check)

    def nft(self, *args, check=True):
        return run("ip", "netns", "exec", self.ns, "nft", *args, check=check)

    def counts(self):
        return json.loads(self.guardctl("counts", self.tap).stdout)

    def send(self, frame):
        os.write(self.tap_fd, frame)

    def wait_for(self, token, timeout=2.0):
        """The frames the peer saw until one holding token (or the timeout): [bytes]."""
        seen = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(end - time.monotonic(), 0.01))
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                break
            if addr[2] == PACKET_OUTGOING:
                continue
            seen.append(data)
            if token in data:
                return seen, True
        return seen, False

    def crosses(self, frame, token):
        """Whether frame (holding token) reaches the peer: it is written, then an honest marker frame;
        the marker arriving first (the path keeps order) means the frame was dropped."""
        marker = b"MARK" + os.urandom(8)
        self.send(frame)
        self.send(udp4(GUEST_MAC, PEER_MAC, "0.0.0.0", "255.255.255.255", 68, 67, marker))
        seen, found = self.wait_for(marker)
        assert found, "the honest marker frame (a DHCP discover) did not cross the bridge"
        return any(token in f for f in seen)

    def close(self):
        if self.sock:
            self.sock.close()
        if self.tap_fd is not None:
            os.close(self.tap_fd)
        for ns in (self.ns, self.peer_ns):
            run("ip", "netns", "del", ns, check=False)
