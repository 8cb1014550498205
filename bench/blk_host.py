#!/usr/bin/env python3
"""virtio-blk's device path against the host's io_uring, no KVM (issue 15): prints figures and
ratios, asserts nothing.

  python3 bench/blk_host.py [ROUNDS]          (default 7; BENCH_BLK_CASES=name,... to choose)

For each case bench/virtio_blk_host --compare runs ROUNDS interleaved rounds in one process
on the same file: the host's own io_uring loop, then petrel's virtio-blk (src/devices/virtio/
blk.c on a real I/O thread) driven through its virtqueue by a polling driver (the ring-3
virtio_blkbench guest's) and by an interrupt-driven one (Linux's). Figures are medians; the
ratio is host time / device time (1.0: as fast as the host). fio's io_uring engine on the same
file, same pattern, is printed beside as a peer when fio is installed.

The image: a 256 MiB file of random data; the page-cache cases read it warm, the O_DIRECT
cases bypass the cache (the host disk under this machine decides those).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

from benchlib import failed, pick

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
BIN = BUILD / "bench" / "virtio_blk_host"

# name: (mode, bs, qd, ops, direct)
CASES = {
    "rand4k": ("randread", 4096, 32, 100000, False),
    "seq1m-read": ("seqread", 1 << 20, 8, 1024, False),
    "seq1m-write": ("seqwrite", 1 << 20, 8, 512, False),
    "rand4k-direct": ("randread", 4096, 32, 20000, True),
    "seq1m-read-direct": ("seqread", 1 << 20, 8, 512, True),
}


def image(size=pick(256 << 20, 16 << 20)):
    img = pathlib.Path(os.environ.get("BENCH_BLK_IMAGE", pick("/var/tmp/petrel-bench-blk.img",
                                                            "/var/tmp/petrel-bench-blk-quick.img")))
    if not img.exists() or img.stat().st_size != size:
        with open(img, "wb") as f:
            for _ in range(size >> 20):
                f.write(os.urandom(1 << 20))
    with open(img, "rb") as f:  # warm the page cache
        while f.read(8 << 20):
            pass
    return img


def fio(img, mode, bs, qd, ops, direct):
    if not shutil.which("fio"):
        return None
    rw = {"randread": "randread", "seqread": "read", "seqwrite": "write"}[mode]
    r = subprocess.run(["fio", "--name=peer", f"--filename={img}", "--ioengine=io_uring", f"--rw={rw}",
                        f"--bs={bs}", f"--iodepth={qd}", f"--direct={int(direct)}", f"--number_ios={ops}",
                        "--size=100%", "--norandommap", "--randrepeat=0", "--output-format=json"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None
    job = json.loads(r.stdout[r.stdout.index("{"):])["jobs"][0]
    side = job["write"] if mode == "seqwrite" else job["read"]
    return side["iops"]


def main(rounds=None):
    rounds = rounds or (int(sys.argv[1]) if len(sys.argv) > 1 else pick(7, 1))
    names = os.environ.get("BENCH_BLK_CASES", ",".join(CASES)).split(",")
    img = image()
    print(f"virtio-blk device path vs host io_uring, no KVM; {img} ({img.stat().st_size >> 20} MiB), {rounds} interleaved rounds, medians")
    print(f"{'case':20} {'host':>12} {'petrel poll':>12} {'ratio':>6} {'petrel irq':>12} {'ratio':>6} {'fio':>12}"
          "   per request (poll | irq): notifies, interrupts, submits, I/O-thread wakeups, I/O-thread CPU")
    for name in names:
        mode, bs, qd, ops, direct = CASES[name]
        ops = pick(ops, max(ops // 200, 2 * qd))
        argv = [str(BIN), "--compare", str(rounds), str(img), mode, str(bs), str(qd), str(ops)]
        if direct:
            argv.append("direct")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        m = re.search(r"host_ns=(\d+) poll_ns=(\d+) irq_ns=(\d+)", r.stdout.split("compare", 1)[-1])
        if r.returncode != 0 or not m:
            failed(f"{name:20} failed: {(r.stdout + r.stderr)[-300:]}")
            continue
        h, p, q = (int(x) for x in m.groups())
        per = {k: v for k, v in re.findall(r"per-request (\w+) (.*)", r.stdout)}
        unit = "IOPS" if bs == 4096 else "MB/s"

        def fig(ns):
            return ops / (ns / 1e9) if bs == 4096 else ops * bs / 1e6 / (ns / 1e9)
        peer = fio(img, mode, bs, qd, ops, direct)
        peer_s = f"{(peer if bs == 4096 else peer * bs / 1e6):12,.0f}" if peer else f"{'-':>12}"

        def short(s):
            v = dict(kv.split("=") for kv in s.split())
            return (f"{float(v['notifies']):.2f} {float(v['interrupts']):.2f} {float(v['submits']):.2f} "
                    f"{float(v['wakeups']):.2f} {float(v['io_cpu_ns']) / 1e3:.1f}us")
        print(f"{name:20} {fig(h):12,.0f} {fig(p):12,.0f} {h / p:6.2f} {fig(q):12,.0f} {h / q:6.2f} {peer_s}"
              f"   {short(per.get('poll', ''))} | {short(per.get('irq', ''))}  {unit}")


if __name__ == "__main__":
    main()
