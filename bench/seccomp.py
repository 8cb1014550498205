#!/usr/bin/env python3
"""Start-up and seccomp's cost (docs/performance.md#start-up, docs/security.md#seccomp):
prints figures, asserts nothing.

  python3 bench/seccomp.py [startup] [exits] [threads]   (default: startup exits; exits needs /dev/kvm)

startup  Interleaved runs (BENCH_SECCOMP_RUNS, default 20, of each variant in turn), medians
         and minimums, of:
         - API mode: `petrel --api-sock S` from spawn to the first 200 to GET / (wall), the
           CPU petrel itself counts from exec to its API serving (metrics.api_server's
           process_startup_time_cpu_us, read from its Info log line), and its peak RSS
           (VmHWM) once serving;
         - `petrel run` to where it fails for lack of /dev/kvm (a host without KVM: the
           whole process's CPU, wall and peak RSS from wait4), or, with /dev/kvm, to the
           first guest instruction (bench/run.py's first-insn guest: the whole run);
         each with the filters (the default) and with --no-seccomp. BENCH_SECCOMP_OTHER=PATH
         adds another petrel binary (e.g. a build of an older commit) to the same rotation.
exits    port-I/O exit round trip from guest ring 3 (the `exitloop` test guest, N `out`s to
         the null port 0xf5, ns per exit from the difference of a run with N and one with 0),
         with and without --no-seccomp, BENCH_EXIT_ITERS (200000) exits: the vCPU thread's
         filter runs on every system call the exit path makes (KVM_RUN's ioctl, nothing else
         for a null port). Skips without /dev/kvm.
threads  seccomp's start-up cost by parts, no KVM (bench/thread_start_host.c): the threads
         `petrel run` starts (vCPU, I/O, PVM idle kicker) under petrel's built-in filters, with
         and without the spawner thread, the union and the stacked filters, BENCH_THREAD_ROUNDS
         (200) interleaved rounds of CPU per process.
"""
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import pick

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUESTS = BUILD / "tests" / "guests"


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def api_start(petrel, extra):
    """(wall ms to the first 200 to GET /, CPU ms exec -> API serving, peak RSS KiB)."""
    d = tempfile.mkdtemp(prefix="petrel-sc-", dir="/tmp")
    sock = os.path.join(d, "api.sock")
    t0 = time.monotonic()
    p = subprocess.Popen([str(petrel), "--api-sock", sock, "--level", "Info", *extra],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        cpu = None
        for line in p.stderr:   # the line comes once the API serves
            m = re.search(r"API serving (\d+) us of CPU after exec", line)
            if m:
                cpu = int(m.group(1)) / 1000
                break
        if cpu is None:
            raise RuntimeError(f"petrel exited {p.wait()} before serving")
        while True:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sock)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    wall = (time.monotonic() - t0) * 1000
                    break
            except OSError:
                time.sleep(0.0002)
            finally:
                s.close()
        return wall, cpu, vm_hwm_kib(p.pid)
    finally:
        p.kill()
        p.wait()
        p.stderr.close()
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def spawn_rusage(cmd):
    out = subprocess.run([str(BUILD / "bench" / "spawn_rusage"), *map(str, cmd)], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, check=True).stdout
    wall_us, cpu_us, maxrss, _ = (int(x) for x in out.split())
    return wall_us / 1000, cpu_us / 1000, maxrss


def run_start(petrel, extra, kernel):
    """`petrel run` of the first-insn guest, whole process: (wall ms, CPU ms, peak RSS KiB),
    through bench/spawn_rusage (a process Python spawns carries Python's peak RSS). Without
    /dev/kvm it ends where it would create the VM."""
    return spawn_rusage([petrel, "run", *extra, "--kernel", kernel, "--debug-exit", "--mem", "128"])


def bench_startup(runs=benchlib.runs("BENCH_SECCOMP_RUNS", 20)):
    sys.path.insert(0, str(ROOT / "bench"))
    import run as bench_run   # the first-insn guest
    (BUILD / "bench").mkdir(exist_ok=True)
    kernel = bench_run.first_insn_guest()
    binaries = [("", PETREL)]
    if os.environ.get("BENCH_SECCOMP_OTHER"):
        binaries.append((" [other]", pathlib.Path(os.environ["BENCH_SECCOMP_OTHER"])))
    variants = [(f"{label}{tag}", b, extra) for tag, b in binaries
                for label, extra in (("seccomp on (default)", []), ("--no-seccomp", ["--no-seccomp"]))]
    api = {v[0]: [] for v in variants}
    run = {v[0]: [] for v in variants}
    run["/bin/true (an empty process)"] = []
    for _ in range(runs):
        for name, b, extra in variants:
            api[name].append(api_start(b, extra))
            run[name].append(run_start(b, extra, kernel))
        run["/bin/true (an empty process)"].append(spawn_rusage(["/bin/true"]))

    def med(xs):
        return sorted(xs)[len(xs) // 2]

    def table(title, res, cols):
        print(title)
        for name, rows in res.items():
            cells = []
            for i, label in cols:
                xs = [r[i] for r in rows]
                cells.append(f"{label} {med(xs):7.2f} (min {min(xs):7.2f})" if label != "RSS"
                             else f"peak RSS {med(xs) / 1024:5.2f} MiB")
            print(f"  {name:32s} " + "   ".join(cells))

    kvm = os.path.exists("/dev/kvm")
    print(f"{runs} interleaved runs of each; medians (min), ms")
    table("petrel --api-sock: CPU exec -> API serving, wall spawn -> first 200 to GET /:", api,
          [(1, "CPU"), (0, "wall"), (2, "RSS")])
    table("petrel run, whole process " + ("to the first guest instruction and exit:" if kvm else
          "to the missing /dev/kvm (no VM on this host):"), run, [(1, "CPU"), (0, "wall"), (2, "RSS")])


def exitloop(iters, extra):
    t0 = time.monotonic()
    p = subprocess.run([str(PETREL), "run", *extra, "--kernel", str(GUESTS / "exitloop.elf"),
                        "--cmdline", f"iters={iters} ring=3", "--debug-exit"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    if p.returncode != 0:
        raise RuntimeError(f"exitloop failed ({p.returncode}): {p.stderr[-500:]}")
    return time.monotonic() - t0


def bench_exits(iters=pick(int(os.environ.get("BENCH_EXIT_ITERS", "200000")), 2000)):
    if not os.path.exists("/dev/kvm") or not (GUESTS / "exitloop.elf").exists():
        print("exits: skipped (needs /dev/kvm and the exitloop test guest)")
        return
    print(f"port-I/O exit round trip, guest ring 3 ({iters} exits):")
    for label, extra in (("seccomp on (default)", []), ("--no-seccomp", ["--no-seccomp"])):
        ns = (exitloop(iters, extra) - exitloop(0, extra)) / iters * 1e9
        print(f"  {label:22s} {ns:8.0f} ns/exit")


def bench_threads(rounds=pick(int(os.environ.get("BENCH_THREAD_ROUNDS", "200")), 20)):
    p = subprocess.run([str(BUILD / "bench" / "thread_start_host"), str(rounds)],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"thread_start_host failed ({p.returncode}): {p.stderr[-400:]}")
    print(p.stdout, end="")


if __name__ == "__main__":
    which = sys.argv[1:] or ["startup", "exits"]
    if "threads" in which:
        bench_threads()
    if "startup" in which:
        bench_startup()
    if "exits" in which:
        bench_exits()
