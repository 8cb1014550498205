# SPDX-License-Identifier: Apache-2.0
"""A VM's guards while it runs (docs/networks.md#the-vms-addresses): petreld watches each network's
lease file and gives the guards of a running worker's tap the leases its MAC holds, so that a VM
whose address comes from the DHCP range (no reservation) may send from it, and only once it has
it. A replication standby gets its tap like any worker (no KVM: its guest never boots; the lease
is taken by a namespace with the VM's MAC). With KVM, the dhcpnet test guest run by petreld: from
the DHCP range, dropped before its lease and answering after it; and a live migration between two
petreld after which its address keeps answering."""
import json
import os
import re
import subprocess

import pytest

import mgrlib
import petrel_test
from netlib import UDHCPC, Guest, nat_def, ruleset, sh, wait_for
from vmnet import console, dhcpnet_doc, pings

from vmnet import MAC


def v4_set(ns, tap):
    """The addresses the tap's guards let its VM send from, or None when it has no guards."""
    r = sh("nft", "-j", "list", "set", "netdev", f"petrel-guard-{tap}", "v4", ns=ns, check=False)
    if r.returncode:
        return None
    s = next(o["set"] for o in json.loads(r.stdout)["nftables"] if "set" in o)
    return {e if isinstance(e, str) else json.dumps(e) for e in s.get("elem", [])}


def drops(ns, tap):
    """The tap's guards' counters: reason -> frames dropped."""
    out = json.loads(sh("nft", "-j", "list", "counters", "table", "netdev", f"petrel-guard-{tap}", ns=ns).stdout)
    return {o["counter"]["name"][5:]: o["counter"]["packets"] for o in out["nftables"] if "counter" in o}


def tap_info(ns, tap):
    r = sh("ip", "-d", "link", "show", tap, ns=ns, check=False)
    return r.stdout if r.returncode == 0 else ""


def drop_reservations(host):
    """The network defined again without the reservations petreld gave its VMs (their addresses
    will come from the DHCP range), and started."""
    if host.info("default")["active"]:
        assert host.api("POST", "/networks/default/destroy")[0] == 200
    net = host.info("default")["definition"]
    net["reservations"] = []
    st, body = host.define(net)
    assert st in (200, 201), body
    st, body = host.api("POST", "/networks/default/start")
    assert st == 200, body


def without_reservations(host, doc):
    """The network and the VM defined, the network without the VM's reservation, started."""
    assert host.define(nat_def())[0] == 201
    st, body = host.api("POST", "/vms", doc)
    assert st == 201, body
    net = host.info("default")["definition"]
    assert [r["vm"] for r in net["reservations"]] == [doc["petrel"]["name"]], net
    drop_reservations(host)


def free_port(ns):
    code = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
    return int(sh("python3", "-c", code, ns=ns).stdout)


