# SPDX-License-Identifier: Apache-2.0
"""What a petrel process does for itself, without a VM: Firecracker's signals, seccomp and vmm
metric groups (issue 13), and CPU partitioning of its threads (issue 9, --cpu-affinity and the
config file's "cpu-affinity" section)."""
import json
import os
import re
import signal
import subprocess
import time

import apilib


def _last_line(path):
    return json.loads(path.read_text().splitlines()[-1])


# ---- metrics: signals, seccomp, vmm ----
# Firecracker: src/vmm/src/logger/metrics.rs (SignalMetrics, SeccompMetrics, VmmMetrics) and
# its tests/integration_tests/functional/test_signals.py (a signal sent to the process shows in
# the metrics).

SIGNAL_FIELDS = {"sigbus", "sigsegv", "sigxfsz", "sigxcpu", "sigpipe", "sighup", "sigill"}


def test_signal_groups_count_sigpipe_and_sighup(workdir):
    m = workdir / "metrics.json"
    p = apilib.Petrel(workdir, ["--metrics-path", m])
    try:
        api = p.client()
        assert api.get("/").status == 200
        for _ in range(3):
            p.signal(signal.SIGPIPE)   # counted, otherwise ignored: petrel keeps serving
            time.sleep(0.2)            # (one pending SIGPIPE at a time)
        assert api.get("/").status == 200
        p.signal(signal.SIGHUP)        # a stop signal for petrel: the last line is written
        assert p.wait() == -signal.SIGHUP, p.describe()
    finally:
        p.close()
    line = _last_line(m)
    assert set(line["signals"]) == SIGNAL_FIELDS
    assert line["signals"]["sigpipe"] == 3 and line["signals"]["sighup"] == 1, line["signals"]
    assert line["signals"]["sigsegv"] == 0
    assert line["seccomp"] == {"num_faults": 0}
    assert set(line["vmm"]) == {"panic_count", "device_events"} and line["vmm"]["panic_count"] == 0


def test_fatal_signal_writes_a_last_line(workdir):
    # SIGBUS (a truncated memory file in real life): counted, one last line, then petrel dies of it.
    m = workdir / "metrics.json"
    p = apilib.Petrel(workdir, ["--metrics-path", m, "--id", "vm-7"])
    try:
        p.client().get("/")
        p.signal(signal.SIGBUS)
        rc = p.wait()
    finally:
        p.close()
    assert rc == -signal.SIGBUS, p.describe()
    line = _last_line(m)
    assert line["signals"]["sigbus"] == 1 and line["signals"]["sigsegv"] == 0
    assert line["seccomp"]["num_faults"] == 0 and line["vmm"]["panic_count"] == 0
    assert isinstance(line["utc_timestamp_ms"], int)


