# SPDX-License-Identifier: Apache-2.0
"""The namespace test cluster without KVM (harness/cluster.sh, docs/cluster.md): three hosts
running the real corosync, pacemakerd and petreld form a cluster with quorum and STONITH; the
fence agent kills a host for real; a host lost or cut off the network is fenced by the others
and rejoins; the resource agent answers as the OCF API says where no VM has to start.
Needs root; skips without it."""
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
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")

AGENT = clusterlib.ROOT / "ocf" / "petrel-vm"
FENCE = clusterlib.HARNESS / "fence_petrelns"


@pytest.fixture(scope="module")
def cluster():
    with clusterlib.running(3) as c:
        yield c


def settled(c, hosts=None):
    """Every live host quorate with all of them, and Pacemaker on each seeing them online."""
    hosts = hosts or c.hosts
    for h in hosts:
        q, votes = c.quorum(h)
        if not q or votes != len(hosts) or c.online(h) != set(hosts):
            return False
    return True


def test_forms_with_quorum_and_stonith(cluster):
    c = cluster
    wait(lambda: settled(c), 60, "3 quorate hosts")
    for h in c.hosts:
        # each host is its own machine: its node name, its address, its own /etc/corosync
        assert c.x(h, "uname", "-n").stdout.strip() == h
        assert f"10.239.39.{10 + int(h[1:])}/24" in c.x(h, "ip", "-4", "addr", "show", "eth0").stdout
        assert c.x(h, "cat", "/etc/corosync/corosync.conf").stdout == \
            (c.dir / "hosts" / h / "etc/corosync/corosync.conf").read_text()
        # and runs petreld on its own socket
        assert c.x(h, str(clusterlib.BUILD / "petrelctl"), "list").returncode == 0
    props = c.cib("h1", "-Q", "-o", "crm_config")
    assert 'name="stonith-enabled" value="true"' in props
    assert 'name="no-quorum-policy" value="stop"' in props
    assert wait(lambda: "Started" in c.x("h1", "crm_resource", "--locate", "-r", "fence-ns").stdout
                or c.resource_where("h1", "fence-ns"), 60, "the fence device")


def test_fencer_without_the_cib_is_restarted(cluster):
    """Pacemaker 2.1's fencer gives up on the CIB manager after 10 s at its start and then runs
    without the fence device for good (a slow host: under nested KVM two of three fencers did).
    Each host's init watches its log for that and kills such a fencer; pacemakerd starts a new
    one, which registers the device. The error line is written here into h2's log as Pacemaker
    writes it (a fast host does not lose the race; a stopped CIB manager makes the fencer wait,
    not fail)."""
    c = cluster
    wait(lambda: settled(c) and all(c.registered(h) for h in c.hosts), 90, "every fencer with the device")
    fencer = [p for p in c.host_pids("h2") if c.comm(p) == "pacemaker-fence"]
    assert len(fencer) == 1, fencer
    nspid = c.nspid(fencer[0])
    log = c.dir / "hosts" / "h2" / "var/log/pacemaker/pacemaker.log"
    stamp = time.strftime("%b %d %H:%M:%S.000")
    with open(log, "a") as f:
        f.write(f"{stamp} h2 pacemaker-fenced    [{nspid}] (setup_cib) \terror: Could not connect to the "
                "CIB manager: Transport endpoint is not connected (-107)\n")
    wait(lambda: not (c.host_pids("h2") & set(fencer)), 30, "the watch to kill h2's fencer")
    assert "runs without the CIB" in (c.dir / "hosts" / "h2" / "var/log/petrel-cluster.log").read_text()
    # a new fencer, with the device; the cluster stays whole
    wait(lambda: c.registered("h2"), 60, "h2's new fencer to register the device")
    assert [p for p in c.host_pids("h2") if c.comm(p) == "pacemaker-fence"] != fencer
    wait(lambda: settled(c), 60, "3 quorate hosts")


def fence_agent(c, action, host):
    """The fence agent run as Pacemaker's fencer runs it: options on stdin."""
    return subprocess.run([str(FENCE)], input=f"action={action}\nport={host}\nspool={c.dir / 'fence'}\n",
                          text=True, capture_output=True, timeout=120)


