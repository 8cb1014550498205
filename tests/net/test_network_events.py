# SPDX-License-Identifier: Apache-2.0
"""A host network's state changes on petreld's event stream (GET /events: defined, redefined,
started, dnsmasq ended and restarted, destroyed, undefined), and its leases as the API answers
them: dnsmasq's file read by net/leases.c's parser, host names as it sanitizes them."""
import os
import selectors
import signal
import subprocess
import time

from mgrlib import PETRELCTL, Events
from netlib import Guest, alive, nat_def, wait_for


def test_network_events(host):
    ev = Events(host.pd.sock)
    try:
        d = nat_def("evnet", "10.81.0")
        assert host.define(d)[0] == 201
        e = ev.wait("evnet", "network defined", key="network")
        assert e["kind"] == "nat" and e["bridge"] == "pn-evnet" and "vm" not in e and e["time"] > 0
        d["domain"] = "ev"
        assert host.define(d)[0] == 201
        ev.wait("evnet", "network redefined", key="network")
        assert host.api("PUT", "/networks/evnet/autostart", {"autostart": True})[0] == 200
        assert ev.wait("evnet", "network autostart", key="network")["autostart"] is True
        st, body = host.api("POST", "/networks/evnet/start")
        assert st == 200, body
        pid = body["dnsmasq"]["pid"]
        assert ev.wait("evnet", "network started", key="network")["dnsmasq_pid"] == pid
        os.kill(pid, signal.SIGKILL)
        ended = ev.wait("evnet", "network dnsmasq ended", key="network")
        assert ended["dnsmasq_pid"] == pid and ended["restart_in_ms"] == 1000
        again = ev.wait("evnet", "network dnsmasq restarted", key="network")
        assert again["restarts"] == 1 and again["dnsmasq_pid"] not in (0, pid) and alive(again["dnsmasq_pid"])
        # refused changes are no events
        assert host.api("POST", "/networks/evnet/start")[0] == 409
        assert host.api("DELETE", "/networks/evnet")[0] == 409
        assert host.api("POST", "/networks/evnet/destroy")[0] == 200
        ev.wait("evnet", "network destroyed", key="network")
        assert host.api("DELETE", "/networks/evnet")[0] == 200
        ev.wait("evnet", "network undefined", key="network")
        names = [x["event"] for x in ev.seen if x.get("network") == "evnet"]
        assert names == [], f"events beyond those expected: {names}"
    finally:
        ev.close()


def test_petrelctl_events_names_the_network(host):
    p = subprocess.Popen([str(PETRELCTL), "--socket", str(host.pd.sock), "events"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)   # petrelctl subscribed
        assert host.define(nat_def("ctlnet", "10.82.0"))[0] == 201
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        assert sel.select(timeout=10), "petrelctl events printed nothing"
        line = p.stdout.readline()
        assert "ctlnet" in line and "network defined" in line and 'kind="nat"' in line and "(null)" not in line, line
    finally:
        p.kill()
        p.wait()


LEASES = """\
duid 00:01:00:01:2c:5f:aa:bb:52:54:00:00:00:01
1900000000 52:54:00:00:00:0a 10.83.0.150 good-name 01:52:54:00:00:00:0a
1900000001 52:54:00:00:00:0b 10.83.0.151 <script>x</script> *
1900000002 52:54:00:00:00:0c 10.83.0.152 * *
1900000003 52:54:00:00:00:0d 10.83.0.153 name.with.dots *
0 52:54:00:00:00:0e 10.83.0.5 reserved *
1900000004 1234 fd00::5 v6-lease 00:01:02
1900000005 52:54:00:00:00:0f not-an-ip broken *
1900000006 52:54:00:00:00:10 10.83.0.154 {} *
"""


def test_leases_answered_as_the_parser_sanitizes_them(host):
    d = nat_def("lnet", "10.83.0", reservations=[{"vm": "r1", "mac": "52:54:00:00:00:0e", "ip": "10.83.0.5"}])
    assert host.define(d)[0] == 201
    dirpath = host.pd.state / "networks" / "lnet"
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "leases").write_text(LEASES + "1900000007 52:54:00:00:00:11 10.83.0.155 " + "a" * 2000 + " *\n")
    st, leases = host.api("GET", "/networks/lnet/leases")
    assert st == 200, leases
    assert [(x["ip"], x["hostname"], x["vm"]) for x in leases] == [
        ("10.83.0.150", "good-name", ""), ("10.83.0.151", "", ""), ("10.83.0.152", "", ""),
        ("10.83.0.153", "", ""), ("10.83.0.5", "reserved", "r1"), ("10.83.0.154", "", "")], leases
    assert leases[0] == {"mac": "52:54:00:00:00:0a", "ip": "10.83.0.150", "hostname": "good-name",
                         "expiry": 1900000000, "vm": ""}
    assert host.info("lnet")["leases"] == leases
    assert {n["name"]: n["leases"] for n in host.api("GET", "/networks")[1]} == {"lnet": 6}
    # a real lease, from dnsmasq, counts too
    (dirpath / "leases").unlink()
    assert host.api("POST", "/networks/lnet/start")[0] == 200
    ip = Guest(host, "pn-lnet", "g").dhcp(hostname="guest-g")
    wait_for(lambda: host.api("GET", "/networks")[1][0]["leases"] == 1, what="the lease counted")
    assert [(x["ip"], x["hostname"]) for x in host.api("GET", "/networks/lnet/leases")[1]] == [(ip, "guest-g")]
