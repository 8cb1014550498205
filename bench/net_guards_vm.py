#!/usr/bin/env python3
"""What petreld's tap guards cost guest to guest, with VMs (issue 54; docs/networks.md#guards):
two dhcpnet test guests (tests/guests/dhcpnet.c) under `petrel run`, each on a tap of one bridge,
in a host namespace running petreld (tests/net/netlib.py). Rows:
  plain tap        a bridge made by hand, no petreld network, no nftables at all;
  guards off       the taps on a petreld nat network's bridge (its inet table, its dnsmasq);
  guards on        the same with petreld's guards on both taps (tests/tools/guardctl).
Per row: the round trip of an ICMP echo from one guest to the other (the guest's TSC, each
echo waited for before the next), and frames/s of a one-way UDP flood (60-byte and 1514-byte
frames) that the other guest counted, over the sending guest's time. Medians of interleaved
runs. The guests poll their virtio-net rings (no interrupts) and notify on every frame: a
guest-side cost that is the same in every row, so the differences between rows are the host
path's (bridge, nftables chains).

  sudo python3 bench/net_guards_vm.py     BENCH_RUNS (default 3), BENCH_RTTS (default 2000),
                                          BENCH_FRAMES (default 100000)

The peer rows: libvirt's default NAT network, two QEMU domains running the same guest, with
libvirt's clean-traffic nwfilter and without (bench/libvirt_peer.py: libvirtd started by hand in the
bench's outside namespace, its state in tmpfs; BENCH_LIBVIRT=0 leaves them out). Where libvirtd
cannot run, the bench says why and prints no row for it.
"""
import os
import platform
import re
import subprocess
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: netlib, vmnet, guestlib)
from petrel_test import kvm_record  # noqa: E402
import netlib  # noqa: E402
import vmnet  # noqa: E402
import guestlib  # noqa: E402
import libvirt_peer  # noqa: E402
from benchlib import QUICK, failed, pick, runs  # noqa: E402

MAC1, MAC2 = "52:54:00:5e:00:01", "52:54:00:5e:00:02"
IP1, IP2 = "10.77.0.5", "10.77.0.6"


