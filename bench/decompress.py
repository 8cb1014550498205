#!/usr/bin/env python3
"""Host-side decompression of a real kernel's bzImage payload, per format (issue 15).

  python3 bench/decompress.py [RUNS]        (default 5 runs per format)

Takes the Debian kernel in guest/ (scripts/fetch-guest.sh): guest/vmlinux is recompressed
with each compressor at the level the kernel build uses (zstd at -19 rather than the build's
-22 --ultra, which takes minutes here; decompression speed barely depends on the level),
put back into guest/vmlinuz's setup header, and petrel's bzImage -> entry decision
(tests/tools/bzimage_unpack: payload bounds, output buffer, decompression, ELF check) is
timed: the medians of RUNS runs of its wall-clock time and of the CPU time it used (the
figure that holds on a busy host), in a fresh process per format. The
as-shipped bzImage (LZ4) is measured too. Compressed payloads are cached in
$PETREL_BUILD/bench-decompress/. Prints a table; asserts nothing.
"""
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import time

from benchlib import failed, pick

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
TOOL = BUILD / "tests" / "tools" / "bzimage_unpack"
VMLINUZ = ROOT / "guest" / "vmlinuz"
VMLINUX = ROOT / "guest" / "vmlinux"
CACHE = BUILD / "bench-decompress"

# The kernel build's commands (scripts/Makefile.lib, scripts/xz_wrap.sh); True: size appended.
FORMATS = [
    ("gzip", ["gzip", "-9", "-n", "-c"], False),
    ("bzip2", ["bzip2", "-9", "-c"], True),
    ("lzma", ["xz", "--format=lzma", "-9", "-c"], True),
    ("xz", ["xz", "--check=crc32", "--x86", "--lzma2=,dict=32MiB", "-c"], True),
    ("lz4", ["lz4", "-l", "-9", "-c"], True),
    ("zstd", ["zstd", "-19", "-q", "-c"], True),
    ("lzo", ["lzop", "-9", "-c"], True),
]


def with_payload(vmlinuz, payload):
    img = bytearray(vmlinuz)
    koff = ((img[0x1f1] or 4) + 1) * 512
    poff, plen = struct.unpack_from("<II", img, 0x248)
    new = img[:koff + poff] + payload + img[koff + poff + plen:]
    struct.pack_into("<I", new, 0x24c, len(payload))
    struct.pack_into("<I", new, 0x1f4, (len(new) - koff + 15) // 16)
    return bytes(new)


def measure(image, runs):
    r = subprocess.run([str(TOOL), "--runs", str(runs), str(image)], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return dict(kv.split("=", 1) for kv in r.stdout.split()), ""


def main(runs=5):
    if not TOOL.exists():
        sys.exit(f"decompress: {TOOL} is not built (ninja -C {BUILD})")
    if not VMLINUZ.exists() or not VMLINUX.exists():
        sys.exit("decompress: guest/vmlinuz and guest/vmlinux are needed (scripts/fetch-guest.sh)")
    CACHE.mkdir(parents=True, exist_ok=True)
    data = VMLINUX.read_bytes()
    vmlinuz = VMLINUZ.read_bytes()
    print(f"kernel: guest/vmlinuz ({len(vmlinuz) / 2**20:.1f} MiB), vmlinux {len(data) / 2**20:.1f} MiB; "
          f"median of {runs} runs")
    print(f"{'format':<18} {'payload MiB':>11} {'ratio':>6} {'wall ms':>8} {'CPU ms':>7} {'MB/s out (CPU)':>15}  entry")
    rows = [("lz4 (as shipped)", VMLINUZ)]
    for name, cmd, append in pick(FORMATS, FORMATS[:1]):  # quick: gzip, seconds to make
        if not shutil.which(cmd[0]):
            print(f"{name:<18} ({cmd[0]} not installed)")
            continue
        image = CACHE / f"vmlinuz.{name}"
        if not image.exists() or image.stat().st_mtime < VMLINUX.stat().st_mtime:
            t0 = time.monotonic()
            payload = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
            if append:
                payload += struct.pack("<I", len(data))
            image.write_bytes(with_payload(vmlinuz, payload))
            print(f"  ({name}: compressed in {time.monotonic() - t0:.0f} s, cached in {image})")
        rows.append((name, image))
    for label, image in rows:
        info, err = measure(image, runs)
        if not info:
            failed(f"{label:<18} failed: {err}")
            continue
        payload = int(info["payload"])
        ms, cpu = float(info["ms"]), float(info["cpu_ms"])
        print(f"{label:<18} {payload / 2**20:>11.1f} {payload / len(data):>6.3f} {ms:>8.1f} {cpu:>7.1f} "
              f"{len(data) / cpu / 1e3:>15.0f}  {info['mode']}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else pick(5, 1))
