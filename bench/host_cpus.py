"""How far apart the host's first two CPUs are, and waiting until they are close again.

A VMM's vCPU and its I/O thread pass the virtqueue's cache lines between two CPUs all the time;
the host's own io_uring loop, the figure a VMM is held against, runs on one. On a cloud host the
hypervisor underneath may move the two CPUs apart for minutes: on a 2-CPU PVM host the round
trip of a cache line between them (bench/cpu_roundtrip) went from ~60 ns to ~430 ns and back
several times an hour (2026-11-29), and both VMMs' I/O rates dropped with it while the host
loop's did not. A round measured then measures the host, not the VMM.

`far(ns)`: more than FAR_FACTOR x the best round trip seen on this host, kept in
build/cpu-roundtrip-best for BEST_KEPT_S (a bench that starts while the CPUs are apart still
knows what close is). `settle()` waits up to BENCH_CPU_SETTLE_S (default 300 s, 0 in quick
mode) for them to be close again before a round.
"""
import os
import re
import subprocess
import time

from benchlib import pick

FAR_FACTOR = 3
BEST_KEPT_S = 24 * 3600


class HostCpus:
    def __init__(self, build):
        self.tool = build / "bench" / "cpu_roundtrip"
        self.best_file = build / "cpu-roundtrip-best"
        self.best = None
        try:
            if time.time() - self.best_file.stat().st_mtime < BEST_KEPT_S:
                self.best = float(self.best_file.read_text())
        except (OSError, ValueError):
            pass
        self.settle_s = float(os.environ.get("BENCH_CPU_SETTLE_S", pick(300, 0)))

    def measure(self):
        """ns of one round trip now (None: cannot tell), the best kept up to date."""
        try:
            out = subprocess.run([str(self.tool)], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(r"roundtrip_ns=([\d.]+)", out)
        if not m:
            return None
        ns = float(m.group(1))
        if self.best is None or ns < self.best:
            self.best = ns
            try:
                self.best_file.write_text(f"{ns}\n")
            except OSError:
                pass
        return ns

    def far(self, ns):
        return ns is not None and self.best is not None and ns > FAR_FACTOR * self.best

    def settle(self):
        """Wait until the CPUs are close (at most settle_s); a line says what it waited for.
        Returns the last round trip measured (None: cannot tell)."""
        ns = self.measure()
        if not self.far(ns):
            return ns
        first, t0 = ns, time.monotonic()
        while self.far(ns) and time.monotonic() - t0 < self.settle_s:
            time.sleep(5)
            ns = self.measure()
        waited = time.monotonic() - t0
        if self.far(ns):
            print(f"  (the host's CPUs stayed {ns:.0f} ns apart for {waited:.0f} s, {self.best:.0f} ns at "
                  "best: measured anyway)", flush=True)
        else:
            print(f"  (waited {waited:.0f} s for the host's CPUs to come close again: {first:.0f} -> {ns:.0f} ns)",
                  flush=True)
        return ns
