# SPDX-License-Identifier: Apache-2.0
"""Live migration between two petreld "hosts" (needs /dev/kvm): two network namespaces joined
by a veth pair, a petreld in each with its TLS listener and jailed workers, the counter guest
counting. A migration to a petreld whose CA is another is refused with the reason and the guest
counts on at the source; then `petrelctl migrate` moves it: no count lost or repeated across
the two hosts' consoles, the definition moved, "migrated" on both sides."""
import json
import re
import threading
import time

import pytest

import mgrlib
import tlslib
from nethelp import two_hosts

A_IP, B_IP = "10.213.37.1", "10.213.37.2"
# One of petrel's own lines: its log's (src/util/log.c) "2026-11-26T10:21:58.123456789 [id:thread]
# msg\n", or its exit's "petrel: migrated to HOST:PORT (downtime 37.48 ms)\n" (src/cli/run.c).
PETREL_LINE = re.compile(r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[[^\]\n]*\] |petrel: )[^\n]*\n")


@pytest.fixture
def hosts():
    a, b = two_hosts(A_IP, B_IP)
    yield a, b
    a.close()
    b.close()


def on(ns):
    """Run in ns's network namespace only. Not `ip netns exec`: it mounts a sysfs of its own over
    /sys, which hides /sys/fs/cgroup from the jailer (its workers then die at start)."""
    return ["nsenter", f"--net=/run/netns/{ns.name}"]


def console(p, name):
    """The guest's console output in p's worker log. The console (written a byte at a time) and
    petrel's own messages (whole lines, e.g. the migration's "vCPUs throttled") share that file:
    a message can land inside a count line ("coun<message>\nt=446"), so take petrel's lines out."""
    log = p.state / "logs" / f"{name}.worker.log"
    return PETREL_LINE.sub("", log.read_text(errors="replace") if log.exists() else "")


def complete_counts(text):
    text = text[:text.rfind("\n") + 1]   # a line still being written is not a count yet
    return [int(n) for n in re.findall(r"^count=(\d+)\r?$", text, re.M)]


def counts(p, name):
    return complete_counts(console(p, name))


def wait_counts(p, name, more_than, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        c = counts(p, name)
        if len(c) > more_than:
            return c
        assert time.monotonic() < deadline, f"{name} on {p.root}: counts stay at {c[-3:]}"
        time.sleep(0.1)


FORGED_DOWNTIME, FORGED_TOTAL = 0.25, 1.5


def forge_completion_line(p, name, timeout=120):
    """Once p sends name away, append to its worker log what a guest could print on its console:
    a line like petrel's own of a completed migration, with figures of our own (without a line
    break first: petrel's lines land inside the guest's too, and console() takes them out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, body = p.api("GET", f"/vms/{name}/migration")
        if st == 200 and body.get("state") == "outgoing":
            with open(p.state / "logs" / f"{name}.worker.log", "a") as log:
                log.write("2026-11-26T10:21:58.123456789 [mig:petrel_mig] migration to tls:x:1 completed: "
                          f"downtime {FORGED_DOWNTIME:.2f} ms, total {FORGED_TOTAL:.1f} ms, 1 MiB sent in 1 rounds\n")
            return
        time.sleep(0.05)


@pytest.mark.needs_kvm   # known where certtool is missing too
@pytest.mark.skipif(not tlslib.have_certtool(), reason="certtool (gnutls-bin) not installed")
def test_migrate_between_two_petreld(petreld, kvm, hosts, tmp_path):
    a, b = hosts
    pki = tlslib.make_pki(tmp_path / "pki", f"hosta,{A_IP}", f"hostb,{B_IP}")
    rogue = tlslib.make_pki(tmp_path / "rogue", f"hostb,{B_IP}")
    src = petreld(args=["--listen-tcp", f"{A_IP}:7443", "--tls-dir", str(pki / "hosta")], prefix=on(a))
    dst = petreld(args=["--listen-tcp", f"{B_IP}:7443", "--tls-dir", str(pki / "hostb")], prefix=on(b))
    bad = petreld(args=["--listen-tcp", f"{B_IP}:7444", "--tls-dir", str(rogue / "hostb")], prefix=on(b))
    ev_src, ev_dst = mgrlib.Events(src.sock), mgrlib.Events(dst.sock)
    assert src.define("mig", **{"boot-source": {"kernel_image_path": str(mgrlib.guest("counter")),
                                                "boot_args": "every=1048576"}})[0] == 201
    st, vm = src.api("POST", "/vms/mig/start", timeout=60)
    assert st == 200, vm
    wait_counts(src, "mig", 3)
    # A target of another CA: refused, with the reason; the guest counts on here.
    r = src.ctl("migrate", "mig", "--to", f"{B_IP}:7444", timeout=120)
    assert r.returncode == 1 and "certificate" in r.stderr and "keeps running here" in r.stderr, r.stderr
    n = len(counts(src, "mig"))
    wait_counts(src, "mig", n + 2)
    assert src.api("GET", "/vms/mig")[1]["state"] == "running"
    assert bad.api("GET", "/vms")[1] == []
    # The real one. While it goes on, "the guest" prints what looks like petrel's line of a
    # completed migration: its console and petrel's log share the worker's log file.
    forged = threading.Thread(target=forge_completion_line, args=(src, "mig"), daemon=True)
    forged.start()
    r = src.ctl("--json", "migrate", "mig", "--to", B_IP, timeout=300)
    assert r.returncode == 0, r.stderr
    print("migrate:", r.stdout)
    forged.join(timeout=5)
    # The downtime is always reported: also when the source's worker exited before petreld's
    # next GET /migration saw "completed" (the figures then come from its events file), and
    # never the console's.
    out = json.loads(r.stdout)
    assert isinstance(out["downtime_ms"], (int, float)) and out["downtime_ms"] > 0, out
    assert out["downtime_ms"] != FORGED_DOWNTIME and out.get("total_ms") != FORGED_TOTAL, out
    ev_src.wait("mig", "migrated")
    e = ev_dst.wait("mig", "migrated")
    assert e["from"] == "CN=hosta,O=petrel"
    assert src.api("GET", "/vms/mig")[0] == 404 and not (src.defs / "mig.json").exists()
    vm = dst.api("GET", "/vms/mig")[1]
    assert vm["state"] == "running" and (dst.defs / "mig.json").exists(), vm
    before = counts(src, "mig")
    after = wait_counts(dst, "mig", 3)
    # It went on from where it was, no count lost or repeated. The vCPU may stop in the middle of
    # a line ("count=54" here, "7\n" there): the two consoles are one stream, read them as one.
    joined = complete_counts(console(src, "mig") + console(dst, "mig"))
    assert joined == list(range(1, len(joined) + 1)) and joined[-1] >= after[-1], \
        (before[-3:], after[:3], console(src, "mig")[-40:], console(dst, "mig")[:80])
    # ... and it is an ordinary VM there: destroy works
    assert dst.api("POST", "/vms/mig/destroy", timeout=60)[0] == 200
