# SPDX-License-Identifier: Apache-2.0
"""Helpers for running petrel's freestanding test guests under pytest.

Paths: the repository root is two directories above this file; the build
directory is $PETREL_BUILD or <root>/build; guests are in
<build>/tests/guests/NAME.{elf,bzimage}.
"""
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import petrel_test

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 60.0


def build_dir() -> Path:
    return Path(os.environ.get("PETREL_BUILD", REPO / "build")).resolve()


def petrel_bin() -> Path:
    return build_dir() / "petrel"


def disk_pattern(n: int, start: int = 0) -> bytes:
    """disk_pattern() of tests/guests/virtio_common.h for offsets start..start+n."""
    return bytes((((o * 7) ^ (o >> 9) ^ 0x5A) & 0xFF) for o in range(start, start + n))


def pattern2(n: int, start: int) -> bytes:
    """The pattern the virtio_blk guest writes, for offsets start..start+n."""
    return bytes(((0xA5 ^ (o * 13)) & 0xFF) for o in range(start, start + n))


def check_blk_rw_image(path, sectors: int):
    """What the virtio_blk guest (read-write) leaves on an image of `sectors` sectors that held
    disk_pattern: its pattern in sectors 2048-2063, zeroes in 4096-4103 (write-zeroes) and
    8192-8199 (discard), every other byte untouched."""
    data = Path(path).read_bytes()
    assert len(data) == sectors * 512
    w0, w1 = 2048 * 512, 2048 * 512 + 16 * 512
    assert data[w0:w1] == pattern2(w1 - w0, w0), "written sectors 2048-2063 do not hold the guest's data"
    z0, z1 = 4096 * 512, 4104 * 512
    assert data[z0:z1] == bytes(z1 - z0), "write-zeroes range 4096-4103 is not zero"
    d0, d1 = 8192 * 512, 8200 * 512
    assert data[d0:d1] == bytes(d1 - d0), "discarded range 8192-8199 does not read as zeroes"
    # everything else untouched
    expect = bytearray(disk_pattern(sectors * 512))
    expect[w0:w1] = pattern2(w1 - w0, w0)
    expect[z0:z1] = bytes(z1 - z0)
    expect[d0:d1] = bytes(d1 - d0)
    assert data == bytes(expect), "bytes outside the written ranges changed"


def petrel_for_hostile() -> Path:
    """Hostile guests run under the sanitizer build when there is one."""
    asan = Path(os.environ.get("PETREL_ASAN_BUILD", REPO / "build-asan")) / "petrel"
    return asan if asan.exists() else petrel_bin()


# Sanitizer reports end the run at once, and leaks count.
HOSTILE_ENV = dict(ASAN_OPTIONS="detect_leaks=1:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")


def assert_sanitizer_clean(stderr: str):
    assert "ERROR: AddressSanitizer" not in stderr and "runtime error" not in stderr, stderr


