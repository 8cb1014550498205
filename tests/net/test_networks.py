# SPDX-License-Identifier: Apache-2.0
"""petreld's host networks (docs/networks.md) for real: a nat network's bridge, nftables table
and dnsmasq; guests (namespaces on veths into the bridge) getting addresses with udhcpc,
resolving names, reaching each other and, masqueraded, the outside; an isolated network that
reaches nothing else; reservations; petreld killed and its networks adopted; dnsmasq killed and
restarted with its leases. No KVM: every "guest" is a network namespace."""
import json
import os
import signal
import time

from netlib import HOST_OUT, OUTSIDE, Guest, alive, links, nat_def, ruleset, sh, wait_for

RESERVED_MAC = "52:54:00:12:34:56"


def test_nat_network_dhcp_dns_masquerade(host):
    info = host.start_net(nat_def(reservations=[{"vm": "web1", "mac": RESERVED_MAC, "ip": "10.77.0.5"}]))
    assert info["active"] and info["bridge"] == "pn-default"
    # the bridge with the gateway's address, the table, dnsmasq
    addr = sh("ip", "-o", "-4", "addr", "show", "pn-default", ns=host.ns).stdout
    assert "10.77.0.1/24" in addr
    assert "table inet petrel-net-default" in ruleset(host.ns)
    assert "masquerade" in ruleset(host.ns)
    pid = info["dnsmasq"]["pid"]
    assert pid > 0 and alive(pid)
    assert sh("cat", "/proc/sys/net/ipv4/ip_forward", ns=host.ns).stdout.strip() == "1"

    a, b = Guest(host, "pn-default", "a"), Guest(host, "pn-default", "b")
    ip_a, ip_b = a.dhcp(), b.dhcp()
    for ip in (ip_a, ip_b):
        last = int(ip.split(".")[3])
        assert ip.startswith("10.77.0.") and 100 <= last <= 200, ip
    assert ip_a != ip_b
    # the two guests reach each other
    assert a.ping(ip_b) and b.ping(ip_a)
    # a reservation gives its fixed address, and dnsmasq answers for the names it knows
    web = Guest(host, "pn-default", "web", mac=RESERVED_MAC)
    assert web.dhcp(hostname="web1") == "10.77.0.5", (host.pd.state / "networks/default/dnsmasq.log").read_text()
    assert a.resolve("web1.vm", "10.77.0.1") == ["10.77.0.5"]
    assert web.resolve("b.vm", "10.77.0.1") == [ip_b]
    # the outside, through masquerade: it sees the gateway's outside address
    host.serve_outside(9999)
    assert a.connect(OUTSIDE, 9999) == HOST_OUT
    # the leases, with the reservation's VM
    st, leases = host.api("GET", "/networks/default/leases")
    assert st == 200
    by_ip = {x["ip"]: x for x in leases}
    assert by_ip["10.77.0.5"]["vm"] == "web1" and by_ip["10.77.0.5"]["hostname"] == "web1"
    assert by_ip["10.77.0.5"]["mac"] == RESERVED_MAC
    assert by_ip[ip_a]["hostname"] == "a" and by_ip[ip_a]["vm"] == ""
    assert "no-resolv" not in (host.pd.state / "networks" / "default" / "dnsmasq.conf").read_text()
    assert {x["ip"] for x in host.info("default")["leases"]} == {ip_a, ip_b, "10.77.0.5"}

    # destroy: bridge, table and dnsmasq gone; the definition and the leases file stay
    st, body = host.api("POST", "/networks/default/destroy")
    assert st == 200 and not body["active"], body
    assert "pn-default" not in links(host.ns)
    assert "petrel-net-default" not in ruleset(host.ns)
    wait_for(lambda: not alive(pid), what="dnsmasq's end")
    assert (host.pd.defs / "networks" / "default.json").exists()
    assert "10.77.0.5" in (host.pd.state / "networks" / "default" / "leases").read_text()


def test_isolated_network_reaches_nothing_else(host):
    d = nat_def("lab", "10.78.0", kind="isolated")
    host.start_net(d)
    # forwarding on: what keeps the guests in is the network's table, not the sysctl
    sh("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward", ns=host.ns)
    host.serve_outside(9999)
    host.serve_outside(9998, ns=host.ns)   # a service of the host itself
    a, b = Guest(host, "pn-lab", "a"), Guest(host, "pn-lab", "b")
    ip_a, ip_b = a.dhcp(), b.dhcp()       # the host's DHCP answers
    assert ip_a.startswith("10.78.0.") and ip_b.startswith("10.78.0.")
    assert a.ping(ip_b) and b.ping(ip_a)
    assert a.resolve("b.vm", "10.78.0.1") == [ip_b]   # and its DNS
    assert a.connect(OUTSIDE, 9999, timeout=2) is None
    assert not a.ping(OUTSIDE)
    assert a.connect("10.78.0.1", 9998, timeout=2) is None
    assert "masquerade" not in ruleset(host.ns)
    # its DNS answers its own names only: no way out through it either
    assert "no-resolv" in (host.pd.state / "networks" / "lab" / "dnsmasq.conf").read_text()


