#!/usr/bin/env python3
"""Cluster failover and migration benchmarks (docs/cluster.md): prints figures, asserts nothing.

  python3 bench/cluster.py            (root; the namespace cluster of scripts/cluster.sh, 3 hosts)

fence     kill -9 of every process of a host -> the survivors have fenced it (fence daemon's
          log), with Corosync's token at BENCH_CLUSTER_TOKEN ms (default 1000). No KVM needed:
          this is the cluster's share of every failover.
cold      kill -9 of the host of a VM (counter guest, definition and disk on the shared storage)
          -> the VM running on another host (goal <= 15 s). Needs /dev/kvm.
replica   kill -9 of the host of a promotable replicated VM's primary -> the promoted standby
          running (goal <= 5 s). Needs /dev/kvm and petrelctl's replica verbs.
migrate   crm_resource --move of a VM (allow-migrate) -> running on the target, against
          petrelctl migrate between the same hosts (goal: <= 1 s more). Needs /dev/kvm and
          petrelctl migrate.
BENCH_CLUSTER_RUNS runs each (default 3); BENCH_QUICK=1: one run of each that can run here.
"""
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
import benchlib  # noqa: E402
import clusterlib  # noqa: E402
from clusterlib import wait  # noqa: E402

RUNS = benchlib.runs("BENCH_CLUSTER_RUNS", 3)
TOKEN = int(os.environ.get("BENCH_CLUSTER_TOKEN", 1000))
KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)
COUNTER = clusterlib.BUILD / "tests" / "guests" / "counter.elf"
CTL = str(clusterlib.BUILD / "petrelctl")


def host_kind():
    """What ran the VMs, for the figures' label (BENCH_HOST_KIND overrides it)."""
    if os.environ.get("BENCH_HOST_KIND"):
        return os.environ["BENCH_HOST_KIND"]
    if not KVM:
        return "no KVM"
    if os.path.isdir("/sys/module/kvm_pvm"):
        return "PVM"
    try:
        vendor = Path("/sys/class/dmi/id/sys_vendor").read_text().strip()
    except OSError:
        vendor = ""
    # scripts/nested-kvm.sh's L1 is a QEMU machine; so is a QEMU/KVM VM with nested KVM
    return f"nested KVM in a {vendor} VM" if vendor == "QEMU" else "KVM"


def has_verb(verb):
    r = subprocess.run([CTL, "--help"], capture_output=True, text=True)
    return f"{verb} " in r.stdout + r.stderr


def fence_time(c, host, since):
    """Wall-clock time (s since the epoch) of the fence daemon's first action on host."""
    for ln in c.fence_log()[since:]:
        f = ln.split()
        if f[2:3] == [host] and f[1] in ("reboot", "off"):
            today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
            t = datetime.strptime(f"{today} {f[0][:15]}", "%Y-%m-%d %H:%M:%S.%f")
            return t.replace(tzinfo=timezone.utc).timestamp()
    return None


def rejoined(c):
    return all(set(c.online(h)) == set(c.hosts) for h in c.live()) and len(c.live()) == c.n


def verdict(value, goal):
    """'goal <= G s: met' or 'NOT met', for the figures the issue sets a goal for."""
    return f"  goal <= {goal:g} s: {'met' if value <= goal else 'NOT met'}"


def row(name, values, goal=None):
    if not values:
        benchlib.failed(f"{name}: failed")
        return
    med = statistics.median(values)
    print(f"{name:<44} median {med:6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})"
          + (verdict(med, goal) if goal is not None else ""))


def bench_fence(c):
    out = []
    for i in range(RUNS):
        wait(lambda: rejoined(c), 180, "all hosts online")
        victim = c.hosts[(i + 1) % c.n]
        n = len(c.fence_log())
        t0 = time.time()
        c.kill(victim)
        try:
            wait(lambda: fence_time(c, victim, n), 120, f"{victim} fenced")
        except AssertionError as e:
            benchlib.failed(f"fence: {e}")
            continue
        out.append(fence_time(c, victim, n) - t0)
    row(f"host kill -> fenced (token {TOKEN} ms)", out)


def vm_host(c, name):
    on = c.running_on(name)
    return on[0] if len(on) == 1 else None


