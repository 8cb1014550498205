#!/usr/bin/env python3
"""petrel-jailer start-up: from starting the jailer to the jailed petrel's API answering
GET / on its socket, median of N runs (default 20). Prints figures; asserts nothing.

  sudo python3 bench/jailer.py [N]

Each run is what tests/jail/test_jailer.py starts: a fresh id, --new-pid-ns, cgroup v1
pids.max and memory.limit_in_bytes, uid/gid 12345, `-- --api-sock /run/api.sock`; the clock
starts just before the jailer is spawned and stops at the first 200 answer (the socket is
polled every 0.5 ms: polling every 50 us took so much CPU from the starting petrel on this
2-CPU host that plain petrel measured 3x slower). The same measured for plain `petrel --api-sock` (no jailer, empty
environment) is the floor; runs alternate between the two so that both see the same load,
and the difference of the medians is what the jail costs. Goal (docs/security.md): <= 5 ms.
"""
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "jail"))
import jaillib  # noqa: E402

POLL = 0.0005   # a tighter loop takes CPU time from the petrel starting up (2-CPU host)
ARGS = ["--new-pid-ns", "--cgroup-version", "1", "--cgroup", "pids.max=64",
        "--cgroup", "memory.limit_in_bytes=268435456"]


def jailed(base, i):
    j = jaillib.Jail(base, f"bench-{os.getpid()}-{i}", args=ARGS,
                     petrel_args=["--api-sock", "/run/api.sock"],
                     parent_cgroup=f"petrel-bench-{os.getpid()}")
    try:
        t0 = time.perf_counter()
        j.start()
        t1 = jaillib.wait_api(j.root / "run" / "api.sock", j.proc, poll=POLL)
        return t1 - t0
    finally:
        j.close()


def plain(base, i):
    sock = base / f"plain-{i}.sock"
    t0 = time.perf_counter()
    p = subprocess.Popen([str(jaillib.PETREL), "--api-sock", str(sock)], env={},
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        return jaillib.wait_api(sock, p, poll=POLL) - t0
    finally:
        p.kill()
        p.wait()
        sock.unlink(missing_ok=True)


def row(name, xs):
    ms = [x * 1000 for x in xs]
    print(f"{name:<34} median {statistics.median(ms):6.2f} ms   min {min(ms):6.2f}   "
          f"max {max(ms):6.2f}   (n={len(ms)})")
    return statistics.median(ms)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if os.geteuid() != 0:
        sys.exit("bench/jailer.py: needs root (the jailer mounts, mknods and changes ids)")
    base = jaillib.short_tmpdir("petrel-bench-")
    try:
        jailed(base, "warm")   # page cache, cgroup parent directories' first creation
        plain(base, "warm")
        j, p = [], []
        for i in range(n):   # interleaved: both see the same load on a shared host
            j.append(jailed(base, i))
            p.append(plain(base, i))
    finally:
        jaillib.shutil.rmtree(base, ignore_errors=True)
    mj = row("jailer -> API answers (jailed)", j)
    mp = row("petrel -> API answers (no jail)", p)
    print(f"{'jail overhead (difference)':<34} median {mj - mp:6.2f} ms")


if __name__ == "__main__":
    main()
