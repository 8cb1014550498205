# SPDX-License-Identifier: Apache-2.0
"""VMs on a petreld network for tests/net/test_net_guests.py and bench/net_guards_vm.py: the
dhcpnet test guest (tests/guests/dhcpnet.c) run by `petrel run` inside the host's namespace
(netlib.Host) on a persistent tap made here and attached to the network's bridge, its guards put
on by tests/tools/guardctl; and the same guest as a VM of petreld's (dhcpnet_doc), on a tap petreld
makes and guards."""
import json
import subprocess

import pytest

import guardlib
import guestlib
import mgrlib
import netlib
from netlib import sh

# an outside UDP server that answers every datagram with the address it came from
UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(2048); s.sendto(("from=" + a[0]).encode(), a)
"""
UDP_PORT = 9998
MAC = "52:54:00:5e:01:01"


def make_tap(ns, name, bridge):
    """A persistent tap (vnet_hdr, as petrel opens it) in namespace ns, up, a port of bridge."""
    sh("ip", "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr", ns=ns)
    sh("ip", "link", "set", name, "master", bridge, "up", ns=ns)
    return name


def boot(ns, tap, mac, cmdline, transport="pci", timeout=180):
    """dhcpnet on tap (its MAC mac; virtio-net over PCI or MMIO) with the command line's words:
    a guestlib.Guest."""
    img = guestlib.require("dhcpnet")
    return guestlib.Guest(img, cmdline=f"mac={mac} transport={transport} {cmdline}",
                          extra=["--net", f"tap={tap},mac={mac},transport={transport}"],
                          prefix=["ip", "netns", "exec", ns], timeout=timeout)


def finish(g, name="dhcpnet"):
    """Wait for the guest's end: its output (it must have passed)."""
    res = g.wait()
    guestlib.assert_passed(res, name)
    return res.stdout


def guardctl(ns, *args):
    r = subprocess.run(["ip", "netns", "exec", ns, str(guardlib.GUARDCTL), *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"guardctl {' '.join(map(str, args))}: {r.returncode}: {r.stderr}"
    return r.stdout


def guards_on(ns, tap, mac, *v4):
    args = ["apply", tap, mac]
    for a in v4:
        args += ["--v4", a]
    guardctl(ns, *args)


def counts(ns, tap):
    return json.loads(guardctl(ns, "counts", tap))


def serve_udp_outside(host, port=UDP_PORT):
    p = subprocess.Popen(["ip", "netns", "exec", host.outside, "python3", "-c", UDP_ECHO, str(port)])
    host.procs.append(p)
    netlib.wait_for(lambda: f":{port:04X}" in sh("cat", "/proc/net/udp", ns=host.outside).stdout,
                    what="the UDP echo server")
    return p


def dhcpnet_doc(name, args, mac=MAC):
    """A definition for petreld of the dhcpnet guest with the command line's words args, its
    interface on the network "default" with the MAC mac."""
    img = mgrlib.guest("dhcpnet")
    if not img.exists():
        pytest.skip(f"{img} not built")
    return {"boot-source": {"kernel_image_path": str(img), "boot_args": f"mac={mac} transport=pci {args}"},
            "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
            "network-interfaces": [{"iface_id": "eth0", "network": "default", "guest_mac": mac}],
            "petrel": {"name": name}}


def console(pd, name):
    """The guest's console (in its worker's log) under the petreld pd."""
    return (pd.state / "logs" / f"{name}.worker.log").read_text(errors="replace")


def pings(ns, addr, count=3):
    """Whether addr answers a ping from namespace ns (a few tries: the first may wait on ARP)."""
    return sh("busybox", "ping", "-c", count, "-W", "2", addr, ns=ns, check=False, timeout=30).returncode == 0
