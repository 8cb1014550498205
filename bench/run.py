#!/usr/bin/env python3
"""petrel benchmarks: prints figures and ratios, asserts nothing.

  python3 bench/run.py [startup] [exits] [linux] [blk]     (default: startup exits)

startup  VMM start -> first guest instruction: a test guest whose first act is to write the
         debug-exit port; wall time and CPU time of the whole petrel process, peak RSS, and
         guest memory resident (so RSS minus guest memory = petrel's own footprint).
exits    port-I/O exit round trip: the `exitloop` test guest does N `out`s to the null port
         0xf5 from ring 3 (and from ring 0); ns per exit from the difference of two runs,
         next to bench/bare_exit_loop (raw KVM_RUN loop, ring 3) measured in the same run.
linux    boot the default Debian guest to init and power off; seconds, with --stats table.
blk      virtio-blk: 4 KiB random-read IOPS (queue depth 32) and 1 MiB sequential read/write
         MB/s (queue depth 8) from the ring-3 `virtio_blkbench` guest over virtio-pci, next
         to the same pattern run directly on the image file with io_uring
         (bench/virtio_blk_host) in the same run; the ratio is guest / host. The image is a
         256 MiB file of random data in the page cache (buffered I/O on both sides).
"""
import os
import pathlib
import re
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUESTS = BUILD / "tests" / "guests"


