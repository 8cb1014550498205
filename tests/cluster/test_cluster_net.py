# SPDX-License-Identifier: Apache-2.0
"""A petrel VM on a petreld network (docs/networks.md) in the namespace test cluster, with the real
Corosync and Pacemaker (needs /dev/kvm and root; docs/cluster.md). One 3-host cluster: the nat
network "default" is defined from one file on the shared storage, with the VM's reservation in it,
and started on h1 and h2 (each host its own bridge, nftables table and dnsmasq); h3 has no such
network. In this order:
- the VM's resource prefers h3: the agent's start there fails with OCF_ERR_INSTALLED and its
  reason (in crm_mon), nothing is left on h3, and Pacemaker starts the VM on h1 or h2;
- there, its tap is on the bridge, owned by the jail, guarded, and the guest (the freestanding
  dhcpnet guest, which asks DHCP for its address) has the reserved address and answers pings from
  that host (busybox ping in the host's namespaces), not from the other;
- crm_resource --move live-migrates it to the other host with the network: the tap and its guards
  there, the source's gone, the guest answering the same address there without asking DHCP again
  (no reboot), the network's definitions still the same on both hosts; and back again;
- kill -9 of the VM's host: fenced, and the VM restarted on the other host with the network,
  where the guest, booted again, gets the reserved address again by DHCP.
Under nested KVM on TCG: PETREL_CLUSTER_WAIT, PETREL_CLUSTER_TIME_SCALE, PETREL_CLUSTER_NO_RT."""
import json
import re
import shutil
import subprocess
import threading
import time

import pytest

import clusterlib
from clusterlib import wait

why = clusterlib.missing()
DHCPNET = clusterlib.BUILD / "tests" / "guests" / "dhcpnet.elf"
CTL = str(clusterlib.BUILD / "petrelctl")
pytestmark = [pytest.mark.skipif(why is not None, reason=why or ""),
              pytest.mark.needs_kvm,
              pytest.mark.skipif(not DHCPNET.exists(), reason="test guests not built"),
              pytest.mark.skipif(not shutil.which("busybox"), reason="busybox (ping) not installed")]

VM = "nvm1"
TAP = "pt-nvm1-0"           # petreld's tap for the VM's interface 0 (docs/networks.md#a-vm-on-a-network)
NET = "default"
BRIDGE = "pn-default"
MAC = "52:54:00:5e:0c:01"
IP = "10.77.0.5"            # its reservation, outside the DHCP range
NET_HOSTS = ("h1", "h2")    # the hosts with the network; h3 has none
JAIL_ID = 12345             # petreld's default jail uid and gid
ADDR = re.compile(r"^dhcpnet addr=(\S+) ", re.M)


def network_doc():
    """The network as the cluster's shared file holds it: the same on every host. The VM's
    reservation names its MAC and no "vm": a reservation that names the VM is the VM's own and
    goes with its definition, which the agent's stop undefines on a host the VM leaves (then that
    host's copy differs and a migration back to it is refused)."""
    return {"name": NET, "kind": "nat",
            "ipv4": {"address": "10.77.0.1", "prefix": 24, "dhcp_start": "10.77.0.100", "dhcp_end": "10.77.0.200"},
            "domain": "vm", "reservations": [{"mac": MAC, "ip": IP}]}


def vm_doc(kernel):
    """The dhcpnet guest, its interface on the network with its MAC given (the agent defines it
    afresh on each host: without guest_mac each host would give it another MAC, so another
    address). It takes its address by DHCP, then answers ARP and pings for half an hour."""
    return {"boot-source": {"kernel_image_path": str(kernel),
                            "boot_args": f"mac={MAC} transport=pci hostname={VM} serve=1800"},
            "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
            "network-interfaces": [{"iface_id": "eth0", "network": NET, "guest_mac": MAC}],
            "petrel": {"name": VM}}


