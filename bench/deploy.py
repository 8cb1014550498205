#!/usr/bin/env python3
"""Deployment from a template (issue 12): the disk part of making a clone, against the size
of the template's base image. Issue 12's goal: flat, <= 5 ms per clone plus the restore.

  python3 bench/deploy.py [CLONES]        (default 50 per base size)

Rows, per base size (raw base: 64 MiB of data; 1 and 8 GiB sparse but for their first and
last MiB):
  create-overlay     `petrel image create-overlay --time`: the microseconds inside petrel
                     for each overlay (one process makes all of them)
  deploy --no-start  `petrel image deploy --no-start`: per clone, its directory and its
                     overlay (overlays_us), from a state file naming the base as its drive
  qemu-img create    one `qemu-img create -f qcow2 -b BASE -F raw` process per overlay
                     (wall time, process start included), for reference
  copy               `cp --sparse=always` of the base per clone (wall time): what a clone costs
                     without overlays (for the sparse bases: their 2 MiB of data)
With /dev/kvm, a second table: whole clones, started. For each base size a template is made
(the blkloop guest writing the base, snapshotted at its 10th round) and `petrel image deploy`
starts 10 clones of it: overlays_us and load_ms (petrel's process start to /snapshot/load
answered) per clone. No clone is stopped before the last one started."""
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import pick

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
sys.path.insert(0, str(ROOT / "tests"))
import petrel_test  # noqa: E402  (the shared test framework: test_overlay ...)
from test_overlay import STATE, blkloop_template, drive, state_with_drives  # noqa: E402

MiB = 1 << 20


def stats(us):
    us = sorted(us)
    return f"median {statistics.median(us) / 1000:8.3f} ms   p90 {us[int(len(us) * 0.9)] / 1000:8.3f} ms"


def make_base(base, size):
    """A raw base of `size`: all data up to 64 MiB, else sparse but for its first and last MiB."""
    with open(base, "wb") as f:
        if size <= 64 * MiB:
            f.write(os.urandom(size))
        else:
            f.truncate(size)
            f.write(os.urandom(MiB))
            f.seek(size - MiB)
            f.write(os.urandom(MiB))


def started_clones(sizes, n=10):
    """Per base size: (overlays_us, load_ms) of n started clones of a blkloop template."""
    rows = []
    for size in sizes:
        # /tmp: DIR/clone-N/api.sock must fit a Unix socket's 108 bytes.
        with tempfile.TemporaryDirectory(prefix="petrel-bd-", dir="/tmp") as d:
            d = pathlib.Path(d)
            base = d / "base.raw"
            make_base(base, size)
            state, mem = blkloop_template(d / "t", base)
            r = subprocess.run([str(PETREL), "image", "deploy", "--snapshot", state, "--mem-file", mem, "--count",
                                str(n), "--dir", d / "c"], capture_output=True, text=True)
            pids = [int(l.split(" pid ")[1].split()[0]) for l in r.stdout.splitlines() if " pid " in l]
            for pid in pids:
                os.kill(pid, 15)
            if r.returncode != 0:
                sys.exit(f"deploy failed: {r.stderr.strip()}")
            lines = r.stdout.splitlines()
            rows.append((size, [int(l.split("overlays_us ")[1].split()[0]) for l in lines],
                         [int(l.split("load_ms ")[1].split()[0]) for l in lines]))
            time.sleep(1)  # let the clones go before the next template runs
    return rows


def size_name(size):
    return f"{size >> 20} MiB" if size < 1 << 30 else f"{size >> 30} GiB"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else pick(50, 2)
    sizes = pick((64 * MiB, 1 << 30, 8 << 30), (4 * MiB,))
    rows = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        d = pathlib.Path(d)
        for size in sizes:
            base = d / f"base-{size >> 20}M.raw"
            make_base(base, size)  # all data up to 64 MiB: the copy row copies 64 MiB
            name = size_name(size)
            od = d / f"o{size}"
            od.mkdir()
            r = subprocess.run([str(PETREL), "image", "create-overlay", "--time", base,
                                *[od / f"{i}.qcow2" for i in range(n)]], capture_output=True, text=True, check=True)
            rows.append((name, "create-overlay", [int(l.split()[-2]) for l in r.stdout.splitlines()]))
            state, mem = d / f"vm{size}.state", d / "vm.mem"
            mem.write_bytes(bytes(4096))
            state_with_drives(STATE, state, [drive("rootfs", base)])
            r = subprocess.run([str(PETREL), "image", "deploy", "--snapshot", state, "--mem-file", mem, "--count",
                                str(n), "--dir", d / f"c{size}", "--no-start"], capture_output=True, text=True,
                               check=True)
            rows.append((name, "deploy --no-start", [int(l.split("overlays_us ")[1].split()[0])
                                                     for l in r.stdout.splitlines()]))
            qd = d / f"q{size}"
            qd.mkdir()
            us = []
            for i in range(min(n, 20)):
                t0 = time.perf_counter()
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw",
                                qd / f"{i}.qcow2"], check=True)
                us.append((time.perf_counter() - t0) * 1e6)
            rows.append((name, "qemu-img create", us))
            us = []
            for i in range(min(n, 5)):
                t0 = time.perf_counter()
                subprocess.run(["cp", "--sparse=always", base, qd / f"copy{i}.raw"], check=True)
                us.append((time.perf_counter() - t0) * 1e6)
                os.unlink(qd / f"copy{i}.raw")
            rows.append((name, "copy", us))
    print(f"disk part of a clone, per clone ({n} clones per base; qemu-img 20, copy 5)")
    for name, what, us in rows:
        print(f"{name:>8}  {what:18} {stats(us)}")
    if not petrel_test.kvm_usable():   # what the template's guest needs (guestlib.require)
        print("started clones: no /dev/kvm, not measured")
        return
    print(f"started clones ({pick(10, 2)} per base, blkloop template): petrel image deploy")
    for size, us, ms in started_clones(sizes, pick(10, 2)):
        print(f"{size_name(size):>8}  overlays {stats(us)}   load (process start to loaded) "
              f"median {statistics.median(ms)} ms  max {max(ms)} ms")


if __name__ == "__main__":
    main()
