"""The real Linux guest mounts an ext4 image from /dev/pmem0 (virtio-pmem, docs/pmem.md) and
reads a file, writes one, and syncs (a virtio-pmem flush); after the power-off the host reads
the written file back from the image with debugfs: the guest's stores went through the
MAP_SHARED mapping into the file.

The device is configured as Firecracker's clients do (PUT /pmem/{id}, Firecracker's
docs/pmem.md flow); the image is made here with mkfs.ext4 -d (4 KiB blocks, so DAX is possible:
the check reports whether the guest mounted it with DAX). /init (scripts/guest-init) runs the
check with petrel.pmem=1 and loads libnvdimm, nd_pmem and virtio_pmem only because a virtio-pmem
device is there. One more real boot (minutes on a nested PVM host): an extra test, run with
PETREL_LINUX_EXTRA=1 (scripts/linux-extra.sh). Console in build/linux-pmem-boot.log.
Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT / PETREL_LINUX_CHECKS_TIMEOUT.
"""
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import linuxlib
import linuxguest

ROOT = Path(__file__).resolve().parents[2]
import apilib

PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
LOG = ROOT / "build" / "linux-pmem-boot.log"
VMLINUX = ROOT / "guest" / "vmlinux"
MODULES = ROOT / "guest" / "modules"
CMDLINE = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")] + ["petrel.pmem=1"]
HELLO = "hello from the host through virtio-pmem"


def _tool(name):
    path = shutil.which(name) or f"/sbin/{name}"
    if not os.path.exists(path):
        pytest.fail(f"{name} not found: install e2fsprogs (scripts/setup.sh does)")
    return path


def test_linux_mounts_ext4_from_pmem():
    linuxguest.missing_guest()
    assert VMLINUX.is_file(), f"{VMLINUX} missing: run scripts/fetch-guest.sh"
    assert (MODULES / "virtio_pmem.ko").is_file() and (MODULES / "nd_pmem.ko").is_file(), \
        "the guest has no virtio_pmem/nd_pmem modules: run scripts/fetch-guest.sh (it fetches again)"
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-pmem-", dir="/tmp"))
    sock = work / "api.sock"
    image = work / "pmem.ext4"
    tree = work / "tree"
    tree.mkdir()
    (tree / "hello.txt").write_text(HELLO)
    # 64 MiB + 1 MiB: not a multiple of 2 MiB, so the padding is exercised too
    with open(image, "wb") as f:
        f.truncate(65 << 20)
    subprocess.run([_tool("mkfs.ext4"), "-F", "-q", "-b", "4096", "-d", str(tree), str(image)],
                   check=True, capture_output=True)
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info"]
    LOG.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    try:
        with open(LOG, "wb") as log:
            proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
            api = apilib.Client(sock)
            try:
                linuxlib.wait_for_socket(sock, proc, con)
                requests = [
                    ("/boot-source", {"kernel_image_path": str(VMLINUX), "initrd_path": str(linuxguest.INITRD),
                                      "boot_args": " ".join(CMDLINE)}),
                    ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                    ("/pmem/data", {"id": "data", "path_on_host": str(image), "root_device": False,
                                    "read_only": False}),
                    ("/actions", {"action_type": "InstanceStart"}),
                ]
                for path, body in requests:
                    r = api.put(path, body)
                    assert r.status == 204, f"PUT {path}: {r}"
                pmem = api.get("/vm/config").json["pmem"]
                assert pmem == [{"id": "data", "path_on_host": str(image), "root_device": False,
                                 "read_only": False, "rate_limiter": None}], pmem
                run = linuxlib.run_console(proc, con, start, "hello-pmem")
            finally:
                api.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        checks = {k: v for k, (_, v) in run.checks.items()}
        linuxlib.assert_healthy(run, proc, con, LOG)
        where = linuxlib.describe(run, proc, con, LOG)
        assert checks.get("pmem") == "pmem0", f"no /dev/pmem0: {checks}" + where
        assert int(checks.get("pmem-sectors", "0")) * 512 >= 65 << 20, f"{checks}" + where
        assert checks.get("pmem-read") == HELLO, f"{checks}" + where
        assert checks.get("pmem-write") == "done", f"{checks}" + where
        print(f"guest mounted the pmem device with DAX: {checks.get('pmem-dax')}")
        assert run.rc == 0, f"petrel exited {run.rc}" + where
        back = subprocess.run([_tool("debugfs"), "-R", "cat /from-guest.txt", str(image)], capture_output=True)
        assert back.stdout.decode() == "written through virtio-pmem", back
    finally:
        shutil.rmtree(work, ignore_errors=True)