@pytest.fixture(scope="module")
def cluster():
    with clusterlib.running(3) as c:
        shutil.copy(DHCPNET, c.shared / "dhcpnet.elf")
        netfile = c.shared / f"net-{NET}.json"
        netfile.write_text(json.dumps(network_doc(), indent=1))
        # each host with the network defines it from the shared file and starts it
        for h in NET_HOSTS:
            c.x(h, CTL, "net-define", str(netfile), check=True)
            c.x(h, CTL, "net-start", NET, check=True)
        yield c


def net_info(c, host):
    r = c.x(host, CTL, "--json", "net-info", NET, check=True)
    return json.loads(r.stdout)


def tap_info(c, host):
    """`ip -d link show TAP` in host, or "" when it has no such interface."""
    r = c.x(host, "ip", "-d", "link", "show", TAP)
    return r.stdout if r.returncode == 0 else ""


def guarded(c, host):
    return f"petrel-guard-{TAP}" in c.x(host, "nft", "list", "tables", check=True).stdout


def pings(c, host, count=3):
    """Whether the VM's address answers busybox ping from inside host (its bridge)."""
    return c.x(host, "busybox", "ping", "-c", str(count), "-W", "2", IP, timeout=30).returncode == 0


def only(c):
    on = c.running_on(VM)
    return on[0] if len(on) == 1 else None


def vm_info(c, host):
    return json.loads(c.x(host, CTL, "--json", "info", VM, check=True).stdout)


def target_role(c, role):
    c.x("h1", "crm_resource", "--resource", VM, "--set-parameter", "target-role", "--meta",
        "--parameter-value", role, check=True)


def assert_tap_guarded(c, host):
    info = tap_info(c, host)
    assert f"master {BRIDGE}" in info and f"user {JAIL_ID}" in info and "LOWER_UP" in info, info
    assert guarded(c, host), f"{host}: no guards on {TAP}"


def test_start_fails_clearly_where_the_network_is_missing(cluster):
    """The resource prefers h3, which has no network "default": the agent's start there fails with
    OCF_ERR_INSTALLED and says why (crm_mon's failed action), h3 keeps nothing, and Pacemaker
    starts the VM on a host that has the network."""
    c = cluster
    assert c.x("h3", CTL, "net-info", NET).returncode != 0   # not defined there
    cfg = c.shared / f"{VM}.json"
    cfg.write_text(json.dumps(vm_doc(c.shared / "dhcpnet.elf"), indent=1))
    # the resource stopped until its constraint is there (a constraint must name a resource)
    am = f'<nvpair id="{VM}-am" name="allow-migrate" value="true"/>'
    rsc = clusterlib.vm_resource(VM, str(cfg))
    assert am in rsc
    c.cib("h1", "-C", "-o", "resources", "-X",
          rsc.replace(am, am + f'<nvpair id="{VM}-tr" name="target-role" value="Stopped"/>'))
    c.cib("h1", "-C", "-o", "constraints", "-X",
          f'<rsc_location id="{VM}-prefers-h3" rsc="{VM}" node="h3" score="100"/>')
    t0 = time.monotonic()
    target_role(c, "Started")
    reason = f"VM {VM} is on network {NET}, which is not defined on this node (petrelctl net-define)"

    def failed_on_h3():
        out = c.x("h1", "crm_mon", "-1", "-r", timeout=30).stdout
        # Pacemaker 2.1.3 on: "* nvm1 start on h3 returned 'not installed' (REASON) at ...";
        # before: "* nvm1_start_0 on h3 'not installed' (5): ..., exitreason='REASON', ..."
        m = re.search(rf"^.*\b{VM}(?:_start_0| start) on h3\b.*$", out, re.M)
        return m and m.group(0)
    failed = wait(failed_on_h3, 120, "the failed start on h3 in crm_mon")
    print(f"crm_mon: {failed.strip()}")
    assert "'not installed'" in failed and reason in failed, failed
    node = wait(lambda: only(c), 120, f"Pacemaker to start {VM} on a host with the network")
    took = time.monotonic() - t0
    assert node in NET_HOSTS, node
    assert c.resource_where("h1", VM) == [node]
    print(f"{VM} refused on h3, started on {node}: {took:.1f} s after the resource was added")
    # the refusal came before anything was defined on h3; its stop there found nothing
    assert c.vm_state("h3", VM) is None and not tap_info(c, "h3")
    # h3 stays out of the VM's places while the failure stands, the preference notwithstanding
    time.sleep(5 * clusterlib.SCALE)
    assert only(c) == node


