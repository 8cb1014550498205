# SPDX-License-Identifier: Apache-2.0
"""Snapshots through Firecracker's API with ring-3 test guests (tests/guests): pause, create,
load into a fresh petrel, and the guest goes on where it was."""
import re
import signal
import subprocess
import threading

import pytest

import apilib
from test_api_vm import counts, start

PETREL = apilib.petrel_bin()


def assert_counts_go_on(before, after, pattern=r"^count=(\d+)$"):
    """The guest's console before the snapshot and after the restore, joined (a line may have
    been cut by the snapshot): its counts go on one by one, none lost, none repeated."""
    after = after.replace("\r", "")
    after = after[:after.rfind("\n") + 1]  # a line still being written is not a count yet
    got = [int(n) for n in re.findall(pattern, (before + after).replace("\r", ""), re.M)]
    assert got and got == list(range(got[0], got[0] + len(got))), got
    return got


def snapshot(api, workdir, name="snap"):
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = workdir / f"{name}.state", workdir / f"{name}.mem"
    r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                     "mem_file_path": str(mem)})
    assert r.status == 204, r
    return state, mem


def counter_snapshot(petrel, api, workdir, args="every=1048576", upto=2, vcpus=1):
    """Boot the counting guest, let it count to `upto`, snapshot it; returns (state, mem, the
    last count before the snapshot). The first petrel is closed."""
    start(api, "counter", args, vcpus=vcpus)
    petrel.expect(rf"^count={upto}$")
    state, mem = snapshot(api, workdir)
    petrel.close()
    # Counted once its console is read to the end (the guest is paused: nothing comes after),
    # not as far as the reader had got when the snapshot returned, which lags on a busy host.
    last = max(counts(petrel))
    return state, mem, last


def load(workdir, name, state, mem, resume=True, **extra):
    """A fresh petrel in workdir/name that loaded the snapshot (the caller closes it)."""
    d = workdir / name
    d.mkdir()
    p = apilib.Petrel(d)
    body = {"snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
            "resume_vm": resume, **extra}
    r = p.client().put("/snapshot/load", body)
    if r.status != 204:
        p.close()
        pytest.fail(f"snapshot load: {r}\n{p.describe()}")
    return p


def test_counter_resumes_with_its_count_after_load(petrel, api, workdir):
    start(api, "counter", "every=1048576", vcpus=2)
    petrel.expect(r"^count=3$")
    state, mem = snapshot(api, workdir)
    last = max(counts(petrel))
    assert state.stat().st_size > 0 and mem.stat().st_size == 128 << 20
    # The memory file is sparse: far fewer blocks than 128 MiB.
    assert mem.stat().st_blocks * 512 < 64 << 20, mem.stat()
    petrel.close()

    p2 = load(workdir, "second", state, mem)
    try:
        api2 = p2.client()
        assert api2.get("/").json["state"] == "Running"
        cfg = api2.get("/vm/config").json
        assert cfg["machine-config"]["vcpu_count"] == 2 and cfg["machine-config"]["mem_size_mib"] == 128
        p2.expect(rf"^count={last + 2}$")
        assert_counts_go_on(petrel.out.text(), p2.out.text())
    finally:
        p2.close()


def test_load_paused_then_resume(petrel, api, workdir):
    state, mem, last = counter_snapshot(petrel, api, workdir)
    d2 = workdir / "second"
    d2.mkdir()
    p2 = apilib.Petrel(d2)
    try:
        api2 = p2.client()
        # Firecracker's older form: mem_file_path instead of mem_backend; resume_vm left out
        r = api2.put("/snapshot/load", {"snapshot_path": str(state), "mem_file_path": str(mem)})
        assert r.status == 204, f"{r}\n{p2.describe()}"
        assert api2.get("/").json["state"] == "Paused"
        assert not counts(p2)
        assert api2.patch("/vm", {"state": "Resumed"}).status == 204
        # last + 1 may have been half written when the snapshot paused the guest: last + 2 is
        # the first line this petrel surely writes whole
        p2.expect(rf"^count={last + 2}$")
        assert_counts_go_on(petrel.out.text(), p2.out.text())
    finally:
        p2.close()


