"""qcow2 overlays made by petrel (`petrel image create-overlay`, src/block/qcow2_create.c) and
`petrel image deploy` (src/cli/deploy.c), with qemu-img as the oracle: every overlay passes
`qemu-img check`, `qemu-img info` reads the backing file and format it records, and qemu and
petrel (tests/tools/diskio) read and write it. Starting clones needs /dev/kvm: that test skips
without it (the template is made as in tests/api/test_api_snapshot_clones.py)."""
import json
import os
import pathlib
import random
import re
import shutil
import socket
import struct
import subprocess
import time
import zlib

import pytest

from test_qcow2 import DISKIO, MiB, assert_clean, pattern, qimg, qio

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")


def petrel(*args, ok=True):
    r = subprocess.run([str(PETREL), *map(str, args)], capture_output=True, text=True, timeout=120)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def info(image):
    return json.loads(qimg("info", "--output=json", image).stdout)


@pytest.mark.parametrize("size", [64 * MiB, 1 << 30, 8 << 30, 5 * MiB + 512])
def test_overlay_over_raw_is_what_qemu_makes(tmp_path, size):
    base = tmp_path / "base.raw"
    with open(base, "wb") as f:
        f.truncate(size)
        f.seek(0)
        f.write(b"\x5a" * 65536)
        f.seek(size - 4096)
        f.write(b"\xa5" * 4096)
    over = tmp_path / "over.qcow2"
    petrel("image", "create-overlay", base, over)
    assert_clean(over)
    i = info(over)
    assert i["format"] == "qcow2" and i["virtual-size"] == size, i
    assert i["backing-filename"] == str(base) and i["backing-filename-format"] == "raw", i
    assert i["cluster-size"] == 65536 and i["format-specific"]["data"]["compat"] == "1.1", i
    assert i["format-specific"]["data"]["refcount-bits"] == 16, i
    assert os.stat(over).st_blocks * 512 <= 64 * 1024, "an overlay holds metadata only"
    r = qimg("compare", "-f", "qcow2", "-F", "raw", over, base, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_overlay_over_qcow2_relative_name_and_size(tmp_path):
    (tmp_path / "d").mkdir()
    base = tmp_path / "base.qcow2"
    qimg("create", "-f", "qcow2", base, 4 * MiB)
    qio(base, "write -P 0x33 0 1M")
    over = tmp_path / "d" / "over.qcow2"
    # A relative name is relative to the overlay's directory (the trust rule of docs/images.md).
    petrel("image", "create-overlay", "--size", 16 * MiB, "../base.qcow2", over)
    assert_clean(over)
    i = info(over)
    assert i["backing-filename"] == "../base.qcow2" and i["backing-filename-format"] == "qcow2", i
    assert i["virtual-size"] == 16 * MiB
    out = tmp_path / "out.raw"
    qimg("convert", "-O", "raw", over, out)
    assert out.read_bytes() == b"\x33" * MiB + bytes(15 * MiB)
    # -F pins the base's format (a raw base that starts with qcow2's magic stays raw).
    over2 = tmp_path / "over2.qcow2"
    petrel("image", "create-overlay", "-F", "raw", base, over2)
    i = info(over2)
    assert i["backing-filename-format"] == "raw" and i["virtual-size"] == os.stat(base).st_size, i


def test_petrel_and_qemu_write_the_overlay(tmp_path):
    size = 16 * MiB
    base, over, ref = tmp_path / "base.raw", tmp_path / "over.qcow2", tmp_path / "ref.raw"
    base.write_bytes(pattern(0, size, 5))
    petrel("image", "create-overlay", base, over)
    data = bytearray(base.read_bytes())
    rng = random.Random(1)
    lines = []
    for k in range(80):
        off = rng.randrange(0, size // 512) * 512
        length = min(rng.choice([512, 4096, 65536, 200 * 1024, MiB]), size - off)
        lines.append(f"w {off} {length} {k + 10}")
        data[off:off + length] = pattern(off, length, k + 10)
    r = subprocess.run([str(DISKIO), str(over)], input="\n".join(lines) + "\nf\n", capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout, r.stdout + r.stderr
    qio(over, "write -P 0x77 100k 8k")
    data[100 * 1024:108 * 1024] = b"\x77" * 8192
    ref.write_bytes(bytes(data))
    assert_clean(over)
    r = qimg("compare", "-f", "qcow2", "-F", "raw", over, ref, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert base.read_bytes() == pattern(0, size, 5), "the base was written"


def test_create_overlay_refuses_clearly(tmp_path):
    base = tmp_path / "base.raw"
    base.write_bytes(bytes(MiB))
    over = tmp_path / "o.qcow2"
    petrel("image", "create-overlay", base, over)
    r = petrel("image", "create-overlay", base, over, ok=False)
    assert r.returncode == 1 and "File exists" in r.stderr, r.stderr
    r = petrel("image", "create-overlay", tmp_path / "missing.raw", tmp_path / "x.qcow2", ok=False)
    assert r.returncode == 1 and "No such file" in r.stderr, r.stderr
    r = petrel("image", "create-overlay", "-F", "vmdk", base, tmp_path / "y.qcow2", ok=False)
    assert r.returncode == 1 and "raw or qcow2" in r.stderr, r.stderr
    r = petrel("image", "create-overlay", "-F", "qcow2", base, tmp_path / "z.qcow2", ok=False)
    assert r.returncode == 1 and "not a qcow2 image" in r.stderr, r.stderr
    assert not (tmp_path / "x.qcow2").exists() and not (tmp_path / "z.qcow2").exists()
    r = petrel("image", "create-overlay", base, ok=False)
    assert r.returncode == 2 and "usage" in r.stderr


def test_overlay_cost_does_not_grow_with_the_base(tmp_path):
    """The same work whatever the base's size: four small writes, nothing read from the base
    past its first 4 KiB (timings: bench/deploy.py)."""
    for size in (64 * MiB, 64 << 30):
        base = tmp_path / f"base{size}.raw"
        with open(base, "wb") as f:
            f.truncate(size)
        over = tmp_path / f"o{size}.qcow2"
        if not shutil.which("strace"):
            pytest.skip("strace is not installed")
        r = subprocess.run(["strace", "-e", "trace=read,pread64,readv,preadv,mmap", "-P", str(base), str(PETREL),
                            "image", "create-overlay", base, over], capture_output=True, text=True,
                           env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})  # LSan cannot run under ptrace
        assert r.returncode == 0, r.stderr
        reads = [l for l in r.stderr.splitlines() if l.split("(")[0] in ("read", "pread64", "readv", "preadv", "mmap")]
        assert len(reads) == 1 and reads[0].endswith(", 4096, 0) = 4096"), reads
        assert os.stat(over).st_size == 4 * 65536


# ---- petrel image deploy ----

def state_with_drives(src, dst, drives):
    """A copy of a petrel state file (tests/fuzz/corpus/fuzz_snapshot) whose VM definition
    names `drives` (the CONF and EXTN sections rewritten, the END checksum made again)."""
    b = src.read_bytes()
    out, off, n = bytearray(b[:32]), 32, 0
    while off < len(b):
        sid, inst, ver, res, ln = struct.unpack("<IIIIQ", b[off:off + 24])
        payload = b[off + 24:off + 24 + ln]
        if struct.pack("<I", sid) == b"END ":
            break
        if struct.pack("<I", sid) == b"CONF":
            conf = json.loads(payload)
            conf["drives"] = drives
            payload = json.dumps(conf, separators=(",", ":")).encode()
        if struct.pack("<I", sid) == b"EXTN":
            ext = json.loads(payload)
            ext["drives"] = [{"transport": "default", "direct": False, "poll_us": 0} for _ in drives]
            payload = json.dumps(ext, separators=(",", ":")).encode()
        out += struct.pack("<IIIIQ", sid, inst, ver, res, len(payload)) + payload + bytes(-len(payload) % 8)
        off += 24 + ln + (-ln % 8)
        n += 1
    end = len(out)
    out += struct.pack("<IIIIQ", struct.unpack("<I", b"END ")[0], 0, 1, 0, 8)
    struct.pack_into("<Q", out, 16, len(out) + 8)
    out += struct.pack("<II", zlib.crc32(bytes(out[:end])), n)
    dst.write_bytes(bytes(out))


STATE = ROOT / "tests" / "fuzz" / "corpus" / "fuzz_snapshot" / "counter-1vcpu.state"


def drive(drive_id, path, ro=False, fmt=None):
    d = {"drive_id": drive_id, "path_on_host": str(path), "is_root_device": False, "is_read_only": ro}
    if fmt:
        d["format"] = fmt
    return d


def test_deploy_makes_an_overlay_per_clone_and_writable_drive(tmp_path):
    base, shared = tmp_path / "root.raw", tmp_path / "data.raw"
    base.write_bytes(b"\x11" * MiB)
    shared.write_bytes(b"\x22" * MiB)
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    mem.write_bytes(bytes(4096))
    state_with_drives(STATE, state, [drive("rootfs", base), drive("data", shared, ro=True)])
    petrel("snapshot", "info", state)
    r = petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 10, "--dir", tmp_path / "c",
               "--no-start")
    lines = r.stdout.splitlines()
    assert len(lines) == 10 and all(l.startswith(f"clone {i} dir ") for i, l in enumerate(lines)), r.stdout
    for i in range(10):
        over = tmp_path / "c" / f"clone-{i}" / "rootfs.qcow2"
        assert_clean(over)
        i_ = info(over)
        assert i_["backing-filename"] == str(base) and i_["backing-filename-format"] == "raw", i_
        assert not (tmp_path / "c" / f"clone-{i}" / "data.qcow2").exists(), "read-only drives are shared"
        assert (tmp_path / "c" / f"clone-{i}").stat().st_mode & 0o777 == 0o700, "the guests' disks: owner only"
    # Clones 10..11 beside them; an existing clone's overlay is never overwritten.
    petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 2, "--first", 10,
           "--dir", tmp_path / "c", "--no-start")
    r = petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 1, "--dir", tmp_path / "c",
               "--no-start", ok=False)
    assert r.returncode == 1 and "File exists" in r.stderr, r.stderr


