# SPDX-License-Identifier: Apache-2.0
"""petreld without guests (no /dev/kvm needed): definitions, their checks, the bad-input table
of issue 37, the atomic store, hostile API bodies, events, petrelctl's output and exit statuses."""
import json
import os
import signal
import stat
import subprocess
import time

import pytest

import mgrlib


def test_define_list_info_undefine(petreld):
    p = petreld()
    st, vm = p.define("web1", petrel={"autostart": False, "restart": "on-failure",
                                      "resources": {"cpu_weight": 200, "cpuset": "0"}})
    assert st == 201, vm
    assert vm["state"] == "shut off" and vm["restart"] == "on-failure"
    assert len(vm["uuid"]) == 36
    # The definition on disk: the whole document, with the UUID petreld gave it.
    on_disk = json.loads((p.defs / "web1.json").read_text())
    assert on_disk["petrel"]["uuid"] == vm["uuid"]
    assert on_disk["machine-config"] == {"vcpu_count": 1, "mem_size_mib": 32}
    assert not list(p.defs.glob(".*"))  # no temporary file left behind
    st, vms = p.api("GET", "/vms")
    assert st == 200 and [v["name"] for v in vms] == ["web1"]
    r = p.ctl("list")
    assert r.returncode == 0 and "web1" not in r.stdout  # not running
    r = p.ctl("list", "--all")
    assert r.returncode == 0 and "web1" in r.stdout and "shut off" in r.stdout
    r = p.ctl("--json", "info", "web1")
    assert r.returncode == 0 and json.loads(r.stdout)["resources"] == {"cpu_weight": 200, "cpuset": "0"}
    r = p.ctl("dumpdef", "web1")
    assert json.loads(r.stdout)["petrel"]["name"] == "web1"
    assert p.api("DELETE", "/vms/web1")[0] == 204
    assert not (p.defs / "web1.json").exists()
    assert p.api("GET", "/vms/web1")[0] == 404


def test_petrelctl_define_from_a_file_and_exit_statuses(petreld, tmp_path):
    p = petreld()
    f = tmp_path / "db.json"
    f.write_text(json.dumps({"boot-source": {"kernel_image_path": str(mgrlib.guest("counter"))},
                             "petrel": {"name": "db"}}))
    r = p.ctl("define", str(f))
    assert r.returncode == 0 and "db defined" in r.stdout
    assert p.ctl("info", "nosuch").returncode == 4
    assert p.ctl("start", "nosuch").returncode == 4
    assert p.ctl("frobnicate", "db").returncode == 2
    assert p.ctl("--socket", "/nonexistent.sock", "list").returncode == 3
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    r = p.ctl("define", str(bad))
    assert r.returncode == 1 and "not valid JSON" in r.stderr


def test_definitions_survive_a_restart_of_petreld(petreld):
    p = petreld()
    assert p.define("keep")[0] == 201
    p.stop()
    p.start()
    st, vm = p.api("GET", "/vms/keep")
    assert st == 200 and vm["state"] == "shut off"