def test_fence_agent_metadata_and_status(cluster):
    c = cluster
    meta = subprocess.run([str(FENCE), "-o", "metadata"], capture_output=True, text=True, check=True).stdout
    subprocess.run(["xmllint", "--noout", "-"], input=meta, text=True, check=True)
    assert 'name="fence_petrelns"' in meta and '<action name="reboot"/>' in meta
    spool = str(c.dir / "fence")
    # status through the fence daemon, as the fencer asks it: stdin options
    for h in c.hosts:
        r = fence_agent(c, "status", h)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([str(FENCE), "-o", "status", "-n", "h9", "-s", spool], capture_output=True, timeout=60)
    assert r.returncode == 1  # no such host: a failure, never "off"
    r = subprocess.run([str(FENCE), "-o", "list", "-s", spool], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["h1,", "h2,", "h3,"]


def test_stonith_admin_reboots_a_host(cluster):
    c = cluster
    wait(lambda: settled(c), 90, "3 quorate hosts")
    old_pids = c.host_pids("h3")
    old_init = c.init_pid("h3")
    assert old_init in old_pids and len(old_pids) >= 8  # init, corosync, pacemaker's 7, petreld
    n = len(c.fence_log())
    r = c.x("h1", "stonith_admin", "--reboot", "h3", "--timeout", "90", timeout=120)
    assert r.returncode == 0, r.stderr
    # Pacemaker may fence h3 once more when its membership drops it, if the result of this
    # fencing has not reached the controller by then (2026-11-27: 8 s later): a second reboot
    assert set(c.fenced("h3", n)) == {"reboot"}
    # every process of the old h3 is gone; a new h3 booted and rejoined
    assert not (old_pids & c.host_pids("h3"))
    # a new h3 boots a few seconds after the kill (cluster.sh's BOOT_DELAY, a power cycle)
    wait(lambda: c.init_pid("h3") not in (None, old_init), 60, "a new h3 to boot")
    wait(lambda: settled(c), 120, "h3 to rejoin")
    hist = c.x("h1", "stonith_admin", "--history", "h3").stdout
    assert "reboot of h3 successful" in hist or "successful" in hist, hist


def test_second_reboot_while_a_boot_is_pending(cluster):
    """Two reboots of h3 8 s apart through the fence agent, as the 2026-11-27 run saw them (the
    second one Pacemaker's own, after Corosync dropped h3): each is carried out (answered only
    once nothing of h3 runs), and h3 boots once after them, never twice at once (two pending
    boots used to race and leave an orphaned second h3)."""
    c = cluster
    wait(lambda: settled(c), 90, "3 quorate hosts")
    since = c.power_lines()
    most, done = [0], threading.Event()

    def count():   # h3's inits, all along
        while not done.is_set():
            most[0] = max(most[0], len(c.instances("h3")))
            time.sleep(0.1)
    counter = threading.Thread(target=count)
    counter.start()
    try:
        for i in range(2):
            before = c.host_pids("h3")
            r = fence_agent(c, "reboot", "h3")
            assert r.returncode == 0, r.stderr
            assert not (before & c.host_pids("h3")), f"reboot {i + 1}: processes of h3 left"
            assert not c.instances("h3")
            if i == 0:
                time.sleep(8)
        wait(lambda: c.init_pid("h3"), 60, "h3 to boot")
        wait(lambda: settled(c), 120, "h3 to rejoin")
    finally:
        done.set()
        counter.join()
    assert most[0] == 1, f"{most[0]} instances of h3 at once"
    log = c.power_log("h3", since)
    kills = [a for a, _ in log if a == "kill"]
    assert len(kills) >= 2, log            # both reboots (and Pacemaker's, if it fenced too)
    # one kill before each boot, and one boot after the last kill: one pending boot at a time
    acts = [a for a, _ in log if a in ("kill", "boot")]
    assert acts[-1] == "boot" and acts[-2] == "kill", log
    assert all(not (a == b == "boot") for a, b in zip(acts, acts[1:])), log
    assert c.instances("h3") == [c.init_pid("h3")]


def test_lost_host_is_fenced_and_rejoins(cluster):
    c = cluster
    wait(lambda: settled(c), 90, "3 quorate hosts")
    n = len(c.fence_log())
    # a process of h2 in a pid and a network namespace of its own, as a jailed worker is
    # (--new-pid-ns, its own network): not in h2's network namespace, and killed all the same
    c.x("h2", "sh", "-c", "setsid unshare --net --pid --fork sleep 3601 </dev/null >/dev/null 2>&1 &", check=True)
    stray = wait(lambda: [p.name for p in clusterlib.Path("/proc").glob("[0-9]*")
                          if read(p / "cmdline") == b"sleep\x003601\x00"], 10, "the nested sleep")
    assert not {int(p) for p in stray} & c.host_pids("h2")
    c.kill("h2")
    assert c.host_pids("h2") == set()  # kill -9 of every process of the host
    assert not any(clusterlib.Path(f"/proc/{p}").exists() for p in stray)
    # the survivors keep quorum (2 of 3), fence h2 (its processes are gone, but only fencing
    # tells Pacemaker so), and the fence device's reboot brings it back
    wait(lambda: c.fenced("h2", n), 90, "the cluster to fence h2")
    assert c.fenced("h2", n)[0] in ("reboot", "off")
    wait(lambda: settled(c), 120, "h2 to rejoin")


def read(path):
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_partitioned_host_loses_quorum_and_is_fenced(cluster):
    c = cluster
    wait(lambda: settled(c), 90, "3 quorate hosts")
    n = len(c.fence_log())
    c.cut("h3")
    try:
        # the majority fences the host it lost (out of band: the fence daemon needs no network)
        wait(lambda: c.fenced("h3", n), 90, "the majority to fence h3")
        q, _ = c.quorum("h1")
        assert q
        # rebooted behind its cut link, h3 stays alone and without quorum: it runs nothing
        wait(lambda: c.init_pid("h3") and c.quorum("h3") == (False, 1), 60, "h3 alone without quorum")
        assert c.online("h1") == {"h1", "h2"}
    finally:
        c.mend("h3")
    wait(lambda: settled(c), 120, "h3 to rejoin after the partition")


def agent(c, host, action, timeout=60, **params):
    env = {"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "vm-test",
           "OCF_RESKEY_petrelctl": str(clusterlib.BUILD / "petrelctl")}
    env.update({f"OCF_RESKEY_{k}": str(v) for k, v in params.items()})
    cmd = ["env", *[f"{k}={v}" for k, v in env.items()], "/usr/lib/ocf/resource.d/petrel/petrel-vm", action]
    return c.x(host, *cmd, timeout=timeout)


def test_resource_agent_without_a_vm(cluster, tmp_path):
    c = cluster
    # cluster.sh installed this tree's agent where Pacemaker looks for it
    assert (clusterlib.Path("/usr/lib/ocf/resource.d/petrel/petrel-vm").read_bytes() == AGENT.read_bytes())
    meta = agent(c, "h1", "meta-data").stdout
    subprocess.run(["xmllint", "--noout", "--dtdvalid", "/usr/share/resource-agents/ra-api-1.dtd", "-"],
                   input=meta, text=True, check=True)
    for a in ("start", "stop", "monitor", "migrate_to", "migrate_from", "promote", "demote", "notify",
              "validate-all", "meta-data"):
        assert f'<action name="{a}"' in meta
    # a definition on the shared storage every host sees
    d = c.shared / "agent-probe.json"
    d.write_text('{"boot-source": {"kernel_image_path": "/nonexistent"}, "petrel": {"name": "never-ran"}}')
    assert agent(c, "h1", "validate-all", config=d).returncode == 0
    assert agent(c, "h1", "validate-all").returncode == 6                     # OCF_ERR_CONFIGURED
    assert agent(c, "h1", "validate-all", config=d, shutdown_timeout="x").returncode == 6
    assert agent(c, "h1", "validate-all", config=c.shared / "absent.json").returncode == 5  # ERR_INSTALLED
    (c.shared / "noname.json").write_text('{"boot-source": {"kernel_image_path": "/x"}}')
    assert agent(c, "h1", "validate-all", config=c.shared / "noname.json").returncode == 6
    # a probe where the VM never ran: not running; a stop of it: done
    for h in c.hosts:
        r = agent(c, h, "monitor", config=d, CRM_meta_interval=0)
        assert r.returncode == 7, r.stderr                                     # OCF_NOT_RUNNING
        assert agent(c, h, "stop", config=d).returncode == 0
    # a definition petreld refuses (its kernel does not exist): start fails, the host keeps nothing
    r = agent(c, "h2", "start", config=d)
    assert r.returncode == 1, r.stderr                                         # OCF_ERR_GENERIC
    assert agent(c, "h2", "monitor", config=d, CRM_meta_interval=0).returncode == 7
    # petreld down: "cannot ask" is never "not running" (its workers outlive it)
    pid = c.x("h3", "pidof", "petreld").stdout.split()
    assert len(pid) == 1
    argv = c.x("h3", "cat", f"/proc/{pid[0]}/cmdline").stdout.split("\0")[:-1]
    c.x("h3", "kill", "-KILL", pid[0], check=True)
    try:
        r = agent(c, "h3", "monitor", config=d, CRM_meta_interval=10000)
        assert r.returncode == 1 and "petreld does not answer" in r.stderr, r.stderr  # OCF_ERR_GENERIC
        r = agent(c, "h3", "stop", config=d)
        assert r.returncode == 1, r.stderr    # a stop it cannot make sure of fails (and gets fenced)
    finally:
        c.x("h3", "sh", "-c", 'setsid "$@" >>/var/log/petreld.log 2>&1 </dev/null &', "sh", *argv, check=True)
    wait(lambda: agent(c, "h3", "monitor", config=d, CRM_meta_interval=0).returncode == 7, 30,
         "petreld back on h3")
    assert agent(c, "h1", "frobnicate", config=d).returncode == 3              # OCF_ERR_UNIMPLEMENTED


def has_verb(verb):
    r = subprocess.run([str(clusterlib.BUILD / "petrelctl"), "--help"], capture_output=True, text=True)
    return f"{verb} " in r.stdout + r.stderr


@pytest.mark.skipif(not has_verb("replica"), reason="petrelctl has no replica verb")
def test_resource_agent_standby_without_a_vm(cluster):
    """Promotable mode: the unpromoted instance is a waiting standby (a worker in external
    takeover mode; it needs no KVM while it waits), listening on the host's cluster address."""
    c = cluster
    shutil.copy(clusterlib.BUILD / "petrel", c.shared / "kernel-standin")  # any regular file
    d = c.shared / "standby.json"
    d.write_text(json.dumps({"boot-source": {"kernel_image_path": str(c.shared / "kernel-standin")},
                             "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
                             "petrel": {"name": "stby"}}))
    ms = {"config": d, "CRM_meta_promotable": "true", "CRM_meta_clone_max": 2, "CRM_meta_promoted_max": 1}
    assert agent(c, "h2", "monitor", CRM_meta_interval=0, **ms).returncode == 7
    r = agent(c, "h2", "start", **ms)
    assert r.returncode == 0, r.stderr
    try:
        st = json.loads(c.x("h2", str(clusterlib.BUILD / "petrelctl"), "replica", "stby", "status", "--json",
                            check=True).stdout)
        assert st["role"] == "standby" and st["running"] is False, st
        assert st["takeover"] == "external"
        # it listens where the agent said: h2's Corosync ring address
        ss = c.x("h2", "ss", "-ltn").stdout
        assert f"{clusterlib.addr('h2')}:7100" in ss, ss
        r = agent(c, "h2", "monitor", CRM_meta_interval=3000, **ms)
        assert r.returncode == 0, r.stderr               # unpromoted and healthy
        # nothing to promote from: the standby never received a checkpoint
        assert not st.get("checkpoints")
        # by default the stream is TLS: h2's certificate, from the cluster's CA, for h1's
        hello = tls_hello(c, "h1", "h2")
        assert "Verify return code: 0 (ok)" in hello and re.search(r"CN ?= ?h2\b", hello), hello
    finally:
        r = agent(c, "h2", "stop", **ms)
    assert r.returncode == 0, r.stderr
    assert agent(c, "h2", "monitor", CRM_meta_interval=0, **ms).returncode == 7
    assert c.vm_state("h2", "stby") is None
    # plain TCP only when the resource says so; a value that is no boolean is refused
    assert agent(c, "h2", "validate-all", replication_tls="maybe", **ms).returncode == 6
    assert agent(c, "h2", "validate-all", repair_interval="soon", **ms).returncode == 6
    r = agent(c, "h2", "start", replication_tls="false", **ms)
    assert r.returncode == 0, r.stderr
    try:
        hello = tls_hello(c, "h1", "h2")
        assert "no peer certificate available" in hello and not re.search(r"CN ?= ?h2\b", hello), hello
        # its worker gone (kill -9): it held nothing, so its monitor (Unpromoted, as Pacemaker
        # runs it) fails plainly and Pacemaker would recover it (a fresh standby, which the
        # primary's post-start notify pairs again), not as a failed promoted instance (9)
        ctl = str(clusterlib.BUILD / "petrelctl")
        pid = json.loads(c.x("h2", ctl, "--json", "info", "stby", check=True).stdout)["vmm_pid"]
        c.x("h2", "kill", "-9", str(pid), check=True)
        r = wait(lambda: (r := agent(c, "h2", "monitor", CRM_meta_interval=3000, CRM_meta_role="Unpromoted",
                                       **ms)).returncode != 0 and r,
                 30, "the standby's monitor to see its worker gone")
        assert r.returncode == 1 and "standby of stby crashed" in r.stderr, (r.returncode, r.stderr)
    finally:
        assert agent(c, "h2", "stop", **ms).returncode == 0


def tls_hello(c, client, server, port=7100):
    """A TLS handshake from client's certificate to server's replication port: openssl's report."""
    pki = c.dir / "pki" / client
    r = c.x(client, "timeout", "20", "openssl", "s_client", "-connect", f"{clusterlib.addr(server)}:{port}",
            "-CAfile", str(pki / "ca.pem"), "-cert", str(pki / "cert.pem"), "-key", str(pki / "key.pem"),
            "-verify_return_error", timeout=60)
    return r.stdout + r.stderr
