"""A disk's persistent backup bitmap (src/block/bitmap_store.c, qcow2_bitmap.c;
docs/snapshots.md#incremental-backups), stored and loaded by tests/tools/bitmaptool without a VM.
QEMU's qemu-img is the oracle for qcow2: `qemu-img info` lists petrel's bitmap, `qemu-img check`
finds the image clean (no leaked or doubly used cluster after several stores), and
`qemu-img convert --bitmaps` (which refuses an inconsistent bitmap) copies it into an image QEMU
wrote, which petrel's reader reads back bit for bit. Every way a bitmap may be wrong makes it stale."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build")) / "tests" / "tools" / "bitmaptool"
DISKIO = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build")) / "tests" / "tools" / "diskio"

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")


def run(*args, ok=True):
    r = subprocess.run([*map(str, args)], capture_output=True, text=True, timeout=60)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def tool(*args):
    return run(TOOL, *args).stdout.strip()


def load(image):
    out = tool("load", image)
    if out.startswith("stale "):
        return None, out[6:]
    chain, chunks = out.splitlines()
    return chain.split(" ", 1)[1] if " " in chain else "", [int(c) for c in chunks.split()[1:]]


def qcow2(tmp, name="d.qcow2", size="64M", *extra):
    p = tmp / name
    run("qemu-img", "create", "-q", "-f", "qcow2", *extra, p, size)
    return p


def info(image):
    return json.loads(run("qemu-img", "info", "--output=json", "-U", image).stdout)


def test_qcow2_bitmap_listed_by_qemu_img_and_read_back(tmp_path):
    d = qcow2(tmp_path)
    assert tool("store", d, "nightly", 0, 5, 1023) == "ok"
    bms = info(d)["format-specific"]["data"]["bitmaps"]
    assert bms == [{"flags": ["auto"], "name": "petrel-backup:nightly", "granularity": 65536}]
    run("qemu-img", "check", d)
    assert load(d) == ("nightly", [0, 5, 1023])
    # loading marked it in use: a second load (a worker killed without a clean close) is stale
    chain, why = load(d)
    assert chain is None and "in use" in why


def test_qcow2_stores_again_without_leaks_and_qemu_copies_it(tmp_path):
    d = qcow2(tmp_path)
    for chain, chunks in (("a", [1, 2, 3]), ("b", list(range(0, 1024, 3))), ("c", [7, 1000])):
        tool("store", d, chain, *chunks)
        r = run("qemu-img", "check", d, ok=False)
        assert r.returncode == 0 and "leaked" not in r.stdout, r.stdout + r.stderr
    e = tmp_path / "e.qcow2"
    # QEMU refuses to copy an in-use (inconsistent) bitmap: this one is clean
    run("qemu-img", "convert", "--bitmaps", "-f", "qcow2", "-O", "qcow2", d, e)
    assert load(e) == ("c", [7, 1000])


def test_qcow2_with_backing_file_keeps_its_name(tmp_path):
    base = qcow2(tmp_path, "base.qcow2")
    top = qcow2(tmp_path, "top.qcow2", "64M", "-b", "base.qcow2", "-F", "qcow2")
    tool("store", top, "x" * 255, 4)
    i = info(top)
    assert i["backing-filename"] == "base.qcow2" and i["backing-filename-format"] == "qcow2"
    assert i["format-specific"]["data"]["bitmaps"][0]["name"] == "petrel-backup:" + "x" * 255
    run("qemu-img", "check", top)
    assert load(top) == ("x" * 255, [4])
    assert base.exists()


def test_qcow2_written_by_a_program_without_bitmaps_is_stale(tmp_path):
    d = qcow2(tmp_path)
    tool("store", d, "n", 3)
    # diskio opens it for writing through petrel's qcow2 driver, which keeps no bitmaps: it
    # clears the autoclear bit, so the extension is inconsistent from then on
    subprocess.run([str(DISKIO), str(d)], input="w 0 4096 1\n", capture_output=True, text=True, check=True)
    chain, why = load(d)
    assert chain is None and "autoclear" in why


def test_qcow2_resized_by_qemu_img_keeps_a_bitmap_of_the_new_size(tmp_path):
    # QEMU resizes the persistent bitmaps with the image: the bitmap still matches the disk
    d = qcow2(tmp_path)
    tool("store", d, "n", 3, 1000)
    run("qemu-img", "resize", "-q", "--shrink", d, "32M")
    assert load(d) == ("n", [3])


def test_raw_sidecar_round_trip_and_crc(tmp_path):
    r = tmp_path / "r.img"
    r.write_bytes(b"")
    os.truncate(r, 64 << 20)
    assert load(r)[0] is None  # no bitmap yet
    tool("store", r, "abc", 9, 1023)
    side = tmp_path / "r.img.petrel-bitmap"
    assert side.exists()
    assert load(r) == ("abc", [9, 1023])
    assert "in use" in load(r)[1]
    tool("store", r, "abc", 9)
    buf = bytearray(side.read_bytes())
    buf[400] ^= 1
    side.write_bytes(bytes(buf))
    chain, why = load(r)
    assert chain is None and "CRC" in why
    tool("store", r, "abc", 9)
    os.truncate(r, 32 << 20)  # the disk changed size: the bitmap is not for it
    chain, why = load(r)
    assert chain is None and "bytes" in why


def test_hostile_sidecar_never_trusted(tmp_path):
    r = tmp_path / "r.img"
    r.write_bytes(b"")
    os.truncate(r, 1 << 20)
    side = tmp_path / "r.img.petrel-bitmap"
    for junk in (b"", b"PTRLBMP1", b"\xff" * 4096, b"PTRLBMP1" + b"\0" * 300):
        side.write_bytes(junk)
        chain, why = load(r)
        assert chain is None, junk


def test_old_directory_past_the_end_is_not_freed_over_the_new_one(tmp_path):
    """Found by fuzz_backup_bitmap: an image whose bitmaps extension names a directory past the
    end of the file. The clusters petrel then allocated for its own bitmap were at that place,
    and letting go of the "old" directory freed the new one. The old bitmaps' clusters are now
    collected before anything is allocated, and never one of the new bitmap's."""
    seed = ROOT / "tests" / "fuzz" / "corpus" / "fuzz_backup_bitmap" / "dir_past_end"
    d = tmp_path / "c.qcow2"
    d.write_bytes(seed.read_bytes()[1:])  # the fuzz input's first byte picks the reader
    assert tool("store", d, "fuzz", 1, 2, 3) == "ok"
    assert load(d) == ("fuzz", [1, 2, 3])