@pytest.mark.parametrize("doc_change, status, words", [
    ({"frobnicate": 1}, 400, "unknown field 'frobnicate'"),
    ({"petrel": {"name": "x", "colour": "red"}}, 400, "petrel: unknown field 'colour'"),
    ({"petrel": {"name": "../etc"}}, 400, "petrel.name"),
    ({"petrel": {"name": "a/b"}}, 400, "petrel.name"),
    ({"petrel": {"name": "-rf"}}, 400, "petrel.name"),
    ({"petrel": {"name": "x" * 65}}, 400, "petrel.name"),
    ({"petrel": {"name": "x", "restart": "sometimes"}}, 400, "petrel.restart"),
    ({"petrel": {"name": "x", "uuid": "not-a-uuid"}}, 400, "petrel.uuid"),
    ({"petrel": {"name": "x", "resources": {"cpu_weight": 0}}}, 400, "cpu_weight"),
    ({"petrel": {"name": "x", "resources": {"cpu_weight": 10**12}}}, 400, "cpu_weight"),
    ({"petrel": {"name": "x", "resources": {"memory_limit_mib": 2**62}}}, 400, "memory_limit_mib"),
    ({"petrel": {"name": "x", "resources": {"cpuset": "0; rm -rf /"}}}, 400, "cpuset"),
    ({"petrel": {"name": "x", "resources": {"cpu_quota_pct": 100000}}}, 400, "cpu_quota_pct"),
    ({"petrel": {"name": "x", "jail": {"uid": -1}}}, 400, "petrel.jail.uid"),
    ({"machine-config": {"vcpu_count": 1000, "mem_size_mib": 32}}, 400, "vcpu_count"),
    ({"machine-config": {"vcpu_count": 1, "mem_size_mib": 10**9}}, 400, "mem_size_mib"),
    ({"boot-source": {"kernel_image_path": "/nonexistent/kernel"}}, 400, "No such file"),
    ({"boot-source": {"kernel_image_path": "/boot/../etc/shadow"}}, 400, "'..' component"),
    ({"boot-source": {"kernel_image_path": "relative/kernel"}}, 400, "not an absolute path"),
    ({"boot-source": {}}, 400, "kernel"),
    ({"cpu-affinity": {"vcpus": "0"}}, 400, "petrel.resources.cpuset"),
    ({"logger": {"log_path": "/tmp/x"}}, 400, "logger"),
    ({"petrel": None}, 400, "petrel"),
])
def test_bad_definitions_are_refused_and_change_nothing(petreld, doc_change, status, words):
    p = petreld()
    assert p.define("x")[0] == 201
    before = (p.defs / "x.json").read_bytes()
    doc = {"boot-source": {"kernel_image_path": str(mgrlib.guest("counter"))},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}, "petrel": {"name": "x"}}
    doc.update(doc_change)
    st, body = p.api("POST", "/vms", doc)
    assert st == status, body
    assert words in body["fault_message"], body
    assert (p.defs / "x.json").read_bytes() == before
    assert sorted(f.name for f in p.defs.iterdir()) == ["x.json"]


def test_disks_that_are_fifos_directories_or_another_vms_are_refused(petreld, tmp_path):
    p = petreld()
    disk = tmp_path / "a.img"
    disk.write_bytes(b"\0" * 4096)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def drives(path):
        return {"drives": [{"drive_id": "root", "path_on_host": str(path), "is_root_device": True,
                            "is_read_only": False}]}

    assert p.define("a", **drives(disk))[0] == 201
    st, body = p.define("b", **drives(disk))
    assert st == 409 and "is a disk of VM 'a'" in body["fault_message"]
    # The same file under another name (a hard link) is the same disk.
    os.link(disk, tmp_path / "alias.img")
    st, body = p.define("b", **drives(tmp_path / "alias.img"))
    assert st == 409 and "is a disk of VM 'a'" in body["fault_message"]
    st, body = p.define("b", **drives(fifo))
    assert st == 400 and "is a FIFO" in body["fault_message"]
    st, body = p.define("b", **drives(tmp_path))
    assert st == 400 and "is a directory" in body["fault_message"]
    assert p.api("GET", "/vms/b")[0] == 404
    # Redefining a itself with its own disk is fine.
    assert p.define("a", **drives(disk))[0] == 200


