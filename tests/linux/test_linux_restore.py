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
    linux_api.require_snapshot()
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
                linuxlib.load_snapshot(api, linux_api.SNAP_STATE, linux_api.SNAP_MEM)
                load_s = time.time() - t0
                print(f"snapshot loaded and resumed in {load_s * 1000:.1f} ms")
                assert api.get("/").json["state"] == "Running"
                run = linuxlib.run_console(proc, con, time.time(), INPUT_LINE, restored=True,
                                           checks_timeout=10 * 60)
            finally:
                api.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        where = linuxlib.assert_goes_on_from_the_prompt(run, proc, con, LOG, INPUT_LINE)
        # petrel's VMGenID device and GED in the DSDT, found by Linux (an initramfs older than
        # this check prints nothing)
        genid = run.value("restored-acpi-genid")
        assert genid in (None, "2"), f"ACPI VMGENCTR + ACPI0013 devices after restore: {genid}" + where
    finally:
        shutil.rmtree(work, ignore_errors=True)
