#!/usr/bin/env python3
"""Cluster failover and migration benchmarks (docs/cluster.md): prints figures.

  python3 bench/cluster.py [--check]  (root; the namespace cluster of tests/cluster/harness/cluster.sh, 3 hosts)

--check: exit 1 when a figure misses its goal or a bench that could run failed (the proof on a
KVM/PVM host, scripts/pvm-proofs.sh); without it the figures are only printed.

fence     kill -9 of every process of a host -> the survivors have fenced it (fence daemon's
          log), with Corosync's token at BENCH_CLUSTER_TOKEN ms (default 1000), and its
          token_coefficient and consensus at BENCH_CLUSTER_TOKEN_COEFFICIENT and
          BENCH_CLUSTER_CONSENSUS ms when set (Corosync's defaults otherwise). No KVM needed:
          this is the cluster's share of every failover.
cold      kill -9 of the host of a VM (counter guest, definition and disk on the shared storage)
          -> the VM running on another host (goal <= 15 s). Needs /dev/kvm.
replica   kill -9 of the host of a promotable replicated VM's primary -> the promoted standby
          running (goal <= 5 s). Needs /dev/kvm and petrelctl's replica verbs.
migrate   crm_resource --move of a VM (allow-migrate) -> running on the target, against
          petrelctl migrate between the same hosts (goal: <= 1 s more). Needs /dev/kvm and
          petrelctl migrate.
BENCH_CLUSTER_RUNS runs each (default 3); BENCH_QUICK=1: one run of each that can run here.
BENCH_CLUSTER_ONLY=cold,replica (a comma list of the names above): only those, in that order; under nested
KVM on TCG a cluster's set-up and each kill and rejoin take minutes, and the fence figure needs
no KVM. Each bench stops its VM when done, so the next one's figures do not carry its load.
"""
import json
import os
import re
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
# Corosync's other detection settings (docs/cluster.md#timeouts): unset, Corosync's defaults
# (token_coefficient 650 ms per node above two, consensus 1.2 x the effective token)
COEFF = os.environ.get("BENCH_CLUSTER_TOKEN_COEFFICIENT")
CONSENSUS = os.environ.get("BENCH_CLUSTER_CONSENSUS")
ONLY = [b for b in os.environ.get("BENCH_CLUSTER_ONLY", "fence,cold,replica,migrate").split(",") if b]
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


def fence_time(c, host, since, done=False):
    """Wall-clock time (s since the epoch) of the fence daemon's first action on host: when it
    began, or (done) when it had killed the host (the line's last field)."""
    for ln in c.fence_log()[since:]:
        f = ln.split()
        if f[2:3] == [host] and f[1] in ("reboot", "off"):
            today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
            t = datetime.strptime(f"{today} {f[-1 if done else 0][:15]}", "%Y-%m-%d %H:%M:%S.%f")
            return t.replace(tzinfo=timezone.utc).timestamp()
    return None


