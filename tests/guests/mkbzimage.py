#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Wrap a test guest ELF into a bzImage (Linux x86 boot protocol 2.15).

The guest ELF has one PT_LOAD at physical 0x100000 whose first 0x200 bytes
are the 32-bit entries (PVH's pvh_start, the boot protocol's startup_32) and
whose offset 0x200 is the 64-bit entry (startup_64).  The bzImage is: boot
sector + setup sectors (carrying only the setup header; there is no real-mode
code, so a loader must start it in protected mode: at code32_start =
startup_32, as GRUB's `linux` does on BIOS, or at +0x200 in long mode),
followed by the PT_LOAD's file bytes as the protected-mode part.

usage: mkbzimage.py GUEST.elf GUEST.bzimage
"""
import struct
import sys

LOAD_ADDR = 0x100000
SETUP_SECTS = 1  # sectors after the boot sector


def die(msg):
    sys.exit(f"mkbzimage: {msg}")


def read_load_segment(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        die("not a little-endian ELF64 file")
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, _align = \
            struct.unpack_from("<IIQQQQQQ", elf, phoff + i * phentsize)
        if p_type == 1:
            loads.append((p_offset, p_paddr, p_filesz, p_memsz))
    if len(loads) != 1:
        die(f"expected one PT_LOAD, found {len(loads)}")
    off, paddr, filesz, memsz = loads[0]
    if paddr != LOAD_ADDR:
        die(f"PT_LOAD at {paddr:#x}, must be at {LOAD_ADDR:#x}")
    if filesz < 0x200 + 16:
        die("image too small to hold the 64-bit entry at offset 0x200")
    return elf[off:off + filesz], memsz


def find_symbol(elf, name):
    """Value of symbol NAME in the ELF's .symtab (the guests are not stripped)."""
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3a)
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    want = name.encode() + b"\0"
    for _name, sh_type, _flags, _addr, off, size, link, _info, _align, entsize in sections:
        if sh_type != 2 or not entsize:  # SHT_SYMTAB
            continue
        stroff = sections[link][4]
        for o in range(off, off + size, entsize):
            st_name, = struct.unpack_from("<I", elf, o)
            if elf[stroff + st_name:stroff + st_name + len(want)] == want:
                return struct.unpack_from("<Q", elf, o + 8)[0]
    die(f"no symbol {name} (stripped ELF?)")


def build(payload, memsz, code32_start):
    setup = bytearray((SETUP_SECTS + 1) * 512)
    syssize = (len(payload) + 15) // 16
    init_size = (max(memsz, len(payload)) + 0xfff) & ~0xfff

    def put(fmt, off, *vals):
        struct.pack_into("<" + fmt, setup, off, *vals)

    put("B", 0x1f1, SETUP_SECTS)      # setup_sects
    put("H", 0x1f2, 0)                # root_flags
    put("I", 0x1f4, syssize)          # syssize (16-byte units)
    put("H", 0x1fa, 0xffff)           # vid_mode: normal
    put("H", 0x1fe, 0xaa55)           # boot_flag
    start_of_setup = 0x270
    put("BB", 0x200, 0xeb, start_of_setup - 0x202)  # jump over the header
    setup[0x202:0x206] = b"HdrS"      # header magic
    put("H", 0x206, 0x020f)           # protocol version 2.15
    put("H", 0x20e, 0x280 - 0x200)    # kernel_version string (offset - 0x200)
    put("B", 0x211, 0x01)             # loadflags: LOADED_HIGH
    put("H", 0x212, 0x8000)           # setup_move_size
    put("I", 0x214, code32_start)     # code32_start: the 32-bit entry
    put("I", 0x22c, 0x7fffffff)       # initrd_addr_max
    put("I", 0x230, 0x100000)         # kernel_alignment
    put("B", 0x234, 0)                # relocatable_kernel: no
    put("B", 0x235, 20)               # min_alignment: 1 MiB (log2)
    put("H", 0x236, 0x0001)           # xloadflags: XLF_KERNEL_64
    put("I", 0x238, 2047)             # cmdline_size
    put("Q", 0x258, LOAD_ADDR)        # pref_address
    put("I", 0x260, init_size)        # init_size
    # No 16-bit setup code: a real-mode entry just halts.
    setup[start_of_setup:start_of_setup + 3] = b"\xf4\xeb\xfd"  # hlt; jmp .-1
    version = b"petrel test guest\0"
    setup[0x280:0x280 + len(version)] = version
    return bytes(setup) + payload


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        elf = f.read()
    payload, memsz = read_load_segment(elf)
    code32_start = find_symbol(elf, "startup_32")
    if not LOAD_ADDR <= code32_start < LOAD_ADDR + 0x200:
        die(f"startup_32 at {code32_start:#x}, must be in the first 0x200 bytes of the image")
    with open(sys.argv[2], "wb") as f:
        f.write(build(payload, memsz, code32_start))


if __name__ == "__main__":
    main()
