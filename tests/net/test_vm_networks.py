# SPDX-License-Identifier: Apache-2.0
"""A VM's interface on a host network (docs/networks.md#a-vm-on-a-network) for real: petreld in a
network namespace with jailed petrel workers booting the counter test guest with a virtio-net
interface on a nat network. The MAC petreld gives and keeps, the reservation in the network's
definition and in dnsmasq's hosts file, the tap made for the worker (owned by the jail's ids, on
the bridge, guarded) and removed when it ends, also by a petreld started after a kill -9; the
network kept up under a running VM; its address in the API and `petrelctl list`; refusals that
change nothing; a live migration (the dhcpnet guest: its address answers on either side). The
VMs need /dev/kvm; the refusals do not."""
import json
import os
import re
import signal

import pytest

import mgrlib
import petrel_test
from netlib import links, nat_def, ruleset, sh, wait_for
from vmnet import console, dhcpnet_doc, pings

JAIL_ID = 12345   # petreld's default jail uid and gid


@pytest.fixture
def kvm():
    petrel_test.require_kvm()
    if not mgrlib.guest("counter").exists():
        pytest.skip("test guests not built")


def vm_doc(name, **iface):
    return {"boot-source": {"kernel_image_path": str(mgrlib.guest("counter")), "boot_args": "every=1048576"},
            "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
            "network-interfaces": [{"iface_id": "eth0", "network": "default", **iface}],
            "petrel": {"name": name}}


def define(host, doc, status=201):
    st, body = host.api("POST", "/vms", doc)
    assert st == status, body
    return body


def net_file(host, name="default"):
    return json.loads((host.pd.defs / "networks" / f"{name}.json").read_text())


def tap_info(host, tap):
    """`ip -d link show TAP` in the host's namespace, or "" when there is no such interface."""
    r = sh("ip", "-d", "link", "show", tap, ns=host.ns, check=False)
    return r.stdout if r.returncode == 0 else ""


def guarded(host, tap):
    return f"petrel-guard-{tap}" in ruleset(host.ns)


RATE = {"bandwidth": {"size": 12500000, "refill_time": 100}}


