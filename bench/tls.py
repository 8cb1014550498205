#!/usr/bin/env python3
"""TLS streams' cost (docs/migration.md#tls): prints figures, asserts nothing.

  python3 bench/tls.py [stream] [migrate]

stream   no KVM: MiB through one loopback connection, plain TCP against tls: (GnuTLS in-process,
         a pump thread and a socketpair: util/tls.c), throughput and CPU per MiB, and the
         handshake's time (bench/tls_host.c).
migrate  KVM: an idle 256 MiB counter guest migrated between two petrel processes over loopback,
         tcp: against tls: (bench/migration.py's migrate): downtime, total time, bandwidth.
"""
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import benchlib  # noqa: E402
from benchlib import pick  # noqa: E402

BUILD = Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
RUNS = benchlib.runs("BENCH_TLS_RUNS", 5)


def pki(d):
    subprocess.run([str(ROOT / "scripts" / "pki.sh"), str(d / "ours"), "srv,127.0.0.1", "cli"], check=True,
                   capture_output=True)
    return d


def bench_stream(d):
    out = subprocess.run([str(BUILD / "bench" / "tls_host"), str(pick(1024, 64)), str(d)], capture_output=True,
                         text=True, timeout=600)
    if out.returncode:
        benchlib.failed(f"stream: tls_host failed: {out.stderr.strip()}")
        return
    print(out.stdout, end="")


def bench_migrate(d):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("migrate: skipped (no /dev/kvm)")
        return
    import migration  # noqa: E402 (bench/migration.py: its migrate())
    certs = (d / "ours" / "cli", d / "ours" / "srv")
    for name, tls in (("tcp", None), ("tls", certs)):
        downs, totals, bws = [], [], []
        for _ in range(RUNS):
            st = migration.migrate("every=67108864", mem=pick(256, 64), tls=tls)
            if st["state"] != "completed":
                benchlib.failed(f"migrate over {name}: {st}")
                return
            downs.append(st["downtime_ms"])
            totals.append(st["total_ms"])
        print(f"migrate idle {pick(256, 64)} MiB guest over loopback {name}: downtime {statistics.median(downs):.2f} ms"
              f" median (min {min(downs):.2f}, max {max(downs):.2f}), total {statistics.median(totals):.1f} ms median"
              f" of {RUNS}")


def main():
    which = sys.argv[1:] or ["stream", "migrate"]
    with tempfile.TemporaryDirectory(prefix="petrel-bench-tls-") as t:
        d = pki(Path(t))
        for w in which:
            {"stream": bench_stream, "migrate": bench_migrate}[w](d)


if __name__ == "__main__":
    main()
