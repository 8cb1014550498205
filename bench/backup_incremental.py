#!/usr/bin/env python3
"""Incremental backup against full (issue 58, docs/backups.md#figures): a disk of SIZE (4 GiB; quick:
64 MiB) filled with random bytes, 1% of it written, then backed up.

petrel  a VM under `petrel --api-sock` whose guest (tests/guests/blkloop.c, keep=1) writes its
        slots of 128 KiB, as many as make 1% of the disk; PUT /snapshot/backup: a full member
        (mode full), then, once the guest has written every slot again and is paused, an
        incremental one over it (mode incremental, its backing the full member). Per member: the
        request's wall time (state and memory, 32 MiB, included: the VM's whole backup), the disk
        member's allocated bytes, the bitmap's dirty bytes, and the worker's read and written
        bytes over the request (/proc/PID/io rchar/wchar: through system calls, page cache or
        not; they include the memory file's 32 MiB and the state).
QEMU    Debian's qemu-system-x86_64, no guest (-machine none): the same random disk as a raw
        -blockdev, a dirty bitmap added (block-dirty-bitmap-add), a full drive-backup (sync full,
        raw target), then the same 1% written through HMP's qemu-io (the block layer the bitmap
        watches), then drive-backup sync incremental with the bitmap into a qcow2 over the full
        copy (qemu-img create -b, mode existing): QEMU's documented incremental backup. Per backup:
        the wall time from the command to BLOCK_JOB_COMPLETED, the target's allocated bytes, and
        QEMU's read and written bytes over it (/proc/PID/io). Without qemu-system-x86_64 its rows
        are left out, saying so.

Goal (the issue): an incremental reads and writes <= 2x the changed bytes (petrel: its disk
member's part; the memory file is the VM's, not the disk's). Needs /dev/kvm for petrel's rows.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: apilib ...)
import apilib  # noqa: E402
import benchlib  # noqa: E402
from benchlib import pick  # noqa: E402

MiB = 1 << 20
SLOT = 128 * 1024
SIZE = int(os.environ.get("BENCH_BACKUP_SIZE_MIB", pick(4096, 64))) * MiB
SLOTS = max(1, SIZE // 100 // SLOT)   # 1% of the disk in blkloop's slots
CHANGED = SLOTS * SLOT


def fill(path):
    with open(path, "wb") as f:
        for _ in range(SIZE // (64 * MiB)):
            f.write(os.urandom(64 * MiB))
        f.write(os.urandom(SIZE % (64 * MiB)))


def io(pid):
    t = open(f"/proc/{pid}/io").read()
    return {k: int(v) for k, v in re.findall(r"^(\w+): (\d+)$", t, re.M)}


def allocated(path):
    return os.stat(path).st_blocks * 512


def host():
    return "PVM" if os.path.exists("/sys/module/kvm_pvm") else \
        "nested" if "hypervisor" in open("/proc/cpuinfo").read() else "bare metal"


def petrel_rows(tmp):
    disk = tmp / "p-disk.img"
    fill(disk)
    subprocess.run(["sync", "-f", str(disk)], check=True)
    p = apilib.Petrel(tmp, level="Info", debug_exit=False)
    rows = {}
    try:
        api = p.client()
        assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("blkloop")),
                                        "boot_args": f"keep=1 slots={SLOTS}"}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}).status == 204
        assert api.put("/drives/data", {"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                                        "is_read_only": False}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        p.expect(r"^blkloop round=1 ok$", timeout=120)

        def backup(name, mode, backing=None):
            body = {"backup_dir": str(tmp / name), "mode": mode, "chain_id": "bench"}
            if backing:
                body["backing"] = {"data": backing}
            before = io(p.proc.pid)
            t0 = time.monotonic()
            r = api.put("/snapshot/backup", body, check=False)
            wall = time.monotonic() - t0
            after = io(p.proc.pid)
            assert r.status == 200, r
            d = r.json["disks"][0]
            return {"mode": r.json["mode"], "ms": wall * 1000, "bytes": allocated(tmp / name / d["file"]),
                    "dirty": d["dirty_bytes"], "read": after["rchar"] - before["rchar"],
                    "written": after["wchar"] - before["wchar"], "file": d["file"]}

        assert api.patch("/vm", {"state": "Paused"}).status == 204
        rows["full"] = backup("b0", "full")
        assert api.patch("/vm", {"state": "Resumed"}).status == 204
        at = max(int(n) for n in p.lines(r"^blkloop round=(\d+) ok$"))
        p.expect(rf"^blkloop round={at + SLOTS + 1} ok$", timeout=600)   # every slot written again
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        rows["incremental"] = backup("b1", "incremental", backing="../b0/data.img")
        if rows["incremental"]["mode"] != "incremental":
            benchlib.failed(f"  petrel: the incremental was {rows['incremental']['mode']}")
    finally:
        p.close()
    return rows


class QMP:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        for _ in range(200):
            try:
                self.s.connect(str(path))
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, what, **args):
        self.f.write(json.dumps({"execute": what, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise RuntimeError(f"{what}: {m['error']}")

    def event(self, name, timeout=600):
        self.s.settimeout(timeout)
        while True:
            m = json.loads(self.f.readline())
            if m.get("event") == name:
                return m


def qemu_rows(tmp):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("  QEMU: no qemu-system-x86_64 (Debian's qemu-system-x86); its rows are left out")
        return None
    disk = tmp / "q-disk.img"
    fill(disk)
    subprocess.run(["sync", "-f", str(disk)], check=True)
    sock = tmp / "qmp.sock"
    proc = subprocess.Popen([qemu, "-machine", "none", "-nodefaults", "-display", "none", "-qmp", f"unix:{sock},server=on,wait=off",
                             "-blockdev", f"driver=file,node-name=f0,filename={disk},cache.direct=off",
                             "-blockdev", "driver=raw,node-name=d0,file=f0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rows = {}
    try:
        q = QMP(sock)
        q.cmd("block-dirty-bitmap-add", node="d0", name="b0", granularity=65536, persistent=False)

        def backup(target, sync, **kw):
            before = io(proc.pid)
            t0 = time.monotonic()
            q.cmd("drive-backup", device="d0", sync=sync, target=str(target), **{"job-id": f"j-{sync}"}, **kw)
            ev = q.event("BLOCK_JOB_COMPLETED")
            wall = time.monotonic() - t0
            after = io(proc.pid)
            assert "error" not in ev["data"], ev
            return {"ms": wall * 1000, "bytes": allocated(target), "read": after["rchar"] - before["rchar"],
                    "written": after["wchar"] - before["wchar"]}

        # the full copy clears nothing: the bitmap counts from its creation; clear it with the full
        # copy as QEMU's docs do (a transaction: the bitmap cleared at the copy's point in time)
        before = io(proc.pid)
        t0 = time.monotonic()
        q.cmd("transaction", actions=[
            {"type": "block-dirty-bitmap-clear", "data": {"node": "d0", "name": "b0"}},
            {"type": "drive-backup", "data": {"device": "d0", "job-id": "j-full", "sync": "full",
                                               "target": str(tmp / "q-full.img"), "format": "raw"}}])
        q.event("BLOCK_JOB_COMPLETED")
        rows["full"] = {"ms": (time.monotonic() - t0) * 1000, "bytes": allocated(tmp / "q-full.img")}
        after = io(proc.pid)
        rows["full"].update(read=after["rchar"] - before["rchar"], written=after["wchar"] - before["wchar"])
        for s in range(SLOTS):   # the same 1%: blkloop's slots
            q.cmd("human-monitor-command", **{"command-line": f"qemu-io d0 \"write -P {s % 251 + 1} {s * SLOT} {SLOT}\""})
        inc = tmp / "q-inc.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(tmp / "q-full.img"), "-F", "raw",
                        str(inc)], check=True)
        rows["incremental"] = backup(inc, "incremental", bitmap="b0", format="qcow2", mode="existing")
        rows["incremental"]["dirty"] = CHANGED
        q.cmd("quit")
    except (RuntimeError, OSError, AssertionError, ValueError) as e:
        benchlib.failed(f"  QEMU: {e}: {proc.stderr.read().decode(errors='replace')[-500:] if proc.poll() is not None else ''}")
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return rows


def show(who, rows):
    for mode in ("full", "incremental"):
        r = rows[mode]
        print(f"  {who:6s} {mode:11s}: {r['ms']:9.1f} ms, member {r['bytes'] / MiB:8.2f} MiB"
              + (f" (bitmap {r['dirty'] / MiB:.2f} MiB)" if "dirty" in r else "")
              + f", read {r['read'] / MiB:8.2f} MiB, written {r['written'] / MiB:8.2f} MiB", flush=True)
    f, i = rows["full"], rows["incremental"]
    print(f"  {who:6s} incremental/full: time {i['ms'] / f['ms']:.3f}, bytes {i['bytes'] / max(f['bytes'], 1):.4f};"
          f" incremental member / changed bytes {i['bytes'] / CHANGED:.2f}", flush=True)


def main():
    kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
    print(f"Incremental backup vs full ({'quick' if benchlib.QUICK else 'full'}; KVM: {host() if kvm else 'none'}; "
          f"disk {SIZE // MiB} MiB, 1% changed = {CHANGED / MiB:.2f} MiB in {SLOTS} slots of 128 KiB)", flush=True)
    with tempfile.TemporaryDirectory(prefix="petrel-bench-backup-", dir=os.environ.get("BENCH_BACKUP_DIR", "/tmp")) as d:
        tmp = Path(d)
        if kvm:
            show("petrel", petrel_rows(tmp))
        else:
            print("  petrel: no /dev/kvm; its rows are left out")
        for f in tmp.glob("*"):
            if f.is_file():
                f.unlink()
        q = qemu_rows(tmp) if os.environ.get("BENCH_QEMU", "1") != "0" else None
        if q:
            show("QEMU", q)
    print("done: incremental backup bench")


if __name__ == "__main__":
    main()
