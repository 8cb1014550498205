#!/usr/bin/env python3
"""Live-migration benchmarks: prints figures, asserts nothing.

  python3 bench/migration.py [idle|dirty|postcopy|wire ...]

Two petrel processes on this host over loopback TCP, ring-3 counting guests (tests/guests/counter):
idle      an idle 256 MiB guest: achieved downtime (source pause -> destination's first KVM_RUN)
          and total time, medians (goals: downtime <= 3 ms p50, total <= 250 ms). QEMU and Cloud
          Hypervisor default to a 300 ms downtime limit; Firecracker has no live migration.
dirty     a guest rewriting 32 MiB over and over, the stream paced to 10x, 2x and 0.67x the
          guest's dirty rate (it dirties at 10%, 50% and 150% of the link): downtime, total
          time, rounds and the throttle auto-converge needed (mode precopy).
postcopy  the same guest moved with post-copy, the push paced so the guest faults: remote page
          fault latency (fault -> page in, p50 and max; goal p50 <= 60 us over loopback).
wire      bytes on the wire against guest memory actually touched, for guests that touched
          8, 64 and 200 MiB of 256 MiB.
disk      blkloop writing a raw image and a qcow2 overlay on shared storage while it moves: the
          downtime with the switch's image sync (not run by default: needs qemu-img).
"""
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: apilib ...)
import apilib  # noqa: E402
import benchlib  # noqa: E402
from benchlib import pick  # noqa: E402

RUNS = benchlib.runs("BENCH_MIG_RUNS", 5)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def migrate(args, mem=256, first=r"^count=1$", guest="counter", disk=None, wait_s=300, tls=None, **send):
    """Boot a guest (counter) with args, migrate it over TCP; the destination's final status
    (still "active" if it had not ended after wait_s), with the highest dirty rate the source
    reported on the way (src_dirty_rate_mib_s: the destination does not measure one).
    disk(dir) -> (path, format): a writable drive on storage both sides share.
    tls: (source's dir, destination's dir) of certificates: over tls: instead (bench/tls.py)."""
    d = Path(tempfile.mkdtemp(prefix="petrel-bench-mig-", dir="/tmp"))
    # Images on a real file system (under nested KVM /tmp is a tmpfs, whose syncs cost nothing).
    imgs = Path(tempfile.mkdtemp(prefix="petrel-bench-mig-img-", dir="/var/tmp"))
    (d / "src").mkdir()
    (d / "dst").mkdir()
    src, dst = apilib.Petrel(d / "src", level="Info"), apilib.Petrel(d / "dst", level="Info")
    try:
        api, dapi = src.client(), dst.client()
        assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest(guest)), "boot_args": args}).status == 204
        if disk:
            path, fmt = disk(imgs)
            assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(path), "is_root_device": False,
                                            "is_read_only": False, "format": fmt}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": mem}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        src.expect(first, timeout=120)
        url = f"{'tls' if tls else 'tcp'}:127.0.0.1:{free_port()}"
        rx, tx = ({"tls_dir": str(tls[1])}, {"tls_dir": str(tls[0])}) if tls else ({}, {})
        assert dapi.put("/migration/receive", {"receiver_url": url, **rx}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url, **tx, **send}, check=False).status == 204
        end, rate = time.monotonic() + wait_s, 0.0
        while time.monotonic() < end:
            st = dapi.get("/migration", check=False).json
            if st["state"] != "active":
                break
            try:
                rate = max(rate, api.get("/migration", check=False).json.get("dirty_rate_mib_s", 0.0))
            except OSError:  # the source exits once it handed over (docs/migration.md): only the
                pass         # destination answers from then on (post-copy ends that way every time)
            time.sleep(0.02)
        st["src_dirty_rate_mib_s"] = rate
        throttles = [int(x) for x in re.findall(r"vCPUs throttled to (\d+)%", src.err.text())]
        st["throttle"] = max(throttles) if throttles else 0
        return st
    finally:
        src.close()
        dst.close()
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(imgs, ignore_errors=True)


