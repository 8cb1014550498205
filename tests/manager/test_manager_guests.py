# SPDX-License-Identifier: Apache-2.0
"""petreld with real jailed workers running the counter test guest (needs /dev/kvm): the
lifecycle, partitioning checked in /sys/fs/cgroup, re-adoption after a kill -9 of petreld,
restart policies after a kill -9 of a worker, autostart, a hanging worker, conflicting verbs."""
import os
import signal
import threading
import time

import pytest

import mgrlib
import petrel_test


def wait_state(p, name, state, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        st, vm = p.api("GET", f"/vms/{name}")
        if vm.get("state") == state:
            return vm
        if time.monotonic() >= deadline:
            log = p.state / "logs" / f"{name}.log"
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"
            raise AssertionError(f"{name} is {vm.get('state')}, not {state}; {vm}\n--- {log} ---\n{tail}")
        time.sleep(0.05)


def cg(p, name, ctl, file):
    return (p.cgroup_dir(name, ctl) / file).read_text().strip()


def test_lifecycle_and_partitioning(petreld, kvm):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    assert p.define("life", petrel={"resources": {"cpu_weight": 50, "cpu_quota_pct": 50,
                                                 "cpuset": "0", "memory_limit_mib": 256}})[0] == 201
    st, vm = p.api("POST", "/vms/life/start")
    assert st == 200, vm
    assert vm["state"] == "running" and vm["pid"] > 0
    ev.wait("life", "started")
    # The worker is jailed: its own uid, a chroot, a pid namespace.
    vmm = vm["vmm_pid"]
    assert vmm != vm["pid"]
    status = open(f"/proc/{vmm}/status").read()
    assert "Uid:\t12345" in status
    assert os.readlink(f"/proc/{vmm}/ns/pid") != os.readlink("/proc/self/ns/pid")
    # its root is the jail: the copy of petrel and the kernel petreld put there
    assert os.path.exists(f"/proc/{vmm}/root/petrel") and os.path.exists(f"/proc/{vmm}/root/vm/f0")
    assert not os.path.exists(f"/proc/{vmm}/root/{p.root}")
    # ... and in its cgroups, with the definition's values.
    assert str(vmm) in cg(p, "life", "cpu", "cgroup.procs").split()
    assert cg(p, "life", "cpu", "cpu.shares") == "512"
    assert cg(p, "life", "cpu", "cpu.cfs_quota_us") == "50000"
    assert cg(p, "life", "cpuset", "cpuset.cpus") == "0"
    assert cg(p, "life", "memory", "memory.limit_in_bytes") == str(256 << 20)
    # Changed while it runs, visible in the API.
    r = p.ctl("--json", "set-resources", "life", "--cpu-weight", "400", "--cpu-quota", "80",
              "--memory-limit", "512")
    assert r.returncode == 0, r.stderr
    assert cg(p, "life", "cpu", "cpu.shares") == "4096"
    assert cg(p, "life", "cpu", "cpu.cfs_quota_us") == "80000"
    assert cg(p, "life", "memory", "memory.limit_in_bytes") == str(512 << 20)
    info = p.api("GET", "/vms/life")[1]
    assert info["cgroup"]["cpu.shares"] == "4096"
    ev.wait("life", "resources changed")
    # top: the counter guest keeps its vCPU busy; its worker's memory is counted.
    r = p.ctl("top", "--iterations", "1", "--delay", "1")
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("life "))
    cpu, mem = float(row.split()[3]), float(row.split()[4])
    assert cpu > 10 and mem > 1, row
    # A second start, an undefine while it runs: refused, nothing changes.
    st, body = p.api("POST", "/vms/life/start")
    assert st == 409 and "already running" in body["fault_message"]
    assert p.api("DELETE", "/vms/life")[0] == 409
    assert p.ctl("list").stdout.count("life") == 1
    # Pause and resume through the worker's API.
    assert p.ctl("pause", "life").returncode == 0
    assert p.api("GET", "/vms/life")[1]["state"] == "paused"
    ev.wait("life", "paused")
    assert p.api("POST", "/vms/life/pause")[0] == 409
    assert p.ctl("resume", "life").returncode == 0
    ev.wait("life", "resumed")
    # Destroy: the worker, its jail and its cgroups are gone.
    assert p.ctl("destroy", "life").returncode == 0
    ev.wait("life", "stopped")
    vm = p.api("GET", "/vms/life")[1]
    assert vm["state"] == "shut off" and "pid" not in vm
    assert not os.path.exists(f"/proc/{vmm}")
    assert not p.cgroup_dir("life").exists()
    assert not (p.jails / "petrel" / "life").exists()
    assert p.api("DELETE", "/vms/life")[0] == 204
    ev.close()