def test_petreld_killed_networks_adopted(host):
    host.start_net(nat_def())
    g = Guest(host, "pn-default", "a")
    ip = g.dhcp()
    pid = host.info("default")["dnsmasq"]["pid"]
    before = ruleset(host.ns)
    host.pd.stop(signal.SIGKILL)
    # nothing torn down
    assert "pn-default" in links(host.ns) and alive(pid) and ruleset(host.ns) == before
    host.pd.start()
    info = host.info("default")
    assert info["active"] and info["dnsmasq"]["pid"] == pid
    assert ruleset(host.ns) == before
    assert "network default adopted" in host.pd.log.read_text()
    assert g.ping("10.77.0.1")
    # the adopted dnsmasq (no child of this petreld) is still supervised
    os.kill(pid, signal.SIGKILL)
    info = wait_for(lambda: (lambda i: i if i["dnsmasq"]["pid"] not in (0, pid) else None)(host.info("default")),
                    what="dnsmasq started again")
    assert alive(info["dnsmasq"]["pid"]) and info["dnsmasq"]["restarts"] == 1
    assert ip in {x["ip"] for x in info["leases"]}


def test_dnsmasq_killed_restarted_leases_kept(host):
    host.start_net(nat_def())
    g = Guest(host, "pn-default", "a")
    ip = g.dhcp()
    leases = host.pd.state / "networks" / "default" / "leases"
    assert ip in leases.read_text()
    for n in (1, 2):
        pid = host.info("default")["dnsmasq"]["pid"]
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        info = wait_for(lambda: (lambda i: i if i["dnsmasq"]["pid"] not in (0, pid) else None)(host.info("default")),
                        what="dnsmasq started again")
        # after 1 s, then 2 s (the backoff doubles while it keeps dying)
        assert time.monotonic() - t0 >= 0.9 * n
        assert info["dnsmasq"]["restarts"] == n and alive(info["dnsmasq"]["pid"])
        assert ip in leases.read_text() and ip in {x["ip"] for x in info["leases"]}
    # the restarted dnsmasq serves: the guest renews the same address
    assert g.dhcp() == ip
    assert "dnsmasq" in host.pd.log.read_text() and "started again" in host.pd.log.read_text()


def test_autostart_before_vms_and_ctl(host):
    d = nat_def("auto", "10.79.0")
    path = host.root / "auto.json"
    path.write_text(json.dumps(d))
    r = host.pd.ctl("net-define", str(path))
    assert r.returncode == 0 and "network auto defined" in r.stdout, r.stderr
    assert host.pd.ctl("net-autostart", "auto").returncode == 0
    assert json.loads((host.pd.defs / "networks" / "auto.json").read_text())["autostart"] is True
    r = host.pd.ctl("net-list")
    assert "auto" in r.stdout and "10.79.0.0/24" in r.stdout
    host.restart_petreld()
    info = host.info("auto")
    assert info["active"] and info["dnsmasq"]["pid"] > 0
    assert "pn-auto" in links(host.ns)
    r = host.pd.ctl("net-undefine", "auto")
    assert r.returncode == 1 and "active" in r.stderr
    assert host.pd.ctl("net-destroy", "auto").returncode == 0
    assert host.pd.ctl("net-autostart", "auto", "--disable").returncode == 0
    r = host.pd.ctl("--json", "net-info", "auto") if False else host.pd.ctl("net-info", "auto")
    assert json.loads(r.stdout)["active"] is False
    assert host.pd.ctl("net-start", "auto").returncode == 0 and "pn-auto" in links(host.ns)
    assert host.pd.ctl("net-destroy", "auto").returncode == 0
    assert host.pd.ctl("net-undefine", "auto").returncode == 0
    assert not (host.pd.defs / "networks" / "auto.json").exists()
    assert host.pd.ctl("net-info", "auto").returncode == 1


def test_bridge_network_attaches_to_an_existing_bridge(host):
    st, body = host.define({"name": "lan", "kind": "bridge", "bridge": "br-lan"})
    assert st == 400 and "no bridge br-lan" in body["fault_message"]
    sh("ip", "link", "add", "br-lan", "type", "bridge", ns=host.ns)
    st, body = host.define({"name": "lan", "kind": "bridge", "bridge": "br-lan"})
    assert st == 201, body
    assert host.api("POST", "/networks/lan/start")[0] == 200
    assert host.api("POST", "/networks/lan/destroy")[0] == 200
    assert "br-lan" in links(host.ns)   # not petreld's: never deleted
    assert not (host.pd.state / "networks" / "lan" / "dnsmasq.conf").exists()


