# SPDX-License-Identifier: Apache-2.0
"""Issue 54's proofs with VMs: the dhcpnet test guest (tests/guests/dhcpnet.c, a freestanding
guest with its own DHCP client, ARP, ICMP, UDP and DNS) on a network that petreld runs (its
bridge, nftables table and dnsmasq), each test's petreld in namespaces of its own (netlib.Host:
the host, and an outside it routes to). The VM runs under `petrel run` in the host's namespace
on a tap made here on the network's bridge; its guards, where a test wants them, are put on by
tests/tools/guardctl (vmnet.py). Needs KVM, root, nft, dnsmasq."""
import re
import socket
import threading

import pytest

import vmnet
from guardlib import ETH_P_ALL
from netlib import HOST_OUT, OUTSIDE, nat_def
from nethelp import in_netns

pytestmark = pytest.mark.needs_kvm

MAC1, MAC2 = "52:54:00:5e:00:01", "52:54:00:5e:00:02"
REASONS = ("mac", "arp", "ipv4", "ipv6", "dhcp_server", "router_adv")


def bridge_of(host, name):
    return host.info(name)["bridge"]


def test_vm_gets_its_address_resolves_and_goes_out(host):
    """A reservation gives the VM its fixed address, dnsmasq resolves the VM's name, the outside
    answers, seeing the host's address (masquerade); a VM without one gets one from the range."""
    host.start_net(nat_def(reservations=[{"vm": "vm1", "mac": MAC1, "ip": "10.77.0.5"}]))
    br = bridge_of(host, "default")
    vmnet.serve_udp_outside(host)
    t1, t2 = vmnet.make_tap(host.ns, "pgv1", br), vmnet.make_tap(host.ns, "pgv2", br)
    g1 = vmnet.boot(host.ns, t1, MAC1, f"hostname=vm1 resolve=vm1.vm ping=10.77.0.1,{OUTSIDE} "
                    f"udp={OUTSIDE}:{vmnet.UDP_PORT}")
    out = vmnet.finish(g1)
    assert "dhcpnet addr=10.77.0.5 mask=255.255.255.0 gw=10.77.0.1 dns=10.77.0.1 server=10.77.0.1" in out, out
    assert "dhcpnet resolve vm1.vm=10.77.0.5" in out, out
    assert "dhcpnet ping 10.77.0.1: reply" in out and f"dhcpnet ping {OUTSIDE}: reply" in out, out
    assert f"dhcpnet udp {OUTSIDE}:{vmnet.UDP_PORT} reply=from={HOST_OUT}" in out, out   # masqueraded

    out = vmnet.finish(vmnet.boot(host.ns, t2, MAC2, "hostname=vm2 resolve=vm2.vm"))
    m = re.search(r"^dhcpnet addr=10\.77\.0\.(\d+) ", out, re.M)
    assert m and 100 <= int(m.group(1)) <= 200, out
    assert f"dhcpnet resolve vm2.vm=10.77.0.{m.group(1)}" in out, out
    st, leases = host.api("GET", "/networks/default/leases")
    assert st == 200, leases
    by_mac = {lease["mac"]: lease for lease in leases}
    assert by_mac[MAC1]["ip"] == "10.77.0.5" and by_mac[MAC1]["vm"] == "vm1", leases
    assert by_mac[MAC2]["ip"] == f"10.77.0.{m.group(1)}" and by_mac[MAC2]["hostname"] == "vm2", leases


def two_vms(host, net, subnet, cmdline2, transport2="pci"):
    """vm1 (reserved .5) serving, vm2 (reserved .6, its virtio-net on transport2) running
    cmdline2 to its end: vm2's output, then vm1's once told to end."""
    host.start_net(net)
    br = bridge_of(host, net["name"])
    t1, t2 = vmnet.make_tap(host.ns, "pgv1", br), vmnet.make_tap(host.ns, "pgv2", br)
    g1 = vmnet.boot(host.ns, t1, MAC1, "hostname=vm1 serve=170")
    try:
        g1.expect(r"^dhcpnet serving$", timeout=90)
        out2 = vmnet.finish(vmnet.boot(host.ns, t2, MAC2, f"hostname=vm2 {cmdline2}", transport2))
        g1.send("q")
        out1 = vmnet.finish(g1)
    finally:
        g1.kill()
    assert f"dhcpnet addr={subnet}.5 " in out1 and f"dhcpnet addr={subnet}.6 " in out2, out1 + out2
    return out2, out1


def reserved(subnet):
    return [{"vm": "vm1", "mac": MAC1, "ip": f"{subnet}.5"}, {"vm": "vm2", "mac": MAC2, "ip": f"{subnet}.6"}]


