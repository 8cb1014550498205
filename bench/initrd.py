#!/usr/bin/env python3
"""The initramfs phase of a Linux boot, with the initrd decompressed by the guest kernel or
by petrel on the host (issue 43).

  python3 bench/initrd.py [--quick] [--formats gzip,zstd,...] [--rounds N]

Host side (no KVM needed; all that --quick runs): guest/initramfs.cpio (scripts/mkinitramfs.sh)
is compressed with each compressor the way initramfs tools do, and petrel's host-side
decompression (tests/tools/initrd_unpack: the walk, the decompression, the check) is timed,
median of 3 runs (--quick: gzip and zstd, 1 run).

Guest side (needs /dev/kvm and guest/vmlinuz; skipped by --quick): the tests' guest (the
kernel command line of tests/linux/linuxguest.py, without the test-run flags, 2 vCPUs,
512 MiB) boots with the gzip initramfs, `--initrd-unpack off` (the kernel gunzips it) and on
(petrel does), interleaved, N rounds; the console's printk timestamps give the guest time
from "Trying to unpack rootfs image" to "Freeing initrd memory" (the initramfs phase) and to
"Run /init". petrel is stopped once /init runs. Prints a table; asserts nothing.
"""
import argparse
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
TOOL = BUILD / "tests" / "tools" / "initrd_unpack"
PETREL = pathlib.Path(os.environ.get("PETREL", BUILD / "petrel"))
CPIO = ROOT / "guest" / "initramfs.cpio"
KERNEL = ROOT / "guest" / "vmlinuz"
CACHE = BUILD / "bench-initrd"

# What initramfs tools run (initramfs-tools / dracut defaults for each).
FORMATS = {
    "gzip": ["gzip", "-9", "-n", "-c"],
    "bzip2": ["bzip2", "-9", "-c"],
    "lzma": ["lzma", "-9", "-c"],
    "xz": ["xz", "--check=crc32", "-c"],
    "lz4": ["lz4", "-l", "-9", "-c"],
    "zstd": ["zstd", "-q", "-19", "-c"],
    "lzo": ["lzop", "-9", "-c"],
}

TS = re.compile(r"^\[\s*(\d+\.\d+)\]")
MARKS = {"unpack": "Trying to unpack rootfs image", "freed": "Freeing initrd memory",
         "init": "Run /init as init process"}


def compressed(fmt):
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"initramfs.{fmt}"
    if not out.exists() or out.stat().st_mtime < CPIO.stat().st_mtime:
        with open(out, "wb") as f:
            subprocess.run(FORMATS[fmt] + [str(CPIO)], stdout=f, check=True)
    return out


def host_side(formats, runs):
    print(f"Host-side initrd decompression (petrel's walk + decompression + check, median of {runs}):")
    print(f"  {'format':7} {'initrd KiB':>10} {'out KiB':>8} {'entries':>7} {'ms':>9}")
    for fmt in formats:
        img = compressed(fmt)
        p = subprocess.run([str(TOOL), "--runs", str(runs), str(img)], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"  {fmt:7} not decompressed: {p.stderr.strip()}")
            continue
        kv = dict(x.split("=", 1) for x in p.stdout.split())
        print(f"  {fmt:7} {int(kv['in']) >> 10:10} {int(kv['out']) >> 10:8} {kv['entries']:>7} "
              f"{float(kv['ms']):9.1f}")


def linux_cmdline():
    sys.path.insert(0, str(ROOT / "tests" / "linux"))
    from linuxguest import CMDLINE  # the tests' guest
    # loglevel=7 after the tests' quiet: the marks below are kernel info messages.
    return " ".join(a for a in CMDLINE if not a.startswith("petrel.")) + " loglevel=7"


def boot(initrd, unpack, timeout):
    """One boot to /init: the guest-time marks (seconds) and petrel's initrd log line."""
    cmd = [str(PETREL), "run", "--kernel", str(KERNEL), "--initrd", str(initrd), "--cpus", "2",
           "--mem", "512", "--cmdline", linux_cmdline(), "--initrd-unpack", unpack, "--level", "info"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    marks, t0 = {}, time.monotonic()
    try:
        for line in p.stdout:
            m = TS.match(line)
            for k, text in MARKS.items():
                if m and text in line and k not in marks:
                    marks[k] = float(m.group(1))
            if "init" in marks or time.monotonic() - t0 > timeout:
                break
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    err = p.stderr.read()
    note = next((l.strip() for l in err.splitlines() if "initrd" in l), "")
    return marks, time.monotonic() - t0, note


def guest_side(rounds, timeout):
    if not os.path.exists("/dev/kvm"):
        print("Guest side: skipped (no /dev/kvm)")
        return
    if not KERNEL.exists():
        print("Guest side: skipped (no guest/vmlinuz: scripts/fetch-guest.sh)")
        return
    gz = compressed("gzip")
    rows = {"off": [], "on": []}
    for _ in range(rounds):
        for unpack in ("off", "on"):
            marks, wall, note = boot(gz, unpack, timeout)
            rows[unpack].append((marks, wall))
            if note:
                print(f"  [{unpack}] petrel: {note}")
    print(f"Initramfs phase of the tests' guest, gzip initramfs ({gz.stat().st_size >> 10} KiB; "
          f"guest seconds from the console's timestamps, median of {rounds}):")
    print(f"  {'--initrd-unpack':15} {'unpack at':>9} {'freed at':>9} {'phase':>8} {'/init at':>9} {'wall':>8}")
    for unpack, rs in rows.items():
        def med(f):
            xs = [f(m) for m, _ in rs if all(k in m for k in MARKS)]
            return statistics.median(xs) if xs else float("nan")
        wall = statistics.median(w for _, w in rs)
        each = " ".join(f"{m['freed'] - m['unpack']:.2f}" for m, _ in rs if "freed" in m and "unpack" in m)
        print(f"  {unpack:15} each round's phase: {each}")
        print(f"  {unpack:15} {med(lambda m: m['unpack']):9.2f} {med(lambda m: m['freed']):9.2f} "
              f"{med(lambda m: m['freed'] - m['unpack']):8.2f} {med(lambda m: m['init']):9.2f} {wall:8.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="host side only, gzip and zstd, 1 run")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_INITRD_ROUNDS", "1")))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per boot")
    a = ap.parse_args()
    if not TOOL.exists() or not CPIO.exists():
        print(f"skipped: needs {TOOL} (meson) and {CPIO} (scripts/mkinitramfs.sh)")
        return 0
    if a.quick:
        host_side(["gzip", "zstd"], 1)
        return 0
    host_side(a.formats.split(","), 3)
    guest_side(a.rounds, a.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
