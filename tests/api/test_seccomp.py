# SPDX-License-Identifier: Apache-2.0
"""Seccomp (issue 9, docs/security.md#seccomp): every petrel thread runs under a filter, a
forbidden system call ends petrel with a log line naming the thread and the call, and
--no-seccomp / --seccomp-filter FILE change that. The tests of the VM's own threads (vCPUs,
I/O) need /dev/kvm and skip without it."""
import http.client
import json
import os
import signal
import subprocess
import time

import pytest

import apilib

TRIGGER = "PETREL_SECCOMP_TEST_TRIGGER"   # test-only: that kind's first thread calls times()


def task_statuses(pid):
    """{tid: /proc status fields} for every thread of pid but io_uring's kernel workers, which
    never run user code."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                st = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        except FileNotFoundError:
            continue   # ended meanwhile
        if not st["Name"].startswith("iou-"):
            out[int(tid)] = {k: v.strip() for k, v in st.items()}
    return out


def task_status(pid):
    """{tid: (name, Seccomp, NoNewPrivs)} for every thread of pid."""
    return {tid: (st["Name"], st["Seccomp"], st["NoNewPrivs"]) for tid, st in task_statuses(pid).items()}


def assert_all_filtered(pid, expect_names):
    threads = task_status(pid)
    names = sorted(n for n, _, _ in threads.values())
    for n in expect_names:
        assert any(x.startswith(n) for x in names), (n, names)
    for tid, (name, sc, nnp) in threads.items():
        assert sc == "2" and nnp == "1", (tid, name, sc, nnp)
    return names


def test_every_thread_is_filtered(petrel, api):
    assert api.get("/").status == 200
    names = assert_all_filtered(petrel.proc.pid, ["petrel", "fc_spawn", "fc_vmm", "fc_api"])
    assert len(names) == 4, names


def filter_counts(pid):
    """{thread name: Seccomp_filters} of pid's threads."""
    return {st["Name"]: int(st["Seccomp_filters"]) for st in task_statuses(pid).values()}


def test_main_keeps_the_union_and_the_others_stack_their_own(petrel, api):
    # with the built-in lists main's policy is the spawner's union (one filter, as fc_spawn's,
    # which inherits it); every thread they start adds its kind's list on top (docs/security.md)
    assert api.get("/").status == 200
    assert filter_counts(petrel.proc.pid) == {"petrel": 1, "fc_spawn": 1, "fc_vmm": 2, "fc_api": 2}


def maps(pid):
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_the_builtin_filters_need_no_libseccomp(petrel, api):
    # compiled to BPF at build time (src/seccomp/gen/sc_gen.c): a default start installs them
    # without loading libseccomp, which only --seccomp-filter FILE needs
    assert api.get("/").status == 200
    assert "libseccomp" not in maps(petrel.proc.pid)


def test_the_api_keeps_working_under_its_filter(petrel, api, workdir):
    # requests that open files, configure logging and metrics, and fail InstanceStart
    kernel = workdir / "k"
    kernel.write_bytes(b"\0" * 4096)
    assert api.put("/boot-source", {"kernel_image_path": str(kernel)}).status == 204
    assert api.put("/logger", {"log_path": str(workdir / "log"), "level": "Debug"}).status == 204
    assert api.put("/metrics", {"metrics_path": str(workdir / "metrics")}).status == 204
    assert api.put("/drives/root", {"drive_id": "root", "path_on_host": str(kernel),
                                    "is_root_device": True, "is_read_only": True}).status == 204
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status in (204, 400)
    api.put("/actions", {"action_type": "InstanceStart"})   # no /dev/kvm here: a 400
    assert api.get("/vm/config").status == 200
    assert petrel.proc.poll() is None, petrel.describe()
    assert "forbidden system call" not in petrel.err.text() + (workdir / "log").read_text()


@pytest.mark.parametrize("kind,name", [("main", "main"), ("spawn", "fc_spawn"),
                                       ("vmm", "fc_vmm"), ("api", "fc_api")])
def test_a_forbidden_call_ends_petrel_and_says_where(workdir, monkeypatch, kind, name):
    monkeypatch.setenv(TRIGGER, kind)
    p = apilib.Petrel(workdir, wait=False)
    try:
        # every kind's test point is right after its filter is installed (the API thread's
        # too, since it is petrel's own: it dies as it starts, before or after the socket)
        rc = p.wait(10)
        assert rc == -signal.SIGSYS, p.describe()
        assert f"seccomp: thread {name}: forbidden system call 100 (times)" in p.err.text(), p.describe()
    finally:
        p.close()


def test_the_log_file_gets_the_line_too(workdir, monkeypatch):
    monkeypatch.setenv(TRIGGER, "vmm")
    log = workdir / "petrel.log"
    p = apilib.Petrel(workdir, args=["--log-path", log], wait=False)
    try:
        assert p.wait(10) == -signal.SIGSYS
        assert "seccomp: thread fc_vmm: forbidden system call 100 (times)" in log.read_text()
    finally:
        p.close()


def test_no_seccomp(workdir, monkeypatch):
    monkeypatch.setenv(TRIGGER, "vmm")   # nothing to trigger: no filter
    p = apilib.Petrel(workdir, args=["--no-seccomp"])
    try:
        assert p.client().get("/").status == 200
        for tid, (name, sc, nnp) in task_status(p.proc.pid).items():
            assert sc == "0", (name, sc)
        p.signal()
        assert p.wait() == -signal.SIGTERM
    finally:
        p.close()


def write_filter(workdir, doc):
    f = workdir / "filter.json"
    f.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return f


