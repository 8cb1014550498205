#!/usr/bin/env python3
"""What petreld's tap guards cost (src/manager/net/guards.c, docs/networks.md#guards), host only:
no VM. In a fresh network namespace (tests/net/guardlib.py) a writer puts honest IPv4 UDP frames
into a tap (the "guest's" side) as fast as one Python thread can, the bridge forwards them to a
veth whose other end is in a second namespace; what arrived there is read from that veth's
rx_packets. Per row: frames/s arrived, and the kernel CPU per frame of the writer's thread (the
tap's write runs the tap's ingress hook, the bridge, and the veth's transmit in the writer's
system call), medians of interleaved runs. Rows: no guards (as `off`: nothing is applied), guards
on, guards on with 256 addresses in each set, guards on with K other taps' tables on the host
(each a netdev table at its own tap's ingress, which this tap's frames never reach), and as the
peer the former design: the same rules in a bridge-family table per tap whose prerouting chain
matches `iifname` (every such table's base chain sees every bridged frame), alone and with K
other taps' tables.
Then the time guards_apply takes on a tap without guards (a VM's start), re-applying over
existing ones, and guards_remove, each in-process (tests/tools/guardctl --repeat).

  sudo python3 bench/guards.py            BENCH_RUNS (default 5), BENCH_FRAMES (default 200000)

The issue's guest-to-guest and guest-to-outside figures with VMs and libvirt's clean-traffic beside
them are a later bench; this one isolates the guards' nftables chain.
"""
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: guardlib)
import guardlib  # noqa: E402
from benchlib import QUICK, failed, pick, runs  # noqa: E402


def rx_packets(lab):
    out = guardlib.run("ip", "-n", lab.peer_ns, "-s", "-j", "link", "show", "veth1").stdout
    return json.loads(out)[0]["stats64"]["rx"]["packets"]


def blast(lab, frame, n):
    """(frames/s arrived at the peer, writer's kernel CPU µs per frame) for n frames."""
    before = rx_packets(lab)
    fd, write = lab.tap_fd, os.write
    r0, t0 = resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter()
    for _ in range(n):
        write(fd, frame)
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_THREAD)
    time.sleep(0.05)   # the peer's backlog drains
    arrived = rx_packets(lab) - before
    return arrived / (t1 - t0), (r1.ru_stime - r0.ru_stime) / n * 1e6, arrived


def guardctl_times(lab, *extra, n):
    out = json.loads(lab.guardctl("apply", lab.tap, guardlib.GUEST_MAC, "--v4", guardlib.GUEST_V4,
                                  "--repeat", str(n), *extra).stdout)
    return out


