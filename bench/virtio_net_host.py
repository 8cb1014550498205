#!/usr/bin/env python3
"""virtio-net's device path without KVM (issue 43): prints figures, asserts nothing.

  python3 bench/virtio_net_host.py [ROUNDS]      (default 5; BENCH_NET_HOST_SIZES=60,1514,...,
                                                 BENCH_NET_HOST_FRAMES, BENCH_NET_HOST_TAP=IFNAME)

bench/virtio_net_host drives src/devices/virtio/net/net.c through its queues on a real I/O thread
(a driver thread shaped like Linux's: EVENT_IDX, mergeable 4 KiB receive buffers, an interrupt
asked for only when it has nothing left to do), both directions, against a Unix datagram socket
pair standing in for the tap (or a real tap with BENCH_NET_HOST_TAP, root: up, with a
tx_queue_len of at least the frames per run, else part of the receive burst is dropped and
reported as lost). Per frame: the I/O thread's wakeups and CPU time, the driver's
notifications, the device's interrupts (medians of ROUNDS runs), and, from one more run under `strace -f`, the I/O thread's system calls by name:
what the VMM pays per frame beyond the VM exits (a notification here is an eventfd write, as
KVM's ioeventfd makes it).
"""
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchlib import failed, pick

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
BIN = BUILD / "bench" / "virtio_net_host"


def run(args, timeout=600):
    r = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)
    rounds = [dict(kv.split("=") for kv in line.split()[2:]) for line in r.stdout.splitlines()
              if line.startswith("round ")]
    return r, rounds


def syscalls(args, frames):
    """The I/O thread's system calls per frame, by name, from one run under strace -ff."""
    if not shutil.which("strace"):
        return None
    with tempfile.TemporaryDirectory(prefix="petrel-net-strace-") as d:
        r = subprocess.run(["strace", "-qq", "-ff", "-o", f"{d}/t", str(BIN), *args], capture_output=True,
                           text=True, timeout=900)
        m = re.search(r"io_tid=(\d+)", r.stdout)
        if r.returncode or not m or not os.path.exists(f"{d}/t.{m.group(1)}"):
            return None
        counts = {}
        for line in open(f"{d}/t.{m.group(1)}"):
            name = re.match(r"(\w+)\(", line)
            if name:
                counts[name.group(1)] = counts.get(name.group(1), 0) + 1
    # the thread's start and end (prctl, rseq, set_robust_list, exit...) are not per frame
    return {k: v / frames for k, v in counts.items() if v / frames >= 0.001}


def median(xs):
    """The true median: the middle two's mean for an even count."""
    return statistics.median(xs)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else pick(5, 1)
    sizes = [int(x) for x in os.environ.get("BENCH_NET_HOST_SIZES", pick("60,1514,9014", "60")).split(",")]
    frames = int(os.environ.get("BENCH_NET_HOST_FRAMES", pick("200000", "2000")))
    tap = os.environ.get("BENCH_NET_HOST_TAP")
    pre = ["--tap", tap] if tap else []
    print(f"virtio-net device path, no KVM; back end: {'tap ' + tap if tap else 'a Unix datagram socket pair'}; "
          f"{frames} frames per run, {rounds} runs, medians; per frame: notifications, interrupts, I/O-thread "
          f"wakeups, I/O-thread CPU; then the I/O thread's system calls per frame (one run under strace)")
    for d in ("tx", "rx"):
        for size in sizes:
            label = f"{'guest->host' if d == 'tx' else 'host->guest'} {size:5d} B"
            r, rs = run([*pre, d, str(size), str(frames), str(rounds)])
            if r.returncode or len(rs) != rounds:
                failed(f"  {label}: failed ({r.returncode}): {(r.stdout + r.stderr)[-300:]}")
                continue
            k = median([float(x["kframes_s"]) for x in rs])
            per = {key: median([float(x[key]) for x in rs]) for key in ("notifies", "interrupts", "wakeups", "io_cpu_ns")}
            lost = sum(int(x["lost"]) for x in rs)
            sc = syscalls([*pre, d, str(size), str(min(frames, 50000)), "1"], min(frames, 50000))
            scs = "?" if sc is None else f"{sum(sc.values()):.3f} (" + ", ".join(
                f"{n} {v:.3f}" for n, v in sorted(sc.items(), key=lambda kv: -kv[1])) + ")"
            print(f"  {label}: {k:8.1f} kframes/s   {per['notifies']:.4f} {per['interrupts']:.4f} "
                  f"{per['wakeups']:.4f} {per['io_cpu_ns'] / 1e3:5.2f}us   system calls {scs}"
                  f"{f'   ({lost} lost)' if lost else ''}", flush=True)


if __name__ == "__main__":
    main()