def test_two_vms_reach_each_other(host):
    """vm2's virtio-net is on MMIO, vm1's on PCI."""
    out2, out1 = two_vms(host, nat_def(reservations=reserved("10.77.0")), "10.77.0", "resolve=vm1.vm ping=10.77.0.5",
                         transport2="mmio")
    assert "dhcpnet resolve vm1.vm=10.77.0.5" in out2 and "dhcpnet ping 10.77.0.5: reply" in out2, out2
    assert re.search(r"^dhcpnet served pings=[1-9]", out1, re.M), out1


def test_isolated_vm_reaches_its_peer_only(host):
    net = nat_def("iso", "10.78.0", kind="isolated", reservations=reserved("10.78.0"))
    vmnet.serve_udp_outside(host)
    out2, _ = two_vms(host, net, "10.78.0",
                      f"resolve=vm1.vm ping=10.78.0.5,10.78.0.1,{OUTSIDE} udp={OUTSIDE}:{vmnet.UDP_PORT}")
    assert "dhcpnet resolve vm1.vm=10.78.0.5" in out2 and "dhcpnet ping 10.78.0.5: reply" in out2, out2
    assert re.search(rf"^dhcpnet ping 10\.78\.0\.1: no (reply|route)", out2, re.M), out2   # not the host
    assert re.search(rf"^dhcpnet ping {OUTSIDE}: no (reply|route)", out2, re.M), out2
    assert re.search(rf"^dhcpnet udp {OUTSIDE}:{vmnet.UDP_PORT} no (reply|route)", out2, re.M), out2


class Listener:
    """Every frame crossing a tap (both ways), on a packet socket in the host's namespace."""

    def __init__(self, ns, tap):
        def sock():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((tap, ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.settimeout(0.2)
            return s
        self.sock, self.frames, self.stop = in_netns(ns, sock), [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                self.frames.append(self.sock.recv(65536))
            except socket.timeout:
                pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        return self.frames


def test_forged_frames_dropped_honest_ones_pass(host):
    """vm2 forges (source MAC, IPv4 and IPv6 source, ARP sender, a DHCP offer, a router
    advertisement) between honest frames: none of the forged reaches vm1's tap, every honest
    one does, each forged is counted under its reason, and vm1 (guarded too) is unharmed."""
    host.start_net(nat_def(reservations=reserved("10.77.0")))
    br = bridge_of(host, "default")
    vmnet.serve_udp_outside(host)
    t1, t2 = vmnet.make_tap(host.ns, "pgv1", br), vmnet.make_tap(host.ns, "pgv2", br)
    vmnet.guards_on(host.ns, t1, MAC1, "10.77.0.5")
    vmnet.guards_on(host.ns, t2, MAC2, "10.77.0.6")
    g1 = vmnet.boot(host.ns, t1, MAC1, "hostname=vm1 serve=170")
    try:
        g1.expect(r"^dhcpnet serving$", timeout=90)
        listen = Listener(host.ns, t1)
        try:
            out2 = vmnet.finish(vmnet.boot(host.ns, t2, MAC2, "hostname=vm2 mode=forge resolve=vm1.vm "
                                           f"ping=10.77.0.5 udp={OUTSIDE}:{vmnet.UDP_PORT}"))
        finally:
            frames = listen.close()
        g1.send("q")
        out1 = vmnet.finish(g1)
    finally:
        g1.kill()
    sent = dict(re.findall(r"^dhcpnet forge (\w+) tag=(\S+)$", out2, re.M))
    assert set(sent) == {"mac", "ip4", "ip6", "arp", "dhcp", "ra"}, out2
    honest = re.findall(r"^dhcpnet honest tag=(\S+)$", out2, re.M)
    assert len(honest) >= 8, out2
    for kind, tag in sent.items():
        assert not any(tag.encode() in f for f in frames), f"the forged {kind} frame ({tag}) crossed the bridge"
    for tag in honest:
        assert any(tag.encode() in f for f in frames), f"the honest frame {tag} did not reach vm1's tap"
    c2 = vmnet.counts(host.ns, t2)
    assert {r: c2[r] for r in REASONS} == dict.fromkeys(REASONS, 1), c2
    assert vmnet.counts(host.ns, t1) == dict.fromkeys(REASONS, 0)
    # the honest traffic around them: vm2's own exchanges and vm1's answers all went through
    assert "dhcpnet addr=10.77.0.6 " in out2 and "dhcpnet resolve vm1.vm=10.77.0.5" in out2, out2
    assert "dhcpnet ping 10.77.0.5: reply" in out2, out2
    assert f"dhcpnet udp {OUTSIDE}:{vmnet.UDP_PORT} reply=from={HOST_OUT}" in out2, out2
    assert "dhcpnet addr=10.77.0.5 " in out1 and re.search(r"^dhcpnet served pings=[1-9]", out1, re.M), out1