def test_create_needs_a_paused_vm(petrel, api, workdir):
    start(api, "counter")
    petrel.expect(r"^count=1$")
    r = api.put("/snapshot/create", {"snapshot_path": str(workdir / "s"), "mem_file_path": str(workdir / "m")})
    assert r.status == 400 and "paused" in r.fault, r


def test_corrupt_truncated_and_foreign_files_are_refused(petrel, api, workdir):
    start(api, "counter", "every=1048576")
    petrel.expect(r"^count=1$")
    state, mem = snapshot(api, workdir)
    petrel.close()
    good = state.read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "flipped": good[:100] + bytes([good[100] ^ 0x40]) + good[101:],
        "newer-version": good[:8] + (99).to_bytes(4, "little") + good[12:],
        # state format 1 wrote in-memory structs as they were: refused by name
        "format-1": good[:8] + (1).to_bytes(4, "little") + good[12:],
        "not-a-snapshot": b"hello, world\n" * 10,
        "empty": b"",
    }
    for name, data in cases.items():
        bad = workdir / f"bad-{name}"
        bad.write_bytes(data)
        d = workdir / f"p-{name}"
        d.mkdir()
        p = apilib.Petrel(d)
        try:
            r = p.client().put("/snapshot/load", {"snapshot_path": str(bad), "mem_file_path": str(mem)})
            assert r.status == 400 and r.fault, (name, r)
            if name == "format-1":
                assert "format version 1; this petrel reads format version 2" in r.fault, r.fault
            # petrel is still there, not started, and can still load the good snapshot
            assert p.client().get("/").json["state"] == "Not started", name
            r = p.client().put("/snapshot/load", {"snapshot_path": str(state), "mem_file_path": str(mem),
                                                  "resume_vm": True})
            assert r.status == 204, (name, r, p.describe())
            p.expect(r"^count=\d+$")  # it counts on (from wherever the snapshot caught it)
        finally:
            p.close()