def test_deploy_of_a_drive_pinned_raw_records_raw_and_bad_arguments(tmp_path):
    """A template drive pinned format=raw: the overlay records the base as raw (never probed),
    and the clone's drive_overrides pins the overlay as qcow2 (tests/unit/test_drive_overrides.c)."""
    base = tmp_path / "root.raw"
    base.write_bytes(b"QFI\xfb" + bytes(MiB - 4))  # what a guest may write: probing would say qcow2
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    mem.write_bytes(bytes(4096))
    state_with_drives(STATE, state, [drive("rootfs", base, fmt="raw")])
    petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 2, "--dir", tmp_path / "c",
           "--no-start")
    for i in range(2):
        over = tmp_path / "c" / f"clone-{i}" / "rootfs.qcow2"
        assert_clean(over)
        i_ = info(over)
        assert i_["backing-filename"] == str(base) and i_["backing-filename-format"] == "raw", i_
    r = petrel("image", "deploy", "--snapshot", tmp_path / "nope", "--mem-file", mem, "--count", 1,
               "--dir", tmp_path / "c", ok=False)
    assert r.returncode == 2, r.stderr
    r = petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 0, "--dir", tmp_path / "c",
               ok=False)
    assert r.returncode == 2 and "usage" in r.stderr


def test_deploy_leaves_a_running_clone_s_socket_alone(tmp_path):
    """A deploy over the ids of clones that still run (a template whose drives are all
    read-only makes no overlay that would refuse first) unlinked each running clone's api.sock
    and started a second petrel in its place: the running one lost its API for good."""
    base = tmp_path / "root.raw"
    base.write_bytes(bytes(MiB))
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    mem.write_bytes(bytes(4096))
    state_with_drives(STATE, state, [drive("rootfs", base, ro=True)])
    (tmp_path / "c" / "clone-0").mkdir(parents=True)
    sock = tmp_path / "c" / "clone-0" / "api.sock"
    running = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        running.bind(str(sock))
        running.listen(4)
        r = petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 1, "--dir", tmp_path / "c",
                   ok=False)
        assert r.returncode == 1 and "already serves" in r.stderr, r.stdout + r.stderr
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(sock))  # still the running clone's socket
        probe.close()
    finally:
        running.close()


