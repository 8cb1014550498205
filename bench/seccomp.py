#!/usr/bin/env python3
"""Seccomp's cost (docs/security.md#seccomp): prints figures, asserts nothing.

  python3 bench/seccomp.py [startup] [exits]       (default: both; exits needs /dev/kvm)

startup  spawn `petrel --api-sock` -> first 200 to GET /, with the filters (the default) and
         with --no-seccomp, alternating, median and min of BENCH_SECCOMP_RUNS (20) each: what
         compiling every kind's list and installing the filters adds to start-up.
exits    port-I/O exit round trip from guest ring 3 (the `exitloop` test guest, N `out`s to
         the null port 0xf5, ns per exit from the difference of a run with N and one with 0),
         with and without --no-seccomp, BENCH_EXIT_ITERS (200000) exits: the vCPU thread's
         filter runs on every system call the exit path makes (KVM_RUN's ioctl, nothing else
         for a null port). Skips without /dev/kvm.
"""
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUESTS = BUILD / "tests" / "guests"


def api_ready_ms(extra):
    d = tempfile.mkdtemp(prefix="petrel-sc-", dir="/tmp")
    sock = os.path.join(d, "api.sock")
    t0 = time.monotonic()
    p = subprocess.Popen([str(PETREL), "--api-sock", sock, "--level", "Error", *extra],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return (time.monotonic() - t0) * 1000
            except OSError:
                time.sleep(0.0002)
            finally:
                s.close()
            if p.poll() is not None:
                raise RuntimeError(f"petrel exited {p.returncode}")
    finally:
        p.kill()
        p.wait()
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def bench_startup(runs=int(os.environ.get("BENCH_SECCOMP_RUNS", "20"))):
    on, off = [], []
    for _ in range(runs):
        on.append(api_ready_ms([]))
        off.append(api_ready_ms(["--no-seccomp"]))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"petrel --api-sock -> first 200 to GET / ({runs} runs each, alternating):")
    print(f"  seccomp on (default)   median {med(on):6.2f} ms   min {min(on):6.2f} ms")
    print(f"  --no-seccomp           median {med(off):6.2f} ms   min {min(off):6.2f} ms")
    print(f"  difference             median {med(on) - med(off):6.2f} ms")


def exitloop(iters, extra):
    t0 = time.monotonic()
    p = subprocess.run([str(PETREL), "run", *extra, "--kernel", str(GUESTS / "exitloop.elf"),
                        "--cmdline", f"iters={iters} ring=3", "--debug-exit"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    if p.returncode != 0:
        raise RuntimeError(f"exitloop failed ({p.returncode}): {p.stderr[-500:]}")
    return time.monotonic() - t0


def bench_exits(iters=int(os.environ.get("BENCH_EXIT_ITERS", "200000"))):
    if not os.path.exists("/dev/kvm") or not (GUESTS / "exitloop.elf").exists():
        print("exits: skipped (needs /dev/kvm and the exitloop test guest)")
        return
    print(f"port-I/O exit round trip, guest ring 3 ({iters} exits):")
    for label, extra in (("seccomp on (default)", []), ("--no-seccomp", ["--no-seccomp"])):
        ns = (exitloop(iters, extra) - exitloop(0, extra)) / iters * 1e9
        print(f"  {label:22s} {ns:8.0f} ns/exit")


if __name__ == "__main__":
    which = sys.argv[1:] or ["startup", "exits"]
    if "startup" in which:
        bench_startup()
    if "exits" in which:
        bench_exits()
