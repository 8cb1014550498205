#!/usr/bin/env python3
"""petreld's figures (issue 37, docs/manager.md#figures): petreld's RSS and CPU while idle with
N VMs, `petrelctl list --all` latency (median of 20), petreld's start with N definitions, and,
with /dev/kvm, N running test-guest VMs (the counter guest, jailed): their start, and
re-adoption of all of them after a kill -9 of petreld. Prints figures; asserts nothing.

  sudo python3 bench/manager.py [N]          (default 1000 defined; 100 running with KVM)
  sudo python3 bench/manager.py --quick      (what the test suite runs: 20 defined, 2 running)

Without /dev/kvm the VMs are defined only (no worker runs): the rows that need running
workers say so. Goals (issue 37): RSS <= 16 MiB and CPU <= 1% idle at 100 and 1000 VMs;
list <= 20 ms at 1000; re-adoption of 1000 workers <= 1 s.
"""
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "manager"))
import mgrlib  # noqa: E402


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)


def idle_cpu_pct(pid, seconds):
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)
    return 100.0 * (cpu_ticks(pid) - c0) / hz / (time.monotonic() - t0)


def list_ms(p, runs=20):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = p.ctl("list", "--all")
        times.append((time.perf_counter() - t0) * 1000)
        assert r.returncode == 0, r.stderr
    return statistics.median(times)


def api_list_ms(p, runs=20, path="/vms"):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        st, _ = p.api("GET", path)
        times.append((time.perf_counter() - t0) * 1000)
        assert st == 200
    return statistics.median(times)


def exec_floor_ms(runs=20):
    """What starting any process costs here: /bin/true, median of runs."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["/bin/true"])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def started_in_ms(p):
    t0 = time.perf_counter()
    p.start()
    return (time.perf_counter() - t0) * 1000


def main():
    quick = "--quick" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--quick"]
    kvm = mgrlib.has_kvm() and mgrlib.guest("counter").exists()
    n_def = int(args[0]) if args else (20 if quick else 1000)
    n_run = int(args[0]) if args else (2 if quick else 100)
    idle_s = 1 if quick else 10
    host = "KVM" if kvm else "no KVM"
    print(f"petreld figures ({host}; {os.cpu_count()} CPUs)")

    p = mgrlib.Petreld().start()
    try:
        for i in range(n_def):
            st, body = p.define(f"vm{i}")
            assert st == 201, body
        pid = p.proc.pid
        print(f"  {n_def} defined VMs: petreld RSS {rss_kib(pid) / 1024:.1f} MiB, "
              f"idle CPU {idle_cpu_pct(pid, idle_s):.2f}% of one CPU over {idle_s} s")
        print(f"  petrelctl list --all with {n_def} VMs: {list_ms(p):.2f} ms (median of 20; starting "
              f"/bin/true costs {exec_floor_ms():.2f} ms here); GET /vms alone: {api_list_ms(p):.2f} ms; "
              f"GET /list (what list asks) alone: {api_list_ms(p, path='/list'):.2f} ms")
        p.stop()
        ms = started_in_ms(p)
        print(f"  petreld start with {n_def} definitions, to its API answering: {ms:.1f} ms")
    finally:
        p.close()

    n_adopt = 20 if quick else n_def
    p = mgrlib.Petreld(jailer=False).start()
    workers = []
    try:
        names = [f"ad{i}" for i in range(n_adopt)]
        for n in names:
            assert p.define(n)[0] == 201
        p.stop(signal.SIGKILL)
        # Real petrel workers (API up, nothing booted: no KVM needed) and their run state.
        workers = mgrlib.leave_workers(p, names)
        ms = started_in_ms(p)
        adopted = [line for line in p.log.read_text().splitlines() if "adopted" in line][-1]
        print(f"  re-adoption of {n_adopt} unbooted workers after kill -9 of petreld: API answering in "
              f"{ms:.1f} ms; {adopted.split(': ', 1)[1]}")
    finally:
        for w in workers:
            w.kill()
            w.wait()
        p.close()

    if not kvm:
        print("  running workers: skipped (no /dev/kvm or no test guests)")
        return
    p = mgrlib.Petreld().start()
    try:
        t0 = time.perf_counter()
        for i in range(n_run):
            assert p.define(f"run{i}")[0] == 201
            st, body = p.api("POST", f"/vms/run{i}/start", timeout=120)
            assert st == 200, body
        per = (time.perf_counter() - t0) * 1000 / n_run
        print(f"  {n_run} running VMs started one after another: {per:.1f} ms each")
        pid = p.proc.pid
        print(f"  {n_run} running VMs: petreld RSS {rss_kib(pid) / 1024:.1f} MiB, "
              f"idle CPU {idle_cpu_pct(pid, idle_s):.2f}% of one CPU over {idle_s} s")
        print(f"  petrelctl list --all with {n_run} running: {list_ms(p):.2f} ms (median of 20); "
              f"GET /vms alone: {api_list_ms(p):.2f} ms")
        p.stop(signal.SIGKILL)
        ms = started_in_ms(p)
        log = p.log.read_text().splitlines()
        adopted = [line for line in log if "adopted" in line][-1]
        print(f"  after kill -9 of petreld: API answering again in {ms:.1f} ms; {adopted.split(': ', 1)[1]}")
    finally:
        p.close()


if __name__ == "__main__":
    main()
