# SPDX-License-Identifier: Apache-2.0
"""A backup job whose target file system fills up in the middle of a backup (issue 58's hostile
input, docs/backups.md): a tmpfs too small for the VM's memory and disk. The run fails with the
reason (no space), its event says so, nothing half-made is left in the target, the VM runs on,
and once there is room the next night's run makes a whole backup that verifies."""
import datetime
import json
import subprocess

import pytest

from test_manager_backup_jobs_kvm import ts, wait_for

UTC = datetime.timezone.utc


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "target"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0750", "petrel-test-full", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_target_that_fills_up_mid_backup(petreld, kvm, tmp_path, small_fs):
    clock = tmp_path / "clock"
    t0 = ts(2027, 3, 1)
    clock.write_text(str(t0))
    p = petreld(args=["--test-clock", str(clock)])
    disk = tmp_path / "data.img"
    disk.write_bytes(b"petrel-target-full" + bytes(8 << 20))
    assert p.define("tf", drives=[{"drive_id": "data", "path_on_host": str(disk),
                                    "is_root_device": False, "is_read_only": False}])[0] == 201
    assert p.api("POST", "/vms/tf/start")[0] == 200
    st, job = p.api("POST", "/backup-jobs", {"id": "small", "vms": ["tf"], "schedule": "*-*-* 02:00 UTC",
                                             "target_dir": str(small_fs), "mode": "full"})
    assert st == 201, job
    log = p.state / "logs" / "tf.log"

    def events(name):
        return [json.loads(line.split(" ", 1)[1]) for line in log.read_text().splitlines() if f'"{name}"' in line]

    def job_state():
        return p.api("GET", "/backup-jobs/small")[1]

    night = t0 + 2 * 3600
    clock.write_text(str(night))
    wait_for(lambda: job_state()["last_run"] == night and not job_state()["busy"])
    job = job_state()
    reason = job["last_vms"]["tf"]["reason"]
    print(f"the run on the full target: {reason}")
    assert job["last_result"] == "failed" and "No space left on device" in reason, job
    assert events("backup job failed")[-1]["reason"] == reason
    # nothing half-made in the target: no member, no .partial
    left = sorted(str(x.relative_to(small_fs)) for x in small_fs.rglob("*") if x.is_file())
    assert left == [], left
    assert p.api("GET", "/vms/tf")[1]["state"] == "running"
    assert p.api("GET", "/vms/tf/backups")[0] == 200

    # Room again: the next night's run (the schedule's retry) makes a whole backup.
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_fs)], check=True)
    night += 86400
    clock.write_text(str(night))
    wait_for(lambda: job_state()["last_run"] == night and not job_state()["busy"])
    job = job_state()
    assert job["last_result"] == "ok", job["last_vms"]
    name = job["last_vms"]["tf"]["backup"]
    r = p.ctl("backup-verify", "tf", name)
    assert r.returncode == 0 and "verified" in r.stdout, (r.stdout, r.stderr)
    assert p.api("GET", "/vms/tf")[1]["state"] == "running"