def test_seccomp_filter_file(workdir, monkeypatch):
    # vmm's list from the file: the built-in one plus times(), so the trigger is harmless;
    # the other kinds keep petrel's lists.
    names = ["read", "write", "close", "futex", "exit", "exit_group", "rt_sigprocmask",
             "rt_sigreturn", "madvise", "munmap", "mmap", "mprotect", "brk", "clock_gettime",
             "gettid", "getpid", "prctl", "openat", "newfstatat", "fstat", "lseek", "times",
             "set_robust_list", "rseq", "clock_nanosleep", "fcntl", "eventfd2", "epoll_ctl"]
    doc = {"vmm": {"default_action": "trap", "filter_action": "allow",
                   "filter": [{"syscall": n} for n in names]}}
    monkeypatch.setenv(TRIGGER, "vmm")
    p = apilib.Petrel(workdir, args=["--seccomp-filter", write_filter(workdir, doc)])
    try:
        assert p.client().get("/").status == 200
        time.sleep(0.2)
        assert p.proc.poll() is None, p.describe()
        assert_all_filtered(p.proc.pid, ["fc_vmm", "fc_api"])
        assert "libseccomp" in maps(p.proc.pid)   # compiled at start from the file
        p.signal()
        assert p.wait() == -signal.SIGTERM, p.describe()
    finally:
        p.close()
    # the same file without times(): the trigger kills
    doc["vmm"]["filter"] = [{"syscall": n} for n in names if n != "times"]
    p = apilib.Petrel(workdir, args=["--seccomp-filter", write_filter(workdir, doc)], wait=False)
    try:
        assert p.wait(10) == -signal.SIGSYS
        assert "thread fc_vmm: forbidden system call 100 (times)" in p.err.text()
    finally:
        p.close()


@pytest.mark.parametrize("doc,word", [
    ("{", "not valid JSON"),
    ({"gpu": {}}, "'gpu' is not a thread kind"),
    ({"vcpu": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "nope"}]}},
     "'nope' is not an x86-64 system call"),
])
def test_bad_seccomp_filter_file(workdir, doc, word):
    f = write_filter(workdir, doc)
    r = subprocess.run([str(apilib.petrel_bin()), "--api-sock", str(workdir / "s"), "--seccomp-filter", str(f)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    assert word in r.stderr and str(f) in r.stderr, r.stderr
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--seccomp-filter", str(f), "--kernel", "/x"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and word in r.stderr, r


def test_petrel_run_options(workdir):
    # `petrel run` takes both options; without a kernel it stops at the usual error.
    for extra in (["--no-seccomp"], ["--seccomp-filter=" + str(write_filter(workdir, {"io": {
            "default_action": "trap", "filter_action": "allow", "filter": []}}))]):
        r = subprocess.run([str(apilib.petrel_bin()), "run", *extra, "--kernel", str(workdir / "none")],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode in (1, 2) and "seccomp" not in r.stderr.lower(), r
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--seccomp-filter"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "--seccomp-filter needs a FILE" in r.stderr, r


# ---- a running VM (needs /dev/kvm) ----

def start_counter(api, vcpus=2, may_die=False):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img}).status == 204
    assert api.put("/machine-config", {"vcpu_count": vcpus, "mem_size_mib": 128}).status == 204
    try:
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    except (http.client.RemoteDisconnected, ConnectionResetError):
        # The new thread may trip its filter before the API thread has written the answer: the
        # kill takes the whole process, the answer with it.
        if not may_die:
            raise


def test_vm_threads_are_filtered(petrel, api):
    start_counter(api)
    petrel.expect(r"^count=3$")
    assert_all_filtered(petrel.proc.pid, ["fc_vcpu 0", "fc_vcpu 1", "fc_io", "fc_vmm", "fc_api"])
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    petrel.signal()
    assert petrel.wait() == -signal.SIGTERM, petrel.describe()
    assert "forbidden system call" not in petrel.err.text()


@pytest.mark.parametrize("kind,name", [("vcpu", "fc_vcpu"), ("io", "fc_io")])
def test_vm_thread_filters_kill(workdir, monkeypatch, kind, name):
    apilib.guest("counter")   # skips without /dev/kvm
    monkeypatch.setenv(TRIGGER, kind)
    p = apilib.Petrel(workdir)
    try:
        start_counter(p.client(), vcpus=1, may_die=True)
        assert p.wait(20) == -signal.SIGSYS, p.describe()
        assert f"seccomp: thread {name}" in p.err.text() and "forbidden system call 100 (times)" in p.err.text()
    finally:
        p.close()


# ---- the threads a receiving petrel starts before any VM exists ----

@pytest.mark.parametrize("opt,kind,name", [("--incoming", "migration", "petrel_mig"),
                                           ("--standby", "replication", "petrel_repl")])
def test_receiving_threads(workdir, monkeypatch, opt, kind, name):
    url = f"unix:{workdir / 'peer.sock'}"
    cmd = [str(apilib.petrel_bin()), "run", opt, url]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 10
        while not (workdir / "peer.sock").exists() and time.monotonic() < end and p.poll() is None:
            time.sleep(0.01)
        assert p.poll() is None, p.stderr.read()
        # the socket is there before the thread that will accept on it: wait for the thread
        # (and for the spawner, made just before it, to have named itself from its own thread)
        while time.monotonic() < end and not {name, "fc_spawn"} <= {n for n, _, _ in task_status(p.pid).values()}:
            time.sleep(0.01)
        assert_all_filtered(p.pid, ["petrel", "fc_spawn", name])
    finally:
        p.kill()
        p.wait()
        p.stderr.close()
    monkeypatch.setenv(TRIGGER, kind)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    assert r.returncode == -signal.SIGSYS, r
    assert f"seccomp: thread {name}: forbidden system call 100 (times)" in r.stderr, r.stderr
