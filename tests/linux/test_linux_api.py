"""Firecracker's getting-started flow with the real Linux guest, through the REST API only,
booting the ELF vmlinux through PVH.

petrel starts with just --api-sock; the microVM is then configured with the requests curl would
send (PUT /logger, /metrics, /boot-source, /machine-config, /drives/rootfs, /entropy) and started
with PUT /actions InstanceStart. During the boot it is paused and resumed (PATCH /vm), and the
instance state is read back (GET /). The guest's /init runs with petrel.test=1 (see
scripts/guest-init): it prints PETREL-CHECK lines, prompts PETREL-READ>, echoes the line typed on
the console and powers off, and petrel must exit 0. Checks: the API answers per the spec, the
guest saw the drive (as /dev/vda with the image's size) and the entropy device (hwrng), the
typed line came back, and the metrics written at exit count the guest's exits.

One real boot (minutes on a nested PVM host; linuxlib.py bounds every wait); console in
build/linux-api-boot.log.
Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT / PETREL_LINUX_CHECKS_TIMEOUT, PETREL_API_SPEC.
"""
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import linuxlib  # the console protocol and its deadlines
import test_linux_boot as linux_boot  # the kernel command line, the guest's files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "api"))
import apilib  # noqa: E402

PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
LOG = ROOT / "build" / "linux-api-boot.log"
# The same Debian kernel, uncompressed (scripts/fetch-guest.sh): this boot goes through PVH.
# test_linux_boot.py boots the bzImage, which petrel decompresses on the host and enters
# through PVH too by default; the 64-bit boot protocol's entries (startup_64 and the kernel's
# own decompressor) are test_linux_bzimage_entry.py's (scripts/linux-extra.sh).
VMLINUX = ROOT / "guest" / "vmlinux"
CPUS, MEM_MIB = 2, 512
DISK_MIB = 8
INPUT_LINE = "hello-petrel-api"
# The same command line as tests/linux/test_linux_boot.py, without its ext4 check (the drive
# here is a blank image: the guest only has to see it).
CMDLINE = [a for a in linux_boot.CMDLINE if not a.startswith("petrel.disk=")]
# The snapshot taken at the guest's console prompt, which test_linux_restore.py loads.
SNAP_DIR = ROOT / "build" / "linux-snapshot"
SNAP_STATE, SNAP_MEM = SNAP_DIR / "vm.state", SNAP_DIR / "vm.mem"


def require_snapshot():
    """For the tests that start from this test's snapshot (they run after it, in file order)."""
    assert SNAP_STATE.is_file() and SNAP_MEM.is_file(), \
        "no snapshot from test_linux_api.py (it must run first and pass)"


def test_linux_getting_started_through_the_api():
    linux_boot._missing_guest()
    assert VMLINUX.is_file(), f"{VMLINUX} missing: run scripts/fetch-guest.sh"
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    apilib.spec()  # the responses are checked against it

    work = Path(tempfile.mkdtemp(prefix="petrel-linux-api-", dir="/tmp"))
    # The drive outlives this test: the snapshot taken here refers to it.
    SNAP_DIR.mkdir(parents=True, exist_ok=True)
    sock, metrics, disk = work / "api.sock", work / "metrics.json", SNAP_DIR / "rootfs.img"
    with open(disk, "wb") as f:
        f.truncate(DISK_MIB << 20)
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info", "--show-level"]
    LOG.parent.mkdir(parents=True, exist_ok=True)

    for f in (SNAP_STATE, SNAP_MEM):
        f.unlink(missing_ok=True)
    snapshots = []
    start = time.time()
    paused = False
    with open(LOG, "wb") as log:
        proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
        api = apilib.Client(sock)
        try:
            linuxlib.wait_for_socket(sock, proc)
            assert api.get("/").json["state"] == "Not started"
            requests = [
                ("/logger", {"level": "Info", "show_level": True}),
                ("/metrics", {"metrics_path": str(metrics)}),
                ("/boot-source", {"kernel_image_path": str(VMLINUX),
                                  "initrd_path": str(linux_boot.INITRD),
                                  "boot_args": " ".join(CMDLINE)}),
                ("/machine-config", {"vcpu_count": CPUS, "mem_size_mib": MEM_MIB}),
                ("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk),
                                    "is_root_device": True, "is_read_only": True}),
                ("/entropy", {}),
                ("/actions", {"action_type": "InstanceStart"}),
            ]
            for path, body in requests:
                r = api.put(path, body)
                assert r.status == 204, f"PUT {path}: {r}"
            assert api.get("/").json["state"] == "Running"
            booted_at = time.time()

            def pause_once(run):
                """Once, early in the kernel's boot: pause for two seconds, then resume."""
                nonlocal paused
                if paused or time.time() - booted_at <= 5 or proc.poll() is not None:
                    return
                paused = True
                assert api.patch("/vm", {"state": "Paused"}).status == 204
                assert api.get("/").json["state"] == "Paused"
                time.sleep(2)
                assert api.patch("/vm", {"state": "Resumed"}).status == 204
                assert api.get("/").json["state"] == "Running"

            def snapshot_at_prompt(run):
                """The guest waits for its console line: snapshot it there (paused), for
                tests/linux/test_linux_restore.py, then let it go on."""
                SNAP_DIR.mkdir(parents=True, exist_ok=True)
                assert api.patch("/vm", {"state": "Paused"}).status == 204
                r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(SNAP_STATE),
                                                 "mem_file_path": str(SNAP_MEM)})
                snapshots.append(r)
                assert api.patch("/vm", {"state": "Resumed"}).status == 204

            run = linuxlib.run_console(proc, con, start, INPUT_LINE, on_tick=pause_once,
                                       on_prompt=snapshot_at_prompt)
        finally:
            api.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.write(f"\n# petrel exit status {proc.returncode} after {time.time() - start:.1f}s\n".encode())

    checks = {k: v for k, (_, v) in run.checks.items()}
    try:
        where = linuxlib.assert_healthy(run, proc, con, LOG)
        assert paused, "the VM was never paused and resumed" + where
        assert snapshots and snapshots[0].status == 204, f"snapshot at the prompt: {snapshots}" + where
        assert checks.get("cpus") == str(CPUS), f"guest sees {checks.get('cpus')} CPUs" + where
        assert checks.get("disk") == "vda", "the drive did not show up as /dev/vda" + where
        assert checks.get("disk-sectors") == str((DISK_MIB << 20) // 512), \
            f"/dev/vda has {checks.get('disk-sectors')} sectors" + where
        assert checks.get("hwrng", "none").startswith("virtio_rng"), \
            f"guest hwrng is {checks.get('hwrng')}, expected virtio_rng" + where
        assert run.read and run.echo == INPUT_LINE, f"guest echoed {run.echo!r}" + where
        assert run.done is not None, "guest did not finish its checks" + where
        assert run.rc == 0, f"petrel exited {run.rc} after the guest powered off, expected 0" + where
        assert not sock.exists(), "the API socket was left behind"
        last = json.loads(metrics.read_text().splitlines()[-1])  # written at exit
        assert last["exits"]["io-out"]["count"] > 0 and last["uart"]["tx_bytes"] > 0, last
        assert "block_rootfs" in last, last
    finally:
        shutil.rmtree(work, ignore_errors=True)