@pytest.mark.skipif(os.path.exists("/dev/kvm"), reason="checks the failure path, without /dev/kvm")
def test_deploy_without_kvm_stops_what_it_started(tmp_path):
    """Without KVM the first clone's petrel starts, its /snapshot/load fails: deploy says so,
    stops that petrel and exits 1."""
    base = tmp_path / "root.raw"
    base.write_bytes(bytes(MiB))
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    mem.write_bytes(bytes(256 * MiB))
    state_with_drives(STATE, state, [drive("rootfs", base)])
    r = petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 3, "--dir", tmp_path / "c",
               ok=False)
    assert r.returncode == 1 and "clone 0: /snapshot/load" in r.stderr, r.stdout + r.stderr
    assert not (tmp_path / "c" / "clone-1").exists()
    out = subprocess.run(["pgrep", "-f", str(tmp_path / "c" / "clone-0" / "api.sock")], capture_output=True, text=True)
    assert out.stdout.strip() == "", "the clone's petrel was left running"


def blkloop_template(work, disk):
    """A template for deployment (needs /dev/kvm): the blkloop guest writing `disk` in a
    petrel in `work`, snapshotted at its 10th round. Returns (state, mem)."""
    import apilib
    from test_api_snapshot import snapshot
    work.mkdir()
    p = apilib.Petrel(work)
    api = p.client()
    try:
        assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("blkloop"))}).status == 204
        assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                        "is_read_only": False}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        p.expect(r"^blkloop round=10 ok$")
        return snapshot(api, work)
    finally:
        p.close()