def main():
    if os.geteuid() != 0:
        sys.exit("bench/guards.py needs root (network namespaces, nftables)")
    if not guardlib.GUARDCTL.exists():
        sys.exit(f"{guardlib.GUARDCTL} is not built (ninja -C build)")
    nruns = runs("BENCH_RUNS", 5)
    nframes = pick(int(os.environ.get("BENCH_FRAMES", 200000)), 2000)
    others = pick(50, 3)
    lab = guardlib.Lab(tap="pgbench0")
    try:
        lab.sock.close()   # no packet socket on the peer: it would copy every frame
        lab.sock = None
        g = guardlib
        many4 = [f"10.9.{i // 250}.{i % 250 + 1}" for i in range(255)]
        many6 = [f"fd00:9::{i + 1:x}" for i in range(255)]

        def apply(v4=(g.GUEST_V4,), v6=(g.GUEST_V6,)):
            args = ["apply", lab.tap, g.GUEST_MAC]
            for a in v4:
                args += ["--v4", a]
            for a in v6:
                args += ["--v6", a]
            lab.guardctl(*args)

        def other_tables(on):
            for i in range(others):
                if on:
                    lab.guardctl("apply", f"pgother{i}", "52:54:00:00:01:%02x" % i, "--v4", f"10.8.0.{i + 1}")
                else:
                    lab.guardctl("remove", f"pgother{i}")

        def bridge_text(table, tap, rules):
            """The former design: tap's guard chain (rules, as nft lists the netdev table) in a
            bridge-family table whose prerouting chain jumps to it for frames from tap."""
            body = rules.split("\n", 1)[1].rsplit("}", 1)[0]   # between the table's braces
            body = body.replace(f'type filter hook ingress device "{lab.tap}" priority -500; policy accept;', "")
            return (f"table bridge {table} {{{body}\tchain prerouting {{ type filter hook prerouting priority filter; "
                    f'policy accept; iifname "{tap}" jump guard; }}\n}}\n')

        def bridge_peer(k):
            def setup():
                apply()
                rules = lab.nft("list", "table", "netdev", f"petrel-guard-{lab.tap}").stdout
                lab.guardctl("remove", lab.tap)
                text = bridge_text("bench-peer", lab.tap, rules)
                text += "".join(bridge_text(f"bench-other{i}", f"pgother{i}", rules) for i in range(k))
                subprocess.run(["ip", "netns", "exec", lab.ns, "nft", "-f", "-"], input=text, text=True, check=True)
            return setup

        def drop_peer():
            for t in lab.nft("list", "tables").stdout.splitlines():
                if t.startswith("table bridge bench-"):
                    lab.nft("delete", *t.split())

        modes = [
            ("no guards (= off)", lambda: lab.guardctl("remove", lab.tap), None),
            ("guards on", apply, None),
            ("guards on, 256 + 255 addresses", lambda: apply(many4 + [g.GUEST_V4], many6), None),
            (f"guards on, {others} other taps' tables", apply, (lambda: other_tables(True), lambda: other_tables(False))),
            ("peer: the former bridge-family table", lambda: None, (bridge_peer(0), drop_peer)),
            (f"peer: the former table, {others} other taps'", lambda: None, (bridge_peer(others), drop_peer)),
        ]
        sizes = [("60 B", 60), ("1514 B", 1514)]
        payload = {size: b"x" * (size - 42) for _, size in sizes}
        frames = {size: g.udp4(g.GUEST_MAC, g.PEER_MAC, g.GUEST_V4, g.PEER_V4, 4000, 4000, payload[size])
                  for _, size in sizes}
        res = {(m[0], s[0]): [] for m in modes for s in sizes}
        for _ in range(nruns):
            for name, setup, around in modes:
                lab.guardctl("remove", lab.tap)
                setup()
                if around:
                    around[0]()
                for sname, size in sizes:
                    fps, cpu, arrived = blast(lab, frames[size], nframes)
                    if arrived < nframes * 0.9:
                        failed(f"{name}, {sname}: only {arrived} of {nframes} frames arrived")
                    res[(name, sname)].append((fps, cpu))
                if around:
                    around[1]()

        print(f"# host-only: tap writer -> bridge -> veth reader in namespaces, no VM; kernel {platform.release()}, "
              f"{os.cpu_count()} CPUs; {nframes} frames per cell, median of {nruns} interleaved run(s)")
        print(f"{'':52} {'frames/s':>12} {'kernel µs/frame':>16} {'vs no guards':>13}")
        for sname, _size in sizes:
            base = statistics.median(f for f, _ in res[(modes[0][0], sname)])
            for name, _s, _a in modes:
                fps = statistics.median(f for f, _ in res[(name, sname)])
                cpu = statistics.median(c for _, c in res[(name, sname)])
                print(f"{name + ', ' + sname:52} {fps:12.0f} {cpu:16.2f} {(fps / base - 1) * 100:+12.1f}%")

        n = pick(50, 3)
        lab.guardctl("remove", lab.tap)
        fresh = guardctl_times(lab, "--fresh", n=n)
        again = guardctl_times(lab, n=n)
        lab.guardctl("remove", lab.tap)
        med = statistics.median
        print(f"guards_apply on a tap without guards (a VM's start): median {med(fresh['apply_us']) / 1000:.2f} ms "
              f"(min {min(fresh['apply_us']) / 1000:.2f}), {n} runs")
        print(f"guards_apply over existing guards (re-adoption):    median {med(again['apply_us']) / 1000:.2f} ms")
        print(f"guards_remove (a VM's end):                         median {med(fresh['remove_us']) / 1000:.2f} ms")
        t0 = time.perf_counter()
        subprocess.run(["ip", "netns", "exec", lab.ns, "true"], check=True)
        print(f"(floor: `ip netns exec NS true` takes {(time.perf_counter() - t0) * 1000:.2f} ms; the figures above "
              f"are inside one process and exclude it)")
        if QUICK:
            print("(quick mode: the figures mean nothing)")
    finally:
        lab.close()


if __name__ == "__main__":
    main()
