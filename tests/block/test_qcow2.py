"""qcow2 images through petrel's block layer (src/block/), driven by tests/tools/diskio
without a VM. qemu-img and qemu-io (Debian's qemu-utils) make the images and are the oracle:
petrel's reads must match qemu's view, and every image petrel wrote must pass
`qemu-img check` and `qemu-img compare` against a reference raw file."""
import os
import pathlib
import random
import re
import shutil
import signal
import struct
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The sanitizer build's diskio when scripts/test.sh made one: a bad pointer fails the test.
_ASAN_DISKIO = ROOT / "build-asan" / "tests" / "tools" / "diskio"
DISKIO = pathlib.Path(os.environ.get("PETREL_DISKIO", _ASAN_DISKIO if _ASAN_DISKIO.exists()
                                     else ROOT / "build" / "tests" / "tools" / "diskio"))
MiB = 1 << 20

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")


def qimg(*args, check=True):
    r = subprocess.run(["qemu-img", *map(str, args)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def qimg_check_killed(image, timeout=10.0):
    """qemu-img check of an image whose writer was just SIGKILLed. The kernel tears a killed
    process's io_uring down asynchronously, after wait() returned, and a request in flight on
    the image's locked open would hold its OFD lock until then ('Failed to lock byte'). petrel's
    rings use a second, unlocked open (test_lock_release.py); asked again for a while all the
    same, for a host where registering it failed and requests went on the locked open."""
    end = time.monotonic() + timeout
    while True:
        r = qimg("check", image, check=False)
        if "Failed to lock" not in r.stderr or time.monotonic() >= end:
            return r
        time.sleep(0.05)


def qio(image, *cmds, fmt="qcow2"):
    argv = ["qemu-io", "-f", fmt]
    for c in cmds:
        argv += ["-c", c]
    r = subprocess.run(argv + [str(image)], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), r.stdout + r.stderr


def diskio(image, script, *opts, expect_ok=True):
    assert DISKIO.exists(), f"{DISKIO} not built"
    r = subprocess.run([str(DISKIO), *opts, str(image)], input=script, capture_output=True, text=True, timeout=300)
    assert "Sanitizer" not in r.stderr, r.stderr[-4000:]  # when PETREL_DISKIO is an ASan build
    if expect_ok:
        assert r.returncode == 0 and "error" not in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def pattern(off, n, seed):
    return bytes((((i * 131) ^ (seed * 7919)) >> 3) & 0xFF for i in range(off, off + n))


def assert_clean(image):
    r = qimg("check", "--output=human", image, check=False)
    assert r.returncode == 0, f"qemu-img check {image}: rc {r.returncode}\n{r.stdout}{r.stderr}"


def assert_same(image, reference):
    r = qimg("compare", "-f", "qcow2", "-F", "raw", image, reference, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def chain(tmp, size, cluster_size=65536, compat="1.1", extra=""):
    """raw base <- qcow2 mid <- qcow2 top, with data at each level; returns (top, reference raw)."""
    base, mid, top = tmp / "base.raw", tmp / "mid.qcow2", tmp / "top.qcow2"
    qimg("create", "-f", "raw", base, size)
    qio(base, f"write -P 0x11 0 {size // 2}", f"write -P 0x12 {size - 65536} 65536", fmt="raw")
    opts = f"cluster_size={cluster_size},compat={compat}" + (f",{extra}" if extra else "")
    qimg("create", "-f", "qcow2", "-o", opts, "-b", base, "-F", "raw", mid)
    qio(mid, f"write -P 0x21 {size // 4} {size // 4}", f"write -z {size // 8} 65536")
    qimg("create", "-f", "qcow2", "-o", opts, "-b", mid, "-F", "qcow2", top)
    qio(top, f"write -P 0x31 {3 * size // 8} 4096")
    ref = tmp / "ref.raw"
    qimg("convert", "-O", "raw", top, ref)
    return top, ref


def random_script(ref, size, rng, n=120, align=512, zeroes=True):
    """Random writes and write-zeroes; the same applied to the reference file."""
    data = bytearray(ref.read_bytes())
    lines = []
    for k in range(n):
        off = rng.randrange(0, size // align) * align
        length = min(rng.choice([512, 4096, 65536, 70000 // align * align, 300 * 1024]), size - off)
        if zeroes and rng.random() < 0.15:
            lines.append(f"z {off} {length}")
            data[off:off + length] = bytes(length)
        else:
            lines.append(f"w {off} {length} {k + 1}")
            data[off:off + length] = pattern(off, length, k + 1)
    ref.write_bytes(bytes(data))
    return "\n".join(lines) + "\nf\n"


def test_reads_match_qemu_through_a_three_deep_chain(tmp_path):
    top, ref = chain(tmp_path, 8 * MiB)
    diskio(top, f"dump {tmp_path / 'petrel.raw'}\n", "--ro")
    assert (tmp_path / "petrel.raw").read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("cluster_size,compat,extra", [
    (65536, "1.1", ""), (65536, "0.10", ""), (512, "1.1", ""), (4096, "1.1", "refcount_bits=1"),
    (2 * MiB, "1.1", ""), (4096, "1.1", "refcount_bits=64"), (16384, "1.1", "refcount_bits=8"),
])
def test_random_writes_match_a_reference_and_pass_qemu_img_check(tmp_path, cluster_size, compat, extra):
    size = 16 * MiB
    top, ref = chain(tmp_path, size, cluster_size, compat, extra)
    rng = random.Random(cluster_size * 7 + len(extra))
    diskio(top, random_script(ref, size, rng))
    assert_clean(top)
    assert_same(top, ref)
    # petrel reads back what it wrote, and the base layers are untouched.
    diskio(top, f"dump {tmp_path / 'back.raw'}\n", "--ro")
    assert (tmp_path / "back.raw").read_bytes() == ref.read_bytes()
    assert_clean(tmp_path / "mid.qcow2")
    # Reopened for writing (after the first run's clean close): more writes, still clean.
    diskio(top, random_script(ref, size, rng, n=40))
    assert_clean(top)
    assert_same(top, ref)


@pytest.mark.parametrize("cluster_size", [65536, 512])
def test_requests_through_the_ring_match_a_reference(tmp_path, cluster_size):
    """--aio: requests take virtio-blk's way (disk_queue): reads of allocated clusters and of
    the backing chain, and rewrites in place, go through io_uring; the rest is synchronous,
    after what is in flight. The second script rewrites clusters the first allocated."""
    size = 16 * MiB
    top, ref = chain(tmp_path, size, cluster_size)
    diskio(top, f"dump {tmp_path / 'first.raw'}\nstatus\n", "--ro", "--aio")
    assert (tmp_path / "first.raw").read_bytes() == ref.read_bytes()
    rng = random.Random(cluster_size + 1)
    script = random_script(ref, size, rng)
    script += random_script(ref, size, rng, n=80)
    diskio(top, script + f"dump {tmp_path / 'back.raw'}\n", "--aio")
    assert (tmp_path / "back.raw").read_bytes() == ref.read_bytes()
    assert_clean(top)
    assert_same(top, ref)
    # Many reads in flight at once over the chain, then a clean check again.
    diskio(top, f"rloop 4000 0 {size} 4096\nseq r 0 {size} {MiB}\n", "--ro", "--aio")
    assert_clean(top)


def test_growing_refcount_table_and_new_refcount_blocks(tmp_path):
    """512-byte clusters and 64-bit refcounts: a refcount block counts 64 clusters and the first
    refcount table 64 blocks (2 MiB): writing 24 MiB needs new blocks and a bigger table."""
    img, ref = tmp_path / "small.qcow2", tmp_path / "ref.raw"
    size = 32 * MiB
    qimg("create", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=64", img, size)
    qimg("create", "-f", "raw", ref, size)
    rng = random.Random(5)
    data = bytearray(size)
    lines = []
    for k in range(48):
        off = k * 512 * 1024 + rng.randrange(0, 64) * 512
        lines.append(f"w {off} {256 * 1024} {k + 1}")
        data[off:off + 256 * 1024] = pattern(off, 256 * 1024, k + 1)
    ref.write_bytes(bytes(data))
    before = qimg("info", "--output=json", img).stdout
    diskio(img, "\n".join(lines) + "\nf\n")
    assert_clean(img)
    assert_same(img, ref)
    assert before != qimg("info", "--output=json", img).stdout


def test_compressed_clusters_read_and_overwritten(tmp_path):
    src, img = tmp_path / "src.raw", tmp_path / "c.qcow2"
    size = 4 * MiB
    src.write_bytes(b"".join(bytes([i % 251]) * 4096 + pattern(i * 8192, 4096, i) for i in range(size // 8192)))
    qimg("convert", "-c", "-f", "raw", "-O", "qcow2", src, img)
    assert "compressed" in qimg("check", img).stdout
    diskio(img, f"dump {tmp_path / 'out.raw'}\nstatus\n", "--ro")
    assert (tmp_path / "out.raw").read_bytes() == src.read_bytes()
    ref = tmp_path / "ref.raw"
    shutil.copy(src, ref)
    r = diskio(img, random_script(ref, size, random.Random(3), n=60) + "status\n")
    assert re.search(r"cows [1-9]", r.stdout), r.stdout
    assert_clean(img)
    assert_same(img, ref)


def test_discard_drops_clusters_and_keeps_the_image_consistent(tmp_path):
    size = 8 * MiB
    img = tmp_path / "d.qcow2"
    qimg("create", "-f", "qcow2", img, size)
    diskio(img, f"w 0 {size} 1\nf\n")
    used = os.stat(img).st_blocks
    r = diskio(img, f"d 0 {size // 2}\nd {size // 2 + 1000} 5000\nf\nr 0 {size // 2} {tmp_path / 'z.raw'}\n")
    assert (tmp_path / "z.raw").read_bytes() == bytes(size // 2)  # no backing: discarded reads zero
    assert_clean(img)
    assert os.stat(img).st_blocks < used * 0.7, "discarded clusters were not given back to the file system"
    # Over a backing file, discarded clusters must not show the backing data again: zero clusters.
    top = tmp_path / "t.qcow2"
    qimg("create", "-f", "qcow2", "-b", img, "-F", "qcow2", top)
    diskio(top, f"w {size // 2} 65536 2\nd {size // 2} 65536\nr {size // 2} 65536 {tmp_path / 'o.raw'}\n")
    assert (tmp_path / "o.raw").read_bytes() == bytes(65536)
    assert_clean(top)


@pytest.mark.parametrize("opts", [[], ["--aio"]], ids=["sync", "ring"])
def test_killed_mid_write_leaves_at_most_leaks(tmp_path, opts):
    size = 64 * MiB
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", base, size)
    qio(base, f"write -P 0x5a 0 {size}")
    for attempt, cluster in enumerate([65536, 4096, 512]):
        top.unlink(missing_ok=True)
        qimg("create", "-f", "qcow2", "-o", f"cluster_size={cluster}", "-b", base, "-F", "qcow2", top)
        p = subprocess.Popen([str(DISKIO), *opts, str(top)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        # With --aio the first pass allocates and later writes land in place through the ring.
        p.stdin.write(f"loop 1000000 0 {size} 12288\n")
        p.stdin.flush()
        time.sleep(0.3 + 0.2 * attempt)
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = qimg_check_killed(top)
        # 0: clean, 3: leaked clusters only; 2 would be corruption.
        assert r.returncode in (0, 3), f"cluster {cluster}: rc {r.returncode}\n{r.stdout}{r.stderr}"
        assert "ERROR" not in r.stdout, r.stdout


def test_format_is_pinned_or_probed(tmp_path):
    """A raw disk whose guest wrote qcow2's magic: format=raw keeps it raw (the probing hole)."""
    q = tmp_path / "looks.qcow2"
    qimg("create", "-f", "qcow2", q, 1 * MiB)
    r = diskio(q, "status\n", "--format", "raw")
    assert f"size {q.stat().st_size}" in r.stdout  # the file, as it is
    assert "size 1048576" in diskio(q, "status\n").stdout  # probed: the qcow2 disk
    assert "size 1048576" in diskio(q, "status\n", "--format", "qcow2").stdout
    raw = tmp_path / "plain.raw"
    raw.write_bytes(b"\0" * 65536)
    r = diskio(raw, "status\n", "--format", "qcow2", expect_ok=False)
    assert r.returncode != 0 and "not a qcow2 image" in r.stderr, r.stderr


def test_internal_snapshots_open_read_only_only(tmp_path):
    img = tmp_path / "s.qcow2"
    qimg("create", "-f", "qcow2", img, 1 * MiB)
    qio(img, "write -P 0x44 0 65536")
    qimg("snapshot", "-c", "snap1", img)
    r = diskio(img, "status\n", expect_ok=False)
    assert r.returncode != 0 and "internal snapshots" in r.stderr, r.stderr
    diskio(img, f"r 0 65536 {tmp_path / 'o.raw'}\n", "--ro")
    assert (tmp_path / "o.raw").read_bytes() == b"\x44" * 65536


def patch(path, off, fmt, *values):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(fmt, *values))


def header(path):
    b = path.read_bytes()[:104]
    l1_off, = struct.unpack(">Q", b[40:48])
    rt_off, = struct.unpack(">Q", b[48:56])
    return l1_off, rt_off


@pytest.mark.parametrize("case,message", [
    ("magic", "not a qcow2 image"),
    ("version", "version 4 is not supported"),
    ("cluster_bits", "cluster_bits 30 is out of range"),
    ("encrypted", "encrypted"),
    ("refcount_order", "refcount_order 7"),
    ("l1_past_end", "L1 table"),
    ("l1_entry_past_end", "L1 entry 0"),
    ("reftable_past_end", "refcount table at"),
    ("truncated", "past the end of the file"),
    ("corrupt_bit", "marked corrupt"),
    ("backing_loop", "loops back"),
    ("backing_missing", "cannot open its backing file"),
])
def test_corrupt_images_are_refused_clearly(tmp_path, case, message):
    img = tmp_path / "bad.qcow2"
    qimg("create", "-f", "qcow2", img, 4 * MiB)
    qio(img, "write -P 0x11 0 1M")
    l1_off, rt_off = header(img)
    if case == "magic":
        patch(img, 0, ">I", 0x12345678)
        opts = ("--format", "qcow2")
    else:
        opts = ()
    if case == "version":
        patch(img, 4, ">I", 4)
    elif case == "cluster_bits":
        patch(img, 20, ">I", 30)
    elif case == "encrypted":
        patch(img, 32, ">I", 1)
    elif case == "refcount_order":
        patch(img, 96, ">I", 7)
    elif case == "l1_past_end":
        patch(img, 40, ">Q", 1 << 40)
    elif case == "l1_entry_past_end":
        patch(img, l1_off, ">Q", (1 << 63) | (1 << 40))
    elif case == "reftable_past_end":
        patch(img, 48, ">Q", 1 << 40)
    elif case == "truncated":
        os.truncate(img, l1_off + 4)
        patch(img, 40, ">Q", l1_off)
    elif case == "corrupt_bit":
        patch(img, 72, ">Q", 2)
    elif case == "backing_loop":
        other = tmp_path / "other.qcow2"
        qimg("create", "-f", "qcow2", "-b", img, "-F", "qcow2", other)
        os.unlink(img)
        qimg("create", "-f", "qcow2", "-b", other, "-F", "qcow2", "-u", img, "4M")
    elif case == "backing_missing":
        os.unlink(img)
        qimg("create", "-f", "qcow2", "-b", tmp_path / "gone.raw", "-F", "raw", "-u", img, "4M")
    r = diskio(img, "status\n", *opts, expect_ok=False)
    assert r.returncode == 1 and "open failed" in r.stdout, r.stdout + r.stderr
    assert message in r.stderr, r.stderr


def test_corrupt_l2_entry_fails_that_request_only(tmp_path):
    img = tmp_path / "l2.qcow2"
    qimg("create", "-f", "qcow2", img, 4 * MiB)
    qio(img, "write -P 0x11 0 4M")
    l1_off, _ = header(img)
    l2_off, = struct.unpack(">Q", img.read_bytes()[l1_off:l1_off + 8])
    l2_off &= 0x00fffffffffffe00
    patch(img, l2_off + 8 * 3, ">Q", (1 << 63) | (1 << 45))  # cluster 3 points far past the end
    r = diskio(img, f"r 0 65536 {tmp_path / 'a'}\nr {3 * 65536} 4096 {tmp_path / 'b'}\n", "--ro", expect_ok=False)
    assert r.stdout.startswith("ok\nerror:"), r.stdout
    assert "corrupt image" in r.stderr, r.stderr


def test_chain_depth_is_limited(tmp_path):
    prev = tmp_path / "l0.raw"
    qimg("create", "-f", "raw", prev, 1 * MiB)
    for i in range(1, 17):
        cur = tmp_path / f"l{i}.qcow2"
        qimg("create", "-f", "qcow2", "-b", prev.name, "-F", "raw" if i == 1 else "qcow2", cur)
        prev = cur
    diskio(tmp_path / "l15.qcow2", "status\n")  # 16 images: the limit
    r = diskio(prev, "status\n", expect_ok=False)
    assert r.returncode == 1 and "longer than 16" in r.stderr, r.stderr


@pytest.mark.parametrize("fmt", ["auto", "raw", "qcow2"])
def test_fifo_image_is_refused_without_blocking(tmp_path, fmt):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    r = diskio(fifo, "status\n", "--format", fmt, expect_ok=False)
    assert r.returncode == 1 and "not a regular file or block device" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 10


def hold(image, *opts):
    """A diskio that keeps the image open (and locked) until closed."""
    p = subprocess.Popen([str(DISKIO), *opts, str(image)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdin.write("status\n")
    p.stdin.flush()
    assert p.stdout.readline().startswith("size"), p.stderr.read()
    return p


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_images_are_locked(tmp_path, fmt):
    """A second writer, or a writer beside a reader, is refused; readers share (issue 9)."""
    img = tmp_path / f"img.{fmt}"
    qimg("create", "-f", fmt, img, 1 * MiB)
    w = hold(img)
    try:
        r = diskio(img, "status\n", expect_ok=False)
        assert r.returncode == 1 and "in use by another process" in r.stderr, r.stderr
        r = diskio(img, "status\n", "--ro", expect_ok=False)
        assert r.returncode == 1 and "in use by another process" in r.stderr, r.stderr
    finally:
        w.stdin.close()
        w.wait(10)
    ro = hold(img, "--ro")
    try:
        diskio(img, "status\n", "--ro")  # readers share
        r = diskio(img, "status\n", expect_ok=False)
        assert r.returncode == 1 and "in use by another process" in r.stderr, r.stderr
    finally:
        ro.stdin.close()
        ro.wait(10)
    diskio(img, "status\n")  # free again


def test_backing_file_is_shared_not_written(tmp_path):
    base = tmp_path / "base.raw"
    qimg("create", "-f", "raw", base, 1 * MiB)
    a, b = tmp_path / "a.qcow2", tmp_path / "b.qcow2"
    for o in (a, b):
        qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", o)
    h = hold(a)
    try:
        diskio(b, "w 0 4096 1\n")  # two overlays share their base
        r = diskio(base, "status\n", expect_ok=False)  # but nobody may write it
        assert r.returncode == 1 and "in use by another process" in r.stderr, r.stderr
    finally:
        h.stdin.close()
        h.wait(10)


def test_first_writes_without_backing_data_write_only_the_new_bytes(tmp_path):
    """A cluster that read as zeroes (no backing file, a zero cluster, or past the end of the
    backing file) is not filled with copied zeroes: 4 KiB written into each of 64 clusters
    takes about 64 x 4 KiB of the file, not 64 x 64 KiB, and qemu reads what petrel wrote."""
    size = 8 * MiB
    img, ref = tmp_path / "sparse.qcow2", tmp_path / "ref.raw"
    qimg("create", "-f", "qcow2", img, size)
    data = bytearray(size)
    lines = []
    for k in range(64):
        off = k * 2 * 65536 + 8192 * (k % 7)
        lines.append(f"w {off} 4096 {k + 1}")
        data[off:off + 4096] = pattern(off, 4096, k + 1)
    ref.write_bytes(bytes(data))
    r = diskio(img, "\n".join(lines) + "\nf\nstatus\n")
    assert "allocs 65 " in r.stdout, r.stdout  # 64 clusters and one L2 table
    assert_clean(img)
    assert_same(img, ref)
    assert os.stat(img).st_blocks * 512 < 64 * 65536 // 2, os.stat(img).st_blocks


def test_first_writes_at_the_end_of_a_short_backing_file(tmp_path):
    """The backing file ends inside a cluster: its data is copied up to its end, zeroes after;
    partial write-zeroes too. qemu-img compare is the oracle."""
    base, top, ref = tmp_path / "base.raw", tmp_path / "top.qcow2", tmp_path / "ref.raw"
    bsize, size = 3 * 65536 + 5000, 2 * MiB
    base.write_bytes(pattern(0, bsize, 99))
    qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", top, size)
    data = bytearray(size)
    data[:bsize] = base.read_bytes()
    lines = []
    for k, (off, length) in enumerate([(3 * 65536 + 512, 1024), (3 * 65536 + 8192, 4096), (65536 + 100 * 512, 512),
                                       (5 * 65536 + 4096, 4096), (4 * 65536 - 4096, 8192)]):
        lines.append(f"w {off} {length} {k + 1}")
        data[off:off + length] = pattern(off, length, k + 1)
    for off, length in [(7 * 65536 + 512, 1024), (2 * 65536 + 4096, 512)]:
        lines.append(f"z {off} {length}")
        data[off:off + length] = bytes(length)
    ref.write_bytes(bytes(data))
    diskio(top, "\n".join(lines) + "\nf\n")
    assert_clean(top)
    assert_same(top, ref)


@pytest.mark.parametrize("cluster,backing,opts", [(65536, True, []), (65536, False, []), (4096, True, []),
                                                   (512, False, []), (65536, True, ["--aio"])])
def test_killed_at_random_points_of_first_write_allocation(tmp_path, cluster, backing, opts):
    """SIGKILL at random moments while every write allocates (runs counted ahead, their syncs
    in flight, refcount blocks and the refcount table growing; with --aio, copy-on-write
    clusters held and their commits in flight): qemu-img check finds at most leaks, every
    round; petrel then reopens the image, writes on, and closes it clean of anything but the
    old leaks."""
    size = 64 * MiB
    base = tmp_path / "base.raw"
    if backing:
        qimg("create", "-f", "raw", base, size)
        qio(base, f"write -P 0x5a 0 {size}", fmt="raw")
    rng = random.Random(cluster * 2 + backing + 7 * len(opts))
    top = tmp_path / "top.qcow2"
    for rnd in range(8):
        top.unlink(missing_ok=True)
        create = ["-o", f"cluster_size={cluster}"] + (["-b", base, "-F", "raw"] if backing else [])
        qimg("create", "-f", "qcow2", *create, top, size)
        p = subprocess.Popen([str(DISKIO), *opts, str(top)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        length = rng.choice([512, 4096, 12288, 65536 + 4096, 1 << 20])
        p.stdin.write(f"seed {rnd}\nloop 1000000 0 {size} {length}\n")
        p.stdin.flush()
        time.sleep(rng.uniform(0.005, 0.4))
        assert p.poll() is None, f"round {rnd}: diskio ended before it was killed ({p.returncode})"
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = qimg_check_killed(top)
        assert r.returncode in (0, 3), f"round {rnd}: rc {r.returncode}\n{r.stdout}{r.stderr}"
        assert "ERROR" not in r.stdout, r.stdout
        diskio(top, f"seed {rnd + 100}\nloop 50 0 {size} 4096\nf\n")
        r = qimg("check", top, check=False)
        assert r.returncode in (0, 3) and "ERROR" not in r.stdout, r.stdout


def test_freed_clusters_are_counted_down_only_after_a_sync(tmp_path):
    """A discarded (or overwritten compressed) cluster's refcount drops only after the L2
    change is durable: killed before a flush, the image has leaks, never a refcount of 0 for
    a cluster an entry on disk may still name; after a flush (or a clean close) it is clean."""
    size = 8 * MiB
    img = tmp_path / "f.qcow2"
    qimg("create", "-f", "qcow2", img, size)
    diskio(img, f"w 0 {size} 1\nf\n")
    p = subprocess.Popen([str(DISKIO), str(img)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdin.write(f"d 0 {size // 2}\nstatus\n")
    p.stdin.flush()
    while not p.stdout.readline().startswith("allocs"):
        pass
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = qimg_check_killed(img)
    assert r.returncode == 3 and "leaked" in r.stdout and "ERROR" not in r.stdout, r.stdout
    qimg("check", "-r", "leaks", img)
    diskio(img, f"d {size // 2} {size // 4}\nf\n")
    assert_clean(img)
    diskio(img, f"d {3 * size // 4} {size // 4}\n")  # no flush: the close does it
    assert_clean(img)


def test_copy_on_write_from_a_base_on_another_file_system(tmp_path):
    """Copy-on-write from a raw base uses copy_file_range; where the kernel cannot (the base on
    another file system: EXDEV) it reads and writes instead, whichever part of the cluster the
    first failing copy was for."""
    shm = pathlib.Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system at /dev/shm")
    size = 4 * MiB
    base = shm / f"petrel-test-base-{os.getpid()}.raw"
    try:
        base.write_bytes(pattern(0, size, 42))
        top, ref = tmp_path / "top.qcow2", tmp_path / "ref.raw"
        qimg("create", "-f", "qcow2", "-b", base, "-F", "raw", top)
        data = bytearray(base.read_bytes())
        lines = []
        # The first write starts a cluster (only its tail is copied), the next ones do not.
        for k, (off, length) in enumerate([(0, 4096), (65536 + 8192, 4096), (3 * 65536 + 512, 512),
                                           (5 * 65536, 60000), (7 * 65536 + 4096, 65536)]):
            lines.append(f"w {off} {length} {k + 1}")
            data[off:off + length] = pattern(off, length, k + 1)
        ref.write_bytes(bytes(data))
        diskio(top, "\n".join(lines) + "\nf\n")
        assert_clean(top)
        assert_same(top, ref)
    finally:
        base.unlink(missing_ok=True)


@pytest.mark.parametrize("base_kind,expect_syncs", [("raw-data", 12), ("raw-sparse", 12), ("qcow2-data", 12),
                                                    ("qcow2-zero", 0), ("none", 0)])
def test_copied_old_data_is_durable_before_its_entry(tmp_path, base_kind, expect_syncs):
    """A first write of part of a cluster whose old bytes are not all zero copies them into the
    new cluster, and that copy is synced (a ranged fdatasync) before the L2 entry naming the
    cluster is written: a power cut must not leave an entry naming a cluster that reads as
    zeroes where the guest never wrote. Old bytes that are all zero need no sync (a fresh
    cluster reads as zeroes); nor do whole-cluster writes. A raw base is copied file to file
    without being read, so its holes count as data."""
    size = 4 * MiB
    top, ref = tmp_path / "top.qcow2", tmp_path / "ref.raw"
    data = bytearray(size)
    if base_kind == "none":
        qimg("create", "-f", "qcow2", top, size)
    else:
        fmt = base_kind.split("-")[0]
        base = tmp_path / f"base.{fmt}"
        qimg("create", "-f", fmt, base, size)
        if not base_kind.endswith("sparse"):
            fill = 0 if base_kind.endswith("zero") else 0x5a
            qio(base, f"write -P {fill} 0 {size}", fmt=fmt)
            data[:] = bytes([fill]) * size
        qimg("create", "-f", "qcow2", "-b", base, "-F", fmt, top)
    lines = []
    for k in range(12):  # 12 clusters, each written in part: head, middle or tail
        off = k * 65536 + [0, 8192, 65536 - 4096][k % 3]
        lines.append(f"w {off} 4096 {k + 1}")
        data[off:off + 4096] = pattern(off, 4096, k + 1)
    for k in range(12, 16):  # whole clusters: nothing old is kept
        lines.append(f"w {k * 65536} 65536 {k + 1}")
        data[k * 65536:(k + 1) * 65536] = pattern(k * 65536, 65536, k + 1)
    ref.write_bytes(bytes(data))
    r = diskio(top, "\n".join(lines) + "\nstatus\nf\n")
    m = re.search(r"cow_syncs (\d+)", r.stdout)
    assert m and int(m.group(1)) == expect_syncs, r.stdout
    assert_clean(top)
    assert_same(top, ref)


def test_partial_overwrite_of_a_compressed_cluster_is_synced_before_its_entry(tmp_path):
    size = 1 * MiB
    src, img, ref = tmp_path / "src.raw", tmp_path / "z.qcow2", tmp_path / "ref.raw"
    data = bytearray(pattern(0, size, 7))
    src.write_bytes(bytes(data))
    qimg("convert", "-c", "-f", "raw", "-O", "qcow2", src, img)
    data[4096:8192] = pattern(4096, 4096, 8)
    ref.write_bytes(bytes(data))
    r = diskio(img, "w 4096 4096 8\nstatus\nf\n")
    assert "cows 1 " in r.stdout and "cow_syncs 1" in r.stdout, r.stdout
    assert_clean(img)
    assert_same(img, ref)
