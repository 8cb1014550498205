# SPDX-License-Identifier: Apache-2.0
"""POST /vms/NAME/backup and petrelctl backup (backup.c): bad input and a worker that refuses,
without KVM; a real backup of a running jailed VM with a disk under KVM."""
import json
import signal

import mgrlib


def test_backup_bad_input_and_a_refusing_worker():
    p = mgrlib.Petreld(jailer=False).start()
    workers = []
    try:
        assert p.define("bk")[0] == 201
        assert p.api("GET", "/vms/bk/backups") == (200, [])
        st, body = p.api("POST", "/vms/bk/backup", {"name": "b1"})
        assert st == 409 and "not running" in body["fault_message"]
        for bad in ({"name": "../x"}, {"name": "b1", "extra": 1}, {}, [], {"name": 5}, "not json",
                    {"name": "b1", "mode": "differential"}, {"name": "b1", "mode": 1}, {"mode": "full"}):
            assert p.api("POST", "/vms/bk/backup", bad)[0] == 400, bad
        assert p.api("GET", "/vms/bk/backup")[0] == 405
        assert p.api("POST", "/vms/nope/backup", {"name": "b1"})[0] == 404
        assert p.ctl("backup", "nope", "b1").returncode == 4
        assert p.ctl("backup", "bk").returncode == 2
        # A worker with no VM booted refuses the backup: a 502 with its reason, nothing kept.
        p.stop(signal.SIGKILL)
        workers = mgrlib.leave_workers(p, ["bk"])
        p.start()
        st, body = p.api("POST", "/vms/bk/backup", {"name": "b1"})
        assert st == 502, body
        assert not list((p.root / "snap").glob("bk.backups/*")), "a failed backup left files"
        assert p.api("GET", "/vms/bk")[1]["state"] == "running"
        assert p.ctl("backup-list", "bk").returncode == 0
    finally:
        for w in workers:
            w.kill()
        p.close()


def test_backup_of_a_running_vm_with_its_disk(petreld, kvm, tmp_path):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    disk = tmp_path / "data.img"
    disk.write_bytes(b"petrel-backup" + bytes(1 << 20))
    assert p.define("bk", drives=[{"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                                   "is_read_only": False}])[0] == 201
    assert p.api("POST", "/vms/bk/start")[0] == 200
    r = p.ctl("backup", "bk", "b1")
    assert r.returncode == 0, r.stderr
    ev.wait("bk", "backup created")
    assert p.api("GET", "/vms/bk")[1]["state"] == "running"  # resumed after the backup
    d = p.root / "snap" / "bk.backups" / "b1"
    assert (d / "vm.state").stat().st_size > 0
    assert (d / "vm.mem").stat().st_size == 32 << 20
    assert (d / "data.img").read_bytes()[:13] == b"petrel-backup"
    assert json.loads((d / "meta.json").read_text())["definition"]["petrel"]["name"] == "bk"
    assert [b["name"] for b in p.api("GET", "/vms/bk/backups")[1]] == ["b1"]
    assert p.api("POST", "/vms/bk/backup", {"name": "b1"})[0] == 409
    # the verb's own chain ("api"): an incremental on b1, the guest's writes since (none: the
    # counter guest writes no disk) in a qcow2 over ../b1/data.img; restored, the disk again
    meta = json.loads((d / "meta.json").read_text())
    assert meta["mode"] == "full" and meta["chain_id"] == "api:b1" and meta["disks"][0]["file"] == "data.img", meta
    assert p.api("POST", "/vms/bk/backup", {"name": "b2", "mode": "incremental"})[0] == 200
    ev.wait("bk", "backup created")
    meta = json.loads((d.parent / "b2" / "meta.json").read_text())
    assert meta["mode"] == "incremental" and meta["parent"] == "b1" and meta["chain_id"] == "api:b1", meta
    assert meta["disks"][0]["file"] == "data.qcow2" and meta["disks"][0]["dirty_bytes"] == 0, meta
    listed = {b["name"]: b for b in p.api("GET", "/vms/bk/backups")[1]}
    assert listed["b2"]["parent"] == "b1" and listed["b2"]["mode"] == "incremental", listed
    r = p.ctl("backup-list", "bk")
    assert r.returncode == 0 and [line.split()[:4:3] for line in r.stdout.splitlines()[2:]] == \
        [["b1", "full"], ["b2", "incremental"]], r.stdout
    assert r.stdout.splitlines()[3].split()[4] == "b1", r.stdout
    disk.write_bytes(b"changed" + bytes(1 << 20))
    assert p.api("POST", "/vms/bk/restore", {"backup": "b2"})[0] == 200
    assert disk.read_bytes() == b"petrel-backup" + bytes(1 << 20)
    ev.close()
