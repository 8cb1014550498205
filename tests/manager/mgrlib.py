# SPDX-License-Identifier: Apache-2.0
"""Helpers of petreld's tests (and bench/manager.py): a real petreld in a directory of its own
(state, definitions, jails, its own cgroup parent), its API over the Unix socket, petrelctl,
and a teardown that kills what it started and removes its jails and cgroups."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import petrel_test

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PETREL_BUILD", REPO / "build")).resolve()
PETRELD = BUILD / "petreld"
PETRELCTL = BUILD / "petrelctl"
GUESTS = BUILD / "tests" / "guests"


def has_kvm():
    return petrel_test.kvm_usable()


def guest(name):
    return GUESTS / f"{name}.elf"


def request(sock, method, path, body=None, timeout=30.0, raw=None):
    """One request; returns (status, parsed JSON body or None)."""
    if raw is None:
        data = b"" if body is None else (body if isinstance(body, bytes) else
                                         (body if isinstance(body, str) else json.dumps(body)).encode())
        raw = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        try:
            s.sendall(raw)
        except BrokenPipeError:
            pass
        resp = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            resp += chunk
    head, _, rbody = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, (json.loads(rbody) if rbody.strip() else None)


class Events:
    """A subscriber of GET /events: lines as they come."""

    def __init__(self, sock):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(str(sock))
        self.s.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.buf = b""
        self.head = None
        self.seen = []

    def wait(self, vm, event, timeout=30.0, key="vm"):
        """The first event named event whose key ("vm", or "network" for a host network's) is vm."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.seen:
                if e.get(key) == vm and e["event"] == event:
                    self.seen.remove(e)
                    return e
            left = deadline - time.monotonic()
            assert left > 0, f"no event {event} for {vm}; seen {self.seen}"
            self.s.settimeout(left)
            chunk = self.s.recv(65536)
            assert chunk, "the event stream ended"
            self.buf += chunk
            if self.head is None and b"\r\n\r\n" in self.buf:
                self.head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            if self.head is not None:
                *lines, self.buf = self.buf.split(b"\n")
                self.seen += [json.loads(line) for line in lines if line.strip()]

    def close(self):
        self.s.close()


class Petreld:
    def __init__(self, root=None, args=(), jailer=True, prefix=()):
        self.root = Path(root or tempfile.mkdtemp(prefix="pd-", dir="/tmp"))
        self.state = self.root / "s"
        self.defs = self.root / "d"
        self.jails = self.root / "j"
        self.images = self.root / "img"
        self.sock = self.state / "petreld.sock"
        self.cgroup_parent = f"petreld-test-{os.getpid()}-{self.root.name}"
        self.args = list(args) + ([] if jailer else ["--no-jailer"])
        self.prefix = list(prefix)   # e.g. ["ip", "netns", "exec", NS]: another "host"
        self.proc = None
        self.log = self.root / "petreld.log"

    def start(self, wait=True):
        self.proc = subprocess.Popen(
            [*self.prefix, str(PETRELD), "--foreground", "--state-dir", str(self.state), "--defs-dir", str(self.defs),
             "--jail-base", str(self.jails), "--snapshot-dir", str(self.root / "snap"), "--image-dir", str(self.images), "--cgroup-parent", self.cgroup_parent, *self.args],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        if wait:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if request(self.sock, "GET", "/")[0] == 200:
                        break
                except (FileNotFoundError, ConnectionRefusedError):
                    pass
                assert self.proc.poll() is None, f"petreld exited: {self.log.read_text()}"
                assert time.monotonic() < deadline, "petreld did not answer"
                time.sleep(0.01)
        return self

    def api(self, method, path, body=None, **kw):
        return request(self.sock, method, path, body, **kw)

    def ctl(self, *args, check=False, timeout=120):
        # Its output goes to files, not pipes: the call ends when petrelctl does. (In a suite run
        # on the PVM host, two petrelctl calls that had exited 2 at once still timed out after
        # 120 s: their stdout pipe never reached its end, held open by something else of the run.)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            r = subprocess.run([str(PETRELCTL), "--socket", str(self.sock), *args], stdout=out, stderr=err,
                               stdin=subprocess.DEVNULL, timeout=timeout)
            out.seek(0)
            err.seek(0)
            r.stdout, r.stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def define(self, name, kernel=None, petrel=None, **fc):
        doc = {"boot-source": {"kernel_image_path": str(kernel or guest("counter"))},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
               **fc, "petrel": {"name": name, **(petrel or {})}}
        return self.api("POST", "/vms", doc)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def worker_pids(self):
        """Every worker process petreld's run state names (jailer and petrel), alive or not."""
        pids = []
        run = self.state / "run"
        for f in run.glob("*.json") if run.is_dir() else []:
            try:
                st = json.loads(f.read_text())
            except ValueError:
                continue
            pids += [st["pid"], st["vmm_pid"]]
        return [p for p in pids if p > 0]

    def cgroup_dir(self, vm, ctl="cpu"):
        return Path("/sys/fs/cgroup") / ctl / self.cgroup_parent / vm

    def close(self):
        self.stop(signal.SIGKILL)
        for pid in self.worker_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        for ctl in ("cpu", "cpuset", "memory", "cpuacct", "pids"):
            base = Path("/sys/fs/cgroup") / ctl / self.cgroup_parent
            if base.is_dir():
                for d in base.iterdir():
                    if d.is_dir():
                        rmdir_patiently(d)
                try:
                    base.rmdir()
                except OSError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


def rmdir_patiently(d, tries=50):
    """Remove a cgroup directory, which stays busy for a moment after its last process ended."""
    for _ in range(tries):
        try:
            d.rmdir()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat, what petreld checks a pid against."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def leave_workers(p, names, saved_state="running", console_input=False):
    """What a petreld killed with -9 leaves behind, without KVM: a real petrel worker per VM
    (its API up, no VM booted yet) and the run state petreld wrote for it (runstate.c); with
    console_input, its stdin on the FIFO petreld makes for typed keys (console_input.c).
    Returns the worker processes (the caller kills them)."""
    run = p.state / "run"
    run.mkdir(parents=True, exist_ok=True)
    (p.state / "sock").mkdir(parents=True, exist_ok=True)
    procs = []
    for name in names:
        sock = p.state / "sock" / f"{name}.sock"
        stdin = subprocess.DEVNULL
        if console_input:
            fifo = p.state / "sock" / f"{name}.in"
            os.mkfifo(fifo, 0o600)
            stdin = os.open(fifo, os.O_RDWR)
        procs.append((name, sock, subprocess.Popen([str(BUILD / "petrel"), "--api-sock", str(sock)],
                                                   stdin=stdin, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL)))
        if console_input:
            os.close(stdin)
    for name, sock, proc in procs:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, f"worker {name} did not start"
            time.sleep(0.005)
        state = {"pid": proc.pid, "start_time": proc_start_time(proc.pid), "vmm_pid": proc.pid,
                 "api_socket": str(sock), "jail_dir": "", "state": saved_state,
                 "started_at": int(time.time()), "restarts": 0}
        (run / f"{name}.json").write_text(json.dumps(state))
    return [proc for _, _, proc in procs]
