# SPDX-License-Identifier: Apache-2.0
"""Incremental backup jobs (docs/backups.md#incremental-backups), under KVM: a jailed VM whose
guest (tests/guests/blkloop.c, keep=1 slots=5) writes the same 640 KiB (1%) of a 64 MiB disk
round after round, backed up nightly for a simulated week by a job with "mode": "incremental" on
the test clock. The first member is full, the next ones incremental: each holds about the 1%
written, and `qemu-img compare` of each member's chain against the disk as it was that night
(the VM paused for the night's copy) says identical. A restore from a middle member brings the
guest back on that night's disk (blkloop reads back its last slot and checks it: a later night's
disk fails it). The worker killed -9 while it writes a member leaves the chain as it was, and
the next backup is full, saying why (the stale bitmap). backup-verify finds an altered member in
the middle of a chain, and a missing one."""
import datetime
import json
import os
import re
import shutil
import signal
import time

import pytest

import mgrlib
from test_api_incremental_backup import qimg  # qemu-img, its failure the assertion
from test_manager_backup_jobs_kvm import ts, wait_for

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")

UTC = datetime.timezone.utc
MiB = 1 << 20
SIZE = 64 * MiB
WRITTEN = 5 * 128 * 1024   # blkloop keep=1 slots=5


def blkloop_vm(petreld, tmp_path, disk):
    """A petreld (the fixture's) on the test clock (its file, at t0: a Monday) with VM bk running
    blkloop on disk: (petreld, clock file, t0)."""
    clock = tmp_path / "clock"
    clock.write_text(str(ts(2027, 1, 4)))
    p = petreld(args=["--test-clock", str(clock)])
    assert p.define("bk", **{"boot-source": {"kernel_image_path": str(mgrlib.guest("blkloop")),
                                             "boot_args": "keep=1 slots=5"},
                             "drives": [{"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                                         "is_read_only": False}]})[0] == 201
    assert p.api("POST", "/vms/bk/start")[0] == 200
    return p, clock, ts(2027, 1, 4)


def console(p, name):
    text = (p.state / "logs" / f"{name}.worker.log").read_text(errors="replace")
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+ \[[^\]\n]*\] [^\n]*\n", "", text)


def rounds(p, name):
    return [int(n) for n in re.findall(r"^blkloop round=(\d+) ok$", console(p, name), re.M)]


def test_a_week_of_incremental_backups_restored_killed_and_verified(petreld, kvm, tmp_path):
    # a qcow2 disk: its bitmap lives in the image, which the jailed worker writes (a raw disk's
    # sidecar cannot be written back from a jail: docs/backups.md)
    raw = tmp_path / "data.raw"
    raw.write_bytes(os.urandom(SIZE))
    disk = tmp_path / "data.qcow2"
    qimg("convert", "-f", "raw", "-O", "qcow2", raw, disk)
    raw.unlink()
    p, clock, t0 = blkloop_vm(petreld, tmp_path, disk)
    wait_for(lambda: len(rounds(p, "bk")) >= 5)
    target = tmp_path / "target"
    st, job = p.api("POST", "/backup-jobs", {"id": "nightly", "vms": ["bk"], "schedule": "*-*-* 03:00 UTC",
                                             "target_dir": str(target), "mode": "incremental",
                                             "retention": {"keep-last": 10}})
    assert st == 201, job
    backups = target / "bk"

    def night_run(night):
        clock.write_text(str(night))
        wait_for(lambda: p.api("GET", "/backup-jobs/nightly")[1]["last_run"] == night and
                 not p.api("GET", "/backup-jobs/nightly")[1]["busy"])
        job = p.api("GET", "/backup-jobs/nightly")[1]
        assert job["last_result"] == "ok", job["last_vms"]
        return f"nightly-{datetime.datetime.fromtimestamp(night, UTC):%Y%m%dT%H%M%SZ}"

    def snapshot_disk(what):
        """The paused VM's disk as raw (its image copied first: the running worker holds its lock;
        the backup just taken flushed its metadata)."""
        shutil.copyfile(disk, tmp_path / "copy.qcow2")
        qimg("convert", "-O", "raw", tmp_path / "copy.qcow2", tmp_path / f"{what}.raw")
        return tmp_path / f"{what}.raw"

    made, at_night = [], {}
    for day in range(5):
        night = t0 + day * 86400 + 3 * 3600
        before = max(rounds(p, "bk"))
        wait_for(lambda: max(rounds(p, "bk")) >= before + 3)   # the guest writes its 1% again
        # paused for the night: the disk as the backup sees it, copied beside
        assert p.api("POST", "/vms/bk/pause")[0] == 200
        name = night_run(night)
        at_night[name] = max(rounds(p, "bk"))
        copy = snapshot_disk(f"night{day}")
        assert p.api("POST", "/vms/bk/resume")[0] == 200
        meta = json.loads((backups / name / "meta.json").read_text())
        assert meta["created"] == night and meta["chain_id"].startswith("job:nightly:"), meta
        (d,) = meta["disks"]
        member = backups / name / d["file"]
        if day == 0:
            assert meta["mode"] == "full" and d["file"] == "data.img" and "parent" not in meta, meta
        else:
            assert meta["mode"] == "incremental" and meta["parent"] == made[-1] and d["file"] == "data.qcow2", meta
            assert d["dirty_bytes"] == WRITTEN, d
            assert WRITTEN <= d["bytes_written"] <= WRITTEN + 512 * 1024, d
            assert json.loads(qimg("info", "--output=json", member).stdout)["backing-filename"] == \
                f"../{made[-1]}/{'data.img' if day == 1 else 'data.qcow2'}"
        assert meta["sha256"][d["file"]] == d["sha256"]
        # petreld's now, readable by the worker's group (the next worker reads it through a link)
        assert member.stat().st_uid == os.geteuid() and member.stat().st_mode & 0o777 == 0o640
        r = qimg("compare", "-f", "qcow2", "-F", "raw", member, copy, ok=False)
        assert r.returncode == 0 and "identical" in r.stdout, (day, r.stdout, r.stderr)
        made.append(name)
    listed = {b["name"]: b for b in p.api("GET", "/vms/bk/backups")[1]}
    assert set(made) <= set(listed), listed
    assert listed[made[2]]["parent"] == made[1] and listed[made[2]]["mode"] == "incremental"
    assert listed[made[0]]["mode"] == "full" and listed[made[0]]["chain_id"] == listed[made[4]]["chain_id"]
    r = p.ctl("backup-verify", "bk", made[4])
    assert r.returncode == 0 and "verified" in r.stdout, (r.stdout, r.stderr)
    r = p.ctl("backup-list", "bk")   # the job's target's backups, with their chain
    rows = [line.split() for line in r.stdout.splitlines()[2:]]
    assert [x[0] for x in rows] == made and rows[2][4] == made[1] and rows[0][3] == "full", r.stdout

    # a worker stopped cleanly (SIGTERM: the bitmap written back into the image) and started again:
    # the chain goes on with an incremental
    def restart(sig):
        vmm = p.api("GET", "/vms/bk")[1]["vmm_pid"]
        os.kill(vmm, sig)
        wait_for(lambda: p.api("GET", "/vms/bk")[1]["state"] != "running", timeout=30)
        assert p.api("POST", "/vms/bk/start")[0] == 200
        wait_for(lambda: p.api("GET", "/vms/bk")[1]["state"] == "running")
        n = len(rounds(p, "bk"))
        wait_for(lambda: len(rounds(p, "bk")) >= n + 3)

    restart(signal.SIGTERM)
    night = t0 + 5 * 86400 + 3 * 3600
    assert p.api("POST", "/vms/bk/pause")[0] == 200
    name = night_run(night)
    copy = snapshot_disk("night5")
    assert p.api("POST", "/vms/bk/resume")[0] == 200
    meta = json.loads((backups / name / "meta.json").read_text())
    assert meta["mode"] == "incremental" and meta["parent"] == made[-1], meta
    r = qimg("compare", "-f", "qcow2", "-F", "raw", backups / name / "data.qcow2", copy, ok=False)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr
    made.append(name)

    # the worker killed -9 with the night's request on its way (stopped first, then killed): no
    # member, the chain as it was; the next worker's bitmap is stale and its backup full, saying why
    vmm = p.api("GET", "/vms/bk")[1]["vmm_pid"]
    night += 86400
    kill_name = f"nightly-{datetime.datetime.fromtimestamp(night, UTC):%Y%m%dT%H%M%SZ}"
    os.kill(vmm, signal.SIGSTOP)
    clock.write_text(str(night))
    wait_for(lambda: p.api("GET", "/backup-jobs/nightly")[1]["busy"], timeout=30)
    time.sleep(0.3)
    os.kill(vmm, signal.SIGKILL)
    wait_for(lambda: not p.api("GET", "/backup-jobs/nightly")[1]["busy"])
    job = p.api("GET", "/backup-jobs/nightly")[1]
    assert job["last_result"] == "failed", job
    assert not (backups / kill_name).exists() and not list(backups.glob("*.partial"))
    r = p.ctl("backup-verify", "bk", made[-1])
    assert r.returncode == 0, (r.stdout, r.stderr)
    wait_for(lambda: p.api("GET", "/vms/bk")[1]["state"] != "running", timeout=30)
    assert p.api("POST", "/vms/bk/start")[0] == 200
    wait_for(lambda: p.api("GET", "/vms/bk")[1]["state"] == "running")
    time.sleep(1)
    assert p.api("POST", "/vms/bk/pause")[0] == 200
    name = night_run(night + 86400)
    copy = snapshot_disk("night7")
    assert p.api("POST", "/vms/bk/resume")[0] == 200
    meta = json.loads((backups / name / "meta.json").read_text())
    # a killed worker never cleared the image's autoclear bit back: the bitmap is stale
    assert meta["mode"] == "full" and "bitmap is stale" in meta["why"] and "parent" not in meta, meta
    assert meta["disks"][0]["file"] == "data.img"
    r = qimg("compare", "-f", "qcow2", "-F", "raw", backups / name / "data.img", copy, ok=False)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr

    # a restore from a middle member: that night's disk (the chain flattened), the guest on it
    mid = made[2]
    st, body = p.api("POST", "/vms/bk/restore", {"backup": mid})
    assert st == 200, body
    wait_for(lambda: p.api("GET", "/vms/bk")[1]["state"] == "running")
    # the worker loaded the member's state and memory through links, never handed them
    assert all((backups / mid / f).stat().st_uid == os.geteuid() for f in ("vm.state", "vm.mem"))
    # blkloop goes on from that night's round, reading back the slot it wrote last: on another
    # night's disk it stops with "round N: round N-1's block lost its data"
    start = len(console(p, "bk"))
    wait_for(lambda: len(re.findall(r"^blkloop round=\d+ ok$", console(p, "bk")[start:], re.M)) >= 3)
    after = [int(n) for n in re.findall(r"^blkloop round=(\d+) ok$", console(p, "bk")[start:], re.M)]
    assert at_night[mid] < after[0] <= at_night[mid] + 20, (at_night, after)
    assert "lost its data" not in console(p, "bk") and "expected" not in console(p, "bk")[start:]

    # verify: a middle member altered, then one missing
    qc = backups / made[2] / "data.qcow2"
    with open(qc, "r+b") as f:
        f.seek(qc.stat().st_size - 100)
        b = f.read(1)
        f.seek(qc.stat().st_size - 100)
        f.write(bytes([b[0] ^ 1]))
    st, rep = p.api("POST", f"/vms/bk/backups/{made[4]}/verify")
    assert st == 200 and not rep["ok"] and rep["chain"] == made[4::-1], rep
    assert rep["problems"] == [f"member '{made[2]}': data.qcow2 is altered (its SHA-256 differs from the one "
                               "recorded)"], rep
    shutil.rmtree(backups / made[1])
    r = p.ctl("backup-verify", "bk", made[4])
    assert r.returncode == 1 and f"member '{made[1]}' is missing" in r.stderr, (r.stdout, r.stderr)


def test_full_every_restarts_the_chain_and_pruning_removes_whole_chains(petreld, kvm, tmp_path):
    disk = tmp_path / "data.img"
    disk.write_bytes(os.urandom(8 * MiB))
    p, clock, t0 = blkloop_vm(petreld, tmp_path, disk)
    # a bad full-every is refused with its field named
    st, body = p.api("POST", "/backup-jobs", {"id": "w", "vms": ["bk"], "schedule": "daily", "full-every": -1})
    assert st == 400 and "full-every" in body["fault_message"], body
    st, job = p.api("POST", "/backup-jobs", {"id": "w", "vms": ["bk"], "schedule": "*-*-* 03:00 UTC",
                                             "full-every": 2, "retention": {"keep-last": 1}})
    assert st == 201, job
    backups = p.root / "snap" / "bk.backups"
    made, seen = [], []
    for day in range(3):
        night = t0 + day * 86400 + 3 * 3600
        n = len(rounds(p, "bk"))
        wait_for(lambda: len(rounds(p, "bk")) >= n + 2)
        clock.write_text(str(night))
        wait_for(lambda: p.api("GET", "/backup-jobs/w")[1]["last_run"] == night and
                 not p.api("GET", "/backup-jobs/w")[1]["busy"])
        job = p.api("GET", "/backup-jobs/w")[1]
        assert job["last_result"] == "ok", job
        made.append(job["last_vms"]["bk"]["backup"])
        seen.append(job["last_vms"]["bk"]["pruned"])
        meta = json.loads((backups / made[-1] / "meta.json").read_text())
        if day == 1:
            assert meta["mode"] == "incremental" and meta["parent"] == made[0], meta
        else:   # the first member, then full-every 2: a new chain
            assert meta["mode"] == "full" and "parent" not in meta, meta
        if day == 2:
            assert "full-every" in meta["why"] and meta["chain_id"] == f"job:w:{made[2]}", meta
    # keep-last 1: the night-1 incremental kept its full member; the new chain's full let both go
    assert seen == [[], [], sorted(made[:2])], seen
    assert sorted(d.name for d in backups.iterdir()) == [made[2]]
    # the raw disk's bitmap sidecar lives in the jail while the worker runs (the host's name gone:
    # a petreld that died meanwhile would leave none, hence a full backup), and comes back out
    # at a clean stop: the next worker's first backup is an incremental
    sidecar = disk.parent / (disk.name + ".petrel-bitmap")
    assert not sidecar.exists()
    vmm = p.api("GET", "/vms/bk")[1]["vmm_pid"]
    os.kill(vmm, signal.SIGTERM)
    wait_for(lambda: p.api("GET", "/vms/bk")[1]["state"] != "running", timeout=30)
    wait_for(sidecar.exists, timeout=10)
    assert p.api("POST", "/vms/bk/start")[0] == 200
    wait_for(lambda: len(rounds(p, "bk")) >= 3)
    night = t0 + 3 * 86400 + 3 * 3600
    clock.write_text(str(night))
    wait_for(lambda: p.api("GET", "/backup-jobs/w")[1]["last_run"] == night and
             not p.api("GET", "/backup-jobs/w")[1]["busy"])
    name = p.api("GET", "/backup-jobs/w")[1]["last_vms"]["bk"]["backup"]
    meta = json.loads((backups / name / "meta.json").read_text())
    assert meta["mode"] == "incremental" and meta["parent"] == made[2], meta
    assert meta["disks"][0]["dirty_bytes"] == WRITTEN, meta


def test_a_worker_killed_while_it_writes_a_member(petreld, kvm, tmp_path):
    """A job's full member of a 384 MiB raw disk takes long enough to catch the worker writing it
    (its temporary file in the jail): killed -9 then, the run fails, nothing is kept, the chain
    before it verifies, and the next backup is full (the stale bitmap) and equals the disk."""
    disk = tmp_path / "big.img"
    with open(disk, "wb") as f:
        for _ in range(6):
            f.write(os.urandom(64 * MiB))
    p, clock, t0 = blkloop_vm(petreld, tmp_path, disk)
    wait_for(lambda: len(rounds(p, "bk")) >= 3)
    st, job = p.api("POST", "/backup-jobs", {"id": "k", "vms": ["bk"], "schedule": "*-*-* 03:00 UTC",
                                             "full-every": 2, "target_dir": str(tmp_path / "t")})
    assert st == 201, job
    backups = tmp_path / "t" / "bk"

    def night(day, wait=True):
        n = t0 + day * 86400 + 3 * 3600
        clock.write_text(str(n))
        if wait:
            wait_for(lambda: p.api("GET", "/backup-jobs/k")[1]["last_run"] == n and
                     not p.api("GET", "/backup-jobs/k")[1]["busy"], timeout=120)
        return p.api("GET", "/backup-jobs/k")[1]

    made = []
    for day in range(2):
        job = night(day)
        assert job["last_result"] == "ok", job
        made.append(job["last_vms"]["bk"]["backup"])
    assert json.loads((backups / made[1] / "meta.json").read_text())["mode"] == "incremental"
    # night 2: full-every 2, a full member: the worker caught writing it
    vmm = p.api("GET", "/vms/bk")[1]["vmm_pid"]
    jail = p.jails / "petrel" / "bk" / "root"
    night(2, wait=False)
    deadline = time.monotonic() + 60
    while not list(jail.glob("backup.*/*/data.img.tmp.*")):
        assert time.monotonic() < deadline, "the worker never wrote a member"
        time.sleep(0.002)
    os.kill(vmm, signal.SIGKILL)
    wait_for(lambda: not p.api("GET", "/backup-jobs/k")[1]["busy"], timeout=60)
    job = p.api("GET", "/backup-jobs/k")[1]
    assert job["last_result"] == "failed", job
    assert sorted(x.name for x in backups.iterdir()) == made, list(backups.iterdir())
    r = p.ctl("backup-verify", "bk", made[1])
    assert r.returncode == 0, (r.stdout, r.stderr)
    wait_for(lambda: p.api("GET", "/vms/bk")[1]["state"] != "running", timeout=30)
    assert p.api("POST", "/vms/bk/start")[0] == 200
    wait_for(lambda: len(rounds(p, "bk")) >= 3)
    assert p.api("POST", "/vms/bk/pause")[0] == 200
    # the job without full-every now: it asks for an incremental on night 1, and the worker says no
    assert p.api("POST", "/backup-jobs", {"id": "k", "vms": ["bk"], "schedule": "*-*-* 03:00 UTC",
                                          "target_dir": str(tmp_path / "t")})[0] == 200
    job = night(3)
    assert job["last_result"] == "ok", job
    name = job["last_vms"]["bk"]["backup"]
    meta = json.loads((backups / name / "meta.json").read_text())
    assert meta["mode"] == "full" and "stale" in meta["why"] and "parent" not in meta, meta
    shutil.copyfile(disk, tmp_path / "now.img")   # the paused VM's disk (its worker holds the lock)
    r = qimg("compare", "-f", "raw", "-F", "raw", backups / name / "data.img", tmp_path / "now.img", ok=False)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr
