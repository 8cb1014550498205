"""Driving a real Linux guest over petrel's console, shared by the tests in tests/linux.

The guest's /init (scripts/guest-init, with petrel.test=1) speaks a small line protocol:
PETREL-INIT (user space is up), PETREL-CHECK key=value, PETREL-FAIL: why (a check that makes
going on pointless: the VM stops next), PETREL-READ> (waits for one console line),
PETREL-ECHO:<line>, PETREL-DONE. `run_console` pumps petrel's output until the guest powers off
and never waits without a deadline:
  - the kernel must reach /init within `init_timeout` seconds,
  - after that, the checks must finish (PETREL-DONE and the exit) within `checks_timeout`,
  - the console may not stay silent for longer than `silence_timeout` (a hung guest fails
    long before the other deadlines, which are sized for slow hosts),
  - a line that shows the guest is broken (a PETREL-FAIL, a user-space segfault, a kernel
    oops or panic) ends the wait at once;
and the result carries the console tail for the assertion message.
"""
import os
import re
import selectors
import signal
import socket
import subprocess
import time

# Slow days on nested (PVM) hosts: one boot reached /init only after ~870 s of guest time, and on
# 2026-11-24 a quiet PVM host took 587 s to /init and ~290 s more to load the modules and mount
# the disk, past the 8 minutes the checks had then. The deadlines are sized for such days; a
# guest that stops printing altogether fails much earlier, on the silence bound.
INIT_TIMEOUT_S = float(os.environ.get("PETREL_LINUX_INIT_TIMEOUT", 35 * 60))
CHECKS_TIMEOUT_S = float(os.environ.get("PETREL_LINUX_CHECKS_TIMEOUT", 20 * 60))
# Longest console silence seen on a slow day: ~126 s of guest time (the disk checks).
SILENCE_TIMEOUT_S = float(os.environ.get("PETREL_LINUX_SILENCE_TIMEOUT", 10 * 60))

# Console lines that mean the guest is broken: waiting longer only hides the failure.
BROKEN = re.compile(r"PETREL-FAIL|segfault at|general protection fault|Kernel panic|"
                    r"BUG: |Oops: |invalid opcode: |traps: .* trap ")


class Console:
    """petrel's stdout (the guest console) and stderr, read without blocking, logged."""

    def __init__(self, proc, log):
        self.proc = proc
        self.log = log
        self.sel = selectors.DefaultSelector()
        for stream, name in ((proc.stdout, "out"), (proc.stderr, "err")):
            os.set_blocking(stream.fileno(), False)
            self.sel.register(stream, selectors.EVENT_READ, name)
        self.partial = {"out": b"", "err": b""}
        self.lines = []  # (host time the line arrived, console line without CR/LF)
        self.stderr_lines = []

    def open_streams(self):
        return len(self.sel.get_map()) > 0

    def pump(self, timeout):
        """Read whatever arrives within timeout seconds; return the new console lines (none once
        its log is closed: the guest was closed, a second close pumps nothing)."""
        if self.log.closed:
            return []
        new = []
        for key, _ in self.sel.select(timeout):
            try:
                data = os.read(key.fileobj.fileno(), 65536)
            except BlockingIOError:
                continue
            name = key.data
            if not data:
                self.sel.unregister(key.fileobj)
                data = b"\n" if self.partial[name] else b""
            now = time.time()
            if name == "out":
                self.log.write(data)
            buf = self.partial[name] + data
            *complete, self.partial[name] = buf.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace").replace("\r", "")
                if name == "out":
                    self.lines.append((now, line))
                    new.append((now, line))
                else:
                    self.stderr_lines.append(line)
                    self.log.write(f"[petrel stderr] {line}\n".encode())
        self.log.flush()
        return new

    def pending_text(self):
        return self.partial["out"].decode("utf-8", "replace")

    def tail(self, n=40):
        out = [line for _, line in self.lines[-n:]]
        if self.partial["out"]:
            out.append(self.pending_text())
        return "\n".join(out + [f"[petrel stderr] {l}" for l in self.stderr_lines[-10:]])


def spawn(argv, log, cwd=None):
    """Start petrel with its console on pipes, the command line first in the log."""
    log.write(f"# {' '.join(argv)}\n".encode())
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd)
    return proc, Console(proc, log)


