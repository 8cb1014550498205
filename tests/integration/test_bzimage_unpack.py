# SPDX-License-Identifier: Apache-2.0
"""petrel's host-side decompression of a real kernel's bzImage payload (issue 15), without a VM.

The Debian kernel scripts/fetch-guest.sh puts in guest/ comes twice: guest/vmlinuz (the
bzImage) and guest/vmlinux (its payload, decompressed by the lz4 tool). petrel's decision
(tests/tools/bzimage_unpack, which runs src/boot/bzimage_unpack.c) must yield exactly
guest/vmlinux's bytes, and so must the same kernel recompressed in every other format the
kernel build offers. Skipped when guest/ or the build is absent.

Paths: $PETREL_BUILD (default <root>/build) holds tests/tools/bzimage_unpack and petrel.
"""
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PETREL_BUILD", REPO / "build")).resolve()
TOOL = BUILD / "tests" / "tools" / "bzimage_unpack"
VMLINUZ = REPO / "guest" / "vmlinuz"
VMLINUX = REPO / "guest" / "vmlinux"

# Fast levels: the test is about the stream format, not the ratio (bench/decompress.py uses
# the kernel build's levels). Each appends the size as the kernel build does, except gzip.
RECOMPRESS = {
    "gzip": (["gzip", "-1", "-n", "-c"], False),
    "bzip2": (["bzip2", "-1", "-c"], True),
    "lzma": (["xz", "--format=lzma", "-0", "-c"], True),
    "xz": (["xz", "--check=crc32", "--x86", "--lzma2=preset=0,dict=32MiB", "-c"], True),
    "lz4": (["lz4", "-l", "-1", "-c"], True),
    "zstd": (["zstd", "-3", "-q", "-c"], True),
    "lzo": (["lzop", "-1", "-c"], True),
}


def need_guest():
    if not TOOL.exists():
        pytest.skip(f"{TOOL} not built")
    if not VMLINUZ.exists() or not VMLINUX.exists():
        pytest.skip("guest/vmlinuz and guest/vmlinux are absent (scripts/fetch-guest.sh)")


def unpack(image, out, how="host"):
    r = subprocess.run([str(TOOL), "--how", how, "--out", str(out), str(image)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"bzimage_unpack failed ({r.returncode}): {r.stderr}"
    return dict(kv.split("=", 1) for kv in r.stdout.split())


def same_file(a, b):
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def with_payload(vmlinuz, payload):
    """guest/vmlinuz with its payload replaced (payload_length and syssize follow)."""
    img = bytearray(vmlinuz)
    koff = ((img[0x1f1] or 4) + 1) * 512
    poff, plen = struct.unpack_from("<II", img, 0x248)
    start = koff + poff
    new = img[:start] + payload + img[start + plen:]
    struct.pack_into("<I", new, 0x24c, len(payload))
    struct.pack_into("<I", new, 0x1f4, (len(new) - koff + 15) // 16)
    return bytes(new)


def elf_entry(path):
    with open(path, "rb") as f:
        return struct.unpack_from("<Q", f.read(64), 0x18)[0]


def test_real_kernel_decompresses_to_guest_vmlinux(tmp_path):
    need_guest()
    out = tmp_path / "vmlinux"
    info = unpack(VMLINUZ, out)
    assert info["path"] == "host"
    assert same_file(out, VMLINUX), "petrel's decompression differs from guest/vmlinux"
    # The Debian kernel has a PVH note: the default enters there; host-linux64 at
    # startup_64, the ELF entry (its physical address).
    assert info["mode"] == "pvh"
    info = unpack(VMLINUZ, out, "host-linux64")
    assert info["mode"] == "linux64"
    assert int(info["entry"], 16) == elf_entry(VMLINUX)


def test_real_kernel_falls_back_when_told_or_too_big(tmp_path):
    need_guest()
    r = subprocess.run([str(TOOL), "--how", "guest", str(VMLINUZ)], capture_output=True, text=True)
    assert r.returncode == 3 and "--kernel-decompress guest" in r.stderr
    # 32 MiB of RAM cannot hold a 50 MiB vmlinux: the kernel's own decompressor decides.
    r = subprocess.run([str(TOOL), "--mem", "32", str(VMLINUZ)], capture_output=True, text=True)
    assert r.returncode == 3, r.stdout + r.stderr


@pytest.mark.parametrize("fmt", sorted(RECOMPRESS))
def test_real_kernel_in_every_format(tmp_path, fmt):
    need_guest()
    cmd, append = RECOMPRESS[fmt]
    if not shutil.which(cmd[0]):
        pytest.skip(f"{cmd[0]} is not installed")
    data = VMLINUX.read_bytes()
    payload = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
    if append:
        payload += struct.pack("<I", len(data))
    image = tmp_path / f"vmlinuz.{fmt}"
    image.write_bytes(with_payload(VMLINUZ.read_bytes(), payload))
    out = tmp_path / "vmlinux"
    info = unpack(image, out)
    assert info["format"] == fmt
    assert same_file(out, VMLINUX), f"{fmt}: petrel's decompression differs from guest/vmlinux"


def test_cli_rejects_a_bad_kernel_decompress_value():
    petrel = BUILD / "petrel"
    if not petrel.exists():
        pytest.skip(f"{petrel} not built")
    for argv in (["run", "--kernel", "/nonexistent", "--kernel-decompress", "fast"],
                 ["--no-api", "--config-file", "/nonexistent", "--kernel-decompress", "fast"]):
        r = subprocess.run([str(petrel), *argv], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, argv
        assert "--kernel-decompress" in r.stderr and "host, host-linux64 or guest" in r.stderr, r.stderr
