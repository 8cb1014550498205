# SPDX-License-Identifier: Apache-2.0
"""Replicated VMs under petreld (docs/manager.md#replicated-vms), the verbs the cluster's
resource agent calls: `petrelctl replica NAME standby|primary|promote|status`. Without KVM: a
standby worker in external takeover mode waits (the VM's state "standby", not running), the
requests are checked and every refusal says why and changes nothing. With KVM: two petrelds
(two "hosts"), the counting guest replicated; its primary's worker killed, the standby does
NOT take over; promoted, it runs on with the next count, no console output lost."""
import json
import os
import re
import signal
import socket
import time

import pytest

import mgrlib

import failover_console


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replica(p, name):
    st, o = p.api("GET", f"/vms/{name}/replica")
    assert st == 200, o
    return o


def wait_replica(p, name, state, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        o = replica(p, name)
        if o["state"] == state:
            return o
        assert time.monotonic() < deadline, f"{name}: replica {o}, not {state}"
        time.sleep(0.05)


def test_a_standby_waits_and_refusals_change_nothing(petreld, tmp_path):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    # The kernel is never booted on a standby: any file will do as one here. An executable one:
    # putting it in the jail must not change the host file's mode (a hard link shares it).
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"\0" * 4096)
    kernel.chmod(0o750)
    assert p.define("sb", kernel=str(kernel))[0] == 201
    assert replica(p, "sb") == {"role": "none", "state": "none", "running": False, "vm_state": "shut off"}
    # Requests checked before anything happens.
    for args, msg in ((["standby"], "--listen"), (["primary"], "--to"),
                      (["standby", "--listen", "carrier-pigeon:1"], "listen_url: carrier"),
                      (["standby", "--listen", "tcp:127.0.0.1:1", "--timeout-ms", "5"], "failure_timeout_ms"),
                      (["primary", "--to", "tcp:127.0.0.1:1", "--on-loss", "panic"], "on_standby_loss"),
                      (["promote", "--to", "x"], "usage"), (["bogus"], "usage")):
        r = p.ctl("replica", "sb", *args)
        assert r.returncode in (1, 2) and msg in r.stderr.lower(), (args, r.stderr)
    for path, body, msg in (("standby", {"listen_url": "tcp:127.0.0.1:1", "takeover": "auto"}, "takeover"),
                            ("standby", "[]", "object"), ("promote", {"action": "promote"}, "action"),
                            ("promote", {"by": ""}, "printable"), ("promote", {"by": "x" * 65}, "printable"),
                            ("promote", {"by": "a\nb"}, "printable"), ("promote", {"by": 7}, "printable"),
                            ("standby", b"{\"listen_url\": \"tcp:127.0.0.1:1\", \"listen_url\": 1}", "object")):
        st, o = p.api("POST", f"/vms/sb/replica/{path}", body)
        assert st == 400 and msg in o["fault_message"], (path, body, st, o)
    assert p.api("GET", "/vms/sb/replica/standby")[0] == 405
    assert p.api("POST", "/vms/sb/replica/demote")[0] == 404
    r = p.ctl("replica", "sb", "promote")
    assert r.returncode == 1 and "no standby here" in r.stderr, r.stderr
    assert replica(p, "sb")["role"] == "none"

    url = f"tcp:127.0.0.1:{free_port()}"
    r = p.ctl("replica", "sb", "standby", "--listen", url)
    assert r.returncode == 0, r.stderr
    ev.wait("sb", "replication started")
    assert kernel.stat().st_mode & 0o7777 == 0o750, oct(kernel.stat().st_mode)
    st, vm = p.api("GET", "/vms/sb")
    assert vm["state"] == "standby" and vm["replica"] == "standby" and vm["pid"] > 0, vm
    o = wait_replica(p, "sb", "waiting", timeout=10)
    assert o["role"] == "standby" and o["running"] is False and o["takeover"] == "external", o
    r = p.ctl("replica", "sb", "status", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "waiting", r
    r = p.ctl("replica", "sb", "status")
    assert r.returncode == 0 and "standby" in r.stdout and "waiting" in r.stdout, r
    # The same standby again: done already (the agent repeats itself); another one: refused.
    assert p.ctl("replica", "sb", "standby", "--listen", url).returncode == 0
    r = p.ctl("replica", "sb", "standby", "--listen", f"tcp:127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "already" in r.stderr, r.stderr
    # Nothing to promote yet: refused with the reason, the standby waits on.
    r = p.ctl("replica", "sb", "promote")
    assert r.returncode == 1 and "no complete checkpoint" in r.stderr, r.stderr
    ev.wait("sb", "promote failed")
    # What a standby is not: started, rebooted, paused, made a primary.
    for verb, msg in (("start", "standby here"), ("reboot", "standby here"), ("pause", "standby here")):
        r = p.ctl(verb, "sb")
        assert r.returncode == 1 and msg in r.stderr, (verb, r.stderr)
    r = p.ctl("replica", "sb", "primary", "--to", "tcp:127.0.0.1:9")
    assert r.returncode == 1 and "promote it first" in r.stderr, r.stderr
    o = replica(p, "sb")
    assert o["state"] == "waiting" and o["running"] is False, o
    # It listens: a peer that is no primary is refused, and the standby stops (no guest).
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=5) as s:
        s.sendall(b"GARBAGE!" * 8)
    o = wait_replica(p, "sb", "stopped", timeout=10)
    assert o["running"] is False and o["reason"], o
    ev.wait("sb", "replication stopped")
    r = p.ctl("replica", "sb", "promote")
    assert r.returncode == 1 and "nothing to promote" in r.stderr, r.stderr
    # Destroyed, it is shut off and no restart policy boots it.
    assert p.ctl("destroy", "sb").returncode == 0
    st, vm = p.api("GET", "/vms/sb")
    assert vm["state"] == "shut off" and "replica" not in vm, vm
    assert replica(p, "sb")["role"] == "none"


def define_counter(p, name, tap=None):
    return p.define(name, kernel=mgrlib.guest("counter"),
                    **{"boot-source": {"kernel_image_path": str(mgrlib.guest("counter")),
                                       "boot_args": "every=4194304 fill_mib=8 rewrite=1"},
                       "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}})


GEN = r"^gen=(\d+) ok$"


def console(p, name):
    """The guest's console in its worker's log, without petrel's own log lines."""
    text = (p.state / "logs" / f"{name}.worker.log").read_text(errors="replace")
    # a log line may land in the middle of a console line: cut it out where it stands
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+ \[[^\]\n]*\] [^\n]*\n", "", text)


def gens(text):
    return [int(line[4:].split()[0]) for line in text.splitlines()
            if line.startswith("gen=") and line.split()[0][4:].isdigit()]


def test_a_killed_primary_is_not_taken_over_until_promoted(petreld, kvm):
    a, b = petreld(), petreld()  # two hosts
    for p in (a, b):
        assert define_counter(p, "rep")[0] == 201
    ev = mgrlib.Events(b.sock)
    url = f"tcp:127.0.0.1:{free_port()}"
    r = b.ctl("replica", "rep", "standby", "--listen", url, "--timeout-ms", "500")
    assert r.returncode == 0, r.stderr
    r = a.ctl("replica", "rep", "primary", "--to", url, "--interval-ms", "50", "--timeout-ms", "500")
    assert r.returncode == 0, r.stderr  # returns once protected
    o = replica(a, "rep")
    assert o["role"] == "primary" and o["state"] == "protected" and o["running"] is True, o
    # Again: already so.
    assert a.ctl("replica", "rep", "primary", "--to", url).returncode == 0
    ev.wait("rep", "replication protected")
    o = replica(b, "rep")
    assert o["role"] == "standby" and o["running"] is False and b.api("GET", "/vms/rep")[1]["state"] == "standby"
    # A primary cannot be promoted.
    r = a.ctl("replica", "rep", "promote")
    assert r.returncode == 1 and "only a standby" in r.stderr, r.stderr
    deadline = time.monotonic() + 60
    while len(gens(console(a, "rep"))) < 6:
        assert time.monotonic() < deadline, console(a, "rep")
        time.sleep(0.1)

    # The primary's host dies: its worker killed -9 (petreld's destroy does just that).
    st, vm = a.api("GET", "/vms/rep")
    os.kill(vm["vmm_pid"], signal.SIGKILL)
    ev.wait("rep", "primary lost", timeout=10)
    time.sleep(1.5)  # three failure timeouts: an auto standby would have taken over long ago
    o = replica(b, "rep")
    assert o["state"] == "primary-lost" and o["running"] is False, o
    assert b.api("GET", "/vms/rep")[1]["state"] == "standby"
    waiting = console(b, "rep")
    assert not gens(waiting), waiting  # its guest has not run a step

    # The cluster promotes it (here the fence alert, which says so): it runs on from the last
    # acknowledged checkpoint.
    t = time.monotonic()
    r = b.ctl("replica", "rep", "promote", "--by", "fence alert")
    took = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    e = ev.wait("rep", "promoted")
    assert e.get("by") == "fence alert", e
    o = replica(b, "rep")
    assert o["role"] == "primary" and o["state"] == "active" and o["running"] is True, o
    assert o["promoted_by"] == "fence alert", o
    assert b.api("GET", "/vms/rep")[1]["state"] == "running"
    seen = console(a, "rep")
    last = max(gens(seen))
    deadline = time.monotonic() + 60
    while not [g for g in gens(console(b, "rep")) if g >= last + 2]:
        assert time.monotonic() < deadline, console(b, "rep")
        time.sleep(0.1)
    failover_console.join(seen, console(b, "rep"), GEN)
    # A second promotion is refused.
    r = b.ctl("replica", "rep", "promote")
    assert r.returncode == 1 and "promoted already" in r.stderr, r.stderr
    print(f"promote verb: {took * 1000:.0f} ms; worker failover_ms {e.get('failover_ms')}")


def test_a_killed_standby_is_not_restarted_by_its_policy(petreld):
    """A restart would boot the guest from its disks: a second copy beside the primary."""
    p = petreld()
    assert p.define("sb", kernel="/bin/true", petrel={"restart": "always"})[0] == 201
    r = p.ctl("replica", "sb", "standby", "--listen", f"tcp:127.0.0.1:{free_port()}")
    assert r.returncode == 0, r.stderr
    vm = p.api("GET", "/vms/sb")[1]
    os.kill(vm["vmm_pid"], signal.SIGKILL)
    time.sleep(3)  # past the policy's first backoff (1 s)
    vm = p.api("GET", "/vms/sb")[1]
    assert vm["state"] == "crashed" and "pid" not in vm and "replica" not in vm, vm
    log = (p.state / "logs" / "sb.log").read_text()
    assert "restart policy" not in log and "start failed" not in log, log


@pytest.mark.parametrize("how", ["waiting", "died"])
def test_a_restarted_petreld_readopts_a_standby_as_a_standby(petreld, how):
    """petreld killed (-9) while a standby waits: the next one finds the worker a standby still
    (not a running VM), follows its replication, and keeps refusing what a standby is not; a
    standby that died while petreld was away is crashed, and no restart policy boots it."""
    p = petreld()
    assert p.define("sb", kernel="/bin/true", petrel={"restart": "always"})[0] == 201
    url = f"tcp:127.0.0.1:{free_port()}"
    assert p.ctl("replica", "sb", "standby", "--listen", url).returncode == 0
    wait_replica(p, "sb", "waiting", timeout=10)
    pid = p.api("GET", "/vms/sb")[1]["vmm_pid"]
    p.stop(signal.SIGKILL)
    if how == "died":
        os.kill(pid, signal.SIGKILL)
    p.start()
    vm = p.api("GET", "/vms/sb")[1]
    if how == "died":
        time.sleep(2)  # past the policy's first backoff (1 s)
        vm = p.api("GET", "/vms/sb")[1]
        assert vm["state"] == "crashed" and "pid" not in vm, vm
        assert "restart policy" not in (p.state / "logs" / "sb.log").read_text()
        return
    assert vm["state"] == "standby" and vm["replica"] == "standby" and vm["vmm_pid"] == pid, vm
    o = wait_replica(p, "sb", "waiting", timeout=10)
    assert o["role"] == "standby" and o["running"] is False, o
    # The same standby again is done already; a start is refused: it is no VM to boot here.
    assert p.ctl("replica", "sb", "standby", "--listen", url).returncode == 0
    r = p.ctl("start", "sb")
    assert r.returncode == 1 and "standby here" in r.stderr, r.stderr
    assert [v["name"] for v in p.api("GET", "/list/running")[1]] == ["sb"]
    assert p.ctl("destroy", "sb").returncode == 0
    assert p.api("GET", "/vms/sb")[1]["state"] == "shut off"
