# SPDX-License-Identifier: Apache-2.0
"""petrel VMs in the namespace test cluster (needs /dev/kvm and root; docs/cluster.md), in this
order on one 3-host cluster: a VM starts where Pacemaker puts it; a move live-migrates it with no
count lost; kill -9 of every process of its host gets the host fenced and the VM restarted on
another from the shared storage, and the old host rejoins without disturbing it; a partitioned
host is fenced and exactly one copy runs, checked 20 times; a promotable replicated VM's standby
worker stopped past replication_timeout -> the primary has Pacemaker recover the standby and
replicates to the fresh one, counting on; its primary host killed -9 -> the standby is promoted and counts on from the next value (replication over
TLS); the resource agent passes ocf-tester with a real VM.
Under nested KVM on TCG: PETREL_CLUSTER_WAIT, PETREL_CLUSTER_TIME_SCALE, PETREL_CLUSTER_NO_RT."""
import json
import re
import shutil
import sys
import time

import pytest

import clusterlib
from clusterlib import wait

sys.path.insert(0, str(clusterlib.ROOT / "tests" / "api"))
import failover_console  # noqa: E402

why = clusterlib.missing()
COUNTER = clusterlib.BUILD / "tests" / "guests" / "counter.elf"
CTL = str(clusterlib.BUILD / "petrelctl")
COUNT = r"^count=(\d+)\r?$"
pytestmark = [pytest.mark.skipif(why is not None, reason=why or ""),
              pytest.mark.needs_kvm,
              pytest.mark.skipif(not COUNTER.exists(), reason="test guests not built")]
S = clusterlib.SCALE


@pytest.fixture(scope="module")
def cluster():
    with clusterlib.running(3) as c:
        shutil.copy(COUNTER, c.shared / "counter.elf")
        yield c


def vmm_pid(c, host, name):
    r = c.x(host, CTL, "--json", "info", name, check=True)
    return json.loads(r.stdout)["vmm_pid"]


def only(c, name):
    on = c.running_on(name)
    return on[0] if len(on) == 1 else None


def counts(text):
    return failover_console._counts(text, COUNT)


def counting(c, host, name, since, more_than=0):
    """The counts of name's console on host from byte since, once there are more than more_than."""
    return wait(lambda: len(n := counts(c.console(host, name, since))) > more_than and n, 120,
                f"{name} counting on {host}")


def sizes(c, name):
    return {h: c.log_size(h, name) for h in c.hosts}


def set_meta(c, rsc, key, value):
    c.x("h1", "crm_resource", "--resource", rsc, "--set-parameter", key, "--meta", "--parameter-value", value,
        check=True)


def test_vm_starts_where_pacemaker_puts_it(cluster):
    c = cluster
    disk = c.shared / "vm1.img"
    disk.write_bytes(b"\0" * (1 << 20))
    cfg = clusterlib.vm_definition(c.shared / "vm1.json", "vm1", c.shared / "counter.elf", disk,
                                   boot_args="every=4194304")
    off = sizes(c, "vm1")
    t0 = time.monotonic()
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("vm1", cfg))
    node = wait(lambda: (c.resource_where("h1", "vm1") or [None])[0], 120, "Pacemaker to start vm1")
    wait(lambda: only(c, "vm1") == node, 60, f"vm1 running on {node} only")
    print(f"vm1 started on {node}: {time.monotonic() - t0:.1f} s after the resource was added")
    n = counting(c, node, "vm1", off[node], 2)
    assert n[0] == 1 and n == list(range(1, len(n) + 1)), n


