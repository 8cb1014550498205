# SPDX-License-Identifier: Apache-2.0
"""POST /vms/NAME/clone, POST /vms/NAME/restore, petrelctl clone and restore (clone.c,
restore.c, jail_backing.c). Without KVM: bad input, clones made without starting them (their
overlays checked with qemu-img), the all-or-nothing undo when clones cannot start, and the
backing chain of a jailed worker's qcow2 disk. Under KVM: clones of a running template's
snapshot run on their overlays; a restore brings a VM's disks and state back from a backup."""
import json
import os
import re
import statistics
import subprocess
import time

import pytest

import mgrlib


def template(p, tmp_path, name="tmpl", content=b"petrel-base"):
    """A defined VM with a writable raw disk on the jail base's file system."""
    disk = p.root / f"{name}.img"
    disk.write_bytes(content + bytes((1 << 20) - len(content)))
    st, body = p.define(name, drives=[{"drive_id": "root", "path_on_host": str(disk), "is_root_device": False,
                                       "is_read_only": False, "format": "raw"}])
    assert st == 201, body
    return disk


def fake_snapshot(p, vm, snap):
    """A snapshot directory as snapshot.c leaves it (meta.json with the definition); its state
    files are not loadable, which only a start would find out."""
    d = p.root / "snap" / vm / snap
    d.mkdir(parents=True)
    (d / "vm.state").write_bytes(b"not a snapshot")
    (d / "vm.mem").write_bytes(bytes(4096))
    definition = p.api("GET", f"/vms/{vm}/definition")[1]
    (d / "meta.json").write_text(json.dumps({"name": snap, "created": int(time.time()), "vm_state": "running",
                                              "definition": definition}))
    return d


def qemu_info(path):
    r = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_clone_bad_input(tmp_path):
    p = mgrlib.Petreld().start()
    try:
        template(p, tmp_path)
        fake_snapshot(p, "tmpl", "s1")
        assert p.define("tmpl-0")[0] == 201
        for bad in ({}, {"snapshot": "s1"}, {"snapshot": "s1", "count": 0}, {"snapshot": "s1", "count": 1001},
                    {"snapshot": "s1", "count": "2"}, {"snapshot": "../s1", "count": 1},
                    {"snapshot": "s1", "count": 1, "prefix": "a/b"}, {"snapshot": "s1", "count": 1, "prefix": "-a"},
                    {"snapshot": "s1", "count": 1, "prefix": "x" * 61}, {"snapshot": "s1", "count": 1, "extra": 1},
                    {"snapshot": "s1", "count": 1, "start": "yes"},
                    {"snapshot": "s1", "count": 1, "net": {"eth0": "tap with space"}},
                    {"snapshot": "s1", "count": 1, "net": {"eth0": "a-much-too-long-tap%d"}},
                    {"snapshot": "s1", "count": 1, "net": {"eth0": "t%d%d"}}, [], "not json"):
            st, body = p.api("POST", "/vms/tmpl/clone", bad)
            assert st == 400, (bad, st, body)
        st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "nope", "count": 1})
        assert st == 404 and "no snapshot" in body["fault_message"]
        assert p.api("POST", "/vms/nope/clone", {"snapshot": "s1", "count": 1})[0] == 404
        assert p.api("GET", "/vms/tmpl/clone")[0] == 405
        # A clone's name taken: refused before anything is made.
        st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 2, "start": False})
        assert st == 409 and "tmpl-0" in body["fault_message"], body
        assert not (p.jails / "clones" / "tmpl-1").exists()
        assert sorted(v["name"] for v in p.api("GET", "/list")[1]) == ["tmpl", "tmpl-0"]
        assert p.ctl("clone", "tmpl", "s1").returncode == 2
        assert p.ctl("clone", "tmpl", "s1", "x").returncode == 2
        assert p.ctl("clone", "nope", "s1", "1").returncode == 4
        assert p.ctl("clone", "tmpl", "s1", "1", "--bogus").returncode == 2
    finally:
        p.close()