def test_seccomp_fault_counted(workdir):
    # A forbidden system call (the test trigger on the API thread): seccomp.num_faults in the
    # line written before petrel dies of SIGSYS.
    m = workdir / "metrics.json"
    env = dict(os.environ, PETREL_SECCOMP_TEST_TRIGGER="api")
    r = subprocess.Popen([str(apilib.petrel_bin()), "--api-sock", str(workdir / "api.sock"),
                          "--metrics-path", str(m)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not (workdir / "api.sock").exists() and time.monotonic() < deadline and r.poll() is None:
            time.sleep(0.02)
        try:
            apilib.Client(workdir / "api.sock").request("GET", "/", check=False)
        except OSError:
            pass
        _, err = r.communicate(timeout=30)
    finally:
        if r.poll() is None:
            r.kill()
            r.wait()
    assert r.returncode in (-signal.SIGSYS, 128 + signal.SIGSYS), err.decode()
    assert b"forbidden system call" in err
    assert _last_line(m)["seccomp"]["num_faults"] == 1


# ---- CPU partitioning ----

def _allowed():
    return sorted(os.sched_getaffinity(0))


def _thread_cpus(pid):
    """{thread name: [set of CPUs, ...]} from /proc/PID/task/*/status; vCPU threads ("fc_vcpu N")
    are listed together under "fc_vcpu"."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        name = re.sub(r" \d+$", "", re.search(r"^Name:\s*(.*)$", st, re.M).group(1))
        lst = re.search(r"^Cpus_allowed_list:\s*(.*)$", st, re.M).group(1)
        cpus = set()
        for part in lst.split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
        out.setdefault(name, []).append(cpus)
    return out


def test_vmm_threads_pinned(workdir):
    cpu = _allowed()[-1]
    p = apilib.Petrel(workdir, ["--cpu-affinity", f"vmm@[{cpu}]"])
    try:
        p.client().get("/")
        threads = _thread_cpus(p.proc.pid)
        # main (the process's own name), the API server and its HTTP thread, the controller
        for name in ("fc_api", "fc_vmm", "fc_spawn", "petrel"):
            assert threads.get(name) and all(c == {cpu} for c in threads[name]), (name, threads)
    finally:
        p.close()


def test_config_file_section_and_cli_override(workdir):
    # --config-file goes through the controller's section by section; the section is checked
    # against the host before anything starts (no VM can start here: only the checks count)
    cpus = _allowed()
    bad = workdir / "bad.json"
    bad.write_text(json.dumps({"cpu-affinity": {"vcpus": [{"vcpu": 0, "host_cpus": [1023]}]}}))
    r = subprocess.run([str(apilib.petrel_bin()), "--api-sock", str(workdir / "b.sock"),
                        "--config-file", str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "cpu-affinity: vCPU 0: host CPU 1023 is not available to petrel" in r.stderr
    r = subprocess.run([str(apilib.petrel_bin()), "--api-sock", str(workdir / "c.sock"),
                        "--config-file", str(bad), "--cpu-affinity", f"0@[{cpus[0]}]"],
                       capture_output=True, text=True, timeout=30)
    assert "cpu-affinity" not in r.stderr, r.stderr   # the option replaced the file's entry
    bad.write_text(json.dumps({"cpu-affinity": {"vcpus": [{"vcpu": 0, "host_cpus": []}]}}))
    r = subprocess.run([str(apilib.petrel_bin()), "--api-sock", str(workdir / "d.sock"),
                        "--config-file", str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "cpu-affinity.vcpus[0].host_cpus: an empty list" in r.stderr


def test_run_refuses_cpus_it_may_not_use(workdir):
    # `taskset` (or a cgroup cpuset) gives petrel one CPU: another is refused, naming both
    allowed = _allowed()
    if len(allowed) < 2:
        import pytest
        pytest.skip("needs two host CPUs")
    r = subprocess.run(["taskset", "-c", str(allowed[0]), str(apilib.petrel_bin()), "run",
                        "--kernel", "/nonexistent", "--cpu-affinity", f"0@[{allowed[1]}]"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert (f"cpu-affinity: vCPU 0: host CPU {allowed[1]} is not available to petrel (its affinity "
            f"mask and cgroup cpuset allow {allowed[0]})") in r.stderr
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--kernel", "/nonexistent", "--cpus", "2",
                        "--cpu-affinity", "2@[0]"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "vCPU 2: the VM has 2 vCPUs (0-1)" in r.stderr
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--kernel", "/nonexistent",
                        "--cpu-affinity", "0@[0"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--cpu-affinity" in r.stderr


# ---- with a VM (these need /dev/kvm: apilib.guest skips without it) ----

def _start_counter(api, vcpus=2):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": "every=1048576"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": vcpus, "mem_size_mib": 128}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r


def test_vcpu_and_io_threads_pinned(workdir):
    cpus = _allowed()
    first, last = cpus[0], cpus[-1]
    p = apilib.Petrel(workdir, ["--cpu-affinity", f"0@[{first}],1@[{last}],io@[{last}],vmm@[{first}]"])
    try:
        api = p.client()
        _start_counter(api)
        p.expect(r"^count=2$")
        threads = _thread_cpus(p.proc.pid)
        assert sorted(map(sorted, threads["fc_vcpu"])) == sorted([[first], [last]]), threads
        assert threads["fc_io"] == [{last}], threads
        assert all(c == {first} for c in threads["fc_vmm"] + threads["fc_api"]), threads
    finally:
        p.close()


def test_snapshot_load_takes_the_loading_petrels_placement(workdir):
    # The placement is not guest state: a snapshot taken with vCPUs on one CPU loads with
    # the CPUs the loading petrel was given.
    cpus = _allowed()
    first, last = cpus[0], cpus[-1]
    d1, d2 = workdir / "one", workdir / "two"
    d1.mkdir()
    d2.mkdir()
    p = apilib.Petrel(d1, ["--cpu-affinity", f"0@[{first}],1@[{first}]"])
    try:
        api = p.client()
        _start_counter(api)
        p.expect(r"^count=2$")
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(workdir / "s"),
                                         "mem_file_path": str(workdir / "m")})
        assert r.status == 204, r
    finally:
        p.close()
    p = apilib.Petrel(d2, ["--cpu-affinity", f"0@[{last}],1@[{last}]"])
    try:
        r = p.client().put("/snapshot/load", {"snapshot_path": str(workdir / "s"),
                                              "mem_backend": {"backend_type": "File",
                                                              "backend_path": str(workdir / "m")},
                                              "resume_vm": True})
        assert r.status == 204, r
        assert "cpu-affinity" not in json.dumps(p.client().get("/vm/config").json)
        threads = _thread_cpus(p.proc.pid)
        assert threads["fc_vcpu"] == [{last}, {last}], threads
    finally:
        p.close()
