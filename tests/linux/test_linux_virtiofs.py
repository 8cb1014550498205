"""The real Linux guest mounts a host directory over virtio-fs (docs/virtio-fs.md) with the
Debian kernel's own `virtiofs` module, served by Debian's virtiofsd: it reads a file the host
wrote, lists the directory, writes a file and makes a directory, and unmounts; after the
power-off the host finds both in the directory, as the guest wrote them. The driver found no
DAX window (petrel offers none: docs/virtio-fs.md), said so, and refuses `mount -o dax`.

The device is configured through the API (PUT /fs/share, as a client of petrel's extension of
Firecracker's API would); /init (scripts/guest-init) runs the check with petrel.fs=share and
loads fuse and virtiofs only because a virtio-fs device (ID 26) is on the bus.

One more real boot (minutes on a nested PVM host): a VM with a virtio-fs device cannot be
snapshotted (the back end's state is not petrel's to save), so this check cannot ride on the
suite's one boot and its snapshot as the other Linux tests do. It is an extra test, run with
PETREL_LINUX_EXTRA=1 (scripts/linux-extra.sh). Needs root (virtiofsd's sandbox).
Console in build/linux-virtiofs-boot.log, virtiofsd's output in build/linux-virtiofsd.log.
"""
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import apilib
import linuxguest
import linuxlib

ROOT = linuxguest.ROOT
PETREL = linuxguest.PETREL
LOG = ROOT / "build" / "linux-virtiofs-boot.log"
FSD_LOG = ROOT / "build" / "linux-virtiofsd.log"
MODULES = linuxguest.GUEST / "modules"
CMDLINE = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")] + ["petrel.fs=share"]
HELLO = "hello from the host through virtio-fs"


def test_linux_mounts_a_host_directory_over_virtiofs():
    linuxguest.missing_guest()
    why = linuxguest.virtiofsd_missing()
    if why:
        pytest.skip(why)
    assert (MODULES / "virtiofs.ko").is_file() and (MODULES / "fuse.ko").is_file(), \
        "the guest has no fuse/virtiofs modules: run scripts/fetch-guest.sh (it fetches again)"
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    # The socket in /tmp: the build directory may be on a file system without sockets (9p).
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-vfs-", dir="/tmp"))
    share = work / "share"
    (share / "sub").mkdir(parents=True)
    (share / "hello.txt").write_text(HELLO)
    (share / "sub" / "deeper.txt").write_text("x")
    sock, fsd_sock = work / "api.sock", work / "fs.sock"
    LOG.parent.mkdir(parents=True, exist_ok=True)
    fsd = None
    start = time.time()
    try:
        with open(LOG, "wb") as log, open(FSD_LOG, "wb") as fsd_log:
            fsd = linuxguest.start_virtiofsd(fsd_sock, share, fsd_log)
            proc, con = linuxlib.spawn([str(PETREL), "--api-sock", str(sock), "--level", "Info"], log, cwd=ROOT)
            api = apilib.Client(sock)
            try:
                linuxlib.wait_for_socket(sock, proc, con)
                for path, body in [
                    ("/boot-source", {"kernel_image_path": str(linuxguest.VMLINUX),
                                      "initrd_path": str(linuxguest.INITRD), "boot_args": " ".join(CMDLINE)}),
                    ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                    ("/fs/share", {"id": "share", "socket": str(fsd_sock), "tag": "share"}),
                    ("/actions", {"action_type": "InstanceStart"}),
                ]:
                    r = api.put(path, body, check=False)
                    assert r.status == 204, f"PUT {path}: {r}"
                run = linuxlib.run_console(proc, con, start, "hello-virtiofs")
            finally:
                api.close()
                linuxguest.stop(proc)
        where = linuxlib.assert_healthy(run, proc, con, LOG)
        checks = {k: v for k, (_, v) in run.checks.items()}
        assert checks.get("fs-mount") == "virtiofs", f"{checks}" + where
        assert checks.get("fs-read") == HELLO, f"{checks}" + where
        assert checks.get("fs-list", "").split() == ["hello.txt", "sub"], f"{checks}" + where
        assert checks.get("fs-mkdir") == "done" and checks.get("fs-write") == "done", f"{checks}" + where
        assert run.rc == 0, f"petrel exited {run.rc}" + where
        # no DAX window: petrel offers no shared memory region (virtiofsd 7.2 cannot map into
        # one), and the driver says so and goes on without it: at probe ("No cache capability",
        # a notice that the tests' `quiet` keeps off the console) or, as a warning, when /init
        # asks for DAX
        assert any("virtio_fs_setup_dax: No cache capability" in l or
                   "dax can't be enabled as filesystem device does not support it" in l
                   for _, l in con.lines), where
        assert checks.get("fs-dax") == "refused", f"{checks}" + where
        # what the guest wrote, on the host
        assert (share / "from-guest.txt").read_text() == "written through virtio-fs"
        assert (share / "made-by-guest").is_dir()
        print(f"virtio-fs mount, read, write: passed in {time.time() - start:.0f} s")
    finally:
        linuxguest.stop(fsd)
        shutil.rmtree(work, ignore_errors=True)