def bench_idle():
    downs, totals = [], []
    for _ in range(RUNS):
        st = migrate("every=67108864")
        assert st["state"] == "completed", st
        downs.append(st["downtime_ms"])
        totals.append(st["total_ms"])
    print(f"idle 256 MiB guest over loopback TCP: downtime {statistics.median(downs):.2f} ms median"
          f" (min {min(downs):.2f}, max {max(downs):.2f}), total {statistics.median(totals):.1f} ms median of {RUNS}"
          f" (goals 3 ms, 250 ms)")


def bench_dirty():
    args = "every=1 fill_mib=32 rewrite=1 passes=1000"
    # The guest's own rate as an unpaced stream's rounds measure it (on PVM hosts it is bounded
    # by the write-protect faults dirty logging costs).
    # (Its rounds, not its end: a guest rewriting 32 MiB at memory speed may never fit 1 ms.)
    probe = migrate(args, mem=128, downtime_ms=1, max_bandwidth_mib_s=4096, wait_s=10)
    rate = max(probe["src_dirty_rate_mib_s"], 1.0)
    print(f"dirty: the guest dirties ~{rate:.0f} MiB/s while pre-copy runs (the source's highest figure in 10 s)")
    for share in pick((0.1, 0.5, 1.5), (1.5,)):
        link = max(int(rate / share), 8)
        st = migrate(args, mem=128, downtime_ms=20, max_bandwidth_mib_s=link, wait_s=120)
        print(f"dirty at {share * 100:.0f}% of a {link} MiB/s link: {st['state']}, downtime {st.get('downtime_ms', 0):.2f} ms,"
              f" total {st.get('total_ms', 0):.0f} ms, {st['iteration'] + 1} rounds, throttle up to {st['throttle']}%")


def raw_disk(d):
    path = d / "shared.raw"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    return path, "raw"


def qcow2_disk(d):
    base, top = d / "base.raw", d / "top.qcow2"
    base.write_bytes(os.urandom(64 << 20))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(top)], check=True)
    return top, "qcow2"


def bench_disk():
    """blkloop (keep=1, 512 slots: 64 MiB) writing a drive on shared storage while it moves:
    the switch syncs the image (and a qcow2 overlay is completed for the destination, which
    opens it again) inside the downtime; the source syncs once more just before its pause."""
    for name, disk in (("raw", raw_disk), ("qcow2 overlay", qcow2_disk)):
        downs, totals = [], []
        for _ in range(RUNS):
            st = migrate("keep=1 slots=512", mem=128, first=r"^blkloop round=8 ok$", guest="blkloop", disk=disk)
            assert st["state"] == "completed", st
            downs.append(st["downtime_ms"])
            totals.append(st["total_ms"])
        print(f"disk: a guest writing a shared {name} image: downtime {statistics.median(downs):.2f} ms median"
              f" (min {min(downs):.2f}, max {max(downs):.2f}), total {statistics.median(totals):.1f} ms, {RUNS} runs")


def bench_postcopy():
    p50s, maxes, faults = [], [], []
    for _ in range(RUNS):
        st = migrate("every=1 fill_mib=32 rewrite=1 passes=100", mem=128, mode="postcopy", max_bandwidth_mib_s=16)
        assert st["state"] == "completed" and st.get("postcopy"), st
        if st.get("postcopy_faults"):
            p50s.append(st["postcopy_fault_us_p50"])
            maxes.append(st["postcopy_fault_us_max"])
            faults.append(st["postcopy_faults"])
    if p50s:
        print(f"postcopy: remote page faults over loopback TCP: p50 {statistics.median(p50s):.0f} us"
              f" (histogram bucket bound), max {statistics.median(maxes):.0f} us, {statistics.median(faults):.0f}"
              f" faults per migration, median of {len(p50s)} (goal p50 60 us)")
    else:
        print("postcopy: the guest never waited for a page")


def bench_wire():
    for mib in pick((8, 64, 200), (8,)):
        st = migrate(f"every=67108864 fill_mib={mib}", first=r"^counter: filled")
        print(f"wire: guest touched {mib} MiB (+ its stack, page tables) of 256 MiB: {st['bytes_sent'] / 2**20:.1f} MiB"
              f" received, {st['pages_sent']} pages with data, {st['zero_pages']} zero pages without")


if __name__ == "__main__":
    import pytest  # noqa: F401  (apilib needs it for its failure paths)
    for name in sys.argv[1:] or ["idle", "dirty", "postcopy", "wire"]:
        globals()[f"bench_{name}"]()
