#!/usr/bin/env python3
"""Replication (active-passive HA) benchmarks: prints figures, asserts nothing.

  python3 bench/replication.py [pause|slowdown|failover ...]

Two petrel processes on this host over a Unix socket, ring-3 counting guests:
pause     checkpoint pause (guest stopped) and bytes per checkpoint against MiB the guest
          rewrites per epoch (goal: <= 0.5 ms + 0.15 ms per MiB), and checkpoints per second.
slowdown  a CPU-bound guest's count rate and a memory-writing guest's rewrite rate, replicated
          at 10, 25 and 100 ms epochs, against the same guest unreplicated.
failover  SIGKILL of the primary -> the standby's guest running (goal <= 50 ms), and a silent
          (SIGSTOPped) primary -> running (goal <= timeout + 20 ms), from the standby's view.
Remus for reference: pauses of tens of ms, ~50% slowdown at 20 checkpoints/s.
"""
import os
import shutil
import signal
import statistics
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

RUNS = benchlib.runs("BENCH_REPL_RUNS", 3)


class Pair:
    def __init__(self, args, interval=50, timeout=500):
        self.d = Path(tempfile.mkdtemp(prefix="petrel-bench-repl-", dir="/tmp"))
        (self.d / "p").mkdir()
        (self.d / "s").mkdir()
        self.p = apilib.Petrel(self.d / "p", level="Info")
        self.s = apilib.Petrel(self.d / "s", level="Info")
        api = self.p.client()
        assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("counter")), "boot_args": args}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        self.p.expect(r"^count=1$", timeout=120)
        self.interval, self.timeout = interval, timeout

    def protect(self):
        url = f"unix:{self.d / 'repl.sock'}"
        assert self.s.client().put("/replication", {"role": "standby", "listen_url": url,
                                                    "failure_timeout_ms": self.timeout}, check=False).status == 204
        assert self.p.client().put("/replication", {"role": "primary", "peer_url": url,
                                                    "checkpoint_interval_ms": self.interval,
                                                    "failure_timeout_ms": self.timeout}, check=False).status == 204
        self.wait(self.p, lambda st: st.get("state") == "protected")

    def status(self, who):
        return who.client().get("/replication", check=False).json

    def wait(self, who, cond, timeout=120):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.status(who)
            if cond(st):
                return st
            time.sleep(0.005)
        raise TimeoutError(self.status(who))

    def close(self):
        for q in (self.p, self.s):
            try:
                os.kill(q.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            q.close()
        shutil.rmtree(self.d, ignore_errors=True)


def counts_per_s(p, seconds):
    n0 = len(p.lines(r"^count=\d+$"))
    time.sleep(seconds)
    return (len(p.lines(r"^count=\d+$")) - n0) / seconds


def bench_pause():
    for mib in pick((0, 1, 8, 32), (1,)):
        args = f"every=1 fill_mib={mib} rewrite=1 passes=1" if mib else "every=67108864"
        pair = Pair(args)
        try:
            pair.protect()
            st0 = pair.status(pair.p)
            time.sleep(pick(3, 1))
            st = pair.status(pair.p)
            n = st["checkpoints"] - st0["checkpoints"]
            per_ckpt = (st["total_bytes"] - st0["total_bytes"]) / max(n, 1) / 2**20
            print(f"pause: guest rewriting {mib} MiB in a loop: mean {st['mean_pause_us'] / 1e3:.2f} ms, max"
                  f" {st['max_pause_us'] / 1e3:.2f} ms, {per_ckpt:.1f} MiB per checkpoint, {n / pick(3, 1):.1f} checkpoints/s"
                  f" at a 50 ms interval (goal {0.5 + 0.15 * per_ckpt:.2f} ms for that many MiB)")
        finally:
            pair.close()


def bench_slowdown():
    for args, what in (("every=1048576", "CPU-bound count"), ("every=1 fill_mib=16 rewrite=1 passes=4", "memory writer")):
        rows = []
        for interval in pick((10, 25, 100), (25,)):
            pair = Pair(args, interval=interval)
            try:
                base = counts_per_s(pair.p, pick(3, 1))
                pair.protect()
                rows.append(f"{interval} ms epochs {counts_per_s(pair.p, pick(3, 1)) / max(base, 1e-9) * 100:.0f}%")
            finally:
                pair.close()
        print(f"slowdown: {what}: line rate replicated / unreplicated: " + ", ".join(rows))


def bench_failover():
    for how in pick(("SIGKILL", "SIGSTOP"), ("SIGKILL",)):
        times = []
        for _ in range(RUNS):
            pair = Pair("every=4194304", timeout=300)
            try:
                pair.protect()
                time.sleep(0.3)
                t0 = time.monotonic()
                os.kill(pair.p.proc.pid, signal.SIGKILL if how == "SIGKILL" else signal.SIGSTOP)
                pair.wait(pair.s, lambda st: st.get("state") == "active", timeout=30)
                pair.s.expect(r"^count=\d+$")
                times.append((time.monotonic() - t0) * 1000)
            finally:
                pair.close()
        goal = "50 ms" if how == "SIGKILL" else "timeout 300 ms + 20 ms"
        print(f"failover after {how} of the primary: {statistics.median(times):.0f} ms median of {RUNS}"
              f" (to the standby's API saying active, as the bench polls every 5 ms; goal {goal})")


if __name__ == "__main__":
    import pytest  # noqa: F401  (apilib needs it)
    for name in sys.argv[1:] or ["pause", "slowdown", "failover"]:
        globals()[f"bench_{name}"]()
