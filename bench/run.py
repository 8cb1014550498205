#!/usr/bin/env python3
"""petrel benchmarks: prints figures and ratios, asserts nothing.

  python3 bench/run.py [startup] [exits] [linux]     (default: startup exits)

startup  VMM start -> first guest instruction: a test guest whose first act is to write the
         debug-exit port; wall time and CPU time of the whole petrel process, peak RSS, and
         guest memory resident (so RSS minus guest memory = petrel's own footprint).
exits    port-I/O exit round trip: the `exitloop` test guest does N `out`s to the null port
         0xf5 from ring 3 (and from ring 0); ns per exit from the difference of two runs,
         next to bench/bare_exit_loop (raw KVM_RUN loop, ring 3) measured in the same run.
linux    boot the default Debian guest to init and power off; seconds, with --stats table.
"""
import os
import pathlib
import re
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUESTS = BUILD / "tests" / "guests"


def run_petrel(args, timeout=600):
    """Run petrel; return (wall s, cpu s, maxrss KiB, stdout, stderr, rc)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([str(PETREL), "run", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss, p.stdout, p.stderr, p.returncode


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def bench_startup(n=7):
    guest = GUESTS / "exitloop.elf"
    walls, cpus, rss, resident = [], [], [], []
    for _ in range(n):
        wall, cpu, maxrss, out, err, rc = run_petrel(
            ["--kernel", str(guest), "--cmdline", "iters=0 quick", "--debug-exit", "--stats",
             "--mem", "128"])
        walls.append(wall * 1e3)
        cpus.append(cpu * 1e3)
        rss.append(maxrss)
        m = re.search(r"guest memory resident: (\d+) KiB", err)
        resident.append(int(m.group(1)) if m else 0)
    print(f"startup (exitloop guest, {n} runs, median):")
    print(f"  start -> guest exit     wall {median(walls):8.1f} ms   cpu {median(cpus):8.1f} ms")
    print(f"  peak RSS                {median(rss):8d} KiB")
    print(f"  guest memory resident   {median(resident):8d} KiB")
    print(f"  RSS minus guest memory  {median(rss) - median(resident):8d} KiB")


def exitloop(iters, ring):
    wall, cpu, _, out, err, rc = run_petrel(
        ["--kernel", str(GUESTS / "exitloop.elf"), "--cmdline", f"iters={iters} ring={ring}",
         "--debug-exit"], timeout=1200)
    if rc != 0:
        raise RuntimeError(f"exitloop failed ({rc}): {err[-500:]}")
    return wall


def bench_exits(iters=int(os.environ.get("BENCH_EXIT_ITERS", "200000"))):
    bare = subprocess.run([str(BUILD / "bench" / "bare_exit_loop"), str(iters)],
                          capture_output=True, text=True, timeout=1200)
    m = re.search(r"([\d.]+) ns per exit", bare.stdout)
    bare_ns = float(m.group(1)) if m else float("nan")
    print(f"port-I/O exit round trip ({iters} exits):")
    print(f"  bare KVM_RUN loop (ring 3)        {bare_ns:10.0f} ns/exit")
    for ring in (3, 0):
        base = exitloop(0, ring)
        full = exitloop(iters, ring)
        ns = (full - base) / iters * 1e9
        print(f"  petrel exitloop guest (ring {ring})   {ns:10.0f} ns/exit"
              + (f"   ratio to bare {ns / bare_ns:5.2f}" if ring == 3 else ""))


def bench_linux():
    cmd = [str(ROOT / "scripts" / "boot.sh"), "--stats"]
    env = dict(os.environ, PETREL_CMDLINE_EXTRA="petrel.test=1")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    init_at = None
    out_lines = []
    for line in p.stdout:
        out_lines.append(line)
        if init_at is None and "PETREL-INIT" in line:
            init_at = time.monotonic() - t0
        if "PETREL-READ>" in line:
            p.stdin.write("bench\n")
            p.stdin.flush()
    err = p.stderr.read()
    p.wait()
    total = time.monotonic() - t0
    print(f"Linux boot (Debian cloud kernel + busybox initramfs, 2 vCPUs, 512 MiB):")
    print(f"  to init        {init_at if init_at else float('nan'):8.1f} s")
    print(f"  to power-off   {total:8.1f} s   (exit status {p.returncode})")
    print("\n".join(l for l in err.splitlines() if l.startswith(("petrel", "  "))))


def main():
    which = sys.argv[1:] or ["startup", "exits"]
    if not PETREL.exists():
        sys.exit(f"{PETREL} not built (scripts/setup.sh)")
    for w in which:
        {"startup": bench_startup, "exits": bench_exits, "linux": bench_linux}[w]()
        print()


if __name__ == "__main__":
    main()
