"""Two "hosts" for the real-Linux migration and failover tests: two network namespaces joined
by a veth pair (A at 10.213.9.1, B at 10.213.9.2), and petrels started inside them with the
guest console on pipes (linuxlib.Console) and the API on a socket."""
import contextlib
import os
import time
from pathlib import Path

import linuxlib
from netpeer import NetPeer, ip

ROOT = Path(__file__).resolve().parents[2]
import apilib
import nethelp

IP_A, IP_B = "10.213.9.1", "10.213.9.2"
PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))


@contextlib.contextmanager
def two_hosts():
    a, b = nethelp.two_hosts(IP_A, IP_B)
    try:
        yield a, b
    finally:
        a.close()  # the veth goes with its namespaces
        b.close()


@contextlib.contextmanager
def lan(a, b, release=None):
    """The guest's network on both hosts, for a guest that moves: a third namespace (the LAN)
    holds a bridge with NetPeer.HOST_IP and the peer's TCP server; each host has a bridge that
    joins its own tap NetPeer.TAP to the LAN over a veth. Yields the NetPeer (None without
    root); release: see NetPeer."""
    def setup(ns):
        ip(ns, "link", "add", "plan0", "type", "bridge")
        ip(ns, "link", "set", "plan0", "address", NetPeer.TAP_MAC)  # what the guest's ARP entry says
        ip(ns, "addr", "add", f"{NetPeer.HOST_IP}/24", "dev", "plan0")
        ip(ns, "link", "set", "plan0", "up")
        for host in (a, b):
            mine, theirs = nethelp.unique_name("pl"), nethelp.unique_name("pl")
            nethelp.run("ip", "link", "add", mine, "type", "veth", "peer", "name", theirs)
            nethelp.run("ip", "link", "set", mine, "netns", host.name)
            nethelp.run("ip", "link", "set", theirs, "netns", ns)
            ip(ns, "link", "set", theirs, "master", "plan0", "up")
            ip(host.name, "link", "add", "pbr0", "type", "bridge")
            ip(host.name, "tuntap", "add", "dev", NetPeer.TAP, "mode", "tap", "vnet_hdr")
            for dev in (NetPeer.TAP, mine):
                ip(host.name, "link", "set", dev, "master", "pbr0", "up")
            ip(host.name, "link", "set", "pbr0", "up")

    peer = NetPeer.start("lan", setup, release)
    try:
        yield peer
    finally:
        if peer:
            peer.close()


class HostPetrel:
    """petrel --api-sock SOCK in namespace ns; its console logged to build/linux-NAME.log."""

    def __init__(self, ns, sock, name):
        argv = ns.exec_prefix() + [str(PETREL), "--api-sock", str(sock), "--level", "Info", "--show-level"]
        self.log_path = log_path = ROOT / "build" / f"linux-{name}.log"
        self.log = open(log_path, "wb")
        self.proc, self.con = linuxlib.spawn(argv, self.log, cwd=ROOT)
        linuxlib.wait_for_socket(sock, self.proc, self.con)
        self.api = apilib.Client(sock)

    def close(self):
        try:
            self.api.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def pump(self):
        """Drain its console and log pipes (a full pipe would stall petrel's threads)."""
        if self.con.open_streams():
            self.con.pump(0)


def wait_for(host, path, done, hosts, timeout):
    """GET path on host's API until done(json), host's petrel exits or timeout passes, draining
    every host's pipes meanwhile; returns the last answer."""
    end = time.monotonic() + timeout
    st = {}
    while time.monotonic() < end and host.proc.poll() is None:
        st = host.api.get(path, check=False).json
        if done(st):
            break
        for h in hosts:
            h.pump()
        time.sleep(0.1)
    for h in hosts:
        h.pump()
    return st
