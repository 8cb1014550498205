"""An image's lock goes with the process that holds it, at once, even when the process is killed
with requests in flight on its io_uring. The ring holds the image as a registered file (the
kernel's per-request lookup spared: src/block/raw.c), through a second open of the file; the
lock is on the first, which closes with the process. A ring is torn down asynchronously after
its process is gone: had the ring held the locked open, the next petrel (a migration's
destination, a standby taking over from a killed primary, qemu-img) would find the image
locked for a while. Driven by tests/tools/diskio, without a VM."""
import fcntl
import os
import signal
import struct
import subprocess
import time

import pytest

from test_qcow2 import DISKIO, MiB, qimg
import test_qcow2

pytestmark = test_qcow2.pytestmark  # skipped without qemu-img


def try_write_lock(path):
    """True if an OFD write lock on the whole file is free now (taken and given back)."""
    fd = os.open(path, os.O_RDWR)
    try:
        lk = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)  # struct flock, l_pid 0
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lk)
        except OSError:
            return False
        return True
    finally:
        os.close(fd)


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_a_killed_writer_leaves_its_image_unlocked_at_once(tmp_path, fmt):
    img = tmp_path / f"img.{fmt}"
    size = 64 * MiB
    qimg("create", "-f", fmt, img, size)
    for rnd in range(20):
        p = subprocess.Popen([str(DISKIO), "--aio", str(img)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        # writes kept in flight on the ring until the kill (the loop's "ns" line comes at its end)
        p.stdin.write(f"seed {rnd}\nstatus\nloop 100000000 0 {size} 65536\n")
        p.stdin.flush()
        while not (line := p.stdout.readline()).startswith("size"):
            assert line, "diskio did not open the image"
        assert not try_write_lock(img), "the image was not locked while diskio had it open"
        time.sleep(rnd % 4 * 0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert try_write_lock(img), f"round {rnd}: the killed writer's lock outlived it"