def test_kill9_of_petreld_leaves_vms_running_and_they_are_readopted(petreld, kvm):
    p = petreld()
    names = [f"keep{i}" for i in range(4)]
    for n in names:
        assert p.define(n)[0] == 201
        assert p.api("POST", f"/vms/{n}/start")[0] == 200
    assert p.api("POST", "/vms/keep3/pause")[0] == 200
    pids = {n: p.api("GET", f"/vms/{n}")[1]["pid"] for n in names}
    p.stop(signal.SIGKILL)
    for n in names:
        os.kill(pids[n], 0)  # still running
    p.start()
    for n in names:
        vm = p.api("GET", f"/vms/{n}")[1]
        assert vm["pid"] == pids[n]
        assert vm["state"] == ("paused" if n == "keep3" else "running")
    assert "4 worker(s) adopted, 0 found dead" in p.log.read_text()
    # ... and controllable.
    assert p.api("POST", "/vms/keep3/resume")[0] == 200
    for n in names:
        assert p.api("POST", f"/vms/{n}/destroy")[0] == 200
        # No longer petreld's child: whoever reaps it (an init that does not leaves a zombie),
        # the worker has ended by the time destroy answers.
        assert petrel_test.process_ended(pids[n]), f"{n}'s worker {pids[n]} still runs after destroy"


def test_a_reused_pid_is_not_taken_for_a_worker(petreld, kvm):
    p = petreld()
    assert p.define("gone")[0] == 201
    assert p.api("POST", "/vms/gone/start")[0] == 200
    p.stop(signal.SIGKILL)
    run = p.state / "run" / "gone.json"
    import json
    st = json.loads(run.read_text())
    os.kill(st["vmm_pid"], signal.SIGKILL)
    time.sleep(0.5)
    # Pretend the pid now belongs to another process: this test's own, whose start time differs.
    st["pid"] = os.getpid()
    run.write_text(json.dumps(st))
    p.start()
    vm = p.api("GET", "/vms/gone")[1]
    assert vm["state"] == "crashed" and "pid" not in vm
    assert "0 worker(s) adopted, 1 found dead" in p.log.read_text()
    os.kill(os.getpid(), 0)  # and petreld killed nothing of ours


def test_restart_policies_after_a_worker_is_killed(petreld, kvm):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    assert p.define("phoenix", petrel={"restart": "on-failure"})[0] == 201
    assert p.define("mortal", petrel={"restart": "never"})[0] == 201
    for n in ("phoenix", "mortal"):
        assert p.api("POST", f"/vms/{n}/start")[0] == 200
    old = p.api("GET", "/vms/phoenix")[1]
    os.kill(old["vmm_pid"], signal.SIGKILL)
    os.kill(p.api("GET", "/vms/mortal")[1]["vmm_pid"], signal.SIGKILL)
    ev.wait("phoenix", "crashed")
    ev.wait("mortal", "crashed")
    e = ev.wait("phoenix", "restarted", timeout=60)
    assert e["restarts"] == 1
    new = wait_state(p, "phoenix", "running")
    assert new["pid"] != old["pid"]
    assert p.api("GET", "/vms/mortal")[1]["state"] == "crashed"
    # A crashed VM can be started again by hand.
    assert p.api("POST", "/vms/mortal/start")[0] == 200
    ev.close()


def test_a_worker_that_died_while_petreld_was_away(petreld, kvm):
    p = petreld()
    assert p.define("lazarus", petrel={"restart": "always"})[0] == 201
    assert p.api("POST", "/vms/lazarus/start")[0] == 200
    vmm = p.api("GET", "/vms/lazarus")[1]["vmm_pid"]
    p.stop(signal.SIGKILL)
    os.kill(vmm, signal.SIGKILL)
    time.sleep(0.5)
    p.start()
    assert "1 found dead" in p.log.read_text()
    vm = wait_state(p, "lazarus", "running")
    assert vm["vmm_pid"] != vmm
    assert '"event":"crashed"' in (p.state / "logs" / "lazarus.log").read_text()


def test_autostart(petreld, kvm):
    p = petreld()
    assert p.define("early", petrel={"autostart": True})[0] == 201
    assert p.define("late")[0] == 201
    p.stop()
    p.start()
    wait_state(p, "early", "running")
    assert p.api("GET", "/vms/late")[1]["state"] == "shut off"