@pytest.mark.needs_kvm
def test_vm_on_a_nat_network(jailed_host, kvm):
    host = jailed_host
    host.start_net(nat_def(rate_limiter=RATE))
    # define: a MAC given, a reservation outside the DHCP range (.100-.200) written into the
    # network's definition and dnsmasq's hosts file
    define(host, vm_doc("web1"))
    st, d = host.api("GET", "/vms/web1/definition")
    mac = d["network-interfaces"][0]["guest_mac"]
    assert mac.startswith("52:54:00:") and "host_dev_name" not in d["network-interfaces"][0], d
    assert net_file(host)["reservations"] == [{"vm": "web1", "mac": mac, "ip": "10.77.0.2"}]
    assert f"{mac},10.77.0.2,web1" in (host.pd.state / "networks/default/hosts").read_text()
    # a redefinition without the MAC keeps it, and the reservation
    define(host, vm_doc("web1"), status=200)
    assert host.api("GET", "/vms/web1/definition")[1]["network-interfaces"][0]["guest_mac"] == mac
    assert len(net_file(host)["reservations"]) == 1
    # a second VM gets the next free address, and another MAC
    define(host, vm_doc("web2"))
    res = {r["vm"]: r for r in net_file(host)["reservations"]}
    assert res["web2"]["ip"] == "10.77.0.3" and res["web2"]["mac"] != mac
    st, vm = host.api("GET", "/vms/web1")
    assert vm["interfaces"] == [{"iface_id": "eth0", "network": "default", "mac": mac, "ip": "10.77.0.2"}], vm

    # start: the tap, the jail's, guarded, on the bridge, before the worker runs on it
    st, vm = host.api("POST", "/vms/web1/start", timeout=120)
    assert st == 200, vm
    tap = "pt-web1-0"
    assert vm["interfaces"][0]["tap"] == tap, vm
    info = tap_info(host, tap)
    assert "tun type tap" in info and f"user {JAIL_ID}" in info and f"group {JAIL_ID}" in info, info
    assert "master pn-default" in info and "persist on" in info, info
    assert guarded(host, tap)
    # the worker has it open (a tap with a reader has its carrier), and the guest runs
    assert "LOWER_UP" in info, info
    log = host.pd.state / "logs" / "web1.worker.log"
    wait_for(lambda: "count=3" in log.read_text(errors="replace"), timeout=60, what="the guest's counts")
    # what the worker was given: the tap, the network's rate limiter, no network fields
    st, cfg = mgrlib.request(vm["api_socket"], "GET", "/vm/config")
    nic = cfg["network-interfaces"][0]
    assert st == 200 and nic["host_dev_name"] == tap and nic["guest_mac"] == mac and "network" not in nic, cfg
    assert nic["rx_rate_limiter"]["bandwidth"]["size"] == 12500000 == nic["tx_rate_limiter"]["bandwidth"]["size"], nic
    run = json.loads((host.pd.state / "run" / "web1.json").read_text())
    assert [t["tap"] for t in run["taps"]] == [tap], run
    # its address in the listing
    st, brief = host.api("GET", "/list/running")
    assert brief[0]["addresses"] == ["10.77.0.2"], brief
    out = host.pd.ctl("list", check=True).stdout
    assert "10.77.0.2" in next(line for line in out.splitlines() if "web1" in line), out
    # the network is not torn down under it, nor undefined while defined VMs name it
    st, body = host.api("POST", "/networks/default/destroy")
    assert st == 409 and "web1" in body["fault_message"], body
    assert host.api("DELETE", "/networks/default")[0] == 409
    assert "pn-default" in links(host.ns)

    # its end: the tap and its guards gone
    st, body = host.api("POST", "/vms/web1/destroy", timeout=60)
    assert st == 200, body
    wait_for(lambda: not tap_info(host, tap), what="the tap's removal")
    assert not guarded(host, tap)
    assert "interfaces" in body and "tap" not in body["interfaces"][0]
    # a start again gets it again; a shutdown (the guest ends) removes it too
    assert host.api("POST", "/vms/web1/start", timeout=120)[0] == 200
    assert tap_info(host, tap)
    assert host.api("POST", "/vms/web1/destroy", timeout=60)[0] == 200
    wait_for(lambda: not tap_info(host, tap), what="the tap's removal")

    # undefine: its reservation goes, the other VM's stays
    assert host.api("DELETE", "/vms/web1")[0] == 204
    assert [r["vm"] for r in net_file(host)["reservations"]] == ["web2"]
    assert mac not in (host.pd.state / "networks/default/hosts").read_text()
    assert host.api("DELETE", "/vms/web2")[0] == 204
    # with no VM left on it the network may go
    assert host.api("POST", "/networks/default/destroy")[0] == 200


@pytest.mark.needs_kvm
def test_vms_on_a_bridge_network(jailed_host, kvm):
    """A bridge network (the host's bridge, no DHCP of petreld's): the tap on it, guarded with the
    addresses the interface lists, no reservation; an interface with guards off has none."""
    host = jailed_host
    sh("ip", "link", "add", "br-lan", "type", "bridge", ns=host.ns)
    sh("ip", "link", "set", "br-lan", "up", ns=host.ns)
    st, body = host.define({"name": "lan", "kind": "bridge", "bridge": "br-lan"})
    assert st == 201, body
    assert host.api("POST", "/networks/lan/start")[0] == 200
    doc = vm_doc("r1", network="lan", ipv4=["192.0.2.50"], ipv6=["2001:db8::50"])
    define(host, doc)
    define(host, vm_doc("r2", network="lan", guards=False))
    assert "reservations" not in net_file(host, "lan")
    for name in ("r1", "r2"):
        st, body = host.api("POST", f"/vms/{name}/start", timeout=120)
        assert st == 200, body
    for tap in ("pt-r1-0", "pt-r2-0"):
        assert "master br-lan" in tap_info(host, tap), tap_info(host, tap)
    rules = ruleset(host.ns)
    assert guarded(host, "pt-r1-0") and not guarded(host, "pt-r2-0")
    table = rules[rules.index("petrel-guard-pt-r1-0"):]
    assert "192.0.2.50" in table and "2001:db8::50" in table, table
    vm = host.api("GET", "/vms/r1")[1]
    assert vm["interfaces"][0]["network"] == "lan" and "ip" not in vm["interfaces"][0], vm
    for name in ("r1", "r2"):
        assert host.api("POST", f"/vms/{name}/destroy", timeout=60)[0] == 200
    wait_for(lambda: not tap_info(host, "pt-r1-0") and not tap_info(host, "pt-r2-0"), what="the taps removed")
    assert "br-lan" in links(host.ns)   # the host's bridge stays