@pytest.mark.needs_kvm
def test_deploy_ten_clones_each_writing_its_own_overlay():
    """Issue 12: 10 clones from one template (the blkloop guest writing its disk), each
    running, each writing its own overlay; the template's image unchanged."""
    import tempfile
    # Short paths: DIR/clone-N/api.sock must fit a Unix socket's 108 bytes.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="petrel-deploy-", dir="/tmp"))

    disk = tmp_path / "template.img"
    disk.write_bytes(bytes(MiB))
    state, mem = blkloop_template(tmp_path / "template", disk)
    template = disk.read_bytes()
    r = petrel("image", "deploy", "--snapshot", state, "--mem-file", mem, "--count", 10, "--dir", tmp_path / "c")
    pids = [int(l.split(" pid ")[1].split()[0]) for l in r.stdout.splitlines()]
    try:
        assert len(pids) == 10, r.stdout
        # Each clone goes on from the template's round: wait for three rounds of writes into
        # its own overlay (not a fixed time: ten clones share the CPUs).
        for i, pid in enumerate(pids):
            log_path = tmp_path / "c" / f"clone-{i}" / "petrel.log"
            end = time.monotonic() + 120
            while time.monotonic() < end and len(re.findall(r"blkloop round=\d+ ok", log_path.read_text())) < 3:
                os.kill(pid, 0)  # running
                time.sleep(0.1)
            log = log_path.read_text()
            assert len(re.findall(r"blkloop round=\d+ ok", log)) >= 3 and "FAIL" not in log, log[-2000:]
    finally:
        for pid in pids:
            os.kill(pid, 15)
        for pid in pids:  # gone (or a zombie: deploy's children are reparented) within 10 s
            for _ in range(1000):
                try:
                    if "\nState:\tZ" in pathlib.Path(f"/proc/{pid}/status").read_text():
                        break
                except (FileNotFoundError, ProcessLookupError):  # reaped, before or while reading
                    break
                time.sleep(0.01)
    for i in range(10):
        over = tmp_path / "c" / f"clone-{i}" / "disk.qcow2"
        assert_clean(over)
        # Its writes are in its own overlay: clusters allocated in the top image (depth 0).
        # (Not its size on disk: how much of a cluster takes space depends on the file system.)
        mapped = json.loads(qimg("map", "--output=json", over).stdout)
        assert any(e["depth"] == 0 and e["data"] for e in mapped), f"the clone wrote nothing into its overlay: {mapped}"
    assert disk.read_bytes() == template
    shutil.rmtree(tmp_path, ignore_errors=True)
