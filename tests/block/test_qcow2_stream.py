"""A qcow2 image written front to back in one pass (src/block/qcow2_stream.c: the backup's
incremental members, docs/backups.md), through tests/tools/diskio's `member` command without a
VM: over a sparse raw disk of 8 GiB and a bit (17 L2 tables, a short last cluster), `qemu-img
check` finds the image sound, `qemu-img compare` finds base + member equal to the disk, and the
bytes the sink saw (the checksum's) are the file's, in its order."""
import os
import shutil
import subprocess
import zlib

import pytest

from test_qcow2 import diskio, qimg

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")

CLUSTER = 64 << 10
SIZE = (8 << 30) + CLUSTER + 4096 + 512  # the last cluster short


def make_member(tmp_path, clusters):
    base, now = tmp_path / "base.raw", tmp_path / "now.raw"
    with open(base, "wb") as f:
        f.truncate(SIZE)
    diskio(base, "w 0 1048576 1\nw 4294967296 65536 2\n", "--format", "raw")
    subprocess.run(["cp", "--sparse=always", base, now], check=True)
    last = (SIZE - 1) // CLUSTER
    script = "".join(f"w {c * CLUSTER} {min(CLUSTER, SIZE - c * CLUSTER)} {c + 7}\n" for c in clusters if c != last)
    if last in clusters:
        script += f"w {last * CLUSTER} {SIZE - last * CLUSTER} 9\n"
    os.mkdir(tmp_path / "m")
    r = diskio(now, script + f"member {tmp_path}/m/m.qcow2 ../base.raw {','.join(map(str, clusters))}\n",
               "--format", "raw")
    return now, tmp_path / "m" / "m.qcow2", r.stdout


@pytest.mark.parametrize("clusters", [
    [3],
    [0, 1, 8191, 8192, 65536, 65537, 131071],                  # across L2 tables, 0 and 4 GiB too
    [c * 8192 + 17 for c in range(16)] + [(SIZE - 1) // CLUSTER],  # every L2 table, the short end
], ids=["one", "spread", "every-table"])
def test_member_is_a_sound_image_equal_to_the_disk(tmp_path, clusters):
    now, member, out = make_member(tmp_path, clusters)
    qimg("check", member)
    info = qimg("info", "--output=json", member).stdout
    assert '"backing-filename": "../base.raw"' in info and f'"virtual-size": {SIZE}' in info, info
    r = qimg("compare", "-f", "qcow2", "-F", "raw", member, now, check=False)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr
    # the member holds those clusters and its tables only
    data = len(set(clusters)) * CLUSTER
    assert data <= member.stat().st_size <= data + (4 + 17) * CLUSTER  # 17 L2 tables at most
    n, crc = next(ln.split()[1:] for ln in out.splitlines() if ln.startswith("sink "))
    blob = member.read_bytes()
    assert int(n) == len(blob) and int(crc) == zlib.crc32(blob)


def test_member_that_cannot_be_made_leaves_nothing(tmp_path):
    base = tmp_path / "base.raw"
    with open(base, "wb") as f:
        f.truncate(1 << 20)
    r = diskio(base, f"member {tmp_path}/m.qcow2 nowhere.raw 1\n", "--format", "raw", expect_ok=False)
    assert "member: " in r.stdout and "nowhere.raw" in r.stdout, r.stdout
    assert not (tmp_path / "m.qcow2").exists()
