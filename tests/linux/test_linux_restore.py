"""The real Linux guest loaded from a snapshot instead of booted: test_linux_api.py boots it
through the API and snapshots it while /init waits at its console prompt; here a fresh petrel
loads that snapshot (PUT /snapshot/load, resume_vm) and the guest goes on from the prompt: it
reads the typed line, echoes it, uses its devices again (virtio-rng and virtio-blk through
their queues, a timer sleep) and powers off; petrel exits 0. A restore takes milliseconds where
a boot takes minutes on a nested host.

Runs after test_linux_api.py (file order); fails if that test left no snapshot.
Console in build/linux-restore.log."""
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import linuxlib
import test_linux_api as linux_api

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "api"))
import apilib  # noqa: E402

PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
LOG = ROOT / "build" / "linux-restore.log"
INPUT_LINE = "restored-from-snapshot"


def test_linux_restores_from_a_snapshot_at_its_prompt():
    assert linux_api.SNAP_STATE.is_file() and linux_api.SNAP_MEM.is_file(), \
        "no snapshot from test_linux_api.py (it must run first and pass)"
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-restore-", dir="/tmp"))
    sock = work / "api.sock"
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info", "--show-level"]
    try:
        with open(LOG, "wb") as log:
            proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
            api = apilib.Client(sock)
            try:
                linuxlib.wait_for_socket(sock, proc)
                t0 = time.time()
                r = api.put("/snapshot/load", {"snapshot_path": str(linux_api.SNAP_STATE),
                                               "mem_backend": {"backend_type": "File",
                                                               "backend_path": str(linux_api.SNAP_MEM)},
                                               "resume_vm": True})
                load_s = time.time() - t0
                assert r.status == 204, f"snapshot load: {r}"
                print(f"snapshot loaded and resumed in {load_s * 1000:.1f} ms")
                assert api.get("/").json["state"] == "Running"
                run = linuxlib.run_console(proc, con, time.time(), INPUT_LINE, restored=True,
                                           checks_timeout=10 * 60)
            finally:
                api.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        where = linuxlib.assert_healthy(run, proc, con, LOG)
        assert run.echo == INPUT_LINE, f"guest echoed {run.echo!r}" + where
        rng = run.value("restored-hwrng-bytes", "")
        assert len(rng) == 32 and len(set(rng)) > 4, f"hwrng after restore gave {rng!r}" + where
        assert run.value("restored-disk-read") == str(16 * 4096), \
            f"disk read after restore: {run.value('restored-disk-read')}" + where
        assert run.value("restored-sleep") == "ok", "a 1 s sleep did not end after restore" + where
        # petrel's VMGenID device and GED in the DSDT, found by Linux (an initramfs older than
        # this check prints nothing)
        genid = run.value("restored-acpi-genid")
        assert genid in (None, "2"), f"ACPI VMGENCTR + ACPI0013 devices after restore: {genid}" + where
        assert run.done is not None and run.rc == 0, f"petrel exited {run.rc}" + where
    finally:
        shutil.rmtree(work, ignore_errors=True)