def kill_runs(c, vm, what):
    """RUNS times: kill -9 the host of vm, time until it runs on another host; the times and
    the times until the old host was fenced."""
    out, fenced = [], []
    for _ in range(RUNS):
        wait(lambda: rejoined(c), 180, "all hosts online")
        old = wait(lambda: vm_host(c, vm), 180, f"{vm} running")
        time.sleep(2)  # a few monitors (and checkpoints)
        n = len(c.fence_log())
        t0 = time.time()
        c.kill(old)
        try:
            wait(lambda: (h := vm_host(c, vm)) and h != old, 120, f"{vm} {what}", step=0.1)
        except AssertionError as e:
            benchlib.failed(f"{vm}: {e}")
            continue
        out.append(time.time() - t0)
        ft = fence_time(c, old, n)
        if ft:
            fenced.append(ft - t0)
    return out, fenced


def bench_cold(c):
    disk = c.shared / "bench1.img"
    disk.write_bytes(b"\0" * (1 << 20))
    cfg = clusterlib.vm_definition(c.shared / "bench1.json", "bench1", c.shared / "counter.elf", disk)
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("bench1", cfg, monitor="1s"))
    out, fenced = kill_runs(c, "bench1", "running elsewhere")
    row("  of which kill -> fenced", fenced)
    row("host kill -> VM running elsewhere (cold)", out, 15)
    c.x("h1", "crm_resource", "--resource", "bench1", "--set-parameter", "target-role", "--meta",
        "--parameter-value", "Stopped")
    wait(lambda: not c.running_on("bench1"), 120, "bench1 stopped")


def bench_replica(c):
    cfg = clusterlib.vm_definition(c.shared / "brep.json", "brep", c.shared / "counter.elf")
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("brep", cfg, promotable=True, monitor="1s"))
    out, fenced = kill_runs(c, "brep", "promoted elsewhere")
    row("  of which kill -> fenced", fenced)
    row("host kill -> replicated VM promoted elsewhere", out, 5)


def bench_migrate(c):
    cfg = clusterlib.vm_definition(c.shared / "bmig.json", "bmig", c.shared / "counter.elf")
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("bmig", cfg))
    via_cluster, direct = [], []
    for _ in range(RUNS):
        src = wait(lambda: vm_host(c, "bmig"), 120, "bmig running")
        dst = next(h for h in c.hosts if h != src)
        t0 = time.time()
        c.x("h1", "crm_resource", "--move", "-r", "bmig", "-N", dst, check=True)
        wait(lambda: vm_host(c, "bmig") == dst, 180, "bmig moved", step=0.1)
        via_cluster.append(time.time() - t0)
        c.x("h1", "crm_resource", "--clear", "-r", "bmig")
        # petrel's own migration between the same hosts, with the cluster told to keep out
        c.x("h1", "crm_resource", "--resource", "bmig", "--set-parameter", "is-managed", "--meta",
            "--parameter-value", "false", check=True)
        t0 = time.time()
        r = c.x(dst, CTL, "migrate", "bmig", "--to", f"{clusterlib.addr(src)}:7443", timeout=300)
        if r.returncode == 0:
            direct.append(time.time() - t0)
        else:
            print(f"petrelctl migrate failed: {r.stderr.strip()}")
        # the cluster finds the VM where it now runs before it manages it again
        c.x("h1", "crm_resource", "--refresh", "-r", "bmig", check=True)
        wait(lambda: c.resource_where("h1", "bmig") == c.running_on("bmig"), 60, "Pacemaker to see bmig")
        c.x("h1", "crm_resource", "--resource", "bmig", "--set-parameter", "is-managed", "--meta",
            "--parameter-value", "true", check=True)
    row("crm_resource --move -> running on the target", via_cluster)
    row("petrelctl migrate (the same hosts)", direct)
    if via_cluster and direct:
        extra = statistics.median(via_cluster) - statistics.median(direct)
        print(f"{'  cluster overhead':<44} {extra:+.2f} s" + verdict(extra, 1))


def main():
    why = clusterlib.missing()
    if why:
        print(f"bench/cluster.py: {why}")
        return
    c = clusterlib.Cluster(3, token_ms=TOKEN)
    host = host_kind()
    print(f"3 namespace hosts on one machine ({host}), Corosync token {TOKEN} ms, {RUNS} run(s)")
    c.up()
    try:
        bench_fence(c)
        if not KVM or not COUNTER.exists():
            print("cold, replica, migrate: skipped (no /dev/kvm or no test guests)")
            return
        shutil.copy(COUNTER, c.shared / "counter.elf")
        bench_cold(c)
        if has_verb("replica"):
            bench_replica(c)
        else:
            print("replica: skipped (petrelctl has no replica verb)")
        if has_verb("migrate"):
            bench_migrate(c)
        else:
            print("migrate: skipped (petrelctl has no migrate verb)")
    finally:
        c.down()


if __name__ == "__main__":
    main()