def io_cpu_s(pid):
    """CPU seconds a petrel process spent outside its vCPUs (its I/O and API threads, and what the
    kernel did in their system calls: the tap writes, the bridge, the guards' chains): the run time
    of each thread not named fc_vcpu (/proc/PID/task/TID/schedstat, in ns)."""
    total = 0
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (t / "comm").read_text().startswith("fc_vcpu"):
                continue
            total += int((t / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):   # a thread that ended meanwhile
            pass
    return total / 1e9


def pair(ns, t1, t2, a_cmd, cpu=None):
    """vm2 serving on t2, vm1 on t1 running a_cmd: (vm1's output, vm2's). With cpu (a dict), a
    flood's vm1 serves after it (so it is still there to be read) and cpu["s"] is the CPU seconds
    both petrels spent outside their vCPUs while vm1 lived (io_cpu_s)."""
    g2 = vmnet.boot(ns, t2, MAC2, f"ip={IP2}/24 serve=600", timeout=900)
    try:
        g2.expect(r"^dhcpnet serving$", timeout=120)
        if cpu is None:
            out1 = vmnet.finish(vmnet.boot(ns, t1, MAC1, f"ip={IP1}/24 {a_cmd}", timeout=900))
            time.sleep(0.5)   # the last datagrams reach vm2
        else:
            before = io_cpu_s(g2.proc.pid)
            g1 = vmnet.boot(ns, t1, MAC1, f"ip={IP1}/24 {a_cmd} serve=600", timeout=900)
            try:
                g1.expect(r"^dhcpnet serving$", timeout=900)
                time.sleep(0.5)   # the last datagrams reach vm2
                cpu["s"] = io_cpu_s(g1.proc.pid) + io_cpu_s(g2.proc.pid) - before
                g1.send("q")
                out1 = vmnet.finish(g1)
            finally:
                g1.kill()
        g2.send("q")
        out2 = vmnet.finish(g2)
    finally:
        g2.kill()
    return out1, out2


def libvirt_pair(lv, filtered):
    """pair() for two QEMU domains on libvirt's default network, with clean-traffic or without."""
    ip1, ip2 = f"{libvirt_peer.SUBNET}.5", f"{libvirt_peer.SUBNET}.6"
    kernel = guestlib.guest_image("dhcpnet", "elf")   # PVH: QEMU 7.2 ran the bzImage silently

    seq = iter(range(1 << 30))   # a fresh name per domain: libvirt may still be ending the last one

    def run(a_cmd):
        k = next(seq)
        g2 = libvirt_peer.Domain(lv, f"pbvm2-{k}", kernel, f"mac={MAC2} transport=pci ip={ip2}/24 serve=600", MAC2, ip2,
                                 filtered)
        try:
            g2.expect("dhcpnet serving", timeout=300)
            g1 = libvirt_peer.Domain(lv, f"pbvm1-{k}", kernel, f"mac={MAC1} transport=pci ip={ip1}/24 "
                                     f"{a_cmd.replace(IP2, ip2)}", MAC1, ip1, filtered)
            try:
                out1 = g1.finish()
            finally:
                g1.kill()
            time.sleep(0.5)
            g2.send(b"q")
            out2 = g2.finish()
        finally:
            g2.kill()
        return out1, out2
    return run


def measure(run, nrtt, nframes, cpu=False, sizes=(60, 1514)):
    """(mean round trip µs, {size: (frames/s delivered, the share of the frames sent that arrived,
    host CPU µs per frame sent or None)}); run(a_cmd[, cpu]): a pair's outputs (pair, libvirt_pair);
    cpu: run takes the dict pair() fills with the petrels' CPU outside their vCPUs; sizes: the
    floods (each a pair of guests booted again)."""
    out1, _ = run(f"bench={nrtt} peer={IP2}")
    m = re.search(r"^dhcpnet bench .* rtts=(\d+) lost=(\d+) tsc=(\d+) tsc_hz=(\d+)", out1, re.M)
    if not m or int(m.group(1)) == 0:
        failed(f"no round trips: {out1}")
        return None, {}
    rtt = int(m.group(3)) / int(m.group(4)) / int(m.group(1)) * 1e6
    fps = {}
    for size in sizes:
        used = {} if cpu else None
        cmd = f"flood={nframes} size={size} peer={IP2}"
        out1, out2 = run(cmd, used) if cpu else run(cmd)
        f = re.search(r"^dhcpnet flood .* frames=(\d+) size=\d+ tsc=(\d+) tsc_hz=(\d+)", out1, re.M)
        d = re.search(r"^dhcpnet served .* discard=(\d+)", out2, re.M)
        if not f or not d:
            failed(f"flood {size}: {out1}{out2}")
            continue
        got = int(d.group(1))
        fps[size] = (got / (int(f.group(2)) / int(f.group(3))), got / int(f.group(1)),
                     used["s"] / int(f.group(1)) * 1e6 if cpu else None)
    return rtt, fps


def start_libvirt(ns):
    """libvirtd and its default network in namespace ns: (Libvirt, None) or (None, why not)."""
    why = libvirt_peer.missing()
    if why:
        return None, why
    try:
        lv = libvirt_peer.Libvirt(ns)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        return None, f"libvirtd (started by hand, no systemd here) did not run: {e}"
    try:
        lv.start_network()
    except (RuntimeError, subprocess.SubprocessError) as e:
        lv.close()
        return None, str(e)
    return lv, None


def main():
    why = netlib.missing() or (None if petrel_test.kvm_usable() else petrel_test.NO_KVM)   # root, nft, KVM
    if why:
        sys.exit(f"bench/net_guards_vm.py: {why}")
    nruns = runs("BENCH_RUNS", 3)
    nrtt = pick(int(os.environ.get("BENCH_RTTS", 2000)), 50)
    nframes = pick(int(os.environ.get("BENCH_FRAMES", 100000)), 500)
    host, lv = netlib.Host(), None
    try:
        host.start_net(netlib.nat_def(reservations=[{"vm": "vm1", "mac": MAC1, "ip": IP1},
                                                    {"vm": "vm2", "mac": MAC2, "ip": IP2}]))
        br = host.info("default")["bridge"]
        netlib.sh("ip", "link", "add", "pbplain", "type", "bridge", ns=host.ns)
        netlib.sh("ip", "link", "set", "pbplain", "up", ns=host.ns)
        n1, n2 = vmnet.make_tap(host.ns, "pbn1", br), vmnet.make_tap(host.ns, "pbn2", br)
        p1, p2 = vmnet.make_tap(host.ns, "pbp1", "pbplain"), vmnet.make_tap(host.ns, "pbp2", "pbplain")

        def guards(on):
            for tap, mac, ip in ((n1, MAC1, IP1), (n2, MAC2, IP2)):
                if on:
                    vmnet.guards_on(host.ns, tap, mac, ip)
                else:
                    vmnet.guardctl(host.ns, "remove", tap)

        rows = [("plain tap (a bridge by hand)", lambda c, u=None: pair(host.ns, p1, p2, c, u), False),
                ("petreld nat network, guards off", lambda c, u=None: pair(host.ns, n1, n2, c, u), False),
                ("petreld nat network, guards on", lambda c, u=None: pair(host.ns, n1, n2, c, u), True)]
        lv, lv_why = (None, "BENCH_LIBVIRT=0") if os.environ.get("BENCH_LIBVIRT") == "0" else \
            start_libvirt(host.outside)
        if lv:
            rows += [("libvirt default network (QEMU)", libvirt_pair(lv, False), False),
                     ("libvirt default network + clean-traffic", libvirt_pair(lv, True), False)]
        res = {r[0]: [] for r in rows}
        for _ in range(nruns):
            for name, run, on in rows:
                guards(on)
                try:
                    # quick mode: libvirt's domains for the round trip only (each flood boots
                    # two more through SeaBIOS: ~65 s of the suite's run on a PVM host)
                    peer = name.startswith("libvirt")
                    res[name].append(measure(run, nrtt, nframes, cpu=not peer,
                                             sizes=() if peer and QUICK else (60, 1514)))
                except RuntimeError as e:   # libvirt's domains (libvirt_peer): this run of the row lost
                    failed(f"{name}: {e}")
                    res[name].append((None, {}))
        guards(False)

        print(f"# guest to guest over one bridge: two dhcpnet guests under `petrel run`, on a "
              f"{kvm_record.host_kind(True).upper()} host "
              f"(kernel {platform.release()}, {os.cpu_count()} CPUs); {nrtt} echo round trips and {nframes} "
              f"frames per flood, median of {nruns} interleaved run(s)")
        print("# frames/s: what the receiving guest counted over the sender's time; (arrived): the share of "
              "the frames sent that it counted")
        print(f"{'':40} {'round trip µs':>14} {'vs plain':>9} {'60 B frames/s':>22} {'vs plain':>9} "
              f"{'1514 B frames/s':>22} {'host µs/frame 60 B':>19} {'vs off':>7} {'1514 B':>7} {'vs off':>7}")
        base, spread, off = None, [], None
        med = statistics.median
        for name, *_ in rows:
            rtts = [r for r, _ in res[name] if r]
            f60 = [f[60] for _, f in res[name] if 60 in f]
            f1514 = [f[1514] for _, f in res[name] if 1514 in f]
            if rtts and QUICK and name.startswith("libvirt"):
                print(f"{name:40} {med(rtts):14.1f} (quick mode: round trip only)")
                continue
            if not rtts or not f60 or not f1514:
                failed(f"{name}: not measured")
                continue
            c60, c1514 = [c for *_, c in f60 if c is not None], [c for *_, c in f1514 if c is not None]
            row = (med(rtts), med(x for x, *_ in f60), med(a for _, a, _ in f60), med(x for x, *_ in f1514),
                   med(a for _, a, _ in f1514), med(c60) if c60 else None, med(c1514) if c1514 else None)
            base = base or row
            off = row if "guards off" in name else off
            cpu = "" if row[5] is None else f" {row[5]:19.2f}" + (
                f" {(row[5] / off[5] - 1) * 100:+6.1f}%" if off and off is not row else " " * 8) + \
                f" {row[6]:7.2f}" + (f" {(row[6] / off[6] - 1) * 100:+6.1f}%" if off and off is not row else "")
            print(f"{name:40} {row[0]:14.1f} {(row[0] / base[0] - 1) * 100:+8.1f}% {row[1]:12.0f} ({row[2]:6.1%}) "
                  f"{(row[1] / base[1] - 1) * 100:+8.1f}% {row[3]:12.0f} ({row[4]:6.1%}){cpu}")
            spread.append(f"{name}: round trip {min(rtts):.0f}-{max(rtts):.0f} µs, 60 B "
                          f"{min(x for x, *_ in f60):.0f}-{max(x for x, *_ in f60):.0f} frames/s"
                          + (f", {min(c60):.2f}-{max(c60):.2f} host µs/frame" if c60 else ""))
        print("# host µs/frame: the CPU both petrels spent outside their vCPUs (their I/O threads and the kernel's "
              "work in their system calls: the taps, the bridge, the guards) per frame sent; on a host with "
              "fewer CPUs than the guests' vCPUs plus the I/O threads it is the throughput's bound and the "
              "figure to compare (the guards' share of it is what they cost)")
        print("# the runs' spread (min-max): " + "; ".join(spread))
        print("# each guest polls its rings on a vCPU of its own: with fewer than 4 free host CPUs the two guests, "
              "petrel's I/O threads and the bridge share them, and the rows differ by the scheduler's noise")
        if lv:
            print("# libvirt's rows: QEMU 7.2's pc machine (SeaBIOS) with the same guest's PVH ELF as -kernel, a "
                  "non-transitional virtio-net-pci on libvirt's default NAT network (libvirtd started by hand "
                  "in a namespace of its own), virtio-net in QEMU or vhost-net (/dev/vhost-net "
                  f"{'there' if os.path.exists('/dev/vhost-net') else 'absent here: QEMU uses its own'}); "
                  "clean-traffic with the guest's address as IP")
        else:
            print(f"peer: libvirt's default network with clean-traffic on QEMU domains: not measured: {lv_why}")
        if QUICK:
            print("(quick mode: the figures mean nothing; libvirt's rows without the floods)")
    finally:
        if lv:
            lv.close()
        host.close()


if __name__ == "__main__":
    main()