def test_a_standby_has_a_guarded_tap_that_follows_the_leases(host, tmp_path):
    """A replication standby (its worker waits for a primary: no KVM) of a VM on a nat network
    without a reservation: its tap is made (on the bridge, guarded, allowing no address), a lease
    its MAC takes is allowed, a lease released is not (each an event "addresses changed"), and
    the tap goes when the standby ends."""
    kernel = tmp_path / "kernel"   # never booted on a standby
    kernel.write_bytes(b"\0" * 4096)
    without_reservations(host, {"boot-source": {"kernel_image_path": str(kernel)},
                                "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
                                "network-interfaces": [{"iface_id": "eth0", "network": "default", "guest_mac": MAC}],
                                "petrel": {"name": "sb"}})
    ev = mgrlib.Events(host.pd.sock)
    r = host.pd.ctl("replica", "sb", "standby", "--listen", f"tcp:127.0.0.1:{free_port(host.ns)}")
    assert r.returncode == 0, r.stderr
    st, vm = host.api("GET", "/vms/sb")
    assert vm["state"] == "standby" and vm["interfaces"][0]["tap"] == "pt-sb-0", vm
    info = tap_info(host.ns, "pt-sb-0")
    assert "master pn-default" in info and "tun type tap" in info, info
    assert v4_set(host.ns, "pt-sb-0") == set()   # no reservation, no lease: DHCP only
    run = json.loads((host.pd.state / "run" / "sb.json").read_text())
    assert [t["tap"] for t in run["taps"]] == ["pt-sb-0"], run

    # a lease for its MAC (taken by a namespace with that MAC on the bridge): allowed
    g = Guest(host, "pn-default", "g", mac=MAC)
    ip = g.dhcp(hostname="sb")
    assert 100 <= int(ip.rsplit(".", 1)[1]) <= 200, ip
    wait_for(lambda: v4_set(host.ns, "pt-sb-0") == {ip}, timeout=5, what="the lease in the guards")
    e = ev.wait("sb", "addresses changed", timeout=5)
    assert (e["iface_id"], e["network"], e["tap"], e["ipv4"], e["ipv6"]) == ("eth0", "default", "pt-sb-0", [ip], []), e
    assert host.api("GET", "/vms/sb")[1]["interfaces"][0]["ip"] == ip
    # released (a udhcpc that releases when it ends: -R): dnsmasq drops the lease, the guards the address
    again = host.root / "lease-again"
    p = subprocess.Popen(["ip", "netns", "exec", g.ns, UDHCPC, "-i", "eth0", "-f", "-R", "-t", "10", "-T", "1",
                          "-s", str(host.script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, LEASE_FILE=str(again)))
    try:
        wait_for(again.exists, timeout=30, what="the lease again")
    finally:
        p.terminate()
        p.wait(timeout=10)
    wait_for(lambda: host.api("GET", "/networks/default/leases")[1] == [], timeout=5, what="the lease released")
    wait_for(lambda: v4_set(host.ns, "pt-sb-0") == set(), timeout=5, what="the address gone from the guards")
    assert ev.wait("sb", "addresses changed", timeout=5)["ipv4"] == []
    ev.close()
    assert "tap pt-sb-0 may send from 1 IPv4" in host.pd.log.read_text(errors="replace")

    # the standby's end: its tap and guards gone
    assert host.pd.ctl("destroy", "sb").returncode == 0
    wait_for(lambda: not tap_info(host.ns, "pt-sb-0"), what="the tap's removal")
    assert "petrel-guard-pt-sb-0" not in ruleset(host.ns)
    assert host.api("POST", "/networks/default/destroy")[0] == 200


@pytest.mark.needs_kvm
def test_a_vm_from_the_dhcp_range_sends_once_leased(jailed_host):
    """The dhcpnet guest, no reservation: with an address it took itself it cannot reach the
    gateway (its ARP and IPv4 dropped); by DHCP it gets one from the range, and then reaches the
    gateway and answers the host, its tap's guards allowing that address alone (a frame it sends
    in the few ms before the lease reaches them may be dropped: the guest tries again)."""
    petrel_test.require_kvm()
    host = jailed_host
    tap = "pt-dyn-0"
    without_reservations(host, dhcpnet_doc("dyn", "ip=10.77.0.199/24 gw=10.77.0.1 ping=10.77.0.1 serve=300"))
    st, vm = host.api("POST", "/vms/dyn/start", timeout=120)
    assert st == 200, vm
    wait_for(lambda: "dhcpnet serving" in console(host.pd, "dyn"), timeout=120, what="the guest serving")
    out = console(host.pd, "dyn")
    assert re.search(r"dhcpnet ping 10\.77\.0\.1: no (reply|arp)", out), out
    assert v4_set(host.ns, tap) == set()
    assert not pings(host.ns, "10.77.0.199", count=1)
    d = drops(host.ns, tap)
    assert d["arp"] >= 1 and d["mac"] == 0, d
    assert host.api("POST", "/vms/dyn/destroy", timeout=60)[0] == 200
    wait_for(lambda: not tap_info(host.ns, tap), what="the tap's removal")

    st, body = host.api("POST", "/vms", dhcpnet_doc("dyn", "hostname=dyn ping=10.77.0.1 serve=300"))
    assert st == 200, body
    drop_reservations(host)   # a redefinition reserves it an address again
    first = len(console(host.pd, "dyn"))  # the log holds the first boot too: read what follows it
    st, vm = host.api("POST", "/vms/dyn/start", timeout=120)
    assert st == 200, vm
    wait_for(lambda: "dhcpnet serving" in console(host.pd, "dyn")[first:], timeout=120, what="the guest serving")
    out = console(host.pd, "dyn")[first:]
    m = re.search(r"^dhcpnet addr=(10\.77\.0\.(\d+)) ", out, re.M)
    assert m and 100 <= int(m.group(2)) <= 200, out
    ip = m.group(1)
    assert "dhcpnet ping 10.77.0.1: reply" in out, out
    assert v4_set(host.ns, tap) == {ip}
    assert pings(host.ns, ip)
    st, vm = host.api("GET", "/vms/dyn")
    assert vm["interfaces"][0]["ip"] == ip, vm
    # at most its first frame from the address, sent before the lease reached the guards
    d = drops(host.ns, tap)
    assert d["ipv4"] + d["arp"] <= 1 and d["mac"] == 0, d
    assert host.api("POST", "/vms/dyn/destroy", timeout=60)[0] == 200
    wait_for(lambda: not tap_info(host.ns, tap), what="the tap's removal")


def test_a_sources_leases_are_checked(host, tmp_path):
    """The leases a migration's source sends (POST /migrations/incoming's "leases") are untrusted
    input: anything but at most 256 of {"mac" (unicast), "ip" (IPv4), "expiry" (>= 0)} is
    refused (400, naming it) before anything is made."""
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"\0" * 4096)
    definition = {"boot-source": {"kernel_image_path": str(kernel)},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}, "petrel": {"name": "arr"}}
    lease = {"mac": MAC, "ip": "10.77.0.150", "expiry": 0}
    bad = (("x", "leases"), ([lease] * 257, "leases"), ([{**lease, "mac": "01:00:5e:00:00:01"}], "leases[0]"),
           ([{**lease, "ip": "fd00::1"}], "leases[0]"), ([{**lease, "expiry": -1}], "leases[0]"),
           ([lease, {**lease, "extra": 1}], "leases[1]"), ([{"mac": MAC, "ip": "10.77.0.150"}], "leases[0]"))
    for leases, what in bad:
        st, body = host.api("POST", "/migrations/incoming", {"definition": definition, "leases": leases})
        assert st == 400 and what in body["fault_message"], (leases, st, body)
    assert host.api("GET", "/vms")[1] == []