def wait_for_socket(sock, proc, con=None, timeout=30.0):
    """Until petrel's API socket accepts connections (the file appears at bind(), a moment
    before listen()); fails with what petrel said if it died or never listened."""
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if sock.exists():
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(sock))
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.01)
    said = ""
    if con:
        con.pump(1.0)
        said = "\n" + con.tail()
    raise AssertionError(f"petrel's API socket {sock} never accepted a connection (exit status "
                         f"{proc.poll()}){said}")


class Run:
    """What run_console saw."""

    def __init__(self):
        self.checks = {}       # key -> (host time the line arrived, value)
        self.init = None       # host time of PETREL-INIT
        self.read = None       # host time the input line was sent
        self.echo = None       # the line the guest echoed
        self.done = None       # host time of PETREL-DONE
        self.broken = None     # the first console line that showed the guest broken
        self.timed_out = None  # which deadline passed, or None
        self.rc = None         # petrel's exit status (None: killed)
        self.elapsed = 0.0

    def value(self, key, default=None):
        return self.checks[key][1] if key in self.checks else default

    def absorb(self, when, line):
        """Take in one console line of the protocol."""
        m = re.search(r"PETREL-CHECK (\S+)=(.*)$", line)
        if m:
            self.checks[m.group(1)] = (when, m.group(2).strip())
        if "PETREL-ECHO:" in line:
            self.echo = line.split("PETREL-ECHO:", 1)[1].strip()
        if "PETREL-DONE" in line:
            self.done = when
        if self.broken is None and BROKEN.search(line):
            self.broken = line.strip()

    def absorb_earlier(self, con):
        """Take in what another console showed before this run's (the source's, before a
        migration): its lines first, this run's own lines win."""
        earlier = Run()
        for when, line in con.lines:
            earlier.absorb(when, line)
        self.checks = {**earlier.checks, **self.checks}
        self.echo = self.echo or earlier.echo
        self.done = self.done or earlier.done
        self.broken = self.broken or earlier.broken


def run_console(proc, con, start, input_line, on_tick=None, on_prompt=None, restored=False,
                init_timeout=INIT_TIMEOUT_S, checks_timeout=CHECKS_TIMEOUT_S,
                silence_timeout=SILENCE_TIMEOUT_S):
    """Follow the guest until petrel exits, a deadline passes or the guest shows it is broken.
    Types input_line at PETREL-READ> (nothing when it is None: typed already). on_tick(run) is
    called about once a second (pausing and resuming through the API, say); on_prompt(run) once
    the prompt is there, before the line is typed (a snapshot at that point). restored: the guest was loaded from such a
    snapshot, so it is past /init and at the prompt already. Kills petrel if it is still
    running at the end."""
    run = Run()
    if restored:
        run.init = start
    sent = False
    heard = time.time()  # when the console last printed anything
    ticked = 0.0  # when on_tick last ran
    try:
        while con.open_streams():
            now = time.time()
            deadline = start + init_timeout if run.init is None else run.init + checks_timeout
            if now >= deadline:
                run.timed_out = ("reach /init" if run.init is None else "finish the checks")
                run.timed_out += f" within {deadline - (start if run.init is None else run.init):.0f}s"
                break
            # Before /init a quiet kernel (linuxguest.CMDLINE) prints nothing at all: there only
            # the deadline to reach /init bounds the wait.
            if run.init is not None and now - heard >= silence_timeout:
                run.timed_out = f"print anything for {now - heard:.0f}s (stalled)"
                break
            for when, line in con.pump(min(deadline - now, 1.0)):
                heard = when
                if "PETREL-INIT:" in line and run.init is None:
                    run.init = when
                    print(f"user space after {when - start:.1f}s: {line.strip()}")
                run.absorb(when, line)
            if run.broken:
                con.pump(2.0)  # the lines that explain it
                break
            # Not on every line: petrel logs each API request, so a tick that asks the API
            # would wake itself at once and spin (a GET every 0.4 ms, the guest starved).
            if on_tick and time.time() - ticked >= 1.0:
                ticked = time.time()
                on_tick(run)
            # The prompt line may still sit in the partial buffer: look there too.
            if not sent and input_line is not None and (restored or "PETREL-READ>" in con.pending_text() or
                             any("PETREL-READ>" in l for _, l in con.lines[-5:])):
                if on_prompt:
                    on_prompt(run)
                run.read = time.time()
                sent = True
                try:
                    proc.stdin.write(f"{input_line}\n".encode())
                    proc.stdin.flush()
                except BrokenPipeError:
                    pass  # petrel already gone: the exit status tells why
        if run.timed_out is not None and proc.poll() is None:
            dump_vcpus(proc, con)
        if run.timed_out is None and run.broken is None:
            try:
                run.rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.timed_out = "exit within 60s of closing its console"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in (proc.stdin, proc.stdout, proc.stderr):
            try:
                s.close()
            except OSError:
                pass
    run.elapsed = time.time() - start
    return run