def test_cli_restore(petrel, api, workdir):
    state, mem, last = counter_snapshot(petrel, api, workdir)
    p = subprocess.Popen([str(PETREL), "run", "--restore", str(state), "--mem-file", str(mem)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out = apilib.read_until(p, f"count={last + 2}".encode())
        assert_counts_go_on(petrel.out.text(), out.decode())
    finally:
        p.kill()
        p.wait()


def test_info_describes_the_file(petrel, api, workdir):
    start(api, "counter", "every=1048576", vcpus=2)
    petrel.expect(r"^count=1$")
    state, mem = snapshot(api, workdir)
    r = subprocess.run([str(PETREL), "snapshot", "info", str(state)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "format version 2, checksum good" in r.stdout
    assert "vCPUs: 2" in r.stdout and "memory: 128 MiB" in r.stdout
    assert re.search(r"CPU  #1 ", r.stdout) and '"vcpu_count": 2' in r.stdout, r.stdout
    bad = workdir / "bad"
    bad.write_bytes(state.read_bytes()[:-1])
    r = subprocess.run([str(PETREL), "snapshot", "info", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "petrel:" in r.stderr


def test_four_clones_of_one_snapshot_run_at_once(petrel, api, workdir):
    """Fast deployment: one prepared snapshot, many processes loading it; the memory file is
    mapped privately, so each clone's writes stay its own and the file is never changed."""
    state, mem, last = counter_snapshot(petrel, api, workdir)
    before = mem.read_bytes()
    clones = []
    try:
        for i in range(4):
            clones.append(load(workdir, f"clone{i}", state, mem))
        for p in clones:  # all four count on, concurrently, from the same point
            p.expect(rf"^count={last + 3}$")
            assert_counts_go_on(petrel.out.text(), p.out.text())
    finally:
        for p in clones:
            p.close()
    assert mem.read_bytes() == before


def rounds(p):
    return [int(n) for n in p.lines(r"^blkloop round=(\d+) ok$")]


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_block_io_in_flight_survives_a_snapshot(petrel, api, workdir, transport):
    """blkloop keeps 32 requests in flight; pausing completes them into the used ring, and the
    restored guest checks every byte it wrote before and after."""
    disk = workdir / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    img = str(apilib.guest("blkloop"))
    if transport == "mmio":
        petrel.close()  # the API has no transport field: petrel's --virtio-transport says it
        petrel = apilib.Petrel(workdir, args=["--virtio-transport", "mmio"])
        api = petrel.client()
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": f"transport={transport}"}).status == 204
    assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                    "is_read_only": False}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^blkloop round=20 ok$")
    state, mem = snapshot(api, workdir)
    last = max(rounds(petrel))
    petrel.close()
    assert "virtio-mmio" in subprocess.run([str(PETREL), "snapshot", "info", str(state)],
                                           capture_output=True, text=True).stdout or transport == "pci"
    p2 = load(workdir, "second", state, mem)
    try:
        p2.expect(rf"^blkloop round={last + 20} ok$")
        assert_counts_go_on(petrel.out.text(), p2.out.text(), r"^blkloop round=(\d+) ok$")
        assert "FAIL" not in p2.out.text()
    finally:
        p2.close()


def test_kill_during_create_leaves_the_previous_snapshot(petrel, api, workdir):
    """Files go to temporary names and are renamed into place when complete: a petrel killed
    while writing a snapshot leaves the previous one at those paths, still loadable."""
    start(api, "counter", "every=1048576 fill_mib=100")
    petrel.expect(r"^count=1$")
    state, mem = snapshot(api, workdir)
    old_state, old_mem = state.read_bytes(), mem.read_bytes()
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    petrel.expect(r"^count=3$")
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    # The same paths again, and a kill -9 while the 100 MiB memory file is being written.
    body = {"snapshot_path": str(state), "mem_file_path": str(mem)}
    killer = threading.Timer(0.02, lambda: petrel.proc.send_signal(signal.SIGKILL))
    killer.start()
    try:
        api.put("/snapshot/create", body, check=False)
    except OSError:
        pass  # the connection died with petrel
    killer.join()
    petrel.proc.wait(10)
    # Either the old pair or, had the create finished first, a complete new pair; never a mix.
    if state.read_bytes() == old_state:
        assert mem.read_bytes() == old_mem
        print("killed mid-create; leftover temporaries:", [f.name for f in workdir.glob("*.tmp.*")])
    p = load(workdir, "after-kill", state, mem)
    try:
        p.expect(r"^count=\d+$")
    finally:
        p.close()


def gens(p):
    return [int(n) for n in p.lines(r"^gen=(\d+) ok$")]


def test_diff_chain_of_three_restores_exactly_and_merges(petrel, api, workdir):
    """With track_dirty_pages, a Diff snapshot holds just the pages written since the last
    snapshot: KVM's dirty log sees the ring-3 guest's writes (8 MiB rewritten per count line)
    and petrel adds its own. A chain full + 3 diffs loads from its newest link, and the guest
    checks every byte of its 8 MiB region on its next line."""
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img,
                                    "boot_args": "every=4194304 fill_mib=8 rewrite=1"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                       "track_dirty_pages": True}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^gen=3 ok$")
    files = [snapshot(api, workdir, "full")]
    for i in range(3):
        assert api.patch("/vm", {"state": "Resumed"}).status == 204
        petrel.expect(rf"^gen={max(gens(petrel)) + 2} ok$")
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        state, mem = workdir / f"diff{i}.state", workdir / f"diff{i}.mem"
        r = api.put("/snapshot/create", {"snapshot_type": "Diff", "snapshot_path": str(state),
                                         "mem_file_path": str(mem)})
        assert r.status == 204, r
        files.append((state, mem))
    last = max(gens(petrel))
    petrel.close()
    for state, mem in files[1:]:
        used = mem.stat().st_blocks * 512
        # the rewritten region and a few pages of stack and page tables: the dirty log saw
        # the ring-3 writes, and nothing near the whole 128 MiB was written
        assert 8 << 20 <= used <= 16 << 20, (mem, used)
    info = subprocess.run([str(PETREL), "snapshot", "info", str(files[-1][0])], capture_output=True, text=True)
    assert "parent:" in info.stdout and "diff1.state" in info.stdout, info.stdout
    p = load(workdir, "restored", *files[-1])
    try:
        p.expect(rf"^gen={last + 2} ok$")
        assert_counts_go_on(petrel.out.text(), p.out.text(), r"^gen=(\d+) ok$")
        assert "FAIL" not in p.out.text(), p.describe()
    finally:
        p.close()
    # Folded into one full snapshot, the chain loads alone and gives the same memory.
    merged = workdir / "merged.state", workdir / "merged.mem"
    r = subprocess.run([str(PETREL), "snapshot", "merge", str(files[-1][0]), *map(str, merged)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = subprocess.run([str(PETREL), "snapshot", "info", str(merged[0])], capture_output=True, text=True)
    assert "parent: none" in info.stdout, info.stdout
    for state, mem in files[1:]:
        mem.unlink()  # the merged snapshot needs none of the chain's files
    p = load(workdir, "merged", *merged)
    try:
        p.expect(rf"^gen={last + 2} ok$")
        assert_counts_go_on(petrel.out.text(), p.out.text(), r"^gen=(\d+) ok$")
    finally:
        p.close()
    # A Diff needs dirty tracking and a base.
    q = load(workdir, "untracked", *files[0], resume=False)
    try:
        r = q.client().put("/snapshot/create", {"snapshot_type": "Diff", "snapshot_path": str(workdir / "x"),
                                                "mem_file_path": str(workdir / "y")})
        assert r.status == 400 and "track_dirty_pages" in r.fault, r
    finally:
        q.close()


def test_backup_of_a_running_vm_with_its_disk(petrel, api, workdir):
    """PUT /snapshot/backup (petrel's own): memory, state and a copy of every disk, the guest
    paused only meanwhile. The VM runs on; loading the backup gives it back as it was, on its
    own copy of the disk (blkloop checks what it reads)."""
    disk = workdir / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    img = str(apilib.guest("blkloop"))
    assert api.put("/boot-source", {"kernel_image_path": img}).status == 204
    assert api.put("/drives/data", {"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                                    "is_read_only": False}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^blkloop round=10 ok$")
    backup = workdir / "backup"
    r = api.put("/snapshot/backup", {"backup_dir": str(backup)}, check=False)  # not in Firecracker's spec
    assert r.status == 200 and r.json["disks"][0]["file"] == "data.img", r
    at = max(rounds(petrel))
    assert api.get("/").json["state"] == "Running"
    petrel.expect(rf"^blkloop round={at + 30} ok$")  # it went on, writing its disk
    before = petrel.out.text()
    petrel.close()
    assert (backup / "data.img").read_bytes() != disk.read_bytes()  # the copy is its own
    info = subprocess.run([str(PETREL), "snapshot", "info", str(backup / "vm.state")], capture_output=True, text=True)
    assert str(backup / "data.img") in info.stdout, info.stdout
    # The round the backup caught, from its disk: blkloop's first block holds round r's pattern,
    # r * 31 mod 256 (31 * 223 = 1 mod 256) — from the backup itself, not from how far the
    # console had been read when it returned (which lags on a busy host).
    r0 = (backup / "data.img").read_bytes()[0] * 223 % 256
    p = load(workdir, "restored", backup / "vm.state", backup / "vm.mem")
    try:
        p.expect(rf"^blkloop round={at + 5} ok$")
        got = [int(n) for n in re.findall(r"^blkloop round=(\d+) ok$", p.out.text(), re.M)]
        # it goes on from the round its disk shows (round 10 had passed): that round again when
        # the backup caught it reading back, the next when it had finished
        assert got[0] >= 10 and (got[0] - r0) % 256 in (0, 1) and "FAIL" not in p.out.text(), \
            (r0, at, got[:3], p.describe())
    finally:
        p.close()
    assert before  # (the original run's console, for a failure message)


def test_backup_request_checked(petrel, api, workdir):
    assert api.put("/snapshot/backup", {}, check=False).status == 400
    r = api.put("/snapshot/backup", {"backup_dir": str(workdir / "b")}, check=False)
    assert r.status == 400 and "not running" in r.fault, r
