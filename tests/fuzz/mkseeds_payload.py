#!/usr/bin/env python3
"""Seeds for the bzImage-payload fuzz targets, made with the command-line compressors the
kernel build uses (gzip, bzip2, lzma, xz, lz4 -l, zstd, lzop; Debian packages of the same names).

    tests/fuzz/mkseeds_payload.py      (writes tests/fuzz/corpus/fuzz_{payload,bzimage_unpack,bzimage}/)

A small ELF64 vmlinux (one PT_LOAD at 1 MiB, with or without a Xen PVH entry note) is
compressed in each format with the kernel's size trailer, then wrapped in a bzImage setup
header (boot protocol 2.15) with payload_offset/payload_length, as in tests/unit/kernel_images.h.
fuzz_payload inputs are [format byte][le32 output size][stream]; fuzz_bzimage_unpack inputs are
[how byte][bzImage].
"""
import pathlib
import struct
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
LOAD = 0x100000
PVH_OFF = 0x40
STUB = 0x200  # stand-in decompressor bytes before the payload (keeps images > 1 KiB)

# name, command, fuzz_payload's format byte (enum payload_format), appends the size
FORMATS = [
    ("gzip", ["gzip", "-9", "-n", "-c"], 1, False),
    ("bzip2", ["bzip2", "-9", "-c"], 2, True),
    ("lzma", ["xz", "--format=lzma", "--lzma1=preset=9,dict=1MiB", "-c"], 3, True),  # small dictionary: fast fuzzing
    ("xz", ["xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB", "-c"], 4, True),
    ("lz4", ["lz4", "-l", "-9", "-c"], 5, True),
    ("zstd", ["zstd", "-19", "-q", "-c"], 6, True),
    ("lzo", ["lzop", "-9", "-c"], 7, True),
]


def vmlinux(body, pvh):
    ph, seg = 64, 0x200
    phnum = 2 if pvh else 1
    out = bytearray(seg + body)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    out[0:64] = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, LOAD, ph, 0, 0, 64, 56, phnum, 0, 0, 0)
    out[ph:ph + 56] = struct.pack("<IIQQQQQQ", 1, 5, seg, 0xffffffff80000000 + LOAD, LOAD, body,
                                  body + 0x1000, 0x1000)
    if pvh:
        note = 0x100
        out[ph + 56:ph + 112] = struct.pack("<IIQQQQQQ", 4, 0, note, 0, 0, 20, 0, 4)
        out[note:note + 20] = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", LOAD + PVH_OFF)
    x = 12345
    for i in range(body):
        if i % 64 == 0:
            x = (x * 1103515245 + 12345) & 0xffffffff
        out[seg + i] = ((x >> 16) + i % 7) & 0xff
    return bytes(out)


def compress(cmd, data, append):
    c = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
    return c + struct.pack("<I", len(data)) if append else c


def bzimage(payload, unpacked):
    setup = bytearray(1024)
    body = bytes([0x90]) * STUB + payload
    init_size = ((unpacked + 0xfff) & ~0xfff) + 0x100000
    struct.pack_into("<B", setup, 0x1f1, 1)
    struct.pack_into("<I", setup, 0x1f4, (len(body) + 15) // 16)
    struct.pack_into("<H", setup, 0x1fe, 0xaa55)
    struct.pack_into("<BB", setup, 0x200, 0xeb, 0x270 - 0x202)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020f)
    struct.pack_into("<B", setup, 0x211, 0x01)
    struct.pack_into("<I", setup, 0x214, LOAD)
    struct.pack_into("<I", setup, 0x22c, 0x7fffffff)
    struct.pack_into("<I", setup, 0x230, 0x200000)
    struct.pack_into("<B", setup, 0x234, 1)
    struct.pack_into("<H", setup, 0x236, 0x0001)
    struct.pack_into("<I", setup, 0x238, 2047)
    struct.pack_into("<II", setup, 0x248, STUB, len(payload))
    struct.pack_into("<Q", setup, 0x258, LOAD)
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + body


def main():
    dirs = {n: CORPUS / n for n in ("fuzz_payload", "fuzz_bzimage_unpack", "fuzz_bzimage")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for pvh in (True, False):
        elf = vmlinux(1500, pvh)
        tag = "pvh" if pvh else "nopvh"
        for name, cmd, fbyte, append in FORMATS:
            payload = compress(cmd, elf, append)
            stream = payload[:-4] if append else payload
            if pvh:
                (dirs["fuzz_payload"] / f"{name}.bin").write_bytes(
                    bytes([fbyte]) + struct.pack("<I", len(elf)) + stream)
            img = bzimage(payload, len(elf))
            (dirs["fuzz_bzimage_unpack"] / f"{name}-{tag}.bzimage").write_bytes(bytes([0]) + img)
            if name in ("lz4", "gzip") and pvh:
                (dirs["fuzz_bzimage"] / f"{name}-payload.bzimage").write_bytes(img)
    print("mkseeds_payload: wrote", ", ".join(f"{d.name} ({len(list(d.iterdir()))})" for d in dirs.values()))


if __name__ == "__main__":
    main()
