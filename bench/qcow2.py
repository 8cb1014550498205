#!/usr/bin/env python3
"""qcow2 against raw through petrel's block layer (src/block/), without a VM: the same
requests through tests/tools/diskio on a raw image and on a qcow2 overlay, same run, same
files in the page cache (buffered I/O both ways: the figure is petrel's mapping and metadata
cost, not the disk's). Prints figures and ratios; asserts nothing.

  python3 bench/qcow2.py [SIZE_MIB]        (default 256)

Rows (qcow2 / raw):
  4K rand read, data in the base   overlay over the raw image: every read goes through the
                                   overlay's empty L2 entries to the backing file
  4K rand read, data in overlay    a qcow2 image holding all the data itself
  4K rand write, first write       fresh overlay: each write allocates a cluster and copies
                                   the rest of it from the base (64 KiB clusters)
  4K rand write, rewrite           clusters already allocated: written in place
  1M seq read / 1M seq write       whole-image passes (the write pass allocates on qcow2)
Issue 12's goals: >= 85% of raw for reads from the base, >= 50% for first-write allocation,
>= 90% for rewrites. The same rows through the ring-3 virtio-blk guest need /dev/kvm
(bench/run.py blk) and are not here.
"""
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
DISKIO = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build")) / "tests" / "tools" / "diskio"
MiB = 1 << 20


def run(image, script):
    r = subprocess.run([str(DISKIO), str(image)], input=script, capture_output=True, text=True, check=True)
    ns = [int(l.split()[1]) for l in r.stdout.splitlines() if l.startswith("ns ")]
    assert "error" not in r.stdout, r.stdout
    return ns


def qimg(*args):
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def main():
    size = int(sys.argv[1]) * MiB if len(sys.argv) > 1 else 256 * MiB
    n = 20000
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        d = pathlib.Path(d)
        base = d / "base.raw"
        with open(base, "wb") as f:
            f.write(os.urandom(size))
        full = d / "full.qcow2"
        qimg("convert", "-f", "raw", "-O", "qcow2", base, full)
        rows = []

        def row(name, raw_ns, q_ns, ops, unit="ops/s", per=1):
            raw_v, q_v = ops * per / (raw_ns / 1e9), ops * per / (q_ns / 1e9)
            rows.append((name, raw_v, q_v, unit))

        # Warm the page cache for both files.
        run(base, f"seq r 0 {size} {MiB}\n")
        run(full, f"seq r 0 {size} {MiB}\n")
        rr = run(base, f"rloop {n} 0 {size} 4096\n" * 3)
        over = d / "over.qcow2"
        qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", over)
        ro = run(over, f"rloop {n} 0 {size} 4096\n" * 3)
        row("4K rand read, data in the base", min(rr), min(ro), n)
        rf = run(full, f"rloop {n} 0 {size} 4096\n" * 3)
        row("4K rand read, data in overlay", min(rr), min(rf), n)
        # Writes: a scratch copy of the raw image, and a fresh overlay.
        scratch = d / "scratch.raw"
        subprocess.run(["cp", "--sparse=never", base, scratch], check=True)
        # The same offsets twice (seed): first writes, then rewrites; a flush between them so
        # the rewrites do not pay for the first pass's writeback.
        script = f"seed 7\nloop {n} 0 {size} 4096\nf\nseed 7\nloop {n} 0 {size} 4096\n"
        # Each write row starts with nothing dirty on the file system: qcow2's allocation path
        # syncs (refcounts before use), and on ext4 (data=ordered) a journal commit also writes
        # out other files' dirty data, so setting up the files must not be charged to it.
        os.sync()
        wr = run(scratch, script)
        fresh = d / "fresh.qcow2"
        qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", fresh)
        os.sync()
        wq = run(fresh, script)
        row("4K rand write, first write", wr[0], wq[0], n)
        row("4K rand write, rewrite", wr[1], wq[1], n)
        sr = run(base, f"seq r 0 {size} {MiB}\n")
        sq = run(full, f"seq r 0 {size} {MiB}\n")
        row("1M seq read", sr[0], sq[0], size // MiB, "MiB/s")
        os.sync()
        sw = run(scratch, f"seq w 0 {size} {MiB}\n")
        seqw = d / "seqw.qcow2"
        qimg("create", "-f", "qcow2", seqw, size)
        os.sync()
        sqw = run(seqw, f"seq w 0 {size} {MiB}\n")
        row("1M seq write (qcow2 allocates)", sw[0], sqw[0], size // MiB, "MiB/s")
    print(f"petrel block layer, {size // MiB} MiB image, page cache, {n} random ops per row")
    print(f"{'':34} {'raw':>12} {'qcow2':>12} {'qcow2/raw':>10}")
    for name, raw_v, q_v, unit in rows:
        print(f"{name:34} {raw_v:12,.0f} {q_v:12,.0f} {q_v / raw_v:9.0%}  {unit}")


if __name__ == "__main__":
    main()