def snapshot(host):
    nets = host.pd.defs / "networks"
    files = {p.name: p.read_bytes() for p in nets.iterdir()} if nets.is_dir() else {}
    return files, links(host.ns), ruleset(host.ns)


def test_bad_input_refused_nothing_changed(host):
    host.start_net(nat_def())
    st, body = host.define(nat_def("other", "10.80.0"))
    assert st == 201
    before = snapshot(host)
    base = nat_def("x", "10.90.0")

    def refused(d, status, words):
        st, body = host.api("POST", "/networks", d)
        assert st == status, (d if not isinstance(d, bytes) else "bytes", st, body)
        msg = body["fault_message"] if isinstance(body, dict) else str(body)
        assert words in msg, msg
        assert snapshot(host) == before

    def ipv4(**kw):
        return dict(base, ipv4=dict(base["ipv4"], **kw))
    refused(nat_def("x", "10.77.0"), 409, "overlaps network default's 10.77.0.0/24")
    refused(dict(base, ipv4=dict(base["ipv4"], address="10.77.128.1", prefix=16, dhcp_start="10.77.200.1",
                                 dhcp_end="10.77.200.9")), 409, "overlaps")
    refused(dict(base, bridge="pn-default"), 409, "bridge pn-default is network default's")
    refused(dict(base, bridge="out0"), 409, "an interface named out0 exists")
    refused(ipv4(dhcp_start="10.91.0.10"), 400, "must be inside 10.90.0.0/24")
    refused(ipv4(dhcp_start="10.90.0.150", dhcp_end="10.90.0.120"), 400, "is after dhcp_end")
    refused(ipv4(dhcp_start="10.90.0.1"), 400, "contains the gateway")
    refused(ipv4(dhcp_end="10.90.0.255"), 400, "must be inside")
    refused(ipv4(prefix=31), 400, "ipv4.prefix")
    refused(ipv4(address="10.90.0.0"), 400, "network or broadcast")
    refused(ipv4(address="10.90.0.300"), 400, "ipv4.address")
    refused(dict(base, kind="vlan"), 400, "kind")
    refused(dict(base, name="a/b"), 400, "name")
    refused(dict(base, name="-a"), 400, "name")
    refused(dict(base, name="n" * 33), 400, "name")
    refused(dict(base, bridge="a/b"), 400, "bridge")
    refused(dict(base, extra=1), 400, "unknown field 'extra'")
    refused(dict(base, domain="a..b"), 400, "domain")
    refused({"name": "x", "kind": "nat"}, 400, "ipv4")
    refused(dict(base, reservations=[{"mac": "52:54:00:00:00:01", "ip": "10.91.0.5"}]), 400, "reservations[0].ip")
    refused(dict(base, reservations=[{"mac": "01:54:00:00:00:01", "ip": "10.90.0.5"}]), 400, "reservations[0].mac")
    refused(dict(base, reservations=[{"mac": "52:54:00:00:00:01", "ip": "10.90.0.5"},
                                     {"mac": "52:54:00:00:00:02", "ip": "10.90.0.5"}]), 400, "reserved twice")
    refused(dict(base, reservations=[{"mac": "52:54:00:00:00:%02x" % (i % 256), "ip": "10.90.0.5"}
                                     for i in range(5000)]), 400, "at most 4096")
    refused(dict(base, rate_limiter={"bandwidth": {"size": -1}}), 400, "rate_limiter")
    refused(b"{\"name\": ", 400, "not JSON")
    refused(b"", 400, "not JSON")
    st, _ = host.api("POST", "/networks", b"{" + b" " * (2 << 20) + b"}")
    assert 400 <= st < 500 and snapshot(host) == before
    # a redefinition of an active network, an undefine of one, a destroy of an inactive one
    refused(nat_def(), 409, "is active")
    assert host.api("DELETE", "/networks/default")[0] == 409
    assert host.api("POST", "/networks/other/destroy")[0] == 409
    assert host.api("POST", "/networks/default/start")[0] == 409
    assert host.api("GET", "/networks/nope")[0] == 404
    assert host.api("GET", "/networks/a/b/c")[0] == 404
    assert host.api("PUT", "/networks/default/autostart", {"autostart": "yes"})[0] == 400
    assert host.api("DELETE", "/networks")[0] == 405
    assert snapshot(host) == before
    # an inactive network may be redefined
    st, body = host.define(nat_def("other", "10.81.0"))
    assert st == 201 and body["subnet"] == "10.81.0.0/24"
