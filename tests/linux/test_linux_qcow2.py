"""The real Linux guest on a qcow2 overlay: the snapshot test_linux_api.py took at the guest's
console prompt is loaded through the API (`PUT /snapshot/load` with petrel's `drive_overrides`)
with its raw ext4 disk replaced by a qcow2 overlay that `petrel image create-overlay` made over
that very image. The typed line makes /init mount the file system again, write a file of its own
through it, read back the file the boot wrote (now served from the backing file), unmount and
power off. Afterwards, on the host: `qemu-img check` finds the overlay clean, the raw base is
byte for byte what it was, and the overlay, read as a whole through qemu-img, holds both files.

Runs after test_linux_api.py (file order); fails if that test left no snapshot.
Console in build/linux-qcow2.log."""
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import linuxguest
import linuxlib
import test_linux_api as linux_api

LOG = linuxguest.ROOT / "build" / "linux-qcow2.log"
LINE = "restored-on-qcow2+disk-write"
OVERLAY_FILE = "/petrel-overlay.txt"
OVERLAY_CONTENT = "".join(f"petrel qcow2 overlay line {i}\n" for i in range(2000)).encode()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_linux_runs_on_a_qcow2_overlay_over_its_raw_disk(netpeer):
    linux_api.require_snapshot()
    if not shutil.which("qemu-img"):
        raise AssertionError("qemu-img not found: install qemu-utils (scripts/setup.sh does)")
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-qcow2-", dir="/tmp"))
    base = linux_api.DISK
    overlay = work / "rootfs.qcow2"
    base_sum = sha256_file(base)
    r = subprocess.run([str(linuxguest.PETREL), "image", "create-overlay", str(base), str(overlay)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"petrel image create-overlay: {r.stdout}{r.stderr}"
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(overlay)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["format"] == "qcow2" and info.get("backing-filename"), info

    try:
        drive = {"drive_id": "rootfs", "path_on_host": str(overlay), "format": "qcow2"}
        with linux_api.loaded_at_prompt(netpeer, work, LOG, drive_overrides=[drive]) as (proc, con, api, t0):
            # check=False: the drive's "format" is petrel's extension (docs/api.md).
            drives = api.get("/vm/config", check=False).json["drives"]
            assert [(d["path_on_host"], d["format"]) for d in drives] == [(str(overlay), "qcow2")], drives
            run = linuxlib.run_console(proc, con, t0, LINE, restored=True, checks_timeout=15 * 60)
        print(f"loaded onto the overlay, wrote through it and powered off in {run.elapsed:.1f} s")
        where = linuxlib.assert_goes_on_from_the_prompt(run, proc, con, LOG, LINE, after="a load onto qcow2")
        want = hashlib.sha256(OVERLAY_CONTENT).hexdigest()
        assert run.value("restored-disk-write-sha256") == want, \
            f"guest wrote {run.value('restored-disk-write-sha256')} through ext4 on the overlay" + where
        assert run.value("restored-disk-old-sha256") == hashlib.sha256(linuxguest.DISK_CONTENT).hexdigest(), \
            "the boot's file, read through the overlay from its backing file, changed" + where

        r = subprocess.run(["qemu-img", "check", str(overlay)], capture_output=True, text=True)
        assert r.returncode == 0 and "No errors were found" in r.stdout, f"qemu-img check: {r.stdout}{r.stderr}"
        assert sha256_file(base) == base_sum, "the raw base image changed under its overlay"
        flat = work / "flat.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(overlay), str(flat)], check=True,
                       capture_output=True)
        assert linuxguest.read_back(flat, OVERLAY_FILE) == OVERLAY_CONTENT, \
            f"{OVERLAY_FILE} read from the overlay is not what the guest wrote"
        assert linuxguest.read_back(flat, linuxguest.DISK_FILE) == linuxguest.DISK_CONTENT
        assert linuxguest.read_back(base, OVERLAY_FILE) == b"", "the guest's write reached the base"
    finally:
        shutil.rmtree(work, ignore_errors=True)
