#!/usr/bin/env python3
"""Throughput of virtio-fs beside virtio-blk on the same host files, in one VM (issue 41).

  python3 bench/virtiofs.py          full run (BENCH_VIRTIOFS_MIB MiB, default 128, and
                                     BENCH_VIRTIOFS_ROUNDS rounds, default 3)
  BENCH_QUICK=1 python3 bench/virtiofs.py   the suite's quick mode: 8 MiB, 1 round
  env: BENCH_VIRTIOFS_MIB, BENCH_VIRTIOFS_ROUNDS, BENCH_VIRTIOFS_TIMEOUT (s, default 1800)

Needs /dev/kvm, root (virtiofsd's sandbox), Debian's /usr/lib/qemu/virtiofsd and the default
guest (scripts/fetch-guest.sh); without them it says why and exits 0 (skipped).

The host makes a directory holding bench.bin (MIB MiB of random bytes) and an ext4 image built
from that same directory (mkfs.ext4 -d), both in the same place (/tmp, or BENCH_VIRTIOFS_DIR).
Debian's virtiofsd serves the directory (its defaults: cache=auto, one request queue, no DAX,
which virtiofsd 7.2 cannot do); petrel runs the tests' guest (1 vCPU, 512 MiB, the command line
of tests/linux/linuxguest.py) with the image as a virtio-blk disk and the directory as the
virtio-fs tag "bench". The guest's /init (scripts/guest-init, petrel.fsbench=MIB,ROUNDS) mounts
both and, alternating virtio-fs and virtio-blk each round, reads bench.bin with `dd bs=1M` and
writes a file of the same size (`conv=fsync`), each with its page cache dropped first; times
from the guest's /proc/uptime (10 ms). Prints MB/s per round and the median. Asserts nothing.
"""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "linux"))
sys.path.insert(0, str(ROOT / "bench"))
import benchlib  # noqa: E402
import linuxguest  # noqa: E402  the tests' guest, virtiofsd
import linuxlib  # noqa: E402  its console protocol

PETREL = linuxguest.PETREL
MIB = benchlib.pick(int(os.environ.get("BENCH_VIRTIOFS_MIB", 128)), 8)
ROUNDS = benchlib.runs("BENCH_VIRTIOFS_ROUNDS", 3)
TIMEOUT = float(os.environ.get("BENCH_VIRTIOFS_TIMEOUT", 1800))
LOG = ROOT / "build" / "bench-virtiofs.log"


def skip_reason():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "no access to /dev/kvm"
    if not (linuxguest.VMLINUX.is_file() and linuxguest.INITRD.is_file()):
        return "no default guest (scripts/fetch-guest.sh)"
    if not (linuxguest.GUEST / "modules" / "virtiofs.ko").is_file():
        return "the guest has no virtiofs module (scripts/fetch-guest.sh fetches again)"
    return linuxguest.virtiofsd_missing()


def prepare(work):
    share = work / "share"
    share.mkdir()
    with open(share / "bench.bin", "wb") as f:
        for _ in range(MIB):
            f.write(os.urandom(1 << 20))
    image = work / "disk.ext4"
    with open(image, "wb") as f:
        f.truncate((2 * MIB + 64) << 20)  # bench.bin, the written copy, ext4's own
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    subprocess.run([mkfs, "-F", "-q", "-d", str(share), str(image)], check=True, capture_output=True)
    return share, image


def run_guest(work, share, image):
    sock = work / "fs.sock"
    cmdline = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")]
    cmdline.append(f"petrel.fsbench={MIB},{ROUNDS}")
    argv = [str(PETREL), "run", "--kernel", str(linuxguest.VMLINUX), "--initrd", str(linuxguest.INITRD),
            "--cpus", "1", "--mem", "512", "--cmdline", " ".join(cmdline), "--disk", str(image),
            "--fs", f"{sock},tag=bench", "--level", "Info"]
    LOG.parent.mkdir(parents=True, exist_ok=True)
    fsd = None
    with open(LOG, "wb") as log:
        try:
            fsd = linuxguest.start_virtiofsd(sock, share, log)
            proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
            run = linuxlib.run_console(proc, con, time.time(), "bench-done", checks_timeout=TIMEOUT)
        finally:
            linuxguest.stop(fsd)
    linuxlib.assert_healthy(run, proc, con, LOG)
    return {k: v for k, (_, v) in run.checks.items()}


def main():
    why = skip_reason()
    if why:
        print(f"bench/virtiofs.py: skipped ({why})")
        return
    work = pathlib.Path(tempfile.mkdtemp(prefix="petrel-bench-vfs-", dir=os.environ.get("BENCH_VIRTIOFS_DIR")))
    try:
        share, image = prepare(work)
        checks = run_guest(work, share, image)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if checks.get("fsbench") != "done":
        benchlib.failed(f"the guest's bench did not finish: fsbench={checks.get('fsbench')} (log {LOG})")
        return
    print(f"virtio-fs (Debian's virtiofsd) beside virtio-blk (ext4), the same {MIB} MiB file, "
          f"{ROUNDS} round(s); MB/s (10^6 bytes/s) of guest time, cold guest page cache:")
    print(f"  {'device':10} {'op':5} {'median':>8}  each round")
    for dev, name in (("fs", "virtio-fs"), ("blk", "virtio-blk")):
        for op in ("read", "write"):
            rates = []
            for r in range(1, ROUNDS + 1):
                cs = checks.get(f"fsbench-{dev}-{op}-{r}", "missing")
                if not cs.isdigit():
                    benchlib.failed(f"{name} {op} round {r}: {cs} (log {LOG})")
                    continue
                rates.append(MIB * (1 << 20) / 1e6 / max(int(cs), 1) * 100)
            if rates:
                each = " ".join(f"{x:.1f}" for x in rates)
                print(f"  {name:10} {op:5} {statistics.median(rates):8.1f}  {each}")


if __name__ == "__main__":
    main()
