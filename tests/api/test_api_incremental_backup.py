# SPDX-License-Identifier: Apache-2.0
"""Incremental backups by the disk's backup bitmap (docs/snapshots.md#incremental-backups): a
freestanding guest (tests/guests/blkloop.c, keep=1 slots=5) writes the same 640 KiB of a 64 MiB
disk (1%) round after round. A full member, then an incremental one: it holds those chunks and
little else, and the chain (qemu-img reads the incremental qcow2 over the full raw copy) equals
the disk byte for byte, per `qemu-img compare`. The worker killed with SIGKILL leaves the bitmap
in use: the next backup is full and says why. A worker that stops cleanly writes the bitmap
back: `qemu-img info` lists it on a qcow2 disk, and the next run's incremental carries on."""
import hashlib
import json
import os
import signal
import subprocess

import pytest

import apilib

pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v qemu-img"]).returncode != 0,
                                 reason="qemu-img (qemu-utils) is not installed")]

MiB = 1 << 20
SIZE = 64 * MiB
WRITTEN = 5 * 128 * 1024  # blkloop keep=1 slots=5: slots of 128 KiB from the start of the disk


def boot(api, disk, fmt=None):
    img = str(apilib.guest("blkloop"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": "keep=1 slots=5"}).status == 204
    d = {"drive_id": "data", "path_on_host": str(disk), "is_root_device": False, "is_read_only": False}
    assert api.put("/drives/data", d).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204


def again(workdir, disk):
    """A second worker on the same disk, its guest past round 3: (petrel, client)."""
    (workdir / "again").mkdir()
    q = apilib.Petrel(workdir / "again")
    try:
        boot(q.client(), disk)
        q.expect(r"^blkloop round=3 ok$")
    except BaseException:
        q.close()
        raise
    return q, q.client()


def rounds(p):
    return [int(n) for n in p.lines(r"^blkloop round=(\d+) ok$")]


def backup(api, where, mode, chain="c1", backing=None):
    body = {"backup_dir": str(where), "mode": mode, "chain_id": chain}
    if backing:
        body["backing"] = {"data": backing}
    r = api.put("/snapshot/backup", body, check=False)
    assert r.status == 200, r
    a = r.json
    assert len(a["disks"]) == 1 and a["disks"][0]["drive_id"] == "data", a
    d = a["disks"][0]
    member = where / d["file"]
    assert d["sha256"] == hashlib.sha256(member.read_bytes()).hexdigest()
    return a, d, member


def qimg(*args, ok=True):
    r = subprocess.run(["qemu-img", *map(str, args)], capture_output=True, text=True, timeout=120)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_incremental_member_holds_the_written_percent_and_the_chain_is_the_disk(petrel, api, workdir):
    disk = workdir / "disk.img"
    disk.write_bytes(os.urandom(SIZE))
    boot(api, disk)
    petrel.expect(r"^blkloop round=10 ok$")
    a, full, fmember = backup(api, workdir / "b0", "full")
    # the first backup of a disk: no bitmap yet, a full copy whatever was asked
    assert a["mode"] == "full" and full["file"] == "data.img" and a["chain_id"] == "c1", a
    at = max(rounds(petrel))
    petrel.expect(rf"^blkloop round={at + 10} ok$")  # the guest writes its 1% again and again
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    # a member that cannot be made (its backing is not there) fails cleanly and keeps the marks
    r = api.put("/snapshot/backup", {"backup_dir": str(workdir / "bad"), "mode": "incremental", "chain_id": "c1",
                                     "backing": {"data": "../nowhere/data.img"}}, check=False)
    assert r.status == 400 and "nowhere" in r.fault, r
    assert not [f for f in (workdir / "bad").iterdir() if f.name.startswith("data")]
    a, inc, imember = backup(api, workdir / "b1", "incremental", backing="../b0/data.img")
    assert a["mode"] == "incremental" and inc["file"] == "data.qcow2", a
    # the bitmap marked exactly blkloop's slots; the member holds them (± its metadata)
    assert inc["dirty_bytes"] == WRITTEN, inc
    assert WRITTEN <= inc["bytes_written"] <= WRITTEN + 512 * 1024, inc
    i = json.loads(qimg("info", "--output=json", imember).stdout)
    assert i["backing-filename"] == "../b0/data.img", i
    # written front to back, its checksum on the way (backup() checks it against the file): a
    # sound image, no cluster leaked or used twice
    qimg("check", imember)
    # full + incremental == the disk (paused: nothing changed since; its copy, as the running
    # worker holds the disk's lock), qemu-img's word and ours
    now = workdir / "now.raw"
    now.write_bytes(disk.read_bytes())
    r = qimg("compare", "-f", "qcow2", "-F", "raw", imember, now, ok=False)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr
    flat = workdir / "flat.raw"
    qimg("convert", "-O", "raw", imember, flat)
    assert flat.read_bytes() == now.read_bytes()
    # an incremental with another chain_id is full, and says so
    a, other, _ = backup(api, workdir / "b2", "incremental", chain="c2", backing="../b1/data.qcow2")
    assert a["mode"] == "full" and "chain_id" in a["why"] and other["file"] == "data.img", a
    # killed -9: the bitmap stays in use on disk; the next worker's backup is full, with why
    petrel.close()
    q, qa = again(workdir, disk)
    try:
        a, d, _ = backup(qa, workdir / "b3", "incremental", chain="c2", backing="../b2/data.img")
        assert a["mode"] == "full" and "in use" in a["why"] and d["file"] == "data.img", a
    finally:
        q.close()


def test_qcow2_disk_bitmap_survives_a_clean_stop(petrel, api, workdir):
    disk = workdir / "disk.qcow2"
    qimg("create", "-q", "-f", "qcow2", disk, SIZE)
    boot(api, disk)
    petrel.expect(r"^blkloop round=5 ok$")
    a, full, _ = backup(api, workdir / "b0", "full", chain="q")
    assert a["mode"] == "full"
    at = max(rounds(petrel))
    petrel.expect(rf"^blkloop round={at + 5} ok$")
    petrel.signal(signal.SIGTERM)  # a clean stop: the bitmap written back into the image
    petrel.wait()
    i = json.loads(qimg("info", "--output=json", disk).stdout)
    bms = i["format-specific"]["data"].get("bitmaps")
    assert bms and bms[0]["name"] == "petrel-backup:q" and bms[0]["granularity"] == 65536, i
    assert "in-use" not in bms[0]["flags"], bms
    qimg("check", disk)
    # the next run carries on: its first backup is an incremental with the last run's writes
    q, qa = again(workdir, disk)
    try:
        assert qa.patch("/vm", {"state": "Paused"}).status == 204
        a, d, member = backup(qa, workdir / "b1", "incremental", chain="q", backing="../b0/data.img")
        assert a["mode"] == "incremental" and d["dirty_bytes"] == WRITTEN, a
        now = workdir / "now.qcow2"
        now.write_bytes(disk.read_bytes())  # the worker holds the disk's lock
        r = qimg("compare", "-f", "qcow2", "-F", "qcow2", member, now, ok=False)
        assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr
    finally:
        q.close()