def test_move_live_migrates_with_no_count_lost(cluster):
    c = cluster
    src = wait(lambda: only(c, "vm1"), 120, "vm1 running on one host")
    dst = next(h for h in c.hosts if h != src)
    counting(c, src, "vm1", 0)
    off = sizes(c, "vm1")
    pcmk_log = c.dir / "hosts" / src / "var/log/pacemaker/pacemaker.log"
    log_off = pcmk_log.stat().st_size
    t0 = time.monotonic()
    c.x("h1", "crm_resource", "--move", "-r", "vm1", "-N", dst, check=True)
    try:
        wait(lambda: only(c, "vm1") == dst, 180, f"vm1 to move to {dst}")
        print(f"crm_resource --move -> vm1 running on {dst}: {time.monotonic() - t0:.1f} s")
        log = pcmk_log.read_text(errors="replace")[log_off:]
        assert re.search(r"vm1_migrate_to_0|migrate_to.*vm1", log), \
            "Pacemaker did not live-migrate vm1 (a stop and start instead)"
        counting(c, dst, "vm1", off[dst], 2)
        # the source's console to the switch, then the target's: one count after the other,
        # none lost, no reboot (count=1 again)
        before, after = c.console(src, "vm1", off[src]), c.console(dst, "vm1", off[dst])
        joined, _ = failover_console.join(before, after, COUNT)
        assert counts(after)[0] > 1, after[:300]
        wait(lambda: c.vm_state(src, "vm1") is None, 60, f"{src} to forget vm1")  # the agent's stop
    finally:
        c.x("h1", "crm_resource", "--clear", "-r", "vm1")


def test_host_killed_vm_restarts_elsewhere(cluster):
    c = cluster
    old = wait(lambda: only(c, "vm1"), 120, "vm1 running on one host")
    wait(lambda: set(c.online(old)) == set(c.hosts), 180, "all hosts online")
    n = len(c.fence_log())
    off = sizes(c, "vm1")
    t0 = time.monotonic()
    c.kill(old)
    assert c.host_pids(old) == set()
    new = wait(lambda: (h := only(c, "vm1")) and h != old and h, 120, "vm1 on another host", step=0.1)
    took = time.monotonic() - t0
    assert c.fenced(old, n), "the VM restarted before its old host was fenced"
    print(f"host kill -> vm1 running on {new} (cold, shared storage): {took:.1f} s")
    # booted again from its disk on the shared storage
    assert counting(c, new, "vm1", off[new])[0] == 1
    # the old host rejoins; the VM stays where it runs (stickiness), undisturbed
    vmm = vmm_pid(c, new, "vm1")
    wait(lambda: set(c.online(new)) == set(c.hosts), 180, f"{old} to rejoin")
    time.sleep(5 * S)
    assert only(c, "vm1") == new
    assert vmm_pid(c, new, "vm1") == vmm


def test_partition_runs_exactly_one_copy(cluster):
    c = cluster
    old = wait(lambda: only(c, "vm1"), 120, "vm1 running on one host")
    wait(lambda: set(c.online(old)) == set(c.hosts), 180, "all hosts online")
    n = len(c.fence_log())
    c.cut(old)
    try:
        end = time.monotonic() + 180 * S
        ones = 0
        while ones < 20:
            on = c.running_on("vm1")
            assert len(on) <= 1, f"split brain: vm1 runs on {on}"
            if len(on) == 1 and on[0] != old:
                ones += 1   # exactly one copy, on the majority's side
            else:
                assert ones == 0, f"vm1 ran on one host, then on {on}"
            assert time.monotonic() < end, f"vm1 not recovered after the partition: {on}"
            time.sleep(0.5)
        assert c.fenced(old, n), f"{old} was not fenced"
        new = only(c, "vm1")
    finally:
        c.mend(old)
    vmm = vmm_pid(c, new, "vm1")
    wait(lambda: set(c.online(new)) == set(c.hosts), 180, f"{old} to rejoin after the partition")
    time.sleep(5 * S)
    assert c.running_on("vm1") == [new]
    assert vmm_pid(c, new, "vm1") == vmm


def replica_status(c, host, name="rep1"):
    """What host's petreld says of name's part in its replicated pair, or None."""
    r = c.x(host, CTL, "replica", name, "status", "--json")
    return json.loads(r.stdout) if r.returncode == 0 else None


def standby(c):
    """(host, status) of rep1's standby, or None."""
    for h in c.hosts:
        if (st := replica_status(c, h)) and st.get("role") == "standby":
            return h, st
    return None


