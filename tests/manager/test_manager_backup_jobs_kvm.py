# SPDX-License-Identifier: Apache-2.0
"""Backup jobs with a running guest (docs/backups.md), under KVM: a simulated week of nightly
backups of a jailed VM on the test clock (a run per night, the backups pruned by the retention,
a night the VM was down a failed run with its event, retried and made the next night),
petreld killed -9 in the middle of a run (the run finished by the next petreld: no night lost,
none backed up twice), and backup-verify of a real backup finding an altered and a missing file."""
import datetime
import json
import os
import signal
import time

import mgrlib

UTC = datetime.timezone.utc


def ts(*a):
    return int(datetime.datetime(*a, tzinfo=UTC).timestamp())


def wait_for(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_week_of_nightly_backups_killed_and_verified(petreld, kvm, tmp_path):
    clock = tmp_path / "clock"
    t0 = ts(2027, 1, 4)   # a Monday
    clock.write_text(str(t0))
    p = petreld(args=["--test-clock", str(clock)])
    disk = tmp_path / "data.img"
    disk.write_bytes(b"petrel-backup-job" + bytes(1 << 20))
    assert p.define("bk", drives=[{"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                                   "is_read_only": False}])[0] == 201
    assert p.api("POST", "/vms/bk/start")[0] == 200
    # full members: this test is the schedule's (incremental chains and their pruning:
    # test_manager_backup_incremental_kvm.py)
    st, job = p.api("POST", "/backup-jobs", {"id": "nightly", "vms": ["bk"], "schedule": "*-*-* 03:00 UTC",
                                             "retention": {"keep-daily": 3}, "mode": "full"})
    assert st == 201 and job["next_run"] == t0 + 3 * 3600, job
    backups = p.root / "snap" / "bk.backups"
    log = p.state / "logs" / "bk.log"

    def events(name):
        return [json.loads(line.split(" ", 1)[1]) for line in log.read_text().splitlines() if f'"{name}"' in line]

    def names():
        return sorted(d.name for d in backups.iterdir()) if backups.is_dir() else []

    made = []
    for day in range(7):
        night = t0 + day * 86400 + 3 * 3600
        if day == 2:   # the VM is down that night: the run fails, with its reason
            assert p.api("POST", "/vms/bk/destroy")[0] == 200
        if day == 3:
            assert p.api("POST", "/vms/bk/start")[0] == 200
        clock.write_text(str(night - 3600))
        time.sleep(0.3)
        assert p.api("GET", "/backup-jobs/nightly")[1]["last_run"] == (night - 86400 if day else 0)
        clock.write_text(str(night))
        wait_for(lambda: p.api("GET", "/backup-jobs/nightly")[1]["last_run"] == night and
                 not p.api("GET", "/backup-jobs/nightly")[1]["busy"])
        job = p.api("GET", "/backup-jobs/nightly")[1]
        name = f"nightly-{datetime.datetime.fromtimestamp(night, UTC):%Y%m%dT%H%M%SZ}"
        assert job["next_run"] == night + 86400
        if day == 2:
            assert job["last_result"] == "failed" and "not running" in job["last_vms"]["bk"]["reason"]
            assert events("backup job failed")[-1]["backup"] == name
            assert name not in names()
        else:
            assert job["last_result"] == "ok", job["last_vms"]
            made.append(name)
            assert names() == made[-3:], (names(), made)   # keep-daily 3: the three newest nights
            meta = json.loads((backups / name / "meta.json").read_text())
            assert meta["created"] == night and meta["mode"] == "full"
            assert set(meta["sha256"]) >= {"vm.state", "vm.mem", "data.img"}
            assert events("backup job finished")[-1]["backup"] == name
    assert len(made) == 6
    finished = events("backup job finished")
    assert [e["backup"] for e in finished] == made
    assert [x for e in finished for x in e["pruned"]] == made[:3]
    assert p.api("GET", "/vms/bk")[1]["state"] == "running"

    # petreld killed -9 while a night's backup is under way: the next petreld finishes that run
    # (adopting the VM), and the night is backed up once. The worker is stopped (SIGSTOP) before
    # the night comes, so the run is still under way when petreld is killed however fast the host
    # (a KVM host finished it before the kill, 2026-11-28); let go after the kill, the worker
    # answers the dead petreld's request into a closed socket, and the next petreld asks again.
    vmm = p.api("GET", "/vms/bk")[1]["vmm_pid"]
    night = t0 + 7 * 86400 + 3 * 3600
    name = f"nightly-{datetime.datetime.fromtimestamp(night, UTC):%Y%m%dT%H%M%SZ}"
    os.kill(vmm, signal.SIGSTOP)
    try:
        clock.write_text(str(night))
        wait_for(lambda: any(e["backup"] == name for e in events("backup job started")), timeout=30)
        time.sleep(0.2)
        assert p.api("GET", "/backup-jobs/nightly")[1]["busy"]
        p.stop(signal.SIGKILL)
    finally:
        os.kill(vmm, signal.SIGCONT)
    state = json.loads((p.root / "backup-jobs" / "nightly.state").read_text())
    assert state["running"] == night and state["next_run"] == night + 86400
    assert name not in names()
    p.start()
    wait_for(lambda: p.api("GET", "/backup-jobs/nightly")[1]["last_run"] == night and
             not p.api("GET", "/backup-jobs/nightly")[1]["busy"])
    job = p.api("GET", "/backup-jobs/nightly")[1]
    assert job["last_result"] == "ok" and job["next_run"] == night + 86400, job["last_vms"]
    assert names() == made[-2:] + [name]
    assert len([e for e in events("backup created") if e["backup"] == name]) == 1
    assert not list(backups.glob("*.partial"))
    time.sleep(0.5)
    assert len([e for e in events("backup job finished") if e["backup"] == name]) == 1

    # Verify: whole, then a byte of the state changed, then the disk's copy gone.
    r = p.ctl("backup-verify", "bk", name)
    assert r.returncode == 0 and "verified" in r.stdout, (r.stdout, r.stderr)
    with open(backups / name / "vm.state", "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 1]))
    (backups / name / "data.img").unlink()
    st, rep = p.api("POST", f"/vms/bk/backups/{name}/verify")
    assert st == 200 and not rep["ok"]
    assert sorted(rep["problems"]) == sorted([
        f"member '{name}': vm.state is altered (its SHA-256 differs from the one recorded)",
        f"member '{name}': data.img is missing"]), rep
    r = p.ctl("backup-verify", "bk", name)
    assert r.returncode == 1 and "data.img is missing" in r.stderr
    assert p.api("GET", "/vms/bk")[1]["state"] == "running"