def test_clones_are_defined_on_overlays_of_their_own(tmp_path):
    p = mgrlib.Petreld().start()
    ev = mgrlib.Events(p.sock)
    try:
        disk = template(p, tmp_path)
        fake_snapshot(p, "tmpl", "s1")
        r = p.ctl("--json", "clone", "tmpl", "s1", "3", "--prefix", "web", "--no-start")
        assert r.returncode == 0, r.stderr
        clones = json.loads(r.stdout)
        assert [c["name"] for c in clones] == ["web0", "web1", "web2"]
        assert all(c["state"] == "shut off" for c in clones)
        assert len({c["uuid"] for c in clones} | {p.api("GET", "/vms/tmpl")[1]["uuid"]}) == 4
        e = ev.wait("web1", "defined")
        assert e["clone_of"] == "tmpl" and e["snapshot"] == "s1"
        for c in clones:
            d = json.loads((p.defs / f"{c['name']}.json").read_text())  # written, and kept
            assert d["petrel"]["name"] == c["name"] and d["petrel"]["uuid"] == c["uuid"]
            drive = d["drives"][0]
            cdir = p.jails / "clones" / c["name"]
            assert drive["path_on_host"] == str(cdir / "root.qcow2") and drive["format"] == "qcow2"
            # the base: the template's disk itself (a hard link), named relative to the overlay
            assert os.stat(cdir / "root.base").st_ino == os.stat(disk).st_ino
            info = qemu_info(cdir / "root.qcow2")
            assert info["backing-filename"] == "root.base" and info["backing-filename-format"] == "raw"
            assert info["virtual-size"] == 1 << 20
        # A second clone request for names that exist: refused, nothing changes.
        st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 1, "prefix": "web", "start": False})
        assert st == 409
        # The clones are VMs like any other: redefinable, undefinable; their disks stay.
        assert p.ctl("undefine", "web2").returncode == 0
        assert (p.jails / "clones" / "web2" / "root.qcow2").exists()
        st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 3, "prefix": "web", "start": False})
        assert st == 409 and "web0" in body["fault_message"]
    finally:
        ev.close()
        p.close()


def test_clones_get_macs_and_taps_of_their_own(tmp_path):
    p = mgrlib.Petreld().start()
    try:
        nic = {"iface_id": "eth0", "host_dev_name": "tmpltap", "guest_mac": "06:00:00:00:00:01"}
        assert p.define("net", **{"network-interfaces": [nic]})[0] == 201
        fake_snapshot(p, "net", "s1")
        st, body = p.api("POST", "/vms/net/clone", {"snapshot": "s1", "count": 3, "start": False,
                                                    "net": {"eth0": "ct%d"}})
        assert st == 200, body
        nics = [p.api("GET", f"/vms/{c['name']}/definition")[1]["network-interfaces"][0] for c in body]
        assert [n["host_dev_name"] for n in nics] == ["ct0", "ct1", "ct2"]
        macs = {n["guest_mac"] for n in nics} | {nic["guest_mac"]}
        assert len(macs) == 4 and all(int(m[:2], 16) & 3 == 2 for m in macs)  # local, unicast
        # without a tap for it, an interface keeps the template's
        st, body = p.api("POST", "/vms/net/clone", {"snapshot": "s1", "count": 1, "start": False, "prefix": "k"})
        assert p.api("GET", "/vms/k0/definition")[1]["network-interfaces"][0]["host_dev_name"] == "tmpltap"
    finally:
        p.close()


def test_clones_that_cannot_start_are_all_undone(tmp_path):
    """The snapshot's state is not loadable (or there is no KVM): every clone of the request is
    stopped, undefined and its disks removed; the answer says why; the template is untouched."""
    p = mgrlib.Petreld().start()
    try:
        disk = template(p, tmp_path)
        before = disk.read_bytes()
        fake_snapshot(p, "tmpl", "s1")
        st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 4}, timeout=120)
        assert st == 502, body
        assert "clone 'tmpl-" in body["fault_message"], body
        assert [v["name"] for v in p.api("GET", "/list")[1]] == ["tmpl"]
        assert sorted(f.name for f in p.defs.iterdir()) == ["tmpl.json"]
        assert list((p.jails / "clones").iterdir()) == []
        assert not list((p.jails / "petrel").glob("tmpl-*")) if (p.jails / "petrel").exists() else True
        assert disk.read_bytes() == before
        assert p.api("GET", "/vms/tmpl")[1]["state"] == "shut off" and "operation" not in p.api("GET", "/vms/tmpl")[1]
    finally:
        p.close()