def replicated_pair(c):
    """rep1, a promotable replicated VM (created by the first test that needs it): (its primary's
    host, its standby's host, the worker logs' sizes before the primary's last 3 counts)."""
    # vm1 is done with: its CPU time to the replicated pair (when the tests before it ran)
    if "vm1" in c.cib("h1", "-Q", "-o", "resources"):
        set_meta(c, "vm1", "target-role", "Stopped")
    wait(lambda: not c.running_on("vm1"), 120, "vm1 stopped")
    off = sizes(c, "rep1")
    if 'id="rep1"' not in c.cib("h1", "-Q", "-o", "resources"):
        cfg = clusterlib.vm_definition(c.shared / "rep1.json", "rep1", c.shared / "counter.elf",
                                       boot_args="every=4194304")
        c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("rep1", cfg, promotable=True))
    # the first promotion is some ten operations one after the other (three probes, two starts,
    # their notifies, the promote, its notifies): 4.5 min under nested KVM at 16:39; at 17:36,
    # where Pacemaker ran one operation at a time ("High CPU load detected"), not done after 10
    prim = wait(lambda: only(c, "rep1"), 300, "rep1 promoted and running on one host")
    sb, _ = wait(lambda: (s := standby(c)) and s[1].get("checkpoints") and s, 180, "a standby with checkpoints")
    # the stream between them is TLS (the agent's default), as the primary's petreld logged it
    pst = wait(lambda: (st := replica_status(c, prim)) and st.get("state") == "protected" and st, 120,
               "rep1's primary protected")
    assert str(pst.get("peer", "")).startswith("tls:"), pst
    counting(c, prim, "rep1", off[prim], 3)
    return prim, sb, off


def test_replicated_pair_repaired_after_standby_stall(cluster):
    """The standby's worker stopped (SIGSTOP) longer than replication_timeout: the primary runs on
    unprotected, its monitor has Pacemaker recover the standby instance (ocf/petrel-vm
    repair_interval), and the pair replicates again, the VM counting on without a restart."""
    c = cluster
    prim, sb, off = replicated_pair(c)
    c.x("h1", "crm_resource", "--wait", "--timeout", f"{300 * S:.0f}s", check=True, timeout=330)
    vmm = vmm_pid(c, prim, "rep1")
    stalled = vmm_pid(c, sb, "rep1")
    before = counts(c.console(prim, "rep1", off[prim]))

    def primary_state():
        return (replica_status(c, prim) or {}).get("state")
    t0 = time.monotonic()
    c.x(sb, "kill", "-STOP", str(stalled), check=True)
    try:
        # replication_timeout: 5000 ms scaled (clusterlib.vm_resource), as this wait is
        wait(lambda: primary_state() not in ("syncing", "protected"), 60,
             "the primary to give its stalled standby up")
        print(f"standby's worker stopped -> rep1's primary {primary_state()}: {time.monotonic() - t0:.1f} s")
    finally:
        c.x(sb, "kill", "-CONT", str(stalled), check=True)
    t1 = time.monotonic()

    def repaired():
        s = standby(c)
        # a fresh standby: another worker than the stalled one (on sb or another host)
        return (primary_state() == "protected" and s and s[1].get("checkpoints")
                and (s[0] != sb or vmm_pid(c, sb, "rep1") != stalled) and s[0])
    # two primary monitors (6 s scaled each) see the break, then the standby's stop and start
    # (tens of seconds each under nested KVM) and the post-start notify's initial sync
    new_sb = wait(repaired, 300, "rep1 replicating to a fresh standby again")
    print(f"SIGCONT -> rep1 protected again (standby on {new_sb}): {time.monotonic() - t1:.1f} s")
    # the VM ran on in the same worker: the primary's console counts on, one after the other
    assert only(c, "rep1") == prim and vmm_pid(c, prim, "rep1") == vmm
    n = counting(c, prim, "rep1", off[prim], len(before) + 2)
    assert n == list(range(n[0], n[0] + len(n))) and n[:len(before)] == before, n
    # the monitor after the one that asked writes it into the log (the asking runs in the
    # background): on a fast host the pair was protected again before it (PVM, 03:42:12)
    log = c.dir / "hosts" / prim / "var/log/pacemaker/pacemaker.log"
    wait(lambda: "recovering the standby instance" in log.read_text(errors="replace"), 30,
         "the primary's monitor to log that it asked for the repair")


