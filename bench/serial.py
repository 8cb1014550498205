#!/usr/bin/env python3
"""The console's cost per guest byte (issue 43): the UART writing each byte at once (a poll and
a write per byte, as before output buffering) against buffered output. Prints figures,
asserts nothing.

  python3 bench/serial.py [host] [guest]        (default: both; guest needs /dev/kvm)

host   no KVM: build/bench/serial_host drives src/devices/legacy/serial.c as Linux's 8250
       console does (an LSR read and a THR write per byte) with BENCH_SERIAL_KIB (1024) KiB of
       80-byte lines, both modes interleaved, BENCH_SERIAL_ROUNDS (5) rounds: CPU ns per byte
       of the writing thread (a vCPU's) and of the I/O thread (the flush timer), into a pipe a
       reader drains; then each mode once under `strace -f -c` writing to /dev/null: system
       calls per byte.
guest  the `counter` test guest printing BENCH_SERIAL_LINES (20000) lines "count=N" from ring 3
       through petrel's UART to a pipe this script drains: the petrel process's CPU per
       console byte (wait4's rusage) and, in a second run under `strace -f -c`, its system
       calls per byte (KVM_RUN's ioctl included: one per exit, the same in both). With
       BENCH_SERIAL_OTHER=PATH (e.g. a build of the commit before buffering) that binary runs
       in the same rotation as the "before" row.
"""
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

from benchlib import failed, pick, runs

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
HOST = BUILD / "bench" / "serial_host"
PETREL = BUILD / "petrel"
COUNTER = BUILD / "tests" / "guests" / "counter.elf"
SPAWN = BUILD / "bench" / "spawn_rusage"
KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)


def strace_calls(cmd, stdout=subprocess.DEVNULL):
    """{syscall: calls} of cmd and its threads (strace -f -c)."""
    with tempfile.NamedTemporaryFile("r", prefix="petrel-strace-") as out:
        p = subprocess.run(["strace", "-f", "-c", "-o", out.name, *cmd], stdin=subprocess.DEVNULL,
                           stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=1200)
        if p.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed under strace: {p.stderr[-400:]}")
        calls = {}
        for line in out.read().splitlines():
            f = line.split()
            if len(f) >= 5 and f[3].isdigit() and f[-1] != "total":
                calls[f[-1]] = int(f[3])
        return calls


def fmt_calls(calls, nbytes, top=4):
    per = sorted(calls.items(), key=lambda kv: -kv[1])
    total = sum(calls.values()) / nbytes
    return f"{total:7.3f}/byte ({', '.join(f'{k} {v / nbytes:.3f}' for k, v in per[:top])})"


def bench_host():
    kib = pick(int(os.environ.get("BENCH_SERIAL_KIB", "1024")), 64)
    rounds = runs("BENCH_SERIAL_ROUNDS", 5)
    p = subprocess.run([str(HOST), "both", str(kib), str(rounds)], capture_output=True, text=True, timeout=1200)
    rows = {m.group(1): m for m in re.finditer(r"serial (\w+) .*guest_cpu_ns_per_byte=([\d.]+) "
                                                 r"io_cpu_ns_per_byte=([\d.]+) wall_ns_per_byte=([\d.]+)", p.stdout)}
    if p.returncode != 0 or len(rows) != 2:
        return failed(f"serial_host failed: {p.stderr[-400:]}")
    print(f"UART output, no KVM: {kib} KiB of 80-byte lines as Linux's 8250 console writes them, "
          f"medians of {rounds} interleaved rounds")
    print(f"  {'mode':<28} {'vCPU-side CPU':>14} {'I/O thread CPU':>15} {'wall':>10}   system calls (to /dev/null)")
    label = {"bytewise": "a write per byte (before)", "buffered": "buffered"}
    for mode in ("bytewise", "buffered"):
        m = rows[mode]
        try:
            calls = fmt_calls(strace_calls([str(HOST), mode, str(kib), "1", "/dev/null"]), kib << 10)
        except (OSError, RuntimeError) as e:
            calls = failed(f"strace: {e}") or "-"
        print(f"  {label[mode]:<28} {float(m.group(2)):8.1f} ns/B {float(m.group(3)):9.1f} ns/B "
              f"{float(m.group(4)):6.1f} ns/B   {calls}")
    g, b = float(rows["bytewise"].group(2)), float(rows["buffered"].group(2))
    print(f"  vCPU-side CPU per byte: {g / b:.1f}x less buffered")


def guest_run(petrel, lines, under_strace):
    """(cpu s, console bytes, calls or None) of `petrel run` with the counter guest."""
    cmd = [str(petrel), "run", "--kernel", str(COUNTER), "--cmdline", f"every=1 lines={lines}",
           "--debug-exit", "--no-seccomp" if under_strace else "--level=Warn"]
    with tempfile.TemporaryFile() as out:
        if under_strace:
            calls = strace_calls(cmd, stdout=out)
            cpu = None
        else:
            with tempfile.NamedTemporaryFile("r", prefix="petrel-rusage-") as fig:
                p = subprocess.run([str(SPAWN), "-o", fig.name, *cmd], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.PIPE, text=True, timeout=1200)
                _, cpu_us, _, status = (int(x) for x in fig.read().split())
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"petrel run failed: {p.stderr[-400:]}")
            cpu, calls = cpu_us / 1e6, None
        out.seek(0)
        data = out.read()
    if f"count={lines}".encode() not in data:
        raise RuntimeError(f"the guest's last line is missing ({len(data)} bytes of console)")
    return cpu, len(data), calls


def bench_guest():
    if not KVM:
        print("guest: skipped (no /dev/kvm)")
        return
    lines = pick(int(os.environ.get("BENCH_SERIAL_LINES", "20000")), 500)
    n = runs("BENCH_SERIAL_RUNS", 5)
    bins = {"petrel": PETREL}
    if os.environ.get("BENCH_SERIAL_OTHER"):
        bins["before (BENCH_SERIAL_OTHER)"] = pathlib.Path(os.environ["BENCH_SERIAL_OTHER"])
    cpu = {k: [] for k in bins}
    nbytes = {}
    try:
        for _ in range(n):
            for name, path in bins.items():
                c, nb, _ = guest_run(path, lines, False)
                cpu[name].append(c)
                nbytes[name] = nb
        print(f"UART output from a guest: the counter guest printing {lines} lines (ring 3), "
              f"median of {n} interleaved runs; system calls from one run under strace (seccomp off)")
        for name, path in bins.items():
            _, nb, calls = guest_run(path, lines, True)
            print(f"  {name:<28} CPU {statistics.median(cpu[name]) * 1e9 / nbytes[name]:9.0f} ns per console byte"
                  f" ({nbytes[name]} bytes)   system calls {fmt_calls(calls, nb)}")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        failed(f"guest: {e}")


def main():
    what = sys.argv[1:] or ["host", "guest"]
    for w in what:
        {"host": bench_host, "guest": bench_guest}[w]()


if __name__ == "__main__":
    main()
