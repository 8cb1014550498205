# SPDX-License-Identifier: Apache-2.0
"""A worker that outlives its SIGKILL (a process stopped in the kernel: here in a frozen
cgroup-v1 freezer, as on a dead disk or NFS server) keeps its jail, socket and cgroup: petreld
must not start another worker for that VM until the old one has ended — before, the next
start launched a second worker over the first's jail (worker.c, worker_launch)."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import mgrlib

FREEZER = Path("/sys/fs/cgroup/freezer")


@pytest.fixture
def freezer_cgroup():
    if os.geteuid() != 0 or not (FREEZER / "cgroup.procs").exists():
        pytest.skip("needs root and the cgroup-v1 freezer")
    cg = FREEZER / f"petrel-test-unkillable-{os.getpid()}"
    cg.mkdir()
    yield cg
    (cg / "freezer.state").write_text("THAWED")
    mgrlib.rmdir_patiently(cg, tries=100)


@pytest.fixture
def freezing_petrel(tmp_path, freezer_cgroup):
    """A 'petrel' that, while the file MARK exists, puts itself into a freezer cgroup and
    freezes it; it never serves an API and exits 1 (at once without MARK)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    mark = tmp_path / "freeze"
    src = tmp_path / "freezing.c"
    src.write_text(f'''#include <stdio.h>
#include <unistd.h>
static void put(const char *path, const char *text)
{{
	FILE *f = fopen(path, "w");
	if (f) {{
		fputs(text, f);
		fclose(f);
	}}
}}
int main(void)
{{
	if (access("{mark}", F_OK) == 0) {{
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		put("{freezer_cgroup}/cgroup.procs", pid);
		put("{freezer_cgroup}/freezer.state", "FROZEN");
	}}
	fprintf(stderr, "no API here\\n");
	return 1;
}}
''')
    exe = tmp_path / "petrel"
    r = subprocess.run([cc, "-O1", "-o", str(exe), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tmp_path.chmod(0o755)
    mark.touch()
    return exe, mark, freezer_cgroup


def frozen_pids(cg):
    return [int(p) for p in (cg / "cgroup.procs").read_text().split()]


def test_no_second_worker_while_the_first_outlives_its_sigkill(petreld, freezing_petrel, tmp_path):
    exe, mark, cg = freezing_petrel
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"\0" * 4096)
    p = petreld(jailer=False, args=["--petrel", str(exe), "--api-timeout", "1000", "--api-timeout-max", "2000"])
    assert p.define("stuck", kernel=kernel)[0] == 201

    # the first start: the worker freezes itself, the wait gives up, SIGKILL does not end it
    st, body = p.api("POST", "/vms/stuck/start")
    assert st >= 400, body
    stuck = frozen_pids(cg)
    assert len(stuck) == 1, (stuck, body)
    assert os.path.exists(f"/proc/{stuck[0]}"), "the frozen worker ended"

    # the next start is refused while it lives, and starts no second worker
    st, body = p.api("POST", "/vms/stuck/start")
    assert st == 409, body
    assert f"previous worker (pid {stuck[0]}) has not ended yet" in str(body), body
    assert frozen_pids(cg) == stuck

    # thawed, the pending SIGKILL ends it; the supervisor sees that, and a start goes ahead
    mark.unlink()
    (cg / "freezer.state").write_text("THAWED")
    deadline = time.monotonic() + 20
    while True:
        st, body = p.api("POST", "/vms/stuck/start")
        if "has not ended yet" not in str(body) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "has not ended yet" not in str(body), body
    assert st >= 400 and re.search(r"(exited|ended) before its API answered", str(body)), body
