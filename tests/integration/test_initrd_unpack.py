"""Host-side initrd decompression on archives made by the real tools (cpio and each compressor
the kernel reads), with cpio itself as the oracle: the archives petrel's initrd unpacks to
(tests/tools/initrd_unpack) extract to exactly the tree the original archives extract to, in
the kernel's order (an early uncompressed archive first, later ones over earlier ones).
Runs without KVM."""
import os
import pathlib
import shutil
import stat
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
TOOL = BUILD / "tests" / "tools" / "initrd_unpack"
PETREL = BUILD / "petrel"

# The kernel's formats, as initramfs tools write them.
COMPRESSORS = {
    "gzip": ["gzip", "-9", "-n", "-c"],
    "bzip2": ["bzip2", "-9", "-c"],
    "lzma": ["lzma", "-9", "-c"],
    "xz": ["xz", "--check=crc32", "-c"],
    "lz4": ["lz4", "-l", "-9", "-c"],
    "zstd": ["zstd", "-q", "-19", "-c"],
    "lzo": ["lzop", "-9", "-c"],
}


def need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing or not TOOL.exists():
        msg = f"needs {', '.join(missing) or TOOL} (scripts/setup.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def tree(root, files):
    """Make a directory tree: name -> bytes (a file), '->target' (a symlink), None (a dir)."""
    for name, v in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if v is None:
            p.mkdir(exist_ok=True)
        elif isinstance(v, str) and v.startswith("->"):
            p.symlink_to(v[2:])
        else:
            p.write_bytes(v)
    return root


def cpio_of(root):
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    return subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, check=True,
                          input="\n".join(names).encode(), capture_output=True).stdout


def compress(fmt, data):
    return subprocess.run(COMPRESSORS[fmt], input=data, check=True, capture_output=True).stdout


def extract(archives, dest):
    """cpio -i of each archive in turn into dest (later ones over earlier ones, as the kernel)."""
    dest.mkdir()
    for a in archives:
        subprocess.run(["cpio", "-idmu", "--quiet", "--no-absolute-filenames"], cwd=dest, input=a,
                       check=True, capture_output=True)
    return dest


def split_archives(img):
    """The uncompressed archives of an initrd, cut at each TRAILER!!! (zero padding skipped):
    a newc reader of our own, independent of petrel's."""
    out, pos = [], 0
    while pos < len(img):
        if img[pos] == 0:
            pos += 1
            continue
        start = pos
        while True:
            assert img[pos:pos + 6] in (b"070701", b"070702"), f"no cpio magic at {pos}"
            fsize, nsize = int(img[pos + 54:pos + 62], 16), int(img[pos + 94:pos + 102], 16)
            name = img[pos + 110:pos + 110 + nsize - 1]
            pos += (110 + nsize + 3) & ~3
            pos += (fsize + 3) & ~3
            if name == b"TRAILER!!!":
                break
        out.append(img[start:pos])
    return out


