"""Boot the real Linux guest N times in a row and print a table of outcomes and times
(scripts/soak-linux.sh N). The boots cycle through 1 and 2 vCPUs, the bzImage (decompressed
by petrel on the host, then PVH: the default path) and the ELF vmlinux (PVH), and two kernel
command lines: the project's (the one
tests/linux uses, with its boot shortcuts) and a plain one (just the console and the test
switch: what a user would type). Each boot runs /init's checks (scripts/guest-init with
petrel.test=1, envcheck first), answers its console prompt and must power off; the deadlines
are tests/linux/linuxlib.py's. Consoles go to build/soak/boot-N.log.

Run boots one at a time on a quiet machine: PVM hosts are very sensitive to CPU contention.
Exit status: 0 if every boot passed.
"""
import argparse
import itertools
import os
import re
import sys
import time
from pathlib import Path

import linuxlib
import linuxguest

ROOT = Path(__file__).resolve().parents[2]
PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
OUT = ROOT / "build" / "soak"
PLAIN = ["console=ttyS0", "petrel.test=1"]
# A plain command line has none of the test's shortcuts (tests/linux/linuxguest.py): on a
# nested PVM host it spent 800+ s of guest time before /init (BTF parsing, tracefs, crypto
# self-tests), over the test suite's 20-minute deadline. Its own deadline here:
PLAIN_INIT_TIMEOUT_S = float(os.environ.get("PETREL_SOAK_PLAIN_INIT_TIMEOUT", 40 * 60))
PROJECT = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")]
KERNELS = {"bzImage": linuxguest.KERNEL, "pvh": ROOT / "guest" / "vmlinux"}
CONFIGS = list(itertools.product([2, 1], ["bzImage", "pvh"], ["project", "plain"]))


def boot(n, cpus, kernel, cmdline_kind):
    cmdline = " ".join(PROJECT if cmdline_kind == "project" else PLAIN)
    argv = [str(PETREL), "run", "--kernel", str(KERNELS[kernel]), "--initrd", str(linuxguest.INITRD),
            "--cmdline", cmdline, "--cpus", str(cpus), "--mem", "512", "--rng"]
    log_path = OUT / f"boot-{n}.log"
    start = time.time()
    with open(log_path, "wb") as log:
        proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
        run = linuxlib.run_console(proc, con, start, "soak", init_timeout=(
            linuxlib.INIT_TIMEOUT_S if cmdline_kind == "project" else PLAIN_INIT_TIMEOUT_S))
        log.write(f"\n# petrel exit status {proc.returncode} after {run.elapsed:.1f}s\n".encode())
    guest_s = None
    for _, line in con.lines:
        m = re.search(r"PETREL-INIT: user space up after ([0-9.]+)s", line)
        if m:
            guest_s = float(m.group(1))
    if run.broken:
        outcome = f"BROKEN: {run.broken[:60]}"
    elif run.timed_out:
        outcome = f"TIMEOUT: did not {run.timed_out}"
    elif not run.value("env", "").startswith("ok"):
        outcome = f"ENV: {run.value('env', 'missing')}"
    elif run.echo != "soak" or run.done is None:
        outcome = "CHECKS: no echo/done"
    elif run.rc != 0:
        outcome = f"EXIT {run.rc}"
    else:
        outcome = "ok"
    return {
        "n": n, "cpus": cpus, "kernel": kernel, "cmdline": cmdline_kind, "outcome": outcome,
        "init_wall": (run.init - start) if run.init else None, "init_guest": guest_s,
        "total": run.elapsed, "log": log_path,
    }


def fmt(v):
    return "-" if v is None else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("count", type=int, help="how many boots")
    ap.add_argument("--first", type=int, default=0, help="start at this configuration (0-7)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    header = f"{'#':>3} {'vCPUs':>5} {'kernel':8} {'cmdline':8} {'/init wall s':>12} " \
             f"{'/init guest s':>13} {'total s':>8}  outcome"
    print(header, flush=True)
    rows = []
    for i in range(args.count):
        cpus, kernel, kind = CONFIGS[(args.first + i) % len(CONFIGS)]
        r = boot(i + 1, cpus, kernel, kind)
        rows.append(r)
        print(f"{r['n']:>3} {r['cpus']:>5} {r['kernel']:8} {r['cmdline']:8} {fmt(r['init_wall']):>12} "
              f"{fmt(r['init_guest']):>13} {fmt(r['total']):>8}  {r['outcome']}", flush=True)
    bad = [r for r in rows if r["outcome"] != "ok"]
    print(f"soak: {len(rows) - len(bad)} of {len(rows)} boots passed"
          + (f"; failed: {', '.join(str(r['log']) for r in bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
