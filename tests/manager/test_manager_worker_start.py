# SPDX-License-Identifier: Apache-2.0
"""A worker that dies before its API socket is there (docs/manager.md#waiting-for-a-worker):
the start fails at once, and the fault quotes what the worker printed, e.g. the dynamic
loader's "libc.so.6: cannot open shared object file" of a broken host. The "petrel" here is a
static program that prints that line and exits 127, as a petrel whose library is missing
does; jailed (the real petrel-jailer execs it as the VM's petrel) and not."""
import shutil
import subprocess
import time

import pytest

import mgrlib

LINE = "/petrel: error while loading shared libraries: libc.so.6: cannot open shared object file"


@pytest.fixture
def broken_petrel(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    src = tmp_path / "broken.c"
    src.write_text('#include <stdio.h>\nint main(void)\n{\n\tfprintf(stderr, "%s\\n", "' + LINE + '");\n'
                   '\treturn 127;\n}\n')
    exe = tmp_path / "petrel"
    r = subprocess.run([cc, "-static", "-O1", "-o", str(exe), str(src)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"no static C library: {r.stderr[-300:]}")
    exe.chmod(0o755)
    tmp_path.chmod(0o755)
    return exe


@pytest.mark.parametrize("jailer", [True, False], ids=["jailed", "no-jailer"])
def test_a_worker_dying_before_its_socket_fails_the_start_at_once(petreld, broken_petrel, tmp_path, jailer):
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"\0" * 4096)
    kernel.chmod(0o644)
    # a long no-progress window: a wait that misses the worker's end would take 30 s or more
    p = petreld(jailer=jailer, args=["--petrel", str(broken_petrel), "--api-timeout", "30000"])
    assert p.define("broken", kernel=kernel)[0] == 201
    t0 = time.monotonic()
    st, body = p.api("POST", "/vms/broken/start")
    took = time.monotonic() - t0
    assert st >= 400, body
    text = str(body)
    assert "ended before its API answered" in text, text
    assert "libc.so.6: cannot open shared object file" in text, text
    assert ("the jailer" if jailer else "the worker (pid") in text, text
    assert took < 10, f"the start failed after {took:.1f} s: {text}"
