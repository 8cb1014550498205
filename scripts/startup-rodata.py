#!/usr/bin/env python3
"""Write src/startup-rodata.ld: the read-only data `petrel run` reads from exec to its first
guest instruction and exit, placed by the link in an output section of its own (.rodata.start)
at the head of petrel's read-only segment, beside the ELF tables the loader reads, so that the
kernel's fault-around (64 KiB windows) maps the start's data in one or two windows instead of
every window of the 150 KiB segment (docs/performance.md#startup-rodata).

scripts/startup-order.sh runs it with what it traced:
  startup-rodata.py PETREL MAP TRACE ORDER OUT
PETREL the binary traced, MAP lld's link map of it (-Map), TRACE valgrind lackey's
--trace-mem output of `petrel run` (L/S/M addresses, valgrind loading a PIE at 0x108000),
ORDER the functions it ran (src/startup.order), OUT the linker script to write.

A data section (a jump table, a named constant: .rodata.NAME with -fdata-sections) is named by
its object file and section. A string lives in a section the link merged (<internal> in the
map: identical strings of every object stored once), which the map does not attribute: it is
found by its text in the objects' mergeable string sections. With -fdata-sections a function's
literals are in .rodata.FUNCTION.str1.N: the sections of the functions that ran are placed;
a string none of them holds is a file-scope literal (an option table's names), and the
.rodata.str1.N sections of the objects holding it are placed. The merged constants (.rodata.cst*: vector masks, a few KiB) are placed whole.
A stale list only costs locality: a pattern that no longer matches places nothing."""
import re
import struct
import sys
from pathlib import Path

VALGRIND_PIE_BASE = 0x108000   # where valgrind's own loader maps a PIE executable (amd64)
SHF_MERGE, SHF_STRINGS = 0x10, 0x20


def sections(path):
    """(name, flags, bytes) of each section of an ELF64 little-endian file."""
    d = Path(path).read_bytes()
    shoff, = struct.unpack_from("<Q", d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
    names = hdrs[shstrndx]
    out = []
    for h in hdrs:
        name_off, typ, flags, _, off, size = h[:6]
        start = names[4] + name_off
        name = d[start:d.index(b"\0", start)].decode()
        out.append((name, flags, d[off:off + size] if typ != 8 else b""))  # 8: SHT_NOBITS
    return out


def load_map(path):
    """[(address, size, output section, input description)] of lld's map (-Map)."""
    rows, out = [], None
    for line in open(path):
        m = re.match(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(\S.*)$", line)
        if not m:
            continue
        depth = len(m.group(3))
        if depth == 0:
            out = m.group(4).strip()
        elif depth == 8:
            rows.append((int(m.group(1), 16), int(m.group(2), 16), out, m.group(4).strip()))
    return rows


def member(desc):
    """'libpetrel.a(libpetrel.a.p/src_vm_vm.c.o):(.rodata.x)' -> ('src_vm_vm.c.o', '.rodata.x')"""
    m = re.match(r"(.*):\((.*)\)$", desc)
    obj = re.sub(r"\)$", "", m.group(1)).split("/")[-1].split("(")[-1]
    return obj, m.group(2)


def main():
    petrel, map_path, trace, order, out = sys.argv[1:6]
    ran = {line.strip() for line in open(order) if line.strip() and not line.startswith("#")}
    image = Path(petrel).read_bytes()
    everything = load_map(map_path)
    linked = {member(r[3])[0] for r in everything if not r[3].startswith("<internal>") and ":(" in r[3]}
    rows = [r for r in everything if r[2] in (".rodata", ".rodata.start") and r[1]]
    lo = min(r[0] for r in rows)
    hi = max(r[0] + r[1] for r in rows)
    hot = set()
    for line in open(trace):
        f = line.split()
        if len(f) == 2 and f[0] in ("L", "S", "M"):
            a = int(f[1].split(",")[0], 16) - VALGRIND_PIE_BASE
            if lo <= a < hi:
                hot.add(a)
    if not hot:
        sys.exit("startup-rodata: no read of petrel's .rodata in the trace (was it loaded at 0x108000?)")

    # the objects linked into petrel (the map names them by their file name)
    objs = {p.name: p for p in Path(petrel).parent.glob("*.p/*.o") if p.name in linked}
    placed, strings = [], set()
    for a in sorted(hot):
        row = next((r for r in rows if r[0] <= a < r[0] + r[1]), None)
        if row is None:
            continue
        if not row[3].startswith("<internal>"):
            obj, sec = member(row[3])
            if not sec.startswith(".rodata.cst"):
                placed.append(f"*{obj}({sec})")
            continue
        start = a   # a merged piece: the string around the address (the file offset is the address)
        while start > 0 and image[start - 1] != 0:
            start -= 1
        strings.add(image[start:image.index(b"\0", a)])
    holders = {}   # string -> [(object, section)] of the mergeable string sections holding it
    for name, path in sorted(objs.items()):
        for sec, flags, data in sections(path):
            if sec.startswith(".rodata") and flags & SHF_MERGE and flags & SHF_STRINGS:
                for s in strings.intersection(data.split(b"\0")):
                    holders.setdefault(s, []).append((name, sec))
    for s, where in sorted(holders.items()):
        fn = [w for w in where if re.sub(r"\.str1\.\d+$", "", w[1])[len(".rodata."):] in ran]
        file_scope = [w for w in where if re.fullmatch(r"\.rodata\.str1\.\d+", w[1])]
        placed += [f"*{o}({sec})" for o, sec in fn or file_scope]
    placed = list(dict.fromkeys(placed))
    with open(out, "w") as f:
        f.write("/* Written by scripts/startup-order.sh (scripts/startup-rodata.py): the read-only data `petrel run`\n"
                " * reads at start, in an output section of its own at the head of petrel's read-only segment\n"
                " * (docs/performance.md#startup-rodata). Linked with lld (meson.build). */\n"
                "SECTIONS {\n  .rodata.start : {\n"
                "    *(.rodata.cst2 .rodata.cst4 .rodata.cst8 .rodata.cst16 .rodata.cst32)\n")
        for p in placed:
            f.write(f"    {p}\n")
        f.write("  }\n} INSERT BEFORE .rodata;\n")
    print(f"startup-rodata: {len(placed)} sections in {out}")


if __name__ == "__main__":
    main()
