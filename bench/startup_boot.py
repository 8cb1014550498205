#!/usr/bin/env python3
"""Where the tests' Linux guest spends its guest time before /init (docs/performance.md#boot):
prints figures, asserts nothing. Needs /dev/kvm and the default guest (scripts/fetch-guest.sh).

  python3 bench/startup_boot.py

Boots the tests' guest (tests/linux/linuxguest.py's command line without its disk check, 2 vCPUs,
512 MiB, guest/vmlinuz and guest/initramfs.cpio) BENCH_BOOT_ROUNDS times (default 1) each way,
interleaved:
  quiet    the command line as the tests use it: petrel's start -> /init's first line, timed
           by this host (the guest's own clocks disagree with each other and with the host's
           when the console is slow, docs/performance.md), and the uptime /init prints;
  verbose  the same plus loglevel=7 initcall_debug: the same figure, the bytes the console
           printed before /init, the printk time of each phase's mark, and the slowest
           initcalls (their own durations; with initcall_debug every one also prints two lines).
The difference between the two is mostly the console (docs/performance.md says why).
BENCH_QUICK=1: one quiet boot.
"""
import os
import pathlib
import re
import subprocess
import sys
import time

import benchlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
sys.path.insert(0, str(ROOT / "tests" / "linux"))

MARKS = [("SMP up", "smp: Brought up"), ("kvm-clock", "Switched to clocksource kvm-clock"),
         ("initramfs", "Trying to unpack rootfs image"), ("initrd freed", "Freeing initrd memory"),
         ("Run /init", "Run /init as init process")]
STAMP = re.compile(r"^\[\s*(\d+\.\d+)\] (.*)")
INITCALL = re.compile(r"initcall (\S+) returned -?\d+ after (\d+) usecs")
UP = re.compile(r"PETREL-INIT: user space up after ([0-9.]+)s")


def cmdline(verbose):
    import linuxguest
    args = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=") and a != "loglevel=7"]
    return " ".join(args + (["loglevel=7", "initcall_debug"] if verbose else []))


def boot(verbose, timeout):
    """One boot until /init's checks end: {up, console bytes before /init, marks, initcalls}."""
    import linuxguest
    cmd = [str(PETREL), "run", "--kernel", str(linuxguest.KERNEL), "--initrd", str(linuxguest.INITRD),
           "--cpus", "2", "--mem", "512", "--cmdline", cmdline(verbose)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    res = {"up": None, "host": None, "bytes": 0, "marks": {}, "initcalls": []}
    before_init, t0 = True, time.monotonic()
    try:
        for raw in p.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if before_init:
                res["bytes"] += len(raw)
            m = STAMP.match(line)
            if m:
                for name, text in MARKS:
                    if text in m.group(2) and name not in res["marks"]:
                        res["marks"][name] = float(m.group(1))
                c = INITCALL.search(m.group(2))
                if c:
                    res["initcalls"].append((int(c.group(2)), c.group(1).split("+")[0]))
            if "Run /init" in line:
                before_init = False
            u = UP.search(line)
            if u:
                res["up"] = float(u.group(1))
                res["host"] = time.monotonic() - t0
                before_init = False
            if "PETREL-READ>" in line:   # /init's checks want one console line
                p.stdin.write(b"x\n")
                p.stdin.flush()
            if "PETREL-DONE" in line or time.monotonic() - t0 > timeout:
                break
    finally:
        p.kill()
        p.wait()
    if res["up"] is None:
        benchlib.failed(f"{'verbose' if verbose else 'quiet'} boot: no PETREL-INIT line within {timeout} s")
    return res


def main():
    import linuxguest
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("startup_boot: skipped (needs /dev/kvm)")
        return
    if not (linuxguest.KERNEL.is_file() and linuxguest.INITRD.is_file()):
        benchlib.failed("startup_boot: the default guest is missing (scripts/fetch-guest.sh)")
        return
    rounds = benchlib.runs("BENCH_BOOT_ROUNDS", 1)
    timeout = float(os.environ.get("BENCH_BOOT_TIMEOUT", 1800))
    ways = [False] if benchlib.QUICK else [False, True]
    res = {w: [] for w in ways}
    for n in range(rounds):
        for w in ways:
            r = boot(w, timeout)
            # each boot's figures as soon as it has them: a run stopped during a later boot
            # (minutes each where ring 0 is emulated) keeps what it measured
            up = ("did not reach /init" if r["up"] is None else
                  f"start -> /init {r['host']:.2f} s, user space up after {r['up']:.2f} s of uptime")
            print(f"  boot {n + 1} {'verbose' if w else 'quiet'}: {up}", flush=True)
            if r["up"] is not None:
                res[w].append(r)
    print(f"tests' Linux guest to /init, seconds ({rounds} boot(s) each way, interleaved):")
    for w in ways:
        hosts = sorted(r["host"] for r in res[w])
        if not hosts:
            continue
        ups = sorted(r["up"] for r in res[w])
        label = "verbose (loglevel=7 initcall_debug)" if w else "quiet (the tests' command line)"
        print(f"  {label:38s} start -> /init {hosts[len(hosts) // 2]:7.2f} s (min {hosts[0]:.2f}), "
              f"user space up after {ups[len(ups) // 2]:.2f} s of uptime; console before /init "
              f"{res[w][0]['bytes']} bytes")
    for r in res.get(True, [])[:1]:
        print("  verbose boot, printk time of each mark: " +
              ", ".join(f"{n} {r['marks'][n]:.2f}" for n, _ in MARKS if n in r["marks"]))
        total = sum(us for us, _ in r["initcalls"]) / 1e6
        print(f"  {len(r['initcalls'])} initcalls took {total:.2f} s together; the slowest (ms):")
        for us, name in sorted(r["initcalls"], reverse=True)[:15]:
            print(f"    {us / 1000:9.1f}  {name}")


if __name__ == "__main__":
    main()