def event_time(c, host, vm, event, after):
    """When host's petreld emitted event for vm (its time_ms, s since the epoch) after `after`,
    and the event; (None, None) if it did not (the VM's log, which outlives the host)."""
    try:
        lines = (c.dir / "hosts" / host / "petreld-logs" / f"{vm}.log").read_text().splitlines()
    except OSError:
        return None, None
    for ln in lines:
        try:
            e = json.loads(ln.split(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if e.get("event") == event and e.get("time_ms", 0) / 1000 >= after:
            return e["time_ms"] / 1000, e
    return None, None


def rejoined(c):
    return all(set(c.online(h)) == set(c.hosts) for h in c.live()) and len(c.live()) == c.n


MISSED = []   # the goals not met in this run (--check)


def verdict(value, goal):
    """'goal <= G s: met' or 'NOT met', for the figures the issue sets a goal for."""
    if value > goal:
        MISSED.append(f"{value:.2f} s > {goal:g} s")
    return f"  goal <= {goal:g} s: {'met' if value <= goal else 'NOT met'}"


def row(name, values, goal=None):
    if not values:
        benchlib.failed(f"{name}: failed")
        MISSED.append(f"{name.strip()}: no figure")
        return
    med = statistics.median(values)
    print(f"{name:<44} median {med:6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})"
          + (verdict(med, goal) if goal is not None else ""))


def totem():
    """The detection settings of this run, for the figures' labels."""
    return f"token {TOKEN} ms" + (f", token_coefficient {COEFF} ms" if COEFF else "") + \
        (f", consensus {CONSENSUS} ms" if CONSENSUS else "")


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
    row(f"host kill -> fenced ({totem()})", out)
    # the last run's victim (h1) is still coming back: the VM benches create their resources
    # from h1 ("cluster: h1 is down" otherwise)
    wait(lambda: rejoined(c), 180, "all hosts online")


def vm_host(c, name):
    on = c.running_on(name)
    return on[0] if len(on) == 1 else None


def kill_runs(c, vm, what, event=None):
    """RUNS times: kill -9 the host of vm, time until it runs on another host; the times and
    the times until the old host was fenced; with event (petreld's, on the new host): the times
    from the fence's end to it, and the events."""
    out, fenced, after, events = [], [], [], []
    for _ in range(RUNS):
        wait(lambda: rejoined(c), 180, "all hosts online")
        # 300: a promotable clone's first promotion is some ten operations in a row
        # (tests/cluster/test_cluster_vm.py)
        old = wait(lambda: vm_host(c, vm), 300, f"{vm} running")
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
        if event:
            done, new = fence_time(c, old, n, done=True), vm_host(c, vm)
            et, e = event_time(c, new, vm, event, t0) if new else (None, None)
            if done and et:
                after.append(et - done)
                events.append(e)
    return (out, fenced, after, events) if event else (out, fenced)


def stop(c, rsc):
    """Stop resource rsc for good (its target-role) and wait until no host runs it. The last run
    killed a host, which boots again only after the others dropped it, and 5 s later: wait for it
    (asking a host that is down failed with "h1 is down", 2026-11-27), and ask a live one. A stop
    that fails is printed: the figures are measured already."""
    try:
        wait(lambda: rejoined(c), 180, "all hosts online")
        c.x(c.live()[0], "crm_resource", "--resource", rsc, "--set-parameter", "target-role", "--meta",
            "--parameter-value", "Stopped", check=True)
        wait(lambda: not c.running_on(rsc), 120, f"{rsc} stopped")
    except AssertionError as e:
        print(f"{rsc}: not stopped ({e}); the next figures may carry its load")


def bench_cold(c):
    disk = c.shared / "bench1.img"
    disk.write_bytes(b"\0" * (1 << 20))
    cfg = clusterlib.vm_definition(c.shared / "bench1.json", "bench1", c.shared / "counter.elf", disk)
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("bench1", cfg, monitor="1s"))
    out, fenced = kill_runs(c, "bench1", "running elsewhere")
    row("host kill -> VM running elsewhere (cold)", out, 15)
    row("  of that (cold): kill -> fenced", fenced)
    stop(c, "bench1")


def bench_replica(c):
    cfg = clusterlib.vm_definition(c.shared / "brep.json", "brep", c.shared / "counter.elf")
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("brep", cfg, promotable=True, monitor="1s"))
    out, fenced, after, events = kill_runs(c, "brep", "promoted elsewhere", event="promoted")
    row("host kill -> replicated VM promoted elsewhere", out, 5)
    row("  of that (replicated): kill -> fenced", fenced)
    # the fence's end -> the standby's petreld promoted it (its event); goal <= 0.5 s (issue 59)
    row("  fenced -> promoted, running", after, 0.5)
    print("  promoted by: " + ", ".join(e.get("by") or "Pacemaker's promote" for e in events))
    stop(c, "brep-clone")


def pcmk_log(c, host):
    return c.dir / "hosts" / host / "var/log/pacemaker/pacemaker.log"