@pytest.mark.needs_kvm
def test_taps_cleaned_after_petreld_kill9(jailed_host, kvm):
    host = jailed_host
    host.start_net(nat_def())
    for name in ("keep", "dies"):
        define(host, vm_doc(name))
        st, body = host.api("POST", f"/vms/{name}/start", timeout=120)
        assert st == 200, body
    vmm = {n: host.api("GET", f"/vms/{n}")[1]["vmm_pid"] for n in ("keep", "dies")}
    assert tap_info(host, "pt-keep-0") and tap_info(host, "pt-dies-0")
    # petreld killed; one worker dies while it is away
    host.pd.stop(signal.SIGKILL)
    os.kill(vmm["dies"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{vmm['dies']}") or
             open(f"/proc/{vmm['dies']}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", what="its end")
    assert tap_info(host, "pt-keep-0") and tap_info(host, "pt-dies-0")   # nothing torn down
    host.pd.start()
    # the dead one's tap is removed at adoption, the living one's kept
    wait_for(lambda: not tap_info(host, "pt-dies-0"), what="the dead worker's tap removed")
    assert not guarded(host, "pt-dies-0")
    vm = host.api("GET", "/vms/keep")[1]
    assert vm["state"] == "running" and vm["interfaces"][0]["tap"] == "pt-keep-0", vm
    assert tap_info(host, "pt-keep-0") and guarded(host, "pt-keep-0")
    assert host.api("POST", "/networks/default/destroy")[0] == 409
    # the adopted VM destroyed: the new petreld removes the tap the old one made
    assert host.api("POST", "/vms/keep/destroy", timeout=60)[0] == 200
    wait_for(lambda: not tap_info(host, "pt-keep-0"), what="the adopted worker's tap removed")
    assert not guarded(host, "pt-keep-0")
    assert host.api("POST", "/networks/default/destroy")[0] == 200


def test_bad_vm_network_input_changes_nothing(host):
    """No worker starts here (every case is refused before one would): no KVM needed."""
    host.define(nat_def())
    net_before = (host.pd.defs / "networks" / "default.json").read_bytes()
    cases = [
        ({"network": "nosuch"}, 400, "no network named 'nosuch'"),
        ({"network": "default", "host_dev_name": "tap0"}, 400, "not both"),
        ({"network": "default", "guards": "no"}, 400, "guards"),
        ({"network": "default", "ipv4": ["10.0.0.300"]}, 400, "ipv4[0]"),
        ({"network": "bad name"}, 400, "network"),
        ({"host_dev_name": "tap0", "guards": False}, 400, "only with \"network\""),
    ]
    for iface, status, words in cases:
        doc = vm_doc("bad")
        doc["network-interfaces"][0] = {"iface_id": "eth0", **iface}
        st, body = host.api("POST", "/vms", doc)
        assert st == status and words in body["fault_message"], (iface, st, body)
    assert host.api("GET", "/vms")[1] == []
    assert not (host.pd.defs / "bad.json").exists()
    assert (host.pd.defs / "networks" / "default.json").read_bytes() == net_before
    # a MAC another VM has on the network
    define(host, vm_doc("one"))
    mac = host.api("GET", "/vms/one/definition")[1]["network-interfaces"][0]["guest_mac"]
    st, body = host.api("POST", "/vms", vm_doc("two", guest_mac=mac))
    assert st == 409 and "VM one" in body["fault_message"], body
    net_before = (host.pd.defs / "networks" / "default.json").read_bytes()
    # a start while the network is not active: 409, nothing made
    before = links(host.ns)
    st, body = host.api("POST", "/vms/one/start")
    assert st == 409 and "network default is not active" in body["fault_message"], body
    vm = host.api("GET", "/vms/one")[1]
    assert vm["state"] == "shut off" and "pid" not in vm, vm
    assert links(host.ns) == before and "petrel-guard" not in ruleset(host.ns)
    assert not (host.pd.state / "run" / "one.json").exists()
    assert (host.pd.defs / "networks" / "default.json").read_bytes() == net_before
    # a network that a VM names cannot be undefined
    st, body = host.api("DELETE", "/networks/default")
    assert st == 409 and "one" in body["fault_message"], body


A_IP, B_IP = "10.213.38.1", "10.213.38.2"


@pytest.mark.needs_kvm
def test_migration_of_a_vm_on_a_network(kvm, tmp_path):
    """Two "hosts" (namespaces joined by a veth, a petreld each with its TLS listener): the target
    without the network, then with another definition of it, is refused before anything is sent;
    with the same definition the VM moves, its tap made there and removed here, and its address
    (the dhcpnet guest, serving: it answers ARP and pings) answers there as it did here."""
    import tlslib
    from nethelp import two_hosts
    if not tlslib.have_certtool():
        pytest.skip("certtool (gnutls-bin) not installed")
    a, b = two_hosts(A_IP, B_IP)
    pki = tlslib.make_pki(tmp_path / "pki", f"hosta,{A_IP}", f"hostb,{B_IP}")
    pds = []
    try:
        def petreld(ns, ip, name):
            p = mgrlib.Petreld(args=["--listen-tcp", f"{ip}:7443", "--tls-dir", str(pki / name)],
                               prefix=["nsenter", f"--net=/run/netns/{ns.name}"])
            pds.append(p)
            p.start()
            os.chmod(p.root, 0o755)
            return p
        src, dst = petreld(a, A_IP, "hosta"), petreld(b, B_IP, "hostb")
        st, body = src.api("POST", "/networks", nat_def())
        assert st == 201, body
        mac = "52:54:00:5e:02:01"
        assert src.api("POST", "/vms", dhcpnet_doc("mig", "hostname=mig serve=900", mac=mac))[0] == 201
        # without its reservation: its address is a lease from the DHCP range, which the target's
        # dnsmasq does not have (the migration brings it to the target's guards)
        definition = src.api("GET", "/networks/default")[1]["definition"]
        definition["reservations"] = []
        assert src.api("POST", "/networks", definition)[0] in (200, 201)
        assert src.api("POST", "/networks/default/start")[0] == 200
        st, vm = src.api("POST", "/vms/mig/start", timeout=120)
        assert st == 200, vm
        assert vm["interfaces"][0]["mac"] == mac
        # the guest has its address from this host's dnsmasq and answers it
        wait_for(lambda: "dhcpnet serving" in console(src, "mig"), timeout=120, what="the guest serving")
        m = re.search(r"^dhcpnet addr=(10\.77\.0\.(\d+)) ", console(src, "mig"), re.M)
        assert m and 100 <= int(m.group(2)) <= 200, console(src, "mig")
        ip = m.group(1)
        assert src.api("GET", "/vms/mig")[1]["interfaces"][0]["ip"] == ip
        assert pings(a.name, ip), "the guest's address does not answer before the migration"

        def tap_in(ns):
            r = sh(*ns.exec_prefix(), "ip", "-d", "link", "show", "pt-mig-0", check=False)
            return r.stdout if r.returncode == 0 else ""
        assert "master pn-default" in tap_in(a)
        # the target has no such network: refused before anything is sent, the VM runs on here
        r = src.ctl("migrate", "mig", "--to", B_IP, timeout=120)
        assert r.returncode == 1 and "no network default here" in r.stderr, r.stderr
        assert dst.api("GET", "/vms")[1] == [] and not tap_in(b)
        # another definition of it (another domain): refused too
        assert dst.api("POST", "/networks", nat_def(domain="other"))[0] == 201
        assert dst.api("POST", "/networks/default/start")[0] == 200
        r = src.ctl("migrate", "mig", "--to", B_IP, timeout=120)
        assert r.returncode == 1 and "network default differs on this host" in r.stderr, r.stderr
        assert dst.api("GET", "/vms")[1] == [] and not tap_in(b)
        assert src.api("GET", "/vms/mig")[1]["state"] == "running"
        # the same definition (the cluster's shared file): the VM moves
        definition = src.api("GET", "/networks/default")[1]["definition"]
        assert dst.api("POST", "/networks/default/destroy")[0] == 200
        assert dst.api("POST", "/networks", definition)[0] == 201
        assert dst.api("POST", "/networks/default/start")[0] == 200
        assert dst.api("GET", "/networks/default")[1]["digest"] == src.api("GET", "/networks/default")[1]["digest"]
        r = src.ctl("--json", "migrate", "mig", "--to", B_IP, timeout=300)
        assert r.returncode == 0, r.stderr
        vm = dst.api("GET", "/vms/mig")[1]
        assert vm["state"] == "running" and vm["interfaces"][0] == {
            "iface_id": "eth0", "network": "default", "mac": mac, "ip": ip, "tap": "pt-mig-0"}, vm
        info = tap_in(b)
        assert "master pn-default" in info and f"user {JAIL_ID}" in info and "LOWER_UP" in info, info
        assert "petrel-guard-pt-mig-0" in sh(*b.exec_prefix(), "nft", "list", "tables").stdout
        # the source's tap and guards are gone with its worker
        wait_for(lambda: not tap_in(a), what="the source's tap removed")
        assert "petrel-guard" not in sh(*a.exec_prefix(), "nft", "list", "tables").stdout
        # the guest runs on there: its address (its lease there: in the target's guards, though
        # the target's dnsmasq has none) answers on the target's network, no more here
        assert pings(b.name, ip), "the guest's address does not answer after the migration"
        assert not pings(a.name, ip, count=1)
        assert src.api("POST", "/networks/default/destroy")[0] == 200
        assert dst.api("POST", "/vms/mig/destroy", timeout=60)[0] == 200
        wait_for(lambda: not tap_in(b), what="the target's tap removed")
    finally:
        for p in pds:
            p.close()
        a.close()
        b.close()


AGENT = mgrlib.REPO / "ocf" / "petrel-vm"
OCF_ROOT = "/usr/lib/ocf"


def test_cluster_agent_refuses_a_node_without_the_network(host, tmp_path):
    """The OCF agent's start on a node where the VM's network is missing, then inactive: fails
    with OCF_ERR_CONFIGURED (6) and the reason, before the VM is defined. No KVM: no VM starts."""
    import subprocess
    if not os.path.exists(f"{OCF_ROOT}/lib/heartbeat/ocf-shellfuncs"):
        pytest.skip("no resource-agents (ocf-shellfuncs)")
    config = tmp_path / "web1.json"
    config.write_text(json.dumps(vm_doc("web1")))

    def start():
        env = dict(os.environ, OCF_ROOT=OCF_ROOT, OCF_RESKEY_config=str(config), OCF_RESKEY_socket=str(host.pd.sock),
                   OCF_RESKEY_petrelctl=str(mgrlib.PETRELCTL), OCF_RESKEY_CRM_meta_on_node="node1")
        return subprocess.run([str(AGENT), "start"], env=env, capture_output=True, text=True, timeout=60)
    r = start()
    assert r.returncode == 5 and "network default, which is not defined on this node" in r.stderr, r
    host.define(nat_def())
    r = start()
    assert r.returncode == 5 and "not active on this node (petrelctl net-start default)" in r.stderr, r
    assert host.api("GET", "/vms")[1] == []   # nothing defined


def test_reservation_reaches_the_running_dnsmasq(host):
    """A VM defined on an active network: its reservation goes to the running dnsmasq (no
    restart), which gives its MAC that address at once. The "guest" is a namespace with the
    VM's MAC (no KVM)."""
    from netlib import Guest
    info = host.start_net(nat_def())
    pid = info["dnsmasq"]["pid"]
    define(host, vm_doc("web1"))
    st, vm = host.api("GET", "/vms/web1")
    mac, ip = vm["interfaces"][0]["mac"], vm["interfaces"][0]["ip"]
    assert ip == "10.77.0.2"
    assert Guest(host, "pn-default", "g", mac=mac).dhcp(hostname="web1") == ip
    after = host.info("default")
    assert after["dnsmasq"]["pid"] == pid and after["dnsmasq"]["restarts"] == 0, after
    # the running definition is the new one: reservations are applied live
    assert after["digest"] == after["running_digest"], after
    st, leases = host.api("GET", "/networks/default/leases")
    assert [(x["ip"], x["vm"]) for x in leases] == [(ip, "web1")], leases
