# SPDX-License-Identifier: Apache-2.0
"""Helpers for the jailer's tests and bench/jailer.py: run build/petrel-jailer, talk HTTP to
the jailed petrel's API socket from the host, find the jailed process through its cgroup,
and tear everything down again (kill, wait, rmdir the cgroups, remove the jail tree)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PETREL_BUILD", REPO / "build")).resolve()
JAILER = Path(os.environ.get("PETREL_JAILER", BUILD / "petrel-jailer"))
PETREL = BUILD / "petrel"
CGROUP_V1 = Path("/sys/fs/cgroup")


def cgroup2_mount():
    """Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup/unified on a hybrid host)."""
    for line in Path("/proc/mounts").read_text().splitlines():
        f = line.split()
        if f[2] == "cgroup2":
            return Path(f[1])
    return None


def http_get(sock_path, url="/", timeout=2.0):
    """GET url over the Unix socket; returns (status, body) or raises OSError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def http_request(sock_path, method, url, body=None, timeout=5.0):
    """One request with a JSON body (a str) over the Unix socket; returns (status, body)."""
    data = body.encode() if body is not None else b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(f"{method} {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                  .encode() + data)
        resp = b""
        while chunk := s.recv(65536):
            resp += chunk
    head, _, rbody = resp.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rbody


def wait_api(sock_path, proc=None, timeout=10.0, poll=0.0001):
    """Poll until GET / answers 200; returns the time it first did (time.perf_counter())."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            if http_get(sock_path)[0] == 200:
                return time.perf_counter()
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"jailer exited with {proc.returncode} before the API "
                                 f"answered:\n{out}")
        if time.perf_counter() > deadline:
            raise AssertionError(f"{sock_path} did not answer GET / in {timeout}s")
        time.sleep(poll)


def short_tmpdir(prefix="petrel-jail-"):
    # Short paths: the API socket's host path must fit in a sockaddr_un (108 bytes).
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


class Jail:
    """One jailer run. args are the jailer's options before "--"; petrel_args after it."""

    def __init__(self, base, jail_id, args=(), petrel_args=(), parent_cgroup=None,
                 exec_file=PETREL, uid=12345, gid=12345, user=None, prefix=(), groups=()):
        """uid/gid None: no --uid/--gid (--rootless). user: run the jailer as this uid and
        gid, with no supplementary groups (a caller without root); prefix: a command line
        the jailer's is appended to (run as root, before the switch to user); groups: the
        user's supplementary groups (none by default)."""
        self.groups = list(groups)
        self.base = Path(base)
        self.id = jail_id
        self.exec_name = Path(exec_file).name
        self.parent_cgroup = parent_cgroup or self.exec_name
        self.root = self.base / self.exec_name / jail_id / "root"
        self.user = user
        ids = [*(["--uid", str(uid)] if uid is not None else []),
               *(["--gid", str(gid)] if gid is not None else [])]
        self.cmd = [*prefix, str(JAILER), "--id", jail_id, "--exec-file", str(exec_file),
                    *ids, "--chroot-base-dir", str(self.base),
                    *(["--parent-cgroup", parent_cgroup] if parent_cgroup else []),
                    *args, "--", *petrel_args]
        self.proc = None

    def start(self):
        as_user = {"user": self.user, "group": self.user, "extra_groups": self.groups} \
            if self.user is not None else {}
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **as_user)
        return self

    def cgroup_dirs(self):
        """The cgroup directories (v1 and v2) this jail may have created, existing ones."""
        bases = [CGROUP_V1 / c for c in ("pids", "memory", "cpu", "cpuacct", "cpuset")]
        if cgroup2_mount() and cgroup2_mount() != CGROUP_V1:
            bases.append(cgroup2_mount())
        return [b / self.parent_cgroup / self.id for b in bases
                if (b / self.parent_cgroup / self.id).is_dir()]

    def pids(self):
        """The jailed processes, by host pid, from the jail's cgroups."""
        pids = set()
        for d in self.cgroup_dirs():
            pids |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return sorted(pids)

    def petrel_pid(self, timeout=10.0, must=True):
        """petrel's host pid from the pid file (--new-pid-ns). The jailer writes it once its
        child has exec'd petrel, which may already answer on its socket: on a busy host the
        file comes a moment later, so it is waited for (a whole line: it is created, then
        written). None after the timeout when must is false."""
        pid_file = self.root / f"{self.exec_name}.pid"
        deadline = time.monotonic() + timeout
        while True:
            text = pid_file.read_text() if pid_file.exists() else ""
            if text.endswith("\n"):
                return int(text)
            if time.monotonic() >= deadline or (self.proc is not None and self.proc.poll() is not None
                                                and not text):
                assert not must, f"no pid file {pid_file} after {timeout} s"
                return None
            time.sleep(0.005)

    def close(self):
        """Kill the jailed process, wait for the jailer, remove the cgroups (after the
        processes are gone) and the jail tree. Nothing is unmounted on the host: the jail's
        mount namespace dies with its last process."""
        pids = set(self.pids())
        # A jail without cgroups is found only through its pid file, and killing the jailer
        # instead would leave petrel running (bench/jailer.py left one behind so, beside two
        # fuzzers).
        if "--new-pid-ns" in self.cmd and self.proc is not None and self.root.is_dir():
            pid = self.petrel_pid(timeout=0 if pids else 5, must=False)
            if pid:
                pids.add(pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None and "--new-pid-ns" not in self.cmd and self.proc.poll() is None:
            self.proc.kill()   # the jailer became petrel: found by no cgroup when it has none
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()
        for d in self.cgroup_dirs():
            deadline = time.monotonic() + 5
            while True:
                try:
                    d.rmdir()
                    break
                except OSError:   # EBUSY until the last task has left
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            try:
                d.parent.rmdir()   # the parent cgroup, if no other jail uses it
            except OSError:
                pass
        shutil.rmtree(self.base / self.exec_name / self.id, ignore_errors=True)