def log_size(path):
    try:
        return path.stat().st_size
    except OSError:
        return 0


def op_time(path, since, rsc, op):
    """How long the agent's op of rsc ran, as the host's pacemaker-execd logged it after byte
    `since` of its log (None when it did not): the agent's own share of a move, without the
    bench's polling, which takes seconds a look on a slow host."""
    try:
        with open(path, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    # Pacemaker writes "116ms" under a second, "25.68s" above (a quick migration on a PVM host)
    m = re.search(rf" {re.escape(rsc)} {op} \(call \d+, PID \d+\) exited with status 0 "
                  r"\(execution time ([\d.]+)(ms|s)\b", text)
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1) if m else None


def bench_migrate(c):
    cfg = clusterlib.vm_definition(c.shared / "bmig.json", "bmig", c.shared / "counter.elf")
    c.cib("h1", "-C", "-o", "resources", "-X", clusterlib.vm_resource("bmig", cfg))
    via_cluster, direct, ops = [], [], {"migrate_to": [], "migrate_from": []}
    for _ in range(RUNS):
        src = wait(lambda: vm_host(c, "bmig"), 120, "bmig running")
        dst = next(h for h in c.hosts if h != src)
        offs = {h: log_size(pcmk_log(c, h)) for h in (src, dst)}
        t0 = time.time()
        c.x("h1", "crm_resource", "--move", "-r", "bmig", "-N", dst, check=True)
        wait(lambda: vm_host(c, "bmig") == dst, 180, "bmig moved", step=0.1)
        via_cluster.append(time.time() - t0)
        for op, h in (("migrate_to", src), ("migrate_from", dst)):
            # the op's line is written once it returned; the VM may run on dst a moment before
            t = wait(lambda: op_time(pcmk_log(c, h), offs[h], "bmig", op), 60, f"{op}'s log line")
            ops[op].append(t)
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
    row("  of that (move): the agent's migrate_to", ops["migrate_to"])
    row("  of that (move): the agent's migrate_from", ops["migrate_from"])
    row("petrelctl migrate (the same hosts)", direct)
    if via_cluster and direct:
        extra = statistics.median(via_cluster) - statistics.median(direct)
        print(f"{'  cluster overhead':<44} {extra:+.2f} s" + verdict(extra, 1))
    stop(c, "bmig")


BENCHES = {"cold": bench_cold, "replica": bench_replica, "migrate": bench_migrate}


def main():
    why = clusterlib.missing()
    if why:
        print(f"bench/cluster.py: {why}")
        return
    unknown = [b for b in ONLY if b != "fence" and b not in BENCHES]
    if unknown:
        sys.exit(f"BENCH_CLUSTER_ONLY: no bench {', '.join(unknown)} (fence, cold, replica, migrate)")
    host = host_kind()
    print(f"3 namespace hosts on one machine ({host}), Corosync {totem()}, {RUNS} run(s)")
    with clusterlib.running(3, token_ms=TOKEN, token_coefficient_ms=COEFF, consensus_ms=CONSENSUS) as c:
        if "fence" in ONLY:
            bench_fence(c)
        vms = [b for b in ONLY if b != "fence"]
        if not vms:
            return
        if not KVM or not COUNTER.exists():
            print(f"{', '.join(vms)}: skipped (no /dev/kvm or no test guests)")
            return
        shutil.copy(COUNTER, c.shared / "counter.elf")
        for name in vms:   # in the order asked for
            if name != "cold" and not has_verb(name):
                print(f"{name}: skipped (petrelctl has no {name} verb)")
                continue
            try:
                BENCHES[name](c)
            except AssertionError as e:   # a wait that timed out: no figure, no traceback
                benchlib.failed(f"{name}: {e}")
                MISSED.append(f"{name}: failed")   # --check: a bench that could run and did not


if __name__ == "__main__":
    main()
    if "--check" in sys.argv[1:] and MISSED:
        sys.exit(f"bench/cluster.py --check: goals not met: {'; '.join(MISSED)}")