def configure_and_run(api, proc, con, sock, requests, start, input_line, **kw):
    """The API-mode boot the tests share: wait for petrel's socket, PUT each (path, body) of
    requests (each must answer 204; (path, body, False) for one the spec has not), then run_console(..., **kw); the client is closed and petrel
    killed if it is still there, whatever happened."""
    try:
        wait_for_socket(sock, proc, con)
        for path, body, *spec in requests:   # (path, body[, False]): not in the API's spec
            r = api.put(path, body, check=spec[0] if spec else True)
            assert r.status == 204, f"PUT {path}: {r}"
        return run_console(proc, con, start, input_line, **kw)
    finally:
        api.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def dump_vcpus(proc, con, times=3, gap=5.0):
    """Before a stalled guest is killed: have petrel log where each vCPU is (SIGUSR2), a few
    times apart, so the log shows whether they move (ring 3 spinning, ring 0 stuck, halted)."""
    for _ in range(times):
        try:
            proc.send_signal(signal.SIGUSR2)
        except ProcessLookupError:
            return
        end = time.time() + gap
        while time.time() < end and con.open_streams():
            con.pump(end - time.time())


def describe(run, proc, con, log):
    """The tail of an assertion message: exit status, time and the console's last lines."""
    return (f"\n--- petrel exit status {proc.returncode} after {run.elapsed:.0f}s; last console lines"
            f" (full log: {log}) ---\n{con.tail()}")


def assert_healthy(run, proc, con, log):
    """The checks every real-Linux run shares: no deadline passed, nothing broke, /init ran
    and its environment check passed."""
    where = describe(run, proc, con, log)
    assert run.broken is None, f"guest broke: {run.broken}" + where
    assert run.timed_out is None, f"guest did not {run.timed_out}" + where
    assert run.init is not None, "guest never reached /init (no PETREL-INIT line)" + where
    env = run.value("env", "missing")
    assert env.startswith("ok") or run.value("restored-uptime"), \
        f"guest user-space environment check: {env}" + where
    return where


def rss_kib(pid):
    """A process's resident set (VmRSS) in KiB; -1 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def load_snapshot(api, state, mem, **more):
    """PUT /snapshot/load of a snapshot taken at the guest's prompt, resumed at once; more:
    further fields of the request (overrides)."""
    r = api.put("/snapshot/load", {"snapshot_path": str(state),
                                   "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
                                   "resume_vm": True, **more})
    assert r.status == 204, f"snapshot load: {r}"


def assert_goes_on_from_the_prompt(run, proc, con, log, input_line, after="restore"):
    """What a guest taken from the snapshot at its prompt (restored, migrated, failed over)
    must do: read and echo the typed line, use virtio-rng and virtio-blk again, sleep on a
    timer, power off, and petrel exits 0."""
    where = assert_healthy(run, proc, con, log)
    assert run.echo == input_line, f"guest echoed {run.echo!r}" + where
    rng = run.value("restored-hwrng-bytes", "")
    assert len(rng) == 32 and len(set(rng)) > 4, f"hwrng after {after} gave {rng!r}" + where
    assert run.value("restored-disk-read") == str(16 * 4096), \
        f"disk read after {after}: {run.value('restored-disk-read')}" + where
    assert run.value("restored-sleep") == "ok", f"a 1 s sleep did not end after {after}" + where
    assert run.done is not None and run.rc == 0, f"petrel exited {run.rc}" + where
    return where
