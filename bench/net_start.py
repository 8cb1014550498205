#!/usr/bin/env python3
"""What starting a VM on a petreld network costs the host (issue 54: "starting on a network adds
<= 5 ms of host time"; docs/networks.md#what-a-start-costs). In a host namespace running petreld
with jailed workers (tests/net/netlib.py), a nat network with guards on and two VMs of the
counter test guest: one whose interface names the network (petreld makes its tap owned by the
jail's ids, applies its guards, attaches it to the bridge, and removes them at its end), one whose
interface names a tap made beforehand (host_dev_name) on the same bridge. Started and destroyed in
turn, many times. Per start:
  - petreld's own timing of the tap (its VM log: "tap T on network N (bridge B): made, guarded and
    attached in U us", taken around net_taps.c's tap_up);
  - "spawned" of petreld's "worker up in ..." line (ms: from the start's first step, the taps
    included, to the worker's process running);
  - the start's wall time at the API (POST /vms/NAME/start to its answer: the worker up,
    configured and booting);
and the destroy's wall time at the API (for the network's VM it includes removing the guards and
the tap). Medians; the difference of the two VMs' medians is what the network adds.

  sudo python3 bench/net_start.py         BENCH_STARTS (default 30)
"""
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: netlib, mgrlib)
from petrel_test import kvm_record  # noqa: E402
import mgrlib  # noqa: E402
import netlib  # noqa: E402
from benchlib import QUICK, failed, pick  # noqa: E402

JAIL_ID = 12345   # petreld's default jail uid and gid (the tap made beforehand is theirs, as petreld's)
TAP = "pbpremade"
GOAL_MS = 5.0


def vm_doc(name, iface):
    return {"boot-source": {"kernel_image_path": str(mgrlib.guest("counter")), "boot_args": "every=1048576"},
            "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
            "network-interfaces": [{"iface_id": "eth0", **iface}], "petrel": {"name": name}}


def api(host, method, path, body=None, timeout=120):
    t0 = time.perf_counter()
    st, out = host.api(method, path, body, timeout=timeout)
    ms = (time.perf_counter() - t0) * 1e3
    if st not in (200, 201, 204):
        raise RuntimeError(f"{method} {path}: {st} {out}")
    return ms


def log_since(host, vm, pos):
    p = host.pd.state / "logs" / f"{vm}.log"
    text = p.read_text(errors="replace") if p.exists() else ""
    return text[pos:], len(text)


def one(host, vm, pos):
    """(start ms, spawned ms, tap µs or None, destroy ms), the log's new end."""
    start = api(host, "POST", f"/vms/{vm}/start")
    # the log line is written before the start answers
    text, pos = log_since(host, vm, pos)
    destroy = api(host, "POST", f"/vms/{vm}/destroy", timeout=60)
    up = re.search(r"worker up in \d+ ms: spawned (\d+)", text)
    tap = re.search(r"made, guarded and attached in (\d+) us", text)
    if not up:
        failed(f"{vm}: no 'worker up' line in its log: {text[-500:]}")
        return None, pos
    return (start, int(up.group(1)), int(tap.group(1)) if tap else None, destroy), pos


def main():
    why = netlib.missing() or (None if petrel_test.kvm_usable() else petrel_test.NO_KVM)   # root, nft, KVM
    if why:
        sys.exit(f"bench/net_start.py: {why}")
    n = pick(int(os.environ.get("BENCH_STARTS", 30)), 3)
    host = netlib.Host(jailer=True)
    try:
        host.start_net(netlib.nat_def())
        br = host.info("default")["bridge"]
        netlib.sh("ip", "tuntap", "add", "dev", TAP, "mode", "tap", "vnet_hdr", "user", JAIL_ID, "group", JAIL_ID,
                  ns=host.ns)
        netlib.sh("ip", "link", "set", TAP, "master", br, "up", ns=host.ns)
        vms = {"onnet": {"network": "default"},
               "ontap": {"host_dev_name": TAP, "guest_mac": "52:54:00:5e:01:02"}}
        for name, iface in vms.items():
            st, body = host.api("POST", "/vms", vm_doc(name, iface))
            if st != 201:
                raise RuntimeError(f"define {name}: {st} {body}")
        res = {v: [] for v in vms}
        pos = {v: 0 for v in vms}
        for i in range(n):
            for vm in (list(vms) if i % 2 == 0 else list(vms)[::-1]):   # alternate who goes first
                r, pos[vm] = one(host, vm, pos[vm])
                if r:
                    res[vm].append(r)
        med = statistics.median
        print(f"# a VM's start on a petreld nat network (guards on; petreld makes, guards and attaches the tap) "
              f"vs the same VM on a tap made beforehand; jailed workers, the counter guest; on a "
              f"{kvm_record.host_kind(True).upper()} host (kernel {platform.release()}, {os.cpu_count()} CPUs); "
              f"median of {n} starts each, interleaved")
        print(f"{'':26} {'start ms':>9} {'spawned ms':>11} {'tap µs':>8} {'destroy ms':>11}")
        rows = {}
        for vm, label in (("ontap", "tap made beforehand"), ("onnet", "on the network")):
            rs = res[vm]
            if not rs:
                failed(f"{label}: not measured")
                continue
            taps = [r[2] for r in rs if r[2] is not None]
            rows[vm] = (med(r[0] for r in rs), med(r[1] for r in rs), med(taps) if taps else None,
                        med(r[3] for r in rs))
            s, sp, t, d = rows[vm]
            print(f"{label:26} {s:9.1f} {sp:11.1f} {'-' if t is None else f'{t:8.0f}':>8} {d:11.1f}")
        if len(rows) == 2:
            net, tap = rows["onnet"], rows["ontap"]
            taps = sorted(r[2] for r in res["onnet"] if r[2] is not None)
            if not taps:
                failed("petreld logged no tap timing for the network's VM")
            else:
                print(f"the network's tap, petreld's own timing: median {net[2] / 1e3:.2f} ms, "
                      f"{taps[0] / 1e3:.2f}-{taps[-1] / 1e3:.2f} ms over {len(taps)} starts "
                      f"(issue 54's goal: <= {GOAL_MS:.0f} ms: "
                      f"{'met' if net[2] / 1e3 <= GOAL_MS else 'NOT met'})")
            print(f"what the network adds, difference of medians: start {net[0] - tap[0]:+.1f} ms, spawned "
                  f"{net[1] - tap[1]:+.1f} ms, destroy {net[3] - tap[3]:+.1f} ms (the guards' and the tap's "
                  "removal)")
            starts = [r[0] for v in res.values() for r in v]
            print(f"# the starts' spread: {min(starts):.0f}-{max(starts):.0f} ms (the API's wall time includes "
                  "the jailer, the worker's start and its boot request: its noise is larger than the tap's cost)")
        if QUICK:
            print("(quick mode: the figures mean nothing)")
    finally:
        host.close()


if __name__ == "__main__":
    main()
