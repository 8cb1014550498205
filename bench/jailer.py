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
The jailed run is measured twice: with build/petrel as built (debugoptimized: 3.7 MB, most of
it debug information, which the jailer copies into every jail) and with a stripped copy of it,
which is what `meson install --strip` installs and what a deployment hands the jailer.

The same for --rootless (issue 9): the jailer run as an unprivileged uid (RL_USER, no
supplementary groups), --new-pid-ns, no cgroups (none are delegated on this host), --uid/--gid
1000 inside; next to it the root mode with the same arguments (no cgroups) so that the two
differ only in the user namespace. Each rootless run is timed by a child of this script that
is already RL_USER (this script again, with --rootless-once): letting subprocess switch ids
itself would make it fork instead of vfork, milliseconds more on this host, and not the
jailer's.
"""
import os
import statistics
import subprocess
import tempfile
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: jaillib ...)
import jaillib  # noqa: E402
from benchlib import pick  # noqa: E402

POLL = 0.0005   # a tighter loop takes CPU time from the petrel starting up (2-CPU host)
ARGS = ["--new-pid-ns", "--cgroup-version", "1", "--cgroup", "pids.max=64",
        "--cgroup", "memory.limit_in_bytes=268435456"]
RL_USER = 23456


def rootless(base, i):
    """One --rootless run, timed by a child process that is RL_USER already."""
    # the Debian interpreter: RL_USER may not be able to run the caller's (e.g. one in /root)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([python, __file__, "--rootless-once", str(base), str(i)],
                       user=RL_USER, group=RL_USER, extra_groups=[], capture_output=True,
                       text=True, timeout=60, env={"PETREL_BUILD": str(jaillib.BUILD),
                                                   "PETREL_JAILER": str(jaillib.JAILER)})
    if r.returncode != 0:
        sys.exit(f"rootless run failed:\n{r.stdout}{r.stderr}")
    return float(r.stdout)


def time_to_api(j):
    """Seconds from starting the jail to its petrel answering on /run/api.sock; closes it."""
    try:
        t0 = time.perf_counter()
        j.start()
        t1 = jaillib.wait_api(j.root / "run" / "api.sock", j.proc, poll=POLL)
        return t1 - t0
    finally:
        j.close()


def rootless_once(base, i):
    j = jaillib.Jail(base, f"rl-{os.getpid()}-{i}", args=["--rootless", "--new-pid-ns"],
                     petrel_args=["--api-sock", "/run/api.sock"], uid=1000, gid=1000)
    return time_to_api(j)


def root_no_cgroups(base, i):
    j = jaillib.Jail(base, f"nc-{os.getpid()}-{i}", args=["--new-pid-ns"],
                     petrel_args=["--api-sock", "/run/api.sock"])
    return time_to_api(j)


def jailed(base, i, exec_file=jaillib.PETREL):
    j = jaillib.Jail(base, f"bench-{os.getpid()}-{i}", args=ARGS,
                     petrel_args=["--api-sock", "/run/api.sock"],
                     parent_cgroup=f"petrel-bench-{os.getpid()}", exec_file=exec_file)
    return time_to_api(j)


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
    if len(sys.argv) == 4 and sys.argv[1] == "--rootless-once":
        print(rootless_once(Path(sys.argv[2]), sys.argv[3]))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else pick(20, 1)
    if os.geteuid() != 0:
        sys.exit("bench/jailer.py: needs root (the jailer mounts, mknods and changes ids)")
    where = os.environ.get("PETREL_BENCH_BASE", "/tmp")
    base = Path(tempfile.mkdtemp(prefix="petrel-bench-", dir=where))
    rl_base = Path(tempfile.mkdtemp(prefix="petrel-bench-rl-", dir=where))
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(base)], capture_output=True,
                            text=True).stdout.strip()
    os.chown(rl_base, RL_USER, RL_USER)
    # what an installed petrel is (meson install --strip): no debug information to copy
    stripped = base / "stripped" / "petrel"   # named petrel: the jail's directory is named after it
    try:
        stripped.parent.mkdir()
        subprocess.run(["strip", "-o", str(stripped), str(jaillib.PETREL)], check=True)
        # page cache, cgroup parent directories' first creation
        jailed(base, "warm")
        jailed(base, "warm-s", stripped)
        plain(base, "warm")
        rootless(rl_base, "warm")
        j, s, p, r, nc = [], [], [], [], []
        for i in range(n):   # interleaved: all see the same load on a shared host
            j.append(jailed(base, i))
            s.append(jailed(base, f"s{i}", stripped))
            p.append(plain(base, i))
            r.append(rootless(rl_base, i))
            nc.append(root_no_cgroups(base, i))
    finally:
        stripped_size = stripped.stat().st_size if stripped.exists() else 0
        jaillib.shutil.rmtree(base, ignore_errors=True)
        jaillib.shutil.rmtree(rl_base, ignore_errors=True)
    print(f"base directory {where} ({fstype})")
    mj = row("jailer -> API answers (jailed)", j)
    mp = row("petrel -> API answers (no jail)", p)
    print(f"{'jail overhead (difference)':<34} median {mj - mp:6.2f} ms")
    ms = row("same, stripped petrel (%d KB)" % (stripped_size // 1024), s)
    print(f"{'jail overhead, stripped':<34} median {ms - mp:6.2f} ms")
    mn = row("root mode, no cgroups", nc)
    mr = row("--rootless (uid %d), no cgroups" % RL_USER, r)
    print(f"{'rootless overhead (vs no jail)':<34} median {mr - mp:6.2f} ms")
    print(f"{'rootless - root mode (no cgroups)':<34} median {mr - mn:6.2f} ms")


if __name__ == "__main__":
    main()
