#!/usr/bin/env python3
"""qcow2 against raw through petrel's block layer (src/block/), without a VM: the same
requests through tests/tools/diskio on a raw image and on a qcow2 overlay, same run, same
files in the page cache (buffered I/O both ways: the figure is petrel's mapping and metadata
cost, not the disk's). Prints figures and ratios; asserts nothing.

  python3 bench/qcow2.py [SIZE_MIB] [ROUNDS]     (default 256 MiB, 3 rounds: medians)

Requests take virtio-blk's way (diskio --aio: disk_queue with 32 in flight, disk_sync where
the block layer says so), and each row is measured three ways in the same run:
  raw            the raw image on io_uring
  qcow2 sync     the qcow2 image served synchronously, one request at a time (how virtio-blk
                 served every qcow2 request before its data went to io_uring)
  qcow2 ring     the qcow2 image as virtio-blk serves it now: one run of one file on io_uring
                 (reads of allocated clusters or of the backing file, rewrites in place), the
                 rest (allocation, copy-on-write) synchronous
Rows:
  4K rand read, data in the base   overlay over the raw image: every read goes through the
                                   overlay's empty L2 entries to the backing file
  4K rand read, data in overlay    a qcow2 image holding all the data itself
  4K rand write, first write       fresh overlay: each write allocates a cluster and copies
                                   the rest of it from the base (64 KiB clusters)
  4K rand write, rewrite           clusters already allocated: written in place
  1M seq read / 1M seq write       whole-image passes (the write pass allocates on qcow2)
Issue 12's goals: >= 85% of raw for reads from the base, >= 50% for first-write allocation,
>= 90% for rewrites.

Then the same through virtio-blk's device path without KVM (bench/virtio_blk_host --versus:
blk.c on a real I/O thread, driven through its queue by the polling ring-3 driver and by an
interrupt-driven one, 32 requests in flight): the device on a raw copy of the base against
the device on a fresh qcow2 overlay over the base; random 4 KiB reads (data in the base),
then random 4 KiB writes twice over the same offsets (first writes, then rewrites). The same
rows through the ring-3 guest in a VM need /dev/kvm (bench/run.py blk).
"""
import os
import re
import pathlib
import subprocess
import sys
import tempfile

from benchlib import pick

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
DISKIO = BUILD / "tests" / "tools" / "diskio"
BLKHOST = BUILD / "bench" / "virtio_blk_host"
MiB = 1 << 20


def run(image, script, aio=True):
    r = subprocess.run([str(DISKIO), *(["--aio"] if aio else []), str(image)], input=script, capture_output=True,
                       text=True, check=True)
    ns = [int(l.split()[1]) for l in r.stdout.splitlines() if l.startswith("ns ")]
    assert "error" not in r.stdout, r.stdout
    return ns