def test_unknown_vms_paths_and_methods(petreld):
    p = petreld()
    assert p.api("GET", "/vms/ghost")[0] == 404
    assert p.api("POST", "/vms/ghost/start")[0] == 404
    assert p.api("DELETE", "/vms/ghost")[0] == 404
    assert p.api("GET", "/vms/..%2f..%2fetc")[0] == 404
    assert p.api("GET", "/nowhere")[0] == 404
    assert p.define("v")[0] == 201
    assert p.api("GET", "/vms/v/start")[0] == 405
    assert p.api("PUT", "/vms")[0] == 405
    assert p.api("POST", "/vms/v/frobnicate")[0] == 404
    # Verbs that need a running VM, on one that is not.
    for verb in ("shutdown", "destroy", "reboot", "pause", "resume"):
        st, body = p.api("POST", f"/vms/v/{verb}")
        assert st == 409 and "not running" in body["fault_message"], (verb, body)


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"a":1,"a":2}',
    b"[" * 100000, b'{"petrel": {"name": "x"}, "petrel": {"name": "y"}}',
])
def test_hostile_define_bodies(petreld, body):
    p = petreld()
    st, resp = p.api("POST", "/vms", body)
    assert st == 400, resp
    assert p.api("GET", "/vms")[1] == []
    assert p.api("GET", "/")[0] == 200  # still serving


def test_a_body_past_the_limit_is_refused(petreld):
    p = petreld()
    st, body = p.api("POST", "/vms", b"{" + b" " * (2 << 20) + b"}")
    assert st == 400 and "larger than the limit" in body["fault_message"]
    assert p.api("GET", "/")[0] == 200


@pytest.mark.parametrize("body, words", [
    ({"cpu_weight": "heavy"}, "cpu_weight"),
    ({"cpu_quota_pct": -5}, "cpu_quota_pct"),
    ({"memory_limit_mib": 1}, "memory_limit_mib"),
    ({"swap": 1}, "unknown field 'swap'"),
    ([], "object"),
])
def test_hostile_resource_bodies(petreld, body, words):
    p = petreld()
    assert p.define("r", petrel={"resources": {"cpu_weight": 100}})[0] == 201
    st, resp = p.api("PUT", "/vms/r/resources", body)
    assert st == 400 and words in resp["fault_message"], resp
    assert json.loads((p.defs / "r.json").read_text())["petrel"]["resources"] == {"cpu_weight": 100}


def test_resources_of_a_stopped_vm_are_saved_in_its_definition(petreld):
    p = petreld()
    assert p.define("r")[0] == 201
    r = p.ctl("set-resources", "r", "--cpu-weight", "300", "--cpuset", "0", "--memory-limit", "256")
    assert r.returncode == 0, r.stderr
    res = json.loads((p.defs / "r.json").read_text())["petrel"]["resources"]
    assert res == {"cpu_weight": 300, "cpuset": "0", "memory_limit_mib": 256}
    assert p.ctl("set-resources", "r", "--cpu-weight", "lots").returncode == 2


def test_events_stream(petreld):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    try:
        assert p.define("e1")[0] == 201
        e = ev.wait("e1", "defined")
        assert e["time"] > 0
        assert p.api("PUT", "/vms/e1/resources", {"cpu_weight": 50})[0] == 200
        assert ev.wait("e1", "resources changed")["resources"] == {"cpu_weight": 50}
        assert p.api("DELETE", "/vms/e1")[0] == 204
        ev.wait("e1", "undefined")
    finally:
        ev.close()
    # ... and each went to the VM's log.
    log = (p.state / "logs" / "e1.log").read_text()
    assert '"event":"defined"' in log and '"event":"undefined"' in log


