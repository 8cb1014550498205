# SPDX-License-Identifier: Apache-2.0
"""petrel VMs in the namespace test cluster (needs /dev/kvm and root; docs/cluster.md): the
resource agent passes ocf-tester; a VM starts where Pacemaker puts it; kill -9 of every process
of its host gets the host fenced and the VM restarted on another from the shared storage; a
partitioned host is fenced and exactly one copy runs, checked 20 times; the old host rejoins
without disturbing the VM; a move live-migrates it (petrelctl migrate); a promotable replicated
VM fails over by promotion (petrelctl replica). The last two skip while petrelctl lacks them."""
import json
import shutil
import subprocess
import time

import pytest

import clusterlib
from clusterlib import wait

why = clusterlib.missing()
KVM = clusterlib.os.access("/dev/kvm", clusterlib.os.R_OK | clusterlib.os.W_OK)
COUNTER = clusterlib.BUILD / "tests" / "guests" / "counter.elf"
pytestmark = [pytest.mark.skipif(why is not None, reason=why or ""),
              pytest.mark.skipif(not KVM, reason="no access to /dev/kvm"),
              pytest.mark.skipif(not COUNTER.exists(), reason="test guests not built")]


def petrelctl_has(verb):
    r = subprocess.run([str(clusterlib.BUILD / "petrelctl"), "--help"], capture_output=True, text=True)
    return f"{verb} " in r.stdout + r.stderr


@pytest.fixture(scope="module")
def cluster():
    c = clusterlib.Cluster(3).up()
    shutil.copy(COUNTER, c.shared / "counter.elf")
    yield c
    c.down()


def vmm_pid(c, host, name):
    r = c.x(host, str(clusterlib.BUILD / "petrelctl"), "--json", "info", name, check=True)
    return json.loads(r.stdout)["vmm_pid"]


def only(c, name):
    on = c.running_on(name)
    return on[0] if len(on) == 1 else None


def test_vm_starts_where_pacemaker_puts_it(cluster):
    c = cluster
    disk = c.shared / "vm1.img"
    disk.write_bytes(b"\0" * (1 << 20))
    cfg = clusterlib.vm_definition(c.shared / "vm1.json", "vm1", c.shared / "counter.elf", disk)
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("vm1", cfg))
    node = wait(lambda: (c.resource_where("h1", "vm1") or [None])[0], 120, "Pacemaker to start vm1")
    wait(lambda: only(c, "vm1") == node, 60, f"vm1 running on {node} only")


def test_host_killed_vm_restarts_elsewhere(cluster):
    c = cluster
    old = wait(lambda: only(c, "vm1"), 120, "vm1 running on one host")
    n = len(c.fence_log())
    t0 = time.monotonic()
    c.kill(old)
    assert c.host_pids(old) == set()
    new = wait(lambda: (h := only(c, "vm1")) and h != old and h, 120, "vm1 on another host")
    took = time.monotonic() - t0
    assert c.fenced(old, n), "the VM restarted before its old host was fenced"
    print(f"host kill -> vm1 running on {new}: {took:.1f} s")
    # the old host rejoins; the VM stays where it runs (stickiness), undisturbed
    vmm = vmm_pid(c, new, "vm1")
    wait(lambda: set(c.online(new)) == set(c.hosts), 180, f"{old} to rejoin")
    time.sleep(5)
    assert only(c, "vm1") == new
    assert vmm_pid(c, new, "vm1") == vmm


def test_partition_runs_exactly_one_copy(cluster):
    c = cluster
    old = wait(lambda: only(c, "vm1"), 120, "vm1 running on one host")
    wait(lambda: set(c.online(old)) == set(c.hosts), 180, "all hosts online")
    n = len(c.fence_log())
    c.cut(old)
    try:
        end = time.monotonic() + 180
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
    wait(lambda: set(c.online(new)) == set(c.hosts), 180, f"{old} to rejoin after the partition")
    time.sleep(5)
    assert c.running_on("vm1") == [new]


@pytest.mark.skipif(not petrelctl_has("migrate"), reason="petrelctl has no migrate verb (the peer helper's)")
def test_move_live_migrates(cluster):
    c = cluster
    src = wait(lambda: only(c, "vm1"), 120, "vm1 running on one host")
    dst = next(h for h in c.hosts if h != src)
    before = wait(lambda: c.counts(src, "vm1"), 60, "vm1 counting")
    c.x("h1", "crm_resource", "--move", "-r", "vm1", "-N", dst, check=True)
    try:
        wait(lambda: only(c, "vm1") == dst, 180, f"vm1 to move to {dst}")
        log = (c.dir / "hosts" / src / "var/log/pacemaker/pacemaker.log").read_text()
        assert "vm1_migrate_to_0" in log, "Pacemaker did not live-migrate vm1 (a stop and start instead)"
        # the guest counts on where it was: no reboot (count=1 again), no count skipped
        after = wait(lambda: (a := c.counts(dst, "vm1")) and a[-1] > before[-1] and a, 60, "vm1 counting on")
        assert after[0] > 1 and after == list(range(after[0], after[0] + len(after))), after
    finally:
        c.x("h1", "crm_resource", "--clear", "-r", "vm1")


@pytest.mark.skipif(not petrelctl_has("replica"), reason="petrelctl has no replica verb (the replica helper's)")
def test_replicated_vm_fails_over_by_promotion(cluster):
    c = cluster
    cfg = clusterlib.vm_definition(c.shared / "rep1.json", "rep1", c.shared / "counter.elf")
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("rep1", cfg, promotable=True))

    def roles():
        out = c.x("h1", "crm_mon", "-1", "-r").stdout
        return out

    prim = wait(lambda: only(c, "rep1"), 180, "rep1 promoted and running on one host")
    wait(lambda: "Unpromoted: [" in roles() or "Slaves: [" in roles(), 120, "an unpromoted standby")
    time.sleep(3)  # a few checkpoints
    n = len(c.fence_log())
    t0 = time.monotonic()
    c.kill(prim)
    new = wait(lambda: (h := only(c, "rep1")) and h != prim and h, 120, "rep1 promoted elsewhere")
    print(f"host kill -> rep1 promoted on {new}: {time.monotonic() - t0:.1f} s")
    assert c.fenced(prim, n)
    r = c.x(new, str(clusterlib.BUILD / "petrelctl"), "replica", "rep1", "status", "--json")
    assert r.returncode == 0, r.stderr


def test_ocf_tester(cluster):
    c = cluster
    cfg = clusterlib.vm_definition(c.shared / "vm-tester.json", "vm-tester", c.shared / "counter.elf")
    r = c.x("h1", "ocf-tester", "-n", "vm-tester", "-o", f"config={cfg}",
            "-o", f"petrelctl={clusterlib.BUILD / 'petrelctl'}", "-o", "shutdown_timeout=10",
            "/usr/lib/ocf/resource.d/petrel/petrel-vm", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passed all tests" in r.stdout
    assert c.vm_state("h1", "vm-tester") is None  # stopped and undefined at the end