def run_hostile(name: str, args, cases_at_least: int, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run hostile guest `name` (petrel run ARGS) under the sanitizer build to its end: it must
    pass, with a clean sanitizer report and at least that many "<name> cases=N"."""
    img = require(name, "elf")
    binary = petrel_for_hostile()
    p = subprocess.run([str(binary), "run", "--kernel", str(img), "--debug-exit", *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **HOSTILE_ENV))
    p.stdout = p.stdout.replace("\r", "")
    assert p.returncode == 0 and re.search(rf"^ok {re.escape(name)}$", p.stdout, re.M), \
        f"{binary} exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert_sanitizer_clean(p.stderr)
    m = re.search(rf"^{re.escape(name.replace('_', '-'))} cases=(\d+)", p.stdout, re.M)
    assert m and int(m.group(1)) >= cases_at_least, p.stdout
    return p


def guest_image(name: str, kind: str = "elf") -> Path:
    assert kind in ("elf", "bzimage"), kind
    return build_dir() / "tests" / "guests" / f"{name}.{kind}"


def require(name: str, kind: str = "elf") -> Path:
    """Skip (not fail) when the pieces to run a guest are missing (a test that runs one needs
    KVM: petrel_test.require_kvm)."""
    petrel_test.require_kvm()
    if not petrel_bin().exists():
        pytest.skip(f"{petrel_bin()} not built")
    img = guest_image(name, kind)
    if not img.exists():
        pytest.skip(f"{img} not built (meson -Dguests=true)")
    return img


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    cmd: list
    elapsed: float

    def describe(self) -> str:
        return (f"$ {' '.join(map(str, self.cmd))}\nexit status {self.returncode} "
                f"after {self.elapsed:.2f}s\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")


class _Reader(threading.Thread):
    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.chunks = []
        self.cond = threading.Condition()
        self.eof = False

    def run(self):
        while True:
            data = self.stream.read1(4096) if hasattr(self.stream, "read1") else self.stream.read(4096)
            with self.cond:
                if not data:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.chunks.append(data)
                self.cond.notify_all()

    def text(self) -> str:
        with self.cond:
            data = b"".join(self.chunks)
        return data.decode("utf-8", "replace").replace("\r", "")


class Guest:
    """A running `petrel run --kernel IMAGE --debug-exit ...`.

    stdin stays open (a pipe) until the guest ends, so petrel never sees
    an EOF on its console unless the test closes it.
    """

    def __init__(self, image, cmdline=None, cpus=None, mem=None, extra=(), timeout=DEFAULT_TIMEOUT, prefix=()):
        # prefix: what runs petrel (e.g. `ip netns exec NS`: its taps are that namespace's)
        self.cmd = [*map(str, prefix), str(petrel_bin()), "run", "--kernel", str(image), "--debug-exit"]
        if cmdline is not None:
            self.cmd += ["--cmdline", cmdline]
        if cpus is not None:
            self.cmd += ["--cpus", str(cpus)]
        if mem is not None:
            self.cmd += ["--mem", str(mem)]
        self.cmd += list(extra)
        self.deadline = time.monotonic() + timeout
        self.start = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=REPO)
        self.out = _Reader(self.proc.stdout)
        self.err = _Reader(self.proc.stderr)
        self.out.start()
        self.err.start()

    def expect(self, pattern: str, timeout: float = None) -> re.Match:
        """Wait until stdout matches the regex; fail the test otherwise."""
        end = min(self.deadline, time.monotonic() + (timeout or DEFAULT_TIMEOUT))
        rx = re.compile(pattern, re.M)
        with self.out.cond:
            while True:
                m = rx.search(b"".join(self.out.chunks).decode("utf-8", "replace").replace("\r", ""))
                if m:
                    return m
                left = end - time.monotonic()
                if left <= 0 or (self.out.eof and self.proc.poll() is not None):
                    break
                self.out.cond.wait(min(left, 0.2))
        res = self.wait(timeout=5)
        pytest.fail(f"guest output never matched {pattern!r}\n{res.describe()}")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def wait(self, timeout: float = None) -> Result:
        left = self.deadline - time.monotonic() if timeout is None else timeout
        try:
            self.proc.wait(timeout=max(left, 0.1))
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.out.join(5)
        self.err.join(5)
        res = Result(self.proc.returncode, self.out.text(), self.err.text(), self.cmd,
                     time.monotonic() - self.start)
        if timed_out:
            pytest.fail(f"guest did not finish in time (killed)\n{res.describe()}")
        return res

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_guest(name, kind="elf", cmdline=None, cpus=None, mem=None, extra=(), timeout=DEFAULT_TIMEOUT,
              input=None) -> Result:
    """Boot a guest to its end; input (str/bytes) is written to the console first."""
    img = require(name, kind)
    g = Guest(img, cmdline=cmdline, cpus=cpus, mem=mem, extra=extra, timeout=timeout)
    try:
        if input:
            g.send(input)
        return g.wait()
    finally:
        g.kill()


def assert_passed(res: Result, name: str):
    assert res.returncode == 0 and re.search(rf"^ok {re.escape(name)}$", res.stdout, re.M), res.describe()