def test_a_jailed_qcow2_disk_gets_its_backing_chain(tmp_path):
    """A qcow2 disk with a relative backing name works in a jail (the base is linked beside it);
    one that names its base by an absolute path is refused with the reason."""
    p = mgrlib.Petreld().start()
    try:
        base = p.root / "base.img"
        base.write_bytes(bytes(1 << 20))
        for name, backing in (("rel", "base.img"), ("abs", str(base)), ("gone", "missing.img")):
            top = p.root / f"{name}.qcow2"
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-u", "-b", backing, str(top), "1M"],
                           check=True)
            assert p.define(name, drives=[{"drive_id": "root", "path_on_host": str(top), "is_root_device": False,
                                           "is_read_only": False, "format": "qcow2"}])[0] == 201
        st, body = p.api("POST", "/vms/abs/start")
        assert st == 400 and "absolute path" in body["fault_message"], body
        st, body = p.api("POST", "/vms/gone/start")
        assert st == 400 and "missing.img" in body["fault_message"], body
        st, body = p.api("POST", "/vms/rel/start", timeout=60)
        kvm = mgrlib.has_kvm()
        if kvm:
            # it runs in its jail on the overlay, the base linked beside it
            assert st == 200, body
            assert p.api("GET", "/vms/rel")[1]["state"] == "running"
        else:
            # past the jail's layout: what stops it is the missing /dev/kvm, not the disk
            assert "backing" not in body["fault_message"] and "base.img" not in body["fault_message"], body
        # the refused ones (and, without KVM, the one that could not run) leave no jail behind
        for name in ("abs", "gone") if kvm else ("rel", "abs", "gone"):
            assert not (p.jails / "petrel" / name).exists()
    finally:
        p.close()


def test_restore_bad_input(tmp_path):
    p = mgrlib.Petreld().start()
    try:
        template(p, tmp_path, "rs")
        for bad in ({}, {"backup": "../x"}, {"backup": "b1", "x": 1}, {"name": "b1"}, "x"):
            assert p.api("POST", "/vms/rs/restore", bad)[0] == 400, bad
        st, body = p.api("POST", "/vms/rs/restore", {"backup": "b1"})
        assert st == 404 and "no backup" in body["fault_message"]
        assert p.api("GET", "/vms/rs/restore")[0] == 405
        # A backup without a copy of a writable disk cannot bring the VM back whole.
        d = p.root / "snap" / "rs.backups" / "b1"
        d.mkdir(parents=True)
        (d / "meta.json").write_text(json.dumps({"name": "b1", "created": 0}))
        st, body = p.api("POST", "/vms/rs/restore", {"backup": "b1"})
        assert st == 409 and "no copy of drive 'root'" in body["fault_message"], body
        assert p.ctl("restore", "rs").returncode == 2
        assert p.ctl("restore", "rs", "b1").returncode == 1
        assert p.api("GET", "/vms/rs")[1]["state"] == "shut off"
    finally:
        p.close()


def counts(log, since=0):
    """The counter guest's count lines in a worker's log, from byte since."""
    text = log.read_bytes()[since:].decode(errors="replace")
    return [int(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith("count=")
            and line.split("=", 1)[1].isdigit()]


def wait_count(log, since=0, at_least=1, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        c = counts(log, since) if log.exists() else []
        if len(c) >= at_least:
            return c
        assert time.monotonic() < deadline, f"no count line in {log}"
        time.sleep(0.1)


def test_clones_of_a_snapshot_run_on_their_overlays(petreld, kvm, tmp_path):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    disk = template(p, tmp_path)
    base = disk.read_bytes()
    assert p.api("POST", "/vms/tmpl/start")[0] == 200
    log = p.state / "logs" / "tmpl.worker.log"
    wait_count(log, at_least=2)
    at_snapshot = max(counts(log))  # the snapshot holds a later count than this
    assert p.ctl("snapshot-create", "tmpl", "s1").returncode == 0
    # The template's disk is every clone's base: cloning while it runs is refused.
    st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 1})
    assert st == 409 and "shut it down" in body["fault_message"]
    assert p.ctl("destroy", "tmpl").returncode == 0
    r = p.ctl("clone", "tmpl", "s1", "3")
    assert r.returncode == 0, r.stderr
    names = ["tmpl-0", "tmpl-1", "tmpl-2"]
    for n in names:
        ev.wait(n, "restored")
        vm = p.api("GET", f"/vms/{n}")[1]
        assert vm["state"] == "running", vm
        # jailed, its overlay at /vm/f1 and the base beside it, as the overlay names it
        root = f"/proc/{vm['vmm_pid']}/root/vm"
        assert os.stat(f"{root}/root.base").st_ino == os.stat(disk).st_ino
        assert os.stat(f"{root}/f1").st_ino == os.stat(p.jails / "clones" / n / "root.qcow2").st_ino
        # It runs on from the snapshot's state: the count goes on, it does not start again.
        c = wait_count(p.state / "logs" / f"{n}.worker.log")
        assert c[0] > at_snapshot >= 2, (c, at_snapshot)
    # The base is shared, read-only: the template cannot write it while clones use it.
    st, body = p.api("POST", "/vms/tmpl/start")
    assert st == 502 and "in use" in body["fault_message"], body
    for n in names:
        assert p.ctl("destroy", n).returncode == 0
    assert disk.read_bytes() == base
    # A clone is a VM of its own: a cold start boots it on its overlay.
    assert p.ctl("start", "tmpl-1").returncode == 0
    assert wait_count(p.state / "logs" / "tmpl-1.worker.log")
    ev.close()