def qimg(*args):
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def one_round(d, size, n):
    """{row: (raw, qcow2 sync, qcow2 ring, unit)} in ops/s or MiB/s."""
    base = d / "base.raw"
    if not base.exists():
        with open(base, "wb") as f:
            f.write(os.urandom(size))
    full = d / "full.qcow2"
    if not full.exists():
        qimg("convert", "-f", "raw", "-O", "qcow2", base, full)
    rows = {}

    def row(name, ns, ops, unit="ops/s", per=1):
        rows[name] = tuple(ops * per / (t / 1e9) for t in ns) + (unit,)

    # Warm the page cache for both files.
    run(base, f"seq r 0 {size} {MiB}\n")
    run(full, f"seq r 0 {size} {MiB}\n")
    over = d / "over.qcow2"
    over.unlink(missing_ok=True)
    qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", over)
    rl = f"rloop {n} 0 {size} 4096\n"
    rr = min(run(base, rl * 3))
    row("4K rand read, data in the base", (rr, min(run(over, rl * 3, False)), min(run(over, rl * 3))), n)
    row("4K rand read, data in overlay", (rr, min(run(full, rl * 3, False)), min(run(full, rl * 3))), n)
    # Writes: a scratch copy of the raw image, and fresh overlays. The same offsets twice
    # (seed): first writes, then rewrites; a flush between them so the rewrites do not pay for
    # the first pass's writeback. Each write row starts with nothing dirty on the file system:
    # qcow2's allocation path syncs (refcounts before use), and on ext4 (data=ordered) a
    # journal commit also writes out other files' dirty data.
    scratch = d / "scratch.raw"
    subprocess.run(["cp", "--sparse=never", base, scratch], check=True)
    script = f"seed 7\nloop {n} 0 {size} 4096\nf\nseed 7\nloop {n} 0 {size} 4096\n"
    os.sync()
    wr = run(scratch, script)
    wq = []
    for aio in (False, True):
        fresh = d / "fresh.qcow2"
        fresh.unlink(missing_ok=True)
        qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", fresh)
        os.sync()
        wq.append(run(fresh, script, aio))
    row("4K rand write, first write", (wr[0], wq[0][0], wq[1][0]), n)
    row("4K rand write, rewrite", (wr[1], wq[0][1], wq[1][1]), n)
    sl = f"seq r 0 {size} {MiB}\n"
    row("1M seq read", (run(base, sl)[0], run(full, sl, False)[0], run(full, sl)[0]), size // MiB, "MiB/s")
    os.sync()
    sw = run(scratch, f"seq w 0 {size} {MiB}\n")[0]
    sqw = []
    for aio in (False, True):
        seqw = d / "seqw.qcow2"
        seqw.unlink(missing_ok=True)
        qimg("create", "-f", "qcow2", seqw, size)
        os.sync()
        sqw.append(run(seqw, f"seq w 0 {size} {MiB}\n", aio)[0])
    row("1M seq write (qcow2 allocates)", (sw, *sqw), size // MiB, "MiB/s")
    return rows


def versus(raw, other, mode, ops, rounds):
    """[(raw_poll, other_poll, raw_irq, other_irq) ns per round]"""
    r = subprocess.run([str(BLKHOST), "--versus", str(rounds), str(other), str(raw), mode, "4096", "32", str(ops)],
                       capture_output=True, text=True, check=True)
    return [tuple(int(x) for x in re.search(r"raw_poll_ns=(\d+) other_poll_ns=(\d+) raw_irq_ns=(\d+) "
                                             r"other_irq_ns=(\d+)", l).groups())
            for l in r.stdout.splitlines() if l.startswith("versus")]


def device_rows(d, size, rounds):
    """Through virtio-blk: {row: (qcow2/raw poll, qcow2/raw irq)} (time ratios, medians)."""
    base, raw = d / "base.raw", d / "rawcopy.raw"
    if not base.exists():
        with open(base, "wb") as f:
            f.write(os.urandom(size))
    subprocess.run(["cp", "--sparse=never", base, raw], check=True)
    over = d / "dev-over.qcow2"
    over.unlink(missing_ok=True)
    qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", over)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    rows = {}
    rr = versus(raw, over, "randread", pick(20000, 500), rounds)
    rows["4K rand read, data in the base"] = (med([a / b for a, b, _, _ in rr]), med([c / e for _, _, c, e in rr]))
    over.unlink()
    qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", over)
    os.sync()
    # Round 0's poll run writes first (allocates); everything after it rewrites the same offsets.
    rw = versus(raw, over, "randwrite", pick(5000, 200), rounds)
    rows["4K rand write, first write"] = (rw[0][0] / rw[0][1], float("nan"))
    rows["4K rand write, rewrite"] = (med([a / b for a, b, _, _ in rw[1:]]), med([c / e for _, _, c, e in rw]))
    return rows


def main():
    size = int(sys.argv[1]) * MiB if len(sys.argv) > 1 else pick(256, 16) * MiB
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else pick(3, 1)
    n = pick(20000, 500)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        results = [one_round(pathlib.Path(d), size, n) for _ in range(rounds)]
        dev = device_rows(pathlib.Path(d), size, max(rounds, pick(3, 2))) if BLKHOST.exists() else {}
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"petrel block layer, {size // MiB} MiB image, page cache, {n} random ops per row, 32 in flight, "
          f"medians of {rounds} rounds (ratios per round, then the median)")
    print(f"{'':34} {'raw':>12} {'qcow2 sync':>12} {'qcow2 ring':>12} {'sync/raw':>9} {'ring/raw':>9}")
    for name in results[0]:
        unit = results[0][name][3]
        raw_v, s_v, r_v = (med([r[name][k] for r in results]) for k in range(3))
        s_ratio = med([r[name][1] / r[name][0] for r in results])
        r_ratio = med([r[name][2] / r[name][0] for r in results])
        print(f"{name:34} {raw_v:12,.0f} {s_v:12,.0f} {r_v:12,.0f} {s_ratio:8.0%} {r_ratio:8.0%}  {unit}")
    if dev:
        print(f"\nthrough virtio-blk's device path (no KVM), qcow2 overlay / raw, 32 in flight, medians")
        print(f"{'':34} {'poll driver':>12} {'irq driver':>12}")
        for name, (p, q) in dev.items():
            print(f"{name:34} {p:11.0%} {q:11.0%}" if q == q else f"{name:34} {p:11.0%} {'-':>11}")


if __name__ == "__main__":
    main()