def test_vm_has_its_reserved_address_on_a_guarded_tap(cluster):
    """Where Pacemaker started it: its tap (on the bridge, the jail's, guarded), the reserved
    address given by that host's dnsmasq, answering pings there and not on the other host."""
    c = cluster
    node = wait(lambda: only(c), 120, f"{VM} running on one host")
    other = next(h for h in NET_HOSTS if h != node)
    assert_tap_guarded(c, node)
    assert not tap_info(c, other) and not guarded(c, other)
    m = wait(lambda: ADDR.search(c.console(node, VM)), 120, "the guest's address by DHCP")
    assert m.group(1) == IP, c.console(node, VM)[-2000:]
    wait(lambda: "dhcpnet serving" in c.console(node, VM), 60, "the guest serving")
    iface = vm_info(c, node)["interfaces"][0]
    assert iface == {"iface_id": "eth0", "network": NET, "mac": MAC, "ip": IP, "tap": TAP}, iface
    leases = net_info(c, node)["leases"]      # the lease that host's dnsmasq gave it
    assert [(x["mac"], x["ip"], x["hostname"]) for x in leases] == [(MAC, IP, VM)], leases
    assert pings(c, node), f"{IP} does not answer on {node}"
    assert not pings(c, other, count=1), f"{IP} answers on {other}, where the VM is not"