def test_petrelctl_events_follows_the_stream(petreld):
    p = petreld()
    proc = subprocess.Popen([str(mgrlib.PETRELCTL), "--socket", str(p.sock), "events"],
                            stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        assert p.define("follow")[0] == 201
        line = proc.stdout.readline()
        assert "follow" in line and "defined" in line
    finally:
        proc.kill()
        proc.wait()


def test_the_socket_is_for_root_and_the_petrel_group(petreld):
    p = petreld()
    mode = os.stat(p.sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660


def test_the_socket_group_is_the_one_asked_for(petreld):
    """--socket-group: a cluster's haclient, whom Pacemaker runs the fence alert as
    (docs/cluster.md#promotion-on-fencing); a group that does not exist stops petreld clearly."""
    import grp
    group = next(g for g in grp.getgrall() if g.gr_gid != 0)
    p = petreld(args=["--socket-group", group.gr_name])
    st = os.stat(p.sock)
    assert st.st_gid == group.gr_gid and stat.S_IMODE(st.st_mode) == 0o660
    p.stop()
    q = mgrlib.Petreld(args=["--socket-group", "no-such-group-here"])
    q.start(wait=False)
    assert q.proc.wait(timeout=10) == 1
    assert "--socket-group: no group named 'no-such-group-here'" in q.log.read_text()
    assert not q.sock.exists()


@pytest.mark.skipif(mgrlib.has_kvm(), reason="checks the failure without /dev/kvm")
def test_a_start_that_fails_leaves_nothing_behind(petreld):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    assert p.define("nokvm")[0] == 201
    st, body = p.api("POST", "/vms/nokvm/start")
    assert st == 502 and "/dev/kvm" in body["fault_message"], body
    assert "/dev/kvm" in ev.wait("nokvm", "start failed")["reason"]
    ev.close()
    st, vm = p.api("GET", "/vms/nokvm")
    assert vm["state"] == "shut off" and "pid" not in vm
    assert not list((p.state / "run").iterdir())
    assert not (p.jails / "petrel" / "nokvm").exists()
    assert not p.cgroup_dir("nokvm").exists()
    # The worker ran jailed, and its own log says why it failed.
    assert "/dev/kvm" in (p.state / "logs" / "nokvm.worker.log").read_text()


def test_a_hand_edited_definition(petreld):
    p = petreld()
    assert p.define("hand")[0] == 201
    f = p.defs / "hand.json"
    doc = json.loads(f.read_text())
    f.write_text('{"petrel": {"name": "hand"}, "boot-source": ')  # cut short by an editor
    st, body = p.api("POST", "/vms/hand/start")
    assert st == 400 and "changed and is not valid" in body["fault_message"], body
    assert p.api("GET", "/vms/hand")[1]["machine-config"]["mem_size_mib"] == 32
    # A definition that names another VM is refused too.
    f.write_text(json.dumps({**doc, "petrel": {**doc["petrel"], "name": "other"}}))
    st, body = p.api("POST", "/vms/hand/start")
    assert st == 400 and "names the VM 'other'" in body["fault_message"], body
    # A valid edit is what the next start uses.
    doc["machine-config"]["mem_size_mib"] = 48
    f.write_text(json.dumps(doc))
    p.api("POST", "/vms/hand/start")  # fails here without /dev/kvm, or starts
    assert p.api("GET", "/vms/hand")[1]["machine-config"]["mem_size_mib"] == 48
    # petreld itself skips a broken file at its start and keeps the others.
    assert p.define("fine")[0] == 201
    p.api("POST", "/vms/hand/destroy")
    f.write_text("garbage")
    p.stop()
    p.start()
    names = [v["name"] for v in p.api("GET", "/vms")[1]]
    assert names == ["fine"]
    assert "skipping definition hand.json" in p.log.read_text()


def test_a_full_disk_while_writing_a_definition(petreld, tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode()}")
    try:
        p = mgrlib.Petreld()
        p.defs = mnt
        p.start()
        try:
            assert p.define("small")[0] == 201
            before = (mnt / "small.json").read_bytes()
            filler = mnt / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            os.close(fd)
            # Redefine with a larger document: no room for it.
            st, body = p.define("small", petrel={"autostart": True, "restart": "always",
                                        "resources": {"cpuset": "0," * 20 + "0"}})
            st2, body2 = p.define("another")
            assert st == 507, body
            assert "No space left" in body["fault_message"]
            assert st2 == 507, body2
            assert (mnt / "small.json").read_bytes() == before
            assert not [f for f in os.listdir(mnt) if f.startswith(".")]
            assert p.api("GET", "/vms/small")[1]["autostart"] is False
            assert p.api("GET", "/vms/another")[0] == 404
            filler.unlink()
            assert p.define("another")[0] == 201
        finally:
            p.close()
    finally:
        subprocess.run(["umount", str(mnt)])


def test_top_and_stats_without_running_vms(petreld):
    p = petreld()
    assert p.define("idle")[0] == 201
    st, stats = p.api("GET", "/stats")
    assert st == 200 and stats == [{"name": "idle", "state": "shut off"}]
    r = p.ctl("top", "--iterations", "1", "--delay", "0.2")
    assert r.returncode == 0, r.stderr
    assert "1 VMs, 0 running" in r.stdout and "CPU%" in r.stdout
    assert p.ctl("top", "--delay", "0").returncode == 2
    assert p.ctl("top", "--iterations").returncode == 2


def test_snapshot_requests_without_a_running_vm(petreld):
    p = petreld()
    assert p.define("snappy")[0] == 201
    assert p.api("GET", "/vms/snappy/snapshots") == (200, [])
    st, body = p.api("POST", "/vms/snappy/snapshots", {"name": "s1"})
    assert st == 409 and "not running" in body["fault_message"]
    for bad in ({"name": "../x"}, {"name": "s1", "extra": 1}, {}, [], {"name": 5}):
        assert p.api("POST", "/vms/snappy/snapshots", bad)[0] == 400, bad
    assert p.api("POST", "/vms/snappy/snapshots/nope/revert")[0] == 404
    assert p.api("DELETE", "/vms/snappy/snapshots/nope")[0] == 404
    r = p.ctl("snapshot-revert", "snappy", "nope")
    assert r.returncode == 4 and "no such snapshot" in r.stderr
    assert p.ctl("snapshot-list", "snappy").returncode == 0


def test_machine_changes_need_a_running_vm_and_a_clean_body(petreld):
    p = petreld()
    assert p.define("m")[0] == 201
    for bad in ({}, {"vcpu_count": 0}, {"vcpu_count": "2"}, {"cpus": 2}, [], {"memory_mib": 2**40}):
        st, body = p.api("PATCH", "/vms/m/machine", bad)
        assert st == 400, (bad, body)
    st, body = p.api("PATCH", "/vms/m/machine", {"vcpu_count": 2})
    assert st == 409 and "not running" in body["fault_message"]
    assert p.ctl("setvcpus", "m", "two").returncode == 2
    assert p.ctl("setmem", "m", "64").returncode == 1


def test_console_readers_see_the_recent_output_and_what_follows(petreld):
    """The worker's output (the guest's serial console and petrel's messages) for several
    readers at once; here the worker of a failed start (without /dev/kvm) or of a started VM."""
    p = petreld()
    assert p.define("tty")[0] == 201
    p.api("POST", "/vms/tty/start")
    readers = [subprocess.Popen([str(mgrlib.PETRELCTL), "--socket", str(p.sock), "console", "tty"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE) for _ in range(2)]
    try:
        for r in readers:
            assert b"Running Firecracker v" in r.stdout.readline() + r.stdout.readline()
        # What is appended later reaches every reader still attached.
        with open(p.state / "logs" / "tty.worker.log", "ab") as log:
            log.write(b"a line written later\n")
        for r in readers:
            deadline = time.monotonic() + 10
            while b"a line written later" not in r.stdout.readline():
                assert time.monotonic() < deadline
    finally:
        for r in readers:
            r.kill()
            r.wait()
    assert p.ctl("console", "ghost").returncode == 4
    assert p.api("GET", "/")[0] == 200


def test_the_systemd_unit_keeps_the_vms_when_petreld_stops():
    unit = (mgrlib.BUILD / "petreld.service").read_text()
    assert "petreld --foreground" in unit and "KillMode=process" in unit
    r = subprocess.run(["meson", "install", "-C", str(mgrlib.BUILD), "--dry-run"], capture_output=True, text=True)
    assert "systemd/system" in r.stdout and "petreld.service" in r.stdout, r.stdout[-2000:]