def run_petrel(args, timeout=600):
    """Run petrel; return (wall s, cpu s, maxrss KiB, stdout, stderr, rc)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([str(PETREL), "run", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss, p.stdout, p.stderr, p.returncode


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def first_insn_guest():
    """A minimal PVH kernel whose very first instruction ends the VM (out 0xf4): timing a run
    of it measures VMM start -> first guest instruction (plus the exit and teardown)."""
    import struct
    path = BUILD / "bench" / "first-insn.elf"
    code = bytes([0xb0, 0x00, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd])  # mov al,0; out 0xf4,al; hlt; jmp
    note = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", 0x100000)
    ehdr_size, phdr_size = 64, 56
    code_off = ehdr_size + 2 * phdr_size
    note_off = code_off + len(code)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 62, 1,
                       0x100000, ehdr_size, 0, 0, ehdr_size, phdr_size, 2, 0, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, code_off, 0x100000, 0x100000, len(code), len(code), 4096)
    pnote = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    path.write_bytes(ehdr + load + pnote + code + note)
    return path


def bench_startup(n=9):
    guest = first_insn_guest()
    walls, cpus, rss, resident = [], [], [], []
    for _ in range(n):
        wall, cpu, maxrss, out, err, rc = run_petrel(
            ["--kernel", str(guest), "--debug-exit", "--stats", "--mem", "128"])
        if rc != 0:
            raise RuntimeError(f"first-insn guest failed ({rc}): {err[-400:]}")
        walls.append(wall * 1e3)
        cpus.append(cpu * 1e3)
        rss.append(maxrss)
        m = re.search(r"guest memory resident: (\d+) KiB", err)
        resident.append(int(m.group(1)) if m else 0)
    print(f"startup: petrel start -> first guest instruction (out 0xf4) -> exit, {n} runs, median:")
    print(f"  wall {median(walls):8.1f} ms   cpu {median(cpus):8.1f} ms  (whole process, incl. teardown)")
    print(f"  peak RSS                {median(rss):8d} KiB")
    print(f"  guest memory resident   {median(resident):8d} KiB (kernel, ACPI, page tables petrel wrote)")
    print(f"  RSS minus guest memory  {median(rss) - median(resident):8d} KiB")


def exitloop(iters, ring):
    wall, cpu, _, out, err, rc = run_petrel(
        ["--kernel", str(GUESTS / "exitloop.elf"), "--cmdline", f"iters={iters} ring={ring}",
         "--debug-exit"], timeout=1200)
    if rc != 0:
        raise RuntimeError(f"exitloop failed ({rc}): {err[-500:]}")
    return wall


def bench_exits(iters=int(os.environ.get("BENCH_EXIT_ITERS", "200000"))):
    bare = subprocess.run([str(BUILD / "bench" / "bare_exit_loop"), str(iters)],
                          capture_output=True, text=True, timeout=1200)
    m = re.search(r"([\d.]+) ns per exit", bare.stdout)
    bare_ns = float(m.group(1)) if m else float("nan")
    print(f"port-I/O exit round trip ({iters} exits):")
    print(f"  bare KVM_RUN loop (ring 3)        {bare_ns:10.0f} ns/exit")
    for ring in (3, 0):
        base = exitloop(0, ring)
        full = exitloop(iters, ring)
        ns = (full - base) / iters * 1e9
        print(f"  petrel exitloop guest (ring {ring})   {ns:10.0f} ns/exit"
              + (f"   ratio to bare {ns / bare_ns:5.2f}" if ring == 3 else ""))


def bench_linux():
    cmd = [str(ROOT / "scripts" / "boot.sh"), "--stats"]
    env = dict(os.environ, PETREL_CMDLINE_EXTRA="petrel.test=1")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    init_at = None
    out_lines = []
    for line in p.stdout:
        out_lines.append(line)
        if init_at is None and "PETREL-INIT" in line:
            init_at = time.monotonic() - t0
        if "PETREL-READ>" in line:
            p.stdin.write("bench\n")
            p.stdin.flush()
    err = p.stderr.read()
    p.wait()
    total = time.monotonic() - t0
    print(f"Linux boot (Debian cloud kernel + busybox initramfs, 2 vCPUs, 512 MiB):")
    print(f"  to init        {init_at if init_at else float('nan'):8.1f} s")
    print(f"  to power-off   {total:8.1f} s   (exit status {p.returncode})")
    print("\n".join(l for l in err.splitlines() if l.startswith(("petrel", "  "))))


def bench_blk():
    img = BUILD / "bench-virtio-blk.img"
    size = 256 << 20
    if not img.exists() or img.stat().st_size != size:
        with open(img, "wb") as f:
            for _ in range(size >> 20):
                f.write(os.urandom(1 << 20))
    with open(img, "rb") as f:  # warm the page cache for both sides
        while f.read(8 << 20):
            pass
    host_bin = BUILD / "bench" / "virtio_blk_host"
    cases = [("randread", 4096, 32, int(os.environ.get("BENCH_BLK_RAND_OPS", "100000"))),
             ("seqread", 1 << 20, 8, int(os.environ.get("BENCH_BLK_SEQ_OPS", "2048"))),
             ("seqwrite", 1 << 20, 8, int(os.environ.get("BENCH_BLK_SEQ_OPS", "2048")))]
    print(f"virtio-blk (virtio-pci, io_uring backend, 256 MiB image in the page cache):")
    for mode, bs, qd, ops in cases:
        wall, cpu, _, out, err, rc = run_petrel(
            ["--kernel", str(GUESTS / "virtio_blkbench.elf"), "--debug-exit", "--mem", "512",
             "--cmdline", f"mode={mode} bs={bs} qd={qd} ops={ops}", "--disk", str(img)],
            timeout=1200)
        m = re.search(r"blkbench .* tsc=(\d+) tsc_hz=(\d+) notifies=(\d+)", out)
        if rc != 0 or not m:
            print(f"  {mode}: guest failed ({rc}): {(out + err)[-400:]}")
            continue
        guest_s = int(m.group(1)) / int(m.group(2))
        h = subprocess.run([str(host_bin), str(img), mode, str(bs), str(qd), str(ops)],
                           capture_output=True, text=True, timeout=600)
        hm = re.search(r"ns=(\d+)", h.stdout)
        host_s = int(hm.group(1)) / 1e9 if hm else float("nan")
        if bs == 4096:
            g, hst, unit = ops / guest_s, ops / host_s, "IOPS"
            print(f"  4 KiB random read, qd {qd}:   guest {g:10.0f} {unit}   host {hst:10.0f} {unit}"
                  f"   ratio {g / hst:5.2f}   ({m.group(3)} notifications for {ops} requests)")
        else:
            g, hst = ops * bs / guest_s / 1e6, ops * bs / host_s / 1e6
            label = "1 MiB sequential read, qd 8: " if mode == "seqread" else "1 MiB sequential write, qd 8:"
            print(f"  {label} guest {g:8.0f} MB/s   host {hst:8.0f} MB/s   ratio {g / hst:5.2f}")


def main():
    which = sys.argv[1:] or ["startup", "exits"]
    if not PETREL.exists():
        sys.exit(f"{PETREL} not built (scripts/setup.sh)")
    for w in which:
        {"startup": bench_startup, "exits": bench_exits, "linux": bench_linux, "blk": bench_blk}[w]()
        print()


if __name__ == "__main__":
    main()