def test_restore_brings_back_the_disks_and_the_state(petreld, kvm, tmp_path):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    disk = template(p, tmp_path, "rs", content=b"petrel-backup")
    assert p.api("POST", "/vms/rs/start")[0] == 200
    log = p.state / "logs" / "rs.worker.log"
    wait_count(log, at_least=2)
    at_backup = max(counts(log))  # the backup holds a later count than this
    assert p.ctl("backup", "rs", "b1").returncode == 0
    assert p.ctl("destroy", "rs").returncode == 0
    disk.write_bytes(b"overwritten" + bytes((1 << 20) - 11))
    since = log.stat().st_size
    r = p.ctl("restore", "rs", "b1")
    assert r.returncode == 0, r.stderr
    ev.wait("rs", "restored")
    assert p.api("GET", "/vms/rs")[1]["state"] == "running"
    assert disk.read_bytes()[:13] == b"petrel-backup"
    c = wait_count(log, since)
    assert c[0] > at_backup >= 2, (c, at_backup)
    # While it runs: its worker is replaced by one restored from the backup again.
    old = p.api("GET", "/vms/rs")[1]["vmm_pid"]
    assert p.ctl("restore", "rs", "b1").returncode == 0
    assert p.api("GET", "/vms/rs")[1]["vmm_pid"] != old
    ev.close()


def start_phases(p, names):
    """The median and the slowest of each phase of the workers' starts (worker.c logs them)."""
    rows = []
    for n in names:
        for line in (p.state / "logs" / f"{n}.log").read_text().splitlines():
            m = re.search(r"worker up in (\d+) ms: spawned (\d+), API answering (\d+), jail filled (\d+), "
                          r"configured (\d+)", line)
            if m:
                rows.append([int(x) for x in m.groups()])
    cols = list(zip(*rows)) or [[]] * 5
    return ", ".join(f"{k} {statistics.median(c):.0f}/{max(c)} ms" for k, c in
                     zip(("up", "spawned", "API", "jail", "configured"), cols) if c)


def test_a_hundred_vms_defined_started_listed_stopped(petreld, kvm):
    """Issue 37's test: 100 jailed VMs of the idle test guest, started 4 requests at a time
    (PETREL_MANAGER_VMS=N for fewer)."""
    import concurrent.futures
    p = petreld()
    count = int(os.environ.get("PETREL_MANAGER_VMS", "100"))
    names = [f"h{i}" for i in range(count)]
    for n in names:
        assert p.define(n, kernel=mgrlib.guest("idle"))[0] == 201

    def start(n):
        return p.api("POST", f"/vms/{n}/start", timeout=300)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for n, (st, body) in zip(names, pool.map(start, names)):
            assert st == 200, (n, body)
    print(f"{count} VMs started in {time.monotonic() - t0:.1f} s; median/slowest since the start began: "
          f"{start_phases(p, names)}")
    running = p.api("GET", "/list/running")[1]
    assert sorted(v["name"] for v in running) == sorted(names)
    r = p.ctl("list")
    assert r.returncode == 0 and sum(" running " in line for line in r.stdout.splitlines()) == count
    pids = [v["pid"] for v in running]
    assert len(set(pids)) == count
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for st, _ in pool.map(lambda n: p.api("POST", f"/vms/{n}/destroy", timeout=120), names):
            assert st == 200
    print(f"{count} VMs destroyed in {time.monotonic() - t0:.1f} s")
    assert p.api("GET", "/list/running")[1] == []
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}")