def test_replicated_vm_fails_over_by_promotion(cluster):
    c = cluster
    prim, sb, off = replicated_pair(c)
    # the cluster settled first: the transition that promoted prim is over, so the standby's
    # monitors run and its promotion score says it holds a checkpoint. In the 18:33 nested run the
    # kill came while that transition's notifies still ran: no monitor had run on the standby yet
    c.x("h1", "crm_resource", "--wait", "--timeout", f"{300 * S:.0f}s", check=True, timeout=330)
    n = len(c.fence_log())
    t0 = time.monotonic()
    c.kill(prim)
    # 300 (scaled): in the 18:33 nested run, after the kill at 18:42:23 and the fence at 18:43:05,
    # the notifies of the lost instance's demote and stop (16-56 s each there) lasted until
    # 18:45:17; the fenced host was back by then (5 s boot delay), and a clone's promote waits for
    # its starts: the promote began after 18:49:10, over 6.5 min after the kill
    new = wait(lambda: (h := only(c, "rep1")) and h != prim and h, 300, "rep1 promoted elsewhere", step=0.1)
    print(f"host kill -> rep1 promoted on {new}: {time.monotonic() - t0:.1f} s")
    assert new == sb
    assert c.fenced(prim, n)
    # promoted by petrel's fence alert (ocf/petrel-alert, run by Pacemaker as hacluster) as soon
    # as the fence succeeded, before Pacemaker's transition got to its own promote
    promoted = [json.loads(ln.split(" ", 1)[1]) for ln in c.log_text(new, "rep1").splitlines()
                if '"event":"promoted"' in ln]
    assert promoted and promoted[-1].get("by") == "fence-alert", promoted
    # the standby ran on from the last acknowledged checkpoint: the primary's console up to its
    # kill, then the promoted one's, count after count, none lost and no reboot
    before = c.console(prim, "rep1", off[prim])
    last = counts(before)[-1]
    wait(lambda: [k for k in counts(c.console(new, "rep1", off[new])) if k >= last + 2], 120, "rep1 counting on")
    joined, again = failover_console.join(before, c.console(new, "rep1", off[new]), COUNT)
    print(f"rep1: primary's last count {last}, {again} characters written again by the promoted standby")
    # Pacemaker's own promote followed and found it running: promoted there, no failed operation
    # (the unpromoted instance's monitors in between said "promotion follows", not a failure)
    c.x(new, "crm_resource", "--wait", "--timeout", f"{300 * S:.0f}s", check=True, timeout=330)
    mon = c.x(new, "crm_mon", "-1", "--output-as=xml", check=True).stdout
    assert re.search(rf'<resource id="rep1"[^>]*role="Promoted"[^>]*>\s*<node name="{new}"', mon), mon
    # (the earlier test's crm_resource --fail shows as a failed "asyncmon": not this one's)
    failed = re.findall(r'<failure op_key="(rep1_[^"]*)"', mon)
    assert not [f for f in failed if not f.startswith("rep1_asyncmon")], mon
    # the fenced host back before the next test, which runs on h1 (it failed with "h1 is down"
    # when h1 had held the primary: its boot comes 5 s after the others drop it)
    wait(lambda: set(c.online(new)) == set(c.hosts), 180, f"{prim} to rejoin")


def test_ocf_tester(cluster):
    c = cluster
    cfg = clusterlib.vm_definition(c.shared / "vm-tester.json", "vm-tester", c.shared / "counter.elf")
    r = c.x("h1", "ocf-tester", "-n", "vm-tester", "-o", f"config={cfg}",
            "-o", f"petrelctl={CTL}", "-o", "shutdown_timeout=10",
            "/usr/lib/ocf/resource.d/petrel/petrel-vm", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passed all tests" in r.stdout
    assert c.vm_state("h1", "vm-tester") is None  # stopped and undefined at the end