def test_shutdown_then_destroy_after_the_timeout(petreld, kvm):
    p = petreld(args=["--shutdown-timeout", "2"])
    assert p.define("deaf")[0] == 201  # the counter guest ignores Ctrl-Alt-Del
    assert p.api("POST", "/vms/deaf/start")[0] == 200
    t0 = time.monotonic()
    r = p.ctl("shutdown", "deaf")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 >= 2
    assert p.api("GET", "/vms/deaf")[1]["state"] == "shut off"
    assert "destroying it" in (p.state / "logs" / "deaf.log").read_text()


def test_a_hanging_worker_costs_a_timeout_and_nothing_else(petreld, kvm):
    p = petreld(args=["--api-timeout", "1000"])
    for n in ("hang", "fine"):
        assert p.define(n)[0] == 201
        assert p.api("POST", f"/vms/{n}/start")[0] == 200
    vmm = p.api("GET", "/vms/hang")[1]["vmm_pid"]
    os.kill(vmm, signal.SIGSTOP)
    try:
        st, body = p.api("POST", "/vms/hang/pause")
        assert st == 504 and "hangs" in body["fault_message"], body
        assert p.api("GET", "/vms/hang")[1]["state"] == "running"
        assert p.api("POST", "/vms/fine/pause")[0] == 200
        assert p.api("GET", "/")[0] == 200
    finally:
        os.kill(vmm, signal.SIGCONT)
    assert p.api("POST", "/vms/hang/pause")[0] == 200


def test_conflicting_verbs_at_once(petreld, kvm):
    p = petreld()
    assert p.define("race")[0] == 201
    results = []

    def start():
        results.append(p.api("POST", "/vms/race/start")[0])

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409, 409, 409]
    assert p.api("GET", "/vms/race")[1]["state"] == "running"


def test_snapshot_create_list_revert_delete(petreld, kvm):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    assert p.define("snap")[0] == 201
    assert p.api("POST", "/vms/snap/start")[0] == 200
    r = p.ctl("snapshot-create", "snap", "s1")
    assert r.returncode == 0, r.stderr
    ev.wait("snap", "snapshot created")
    assert p.api("GET", "/vms/snap")[1]["state"] == "running"  # resumed after the snapshot
    snaps = p.api("GET", "/vms/snap/snapshots")[1]
    assert [s["name"] for s in snaps] == ["s1"] and snaps[0]["mem_bytes"] == 32 << 20
    assert p.api("POST", "/vms/snap/snapshots", {"name": "s1"})[0] == 409
    old = p.api("GET", "/vms/snap")[1]
    r = p.ctl("snapshot-revert", "snap", "s1")
    assert r.returncode == 0, r.stderr
    ev.wait("snap", "reverted")
    new = p.api("GET", "/vms/snap")[1]
    assert new["state"] == "running" and new["vmm_pid"] != old["vmm_pid"]
    assert not os.path.exists(f"/proc/{old['vmm_pid']}")
    assert p.ctl("destroy", "snap").returncode == 0
    # A revert of a stopped VM starts it from the snapshot.
    assert p.ctl("snapshot-revert", "snap", "s1").returncode == 0
    assert p.api("GET", "/vms/snap")[1]["state"] == "running"
    assert p.ctl("snapshot-delete", "snap", "s1").returncode == 0
    assert p.api("GET", "/vms/snap/snapshots")[1] == []
    ev.close()


def test_vcpus_and_memory_of_a_running_vm(petreld, kvm):
    p = petreld()
    assert p.define("grow", **{"vcpu-hotplug": {"max_vcpu_count": 2},
                               "balloon": {"amount_mib": 0, "deflate_on_oom": False}})[0] == 201
    assert p.define("fixed")[0] == 201
    for n in ("grow", "fixed"):
        assert p.api("POST", f"/vms/{n}/start")[0] == 200
    r = p.ctl("setvcpus", "grow", "2")
    assert r.returncode == 0, r.stderr
    sock = p.api("GET", "/vms/grow")[1]["api_socket"]
    st, hp = mgrlib.request(sock, "GET", "/hotplug/vcpu")
    assert st == 200 and hp["vcpu_count"] == 2, hp
    assert p.ctl("setmem", "grow", "24").returncode == 0
    st, balloon = mgrlib.request(sock, "GET", "/balloon")
    assert balloon["amount_mib"] == 8, balloon
    assert p.ctl("setmem", "grow", "64").returncode == 1  # more than defined: not with a balloon
    st, body = p.api("PATCH", "/vms/fixed/machine", {"vcpu_count": 2})
    assert st == 409 and "vcpu-hotplug" in body["fault_message"]