class Pinger:
    """busybox ping of the VM's address every 100 ms from inside host (its network namespace
    alone), each reply's time taken as it is read: when the address answered there."""

    def __init__(self, c, host):
        self.replies = []
        self.p = subprocess.Popen(["nsenter", "-t", str(c.init_pid(host)), "-n", "busybox", "ping", "-i", "0.1", IP],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            if " bytes from " in line:
                self.replies.append(time.monotonic())

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        self.t.join(10)
        return self.replies


def move(c, src, dst):
    """crm_resource --move the VM from src to dst: the seconds until it runs on dst alone, after
    Pacemaker live-migrated it (migrate_to in the source's log)."""
    pcmk_log = c.dir / "hosts" / src / "var/log/pacemaker/pacemaker.log"
    log_off = pcmk_log.stat().st_size
    t0 = time.monotonic()
    c.x("h1", "crm_resource", "--move", "-r", VM, "-N", dst, check=True)
    try:
        wait(lambda: only(c) == dst, 180, f"{VM} to move to {dst}")
        took = time.monotonic() - t0
        log = pcmk_log.read_text(errors="replace")[log_off:]
        assert re.search(rf"{VM}_migrate_to_0|migrate_to.*{VM}", log), \
            f"Pacemaker did not live-migrate {VM} (a stop and start instead)"
        wait(lambda: c.vm_state(src, VM) is None, 60, f"{src} to forget {VM}")   # the agent's stop
    finally:
        c.x("h1", "crm_resource", "--clear", "-r", VM)
    return took


def test_move_live_migrates_keeping_the_address(cluster):
    """crm_resource --move to the other host with the network: the tap and its guards appear
    there, the source's go, and the guest keeps its address (no new DHCP exchange, no reboot) and
    answers there; the network's definitions stay the same on both hosts, so it moves back too."""
    c = cluster
    src = wait(lambda: only(c), 120, f"{VM} running on one host")
    dst = next(h for h in NET_HOSTS if h != src)
    wait(lambda: "dhcpnet serving" in c.console(src, VM), 120, "the guest serving")
    assert pings(c, src)
    digest = net_info(c, src)["digest"]
    assert net_info(c, dst)["digest"] == digest
    for a, b in ((src, dst), (dst, src)):
        pa, pb = Pinger(c, a), Pinger(c, b)
        try:
            wait(lambda: pa.replies, 30, f"{IP} answering on {a} before the move")
            took = move(c, a, b)
            wait(lambda: pb.replies, 30, f"{IP} answering on {b} after the move")
        finally:
            ra, rb = pa.stop(), pb.stop()
        # the address's gap: its last answer on the source's bridge to its first on the target's
        # (pings every 100 ms from each host)
        gap = rb[0] - max(t for t in ra if t < rb[0])
        assert not [t for t in ra if t > rb[0] + 1], f"{IP} answered on {a} after it did on {b}"
        print(f"crm_resource --move {a} -> {b}: {VM} running there alone {took:.1f} s after; its address "
              f"unanswered for {gap:.2f} s (last reply on {a} -> first on {b}, pings every 0.1 s)")
        assert pings(c, b), f"{IP} does not answer on {b} after the move"
        assert_tap_guarded(c, b)
        assert vm_info(c, b)["interfaces"][0] == {"iface_id": "eth0", "network": NET, "mac": MAC, "ip": IP,
                                                  "tap": TAP}
        wait(lambda: not tap_info(c, a), 30, f"{a}'s tap removed")
        assert not guarded(c, a)
        assert not pings(c, a, count=1), f"{IP} still answers on {a}"
        # the guest ran on: it neither booted again nor asked DHCP again on b. Its consoles on
        # every host (the worker logs are appended to) hold its first boot's address line alone
        lines = [ln for h in c.hosts for ln in ADDR.findall(c.console(h, VM))]
        assert lines == [IP], lines
        # the source's undefine left the network's definition as the shared file has it
        assert net_info(c, a)["digest"] == net_info(c, b)["digest"] == digest


def test_host_killed_vm_restarts_where_the_network_is(cluster):
    """kill -9 of every process of the VM's host: fenced, and Pacemaker restarts the VM on the
    other host with the network (h3, free, is not one: its start failed there), where the guest
    boots again and dnsmasq gives it the reserved address again."""
    c = cluster
    old = wait(lambda: only(c), 120, f"{VM} running on one host")
    other = next(h for h in NET_HOSTS if h != old)
    wait(lambda: set(c.online(other)) == set(c.hosts), 180, "all hosts online")
    n = len(c.fence_log())
    off = c.log_size(other, VM)
    t0 = time.monotonic()
    c.kill(old)
    new = wait(lambda: (h := only(c)) and h != old and h, 120, f"{VM} on another host", step=0.1)
    took = time.monotonic() - t0
    assert new == other, new
    assert c.fenced(old, n), f"{VM} restarted before {old} was fenced"
    m = wait(lambda: ADDR.search(c.console(other, VM, off)), 120, "the guest's address by DHCP")
    booted = time.monotonic() - t0
    assert m.group(1) == IP
    wait(lambda: "dhcpnet serving" in c.console(other, VM, off), 60, "the guest serving")
    assert_tap_guarded(c, other)
    assert pings(c, other)
    print(f"host kill -> {VM} running on {other} {took:.1f} s after, its reserved address by DHCP "
          f"there {booted:.1f} s after the kill")
    # the killed host rejoins; the VM stays (stickiness)
    wait(lambda: set(c.online(other)) == set(c.hosts), 180, f"{old} to rejoin")
    assert only(c) == other
    # done: stopped, so that the cluster goes down with no VM running
    target_role(c, "Stopped")
    wait(lambda: not c.running_on(VM), 120, f"{VM} stopped")
    wait(lambda: not tap_info(c, other), 30, f"{other}'s tap removed")
