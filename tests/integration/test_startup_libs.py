# SPDX-License-Identifier: Apache-2.0
"""Which shared libraries petrel loads at start (src/util/lazy_libs.c, docs/performance.md#start-up):
the program links libc alone; a bare `petrel run` (kernel, memory, vCPUs...) loads none of
libjansson, zlib and liburing, every other mode loads all three at the start of main, before
seccomp and before any thread. Read from the dynamic loader's own trace (LD_DEBUG=files), so
no KVM is needed: the libraries are loaded, or not, before petrel opens /dev/kvm."""
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PETREL_BUILD", REPO / "build")).resolve()
PETREL = BUILD / "petrel"
LAZY = ("libjansson.so.4", "libz.so.1", "liburing.so.2")


def loaded(args, timeout=20):
    """{soname: 'needed' | 'dynamically loaded'} for every library the loader reported (petrel
    dlopens its libraries by full path from the C library's directory: the name is the key)."""
    if not PETREL.exists():
        pytest.skip(f"{PETREL} not built")
    env = dict(os.environ, LD_DEBUG="files")
    try:
        p = subprocess.run([str(PETREL), *args], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        err = p.stderr
    except subprocess.TimeoutExpired as e:   # a serving API mode: what it loaded so far
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
    out = {}
    for m in re.finditer(r"file=(\S+) \[\d+\];\s+(needed|dynamically loaded) by", err):
        out.setdefault(os.path.basename(m.group(1)), m.group(2))
    return out


def kernel(tmp):
    path = Path(tmp) / "k.elf"
    path.write_bytes(b"\x7fELF")   # never read: petrel stops at /dev/kvm or at the check
    return str(path)


def test_program_links_libc_only():
    libs = loaded(["--version"])
    assert "libc.so.6" in libs and libs["libc.so.6"] == "needed"
    for so in LAZY:
        assert libs.get(so) != "needed", f"{so} is linked into petrel again"


def test_bare_run_loads_none():
    with tempfile.TemporaryDirectory() as d:
        libs = loaded(["run", "--kernel", kernel(d), "--mem", "128", "--cpus", "1", "--debug-exit"])
    assert "libc.so.6" in libs
    for so in LAZY:
        assert so not in libs, f"a bare petrel run loaded {so}: {libs}"


@pytest.mark.parametrize("extra", [["--disk", "/nonexistent.img"], ["--net", "tap=petrel-nosuch"],
                                   ["--restore", "/nonexistent.state"], ["--ker", "x"]],
                         ids=["disk", "net", "restore", "abbreviated"])
def test_run_with_more_loads_all_at_start(extra):
    with tempfile.TemporaryDirectory() as d:
        libs = loaded(["run", "--kernel", kernel(d), *extra])
    for so in LAZY:
        assert libs.get(so) == "dynamically loaded", f"petrel run {extra} did not load {so}: {libs}"


def test_api_mode_loads_all_at_start():
    with tempfile.TemporaryDirectory() as d:
        libs = loaded(["--api-sock", os.path.join(d, "api.sock")], timeout=3)
    for so in LAZY:
        assert libs.get(so) == "dynamically loaded", f"the API mode did not load {so}: {libs}"
