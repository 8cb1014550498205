# SPDX-License-Identifier: Apache-2.0
"""--new-pid-ns without --daemonize: the jailed process lives no longer than its jailer.

The jailer is the process its caller knows: petreld waits for it, kills it when a start takes
too long, and removes the jail once it has ended. A jailed process that outlived it ran on
its own in a jail being removed: under nested KVM a start that outlasted petreld's wait had
its jailer killed while the child was still building the jail; the child exec'd petrel after
petreld's cleanup had removed the jail's /lib (the host's rmdir of that empty directory
detaches the tmpfs and the library binds on it in the jail's namespace), and petrel's loader
found no libc.so.6 (docs/cluster.md). No KVM is needed: petrel serves its API only."""
import ctypes
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import jaillib
import petrel_test

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the jailer needs root"),
    pytest.mark.skipif(not jaillib.JAILER.exists(), reason=f"{jaillib.JAILER} not built"),
]

API_ARGS = ["--api-sock", "/run/api.sock"]
PTRACE_CONT, PTRACE_DETACH, PTRACE_GETEVENTMSG, PTRACE_SEIZE = 7, 17, 0x4201, 0x4206
PTRACE_O_TRACEVFORK, PTRACE_EVENT_VFORK = 0x4, 2
WALL = 0x40000000


def running(pid):
    """Whether pid is a process that has not ended (a zombie has)."""
    return not petrel_test.process_ended(pid)


def wait_gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not running(pid)


def test_petrel_dies_with_its_jailer(base, jails):
    j = jaillib.Jail(base, "jail-life-1", args=["--new-pid-ns"], petrel_args=API_ARGS)
    jails.append(j.start())
    jaillib.wait_api(j.root / "run" / "api.sock", j.proc)
    pid = j.petrel_pid()
    assert running(pid)
    j.proc.kill()   # what petreld does to a worker whose start it gives up on
    j.proc.wait(timeout=10)
    assert wait_gone(pid), f"petrel {pid} outlived its jailer"


def test_daemonized_petrel_outlives_its_jailer(base, jails):
    # --daemonize: the jailer exits once petrel runs; petrel must stay
    j = jaillib.Jail(base, "jail-life-2", args=["--new-pid-ns", "--daemonize"],
                     petrel_args=API_ARGS)
    jails.append(j.start())
    assert j.proc.wait(timeout=10) == 0, j.proc.stdout.read()
    jaillib.wait_api(j.root / "run" / "api.sock")
    pid = j.petrel_pid()
    time.sleep(0.2)
    assert running(pid)
    assert jaillib.http_get(j.root / "run" / "api.sock")[0] == 200


class Ptrace:
    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.restype = ctypes.c_long
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

    def __call__(self, req, pid, addr=None, data=None):
        r = self.libc.ptrace(req, pid, addr, data)
        assert r == 0, f"ptrace({req:#x}, {pid}): {os.strerror(ctypes.get_errno())}"


def test_a_child_whose_jailer_was_killed_does_not_start_petrel(base):
    """The jailer is killed right after its clone, before its child has done anything (held
    there through ptrace, so the timing is the same on every host): the child must not build
    the jail and exec petrel on its own, and says why it stops."""
    jail_id = "jail-life-3"
    root = base / "petrel" / jail_id / "root"
    cmd = [str(jaillib.JAILER), "--id", jail_id, "--exec-file", str(jaillib.PETREL),
           "--uid", "12345", "--gid", "12345", "--chroot-base-dir", str(base), "--new-pid-ns",
           "--", *API_ARGS]
    out_r, out_w = os.pipe()
    jailer = os.fork()
    if jailer == 0:   # stopped before its exec, to be traced from the first instruction on
        try:
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.kill(os.getpid(), signal.SIGSTOP)
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    os.close(out_w)
    pt = Ptrace()
    child = None
    try:
        assert os.WIFSTOPPED(os.waitpid(jailer, os.WUNTRACED)[1])
        pt(PTRACE_SEIZE, jailer, None, ctypes.c_void_p(PTRACE_O_TRACEVFORK))
        os.kill(jailer, signal.SIGCONT)
        while child is None:   # until the clone (CLONE_VFORK) of its child
            _, st = os.waitpid(jailer, WALL)
            assert os.WIFSTOPPED(st), f"the jailer ended before its clone: {st:#x}"
            if st >> 8 == signal.SIGTRAP | PTRACE_EVENT_VFORK << 8:
                msg = ctypes.c_ulong()
                pt(PTRACE_GETEVENTMSG, jailer, None, ctypes.cast(ctypes.byref(msg), ctypes.c_void_p))
                child = msg.value
            else:   # a signal's delivery stop (SIGCONT): on with it
                sig = os.WSTOPSIG(st)
                pt(PTRACE_CONT, jailer, None, ctypes.c_void_p(0 if sig in (signal.SIGSTOP, signal.SIGTRAP) else sig))
        os.waitpid(child, WALL)   # its first stop, before it runs any of its code
        os.kill(jailer, signal.SIGKILL)
        assert os.WTERMSIG(os.waitpid(jailer, 0)[1]) == signal.SIGKILL
        pt(PTRACE_DETACH, child)
        assert wait_gone(child), "the child went on after its jailer was killed"
        os.set_blocking(out_r, False)   # (whatever is left of the child holds no writer)
        out = b""
        try:
            while chunk := os.read(out_r, 65536):
                out += chunk
        except BlockingIOError:
            pass
        text = out.decode(errors="replace")
        assert "the jailer (this process's parent) was killed before petrel's start" in text, text
        assert not (root / "run" / "api.sock").exists()
    finally:
        os.close(out_r)
        for pid in (jailer, child):
            if pid and running(pid):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(jailer, 0)
        except ChildProcessError:
            pass
        pidfile = root / "petrel.pid"
        if pidfile.exists() and running(int(pidfile.read_text() or 0)):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_a_slow_jail_says_how_far_it_got(base):
    """On a slow host (here: a threshold of 0 ms), a line per step on the jailer's stderr, the
    worker's log under petreld: the last one before a kill tells how far the jail got."""
    cmd = [str(jaillib.JAILER), "--id", "jail-life-4", "--exec-file", str(jaillib.PETREL),
           "--uid", "12345", "--gid", "12345", "--chroot-base-dir", str(base), "--new-pid-ns",
           "--", "--version"]
    steps = ["the exec file's shared libraries found", "the jail's tree built", "the cgroups made",
             "the cgroups joined", "in the jail (mount namespace, libraries, pivot_root)"]
    for slow_ms, want in (("0", steps), ("600000", [])):
        r = subprocess.run(cmd, env={**os.environ, "PETREL_JAILER_SLOW_MS": slow_ms},
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        got = [line.removeprefix("petrel-jailer: ").rsplit(", ", 1)[0]
               for line in r.stderr.splitlines() if "a slow host" in line]
        assert got == want, r.stderr
        shutil.rmtree(base / "petrel" / "jail-life-4")