def snapshot(root):
    """What a tree holds: path -> (type, mode, content or link target)."""
    res = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            res[rel] = ("link", os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            res[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            res[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes(), st.st_nlink)
    return res


def unpack(tmp, img, *extra):
    src, dst = tmp / "initrd.img", tmp / "initrd.out"
    src.write_bytes(img)
    dst.unlink(missing_ok=True)
    r = subprocess.run([str(TOOL), *extra, str(src), str(dst)], capture_output=True, text=True)
    return r, dst.read_bytes() if dst.exists() else None


@pytest.fixture
def archives(tmp_path):
    early = cpio_of(tree(tmp_path / "early", {"kernel/x86/microcode/GenuineIntel.bin": b"\x01" * 1000}))
    main_root = tree(tmp_path / "main", {
        "bin": None, "init": b"#!/bin/sh\nexec /bin/sh\n", "bin/sh": os.urandom(70000),
        "etc/empty": b"", "etc/motd": b"hello\n" * 900, "lib/libc.so": "->libc.so.6",
        "lib/libc.so.6": bytes(range(256)) * 2000, "usr/share/odd name": b"x" * 13,
    })
    os.link(main_root / "etc/motd", main_root / "etc/motd.hard")
    (main_root / "init").chmod(0o755)
    extra = cpio_of(tree(tmp_path / "extra", {"etc/motd": b"overridden\n", "etc/extra": b"more"}))
    return early, cpio_of(main_root), extra


@pytest.mark.parametrize("fmt", list(COMPRESSORS))
def test_early_cpio_then_compressed_main_extracts_the_same(fmt, archives, tmp_path):
    need("cpio", COMPRESSORS[fmt][0])
    early, main, extra = archives
    img = early + compress(fmt, main)
    r, out = unpack(tmp_path, img)
    assert r.returncode == 0, r.stderr
    assert f"formats={fmt}" in r.stdout and "members=1" in r.stdout, r.stdout
    assert out.startswith(early)  # the uncompressed archive is kept byte for byte
    got = split_archives(out)
    want = snapshot(extract([early, main], tmp_path / "want"))
    assert snapshot(extract(got, tmp_path / "got")) == want


def test_many_members_and_padding_extract_the_same(archives, tmp_path):
    need("cpio", "gzip", "zstd", "lz4", "xz")
    early, main, extra = archives
    # early uncompressed, zstd main, padding, two gzip members (a second archive in each),
    # an lz4 member ended by a zero word, an xz one with its stream padding
    img = (early + compress("zstd", main) + b"\0" * 7 + compress("gzip", extra) + compress("gzip", main)
           + b"\0" * 512 + compress("lz4", extra) + b"\0" * 4 + compress("xz", main) + b"\0" * 4)
    r, out = unpack(tmp_path, img)
    assert r.returncode == 0, r.stderr
    assert "members=5" in r.stdout and "formats=zstd+gzip+gzip+lz4" in r.stdout, r.stdout
    want = snapshot(extract([early, main, extra, main, extra, main], tmp_path / "want"))
    assert snapshot(extract(split_archives(out), tmp_path / "got")) == want
    assert want["etc/motd"][2] == b"hello\n" * 900  # main's, over extra's


def test_what_the_kernel_may_read_differently_is_left_to_it(archives, tmp_path):
    need("cpio", "xz", "gzip")
    early, main, extra = archives
    # the early archive's kernel/... file, compressed: the kernel's early loaders do not see
    # it there, and would once it is stored uncompressed
    r, out = unpack(tmp_path, compress("gzip", early))
    assert r.returncode == 3 and "early loaders" in r.stderr and out is None
    # xz's default CRC64 check: not every kernel verifies it
    r, out = unpack(tmp_path, early + subprocess.run(["xz", "-c"], input=main, capture_output=True).stdout)
    assert r.returncode == 3 and "check type 4" in r.stderr and out is None
    # garbage after the archives: the kernel reports an error there
    r, out = unpack(tmp_path, compress("gzip", main) + b"garbage")
    assert r.returncode == 3 and "invalid magic" in r.stderr and out is None
    # nothing compressed: nothing to do
    r, out = unpack(tmp_path, early + main)
    assert r.returncode == 2 and out is None
    # over the limit: left to the kernel
    r, out = unpack(tmp_path, compress("gzip", main), "--max", "65536")
    assert r.returncode == 3 and "limit" in r.stderr


def test_the_option_is_parsed_and_checked():
    if not PETREL.exists():
        pytest.skip("petrel not built")
    for argv in (["run", "--kernel", "/nonexistent", "--initrd-unpack", "maybe"],
                 ["--no-api", "--config-file", "/nonexistent", "--initrd-unpack", "maybe"]):
        r = subprocess.run([str(PETREL), *argv], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "--initrd-unpack: expected on or off" in r.stderr, r.stderr
    r = subprocess.run([str(PETREL), "run", "--kernel", "/nonexistent", "--initrd-unpack", "off"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--initrd-unpack" not in r.stderr, r.stderr


def test_crc_format_archives_are_checked_and_kept(tmp_path):
    """cpio -H crc (070702): the kernel checks each file's byte sum; petrel checks it too."""
    need("cpio", "gzip")
    root = tree(tmp_path / "crc", {"init": b"#!/bin/sh\n", "data": os.urandom(5000)})
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    arc = subprocess.run(["cpio", "-o", "-H", "crc", "--quiet"], cwd=root, check=True,
                         input="\n".join(names).encode(), capture_output=True).stdout
    r, out = unpack(tmp_path, compress("gzip", arc))
    assert r.returncode == 0, r.stderr
    assert snapshot(extract(split_archives(out), tmp_path / "got")) == \
        snapshot(extract([arc], tmp_path / "want"))
    bad = bytearray(arc)
    i = bad.index(b"#!/bin/sh")
    bad[i] ^= 0x01  # the file's bytes no longer match its header's sum
    r, out = unpack(tmp_path, compress("gzip", bytes(bad)))
    assert r.returncode == 3 and "bad data checksum" in r.stderr
