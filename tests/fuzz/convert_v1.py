#!/usr/bin/env python3
"""Convert the seed corpus's state files and streams from state format 1 to format 2.

Format 1 wrote each section as the C struct it was in memory (x86-64 layout, padding and all);
format 2 writes fields one by one (docs/snapshots.md). This script knows the format-1 layouts
of the sections the seeds hold (VM, MEM, KVM, CPU, PVM, UART, I804, RTC, ACPI, PCIB, GED, VGID,
plus the text sections, which are unchanged) and re-encodes them; a state file inside a
migration or replication stream (a DEFN or STAT message, or a checkpoint's) is converted in
place and its message length fixed. It is how tests/fuzz/corpus was converted, kept so the
conversion can be checked; petrel itself refuses format-1 files.

Usage: tests/fuzz/convert_v1.py FILE...   (converted in place; files without a format-1
state are left alone)
       tests/fuzz/convert_v1.py --device-seeds FILE...   (fuzz_device_state's seeds: its input
patches the sections' bytes now, not the structs; translated field by field)
"""
import struct
import sys
import zlib

MAGIC = b"PETRELVS"


def fourcc(s):
    return int.from_bytes(s.encode(), "little")


class Enc:
    def __init__(self):
        self.b = bytearray()

    def u8(self, v): self.b += struct.pack("<B", v)
    def u16(self, v): self.b += struct.pack("<H", v)
    def u32(self, v): self.b += struct.pack("<I", v)
    def u64(self, v): self.b += struct.pack("<Q", v & (2**64 - 1))
    def raw(self, v): self.b += bytes(v)


def conv_vm(p):
    e = Enc()
    e.raw(p[0:16]); e.raw(p[16:24]); e.u8(1 if p[24] else 0)
    return e.b


def conv_mem(p):
    n, _pad, total = struct.unpack_from("<IIQ", p, 0)
    e = Enc()
    e.u32(n); e.u64(total)
    for i in range(n):
        e.raw(p[16 + 24 * i:16 + 24 * (i + 1)])  # gpa, size, file_off: three le64
    return e.b


def conv_kvm(p):
    e = Enc()
    for chip in (0, 1):  # the two 8259s: 16 one-byte fields at the union's start
        e.raw(p[520 * chip + 8:520 * chip + 24])
    io = 520 * 2 + 8
    base, sel, ident, irr = struct.unpack_from("<QIII", p, io)
    e.u64(base); e.u32(sel); e.u32(ident); e.u32(irr)
    e.raw(p[io + 24:io + 24 + 24 * 8])
    pit = 520 * 3
    for c in range(3):
        o = pit + 24 * c
        count, latched = struct.unpack_from("<IH", p, o)
        e.u32(count); e.u16(latched); e.raw(p[o + 6:o + 16]); e.raw(p[o + 16:o + 24])
    e.raw(p[pit + 72:pit + 76])  # flags
    clk = pit + 112
    e.raw(p[clk:clk + 8]); e.raw(p[clk + 8:clk + 12]); e.raw(p[clk + 16:clk + 32])
    return e.b


def conv_cpu(p):
    e = Enc()
    e.raw(p[0:144])  # kvm_regs: 18 le64
    s = 144
    for seg in range(8):
        o = s + 24 * seg
        e.raw(p[o:o + 8]); e.raw(p[o + 8:o + 12]); e.raw(p[o + 12:o + 14]); e.raw(p[o + 14:o + 23])
    for dt in range(2):
        o = s + 192 + 16 * dt
        e.raw(p[o:o + 8]); e.raw(p[o + 8:o + 10])
    e.raw(p[s + 224:s + 224 + 56])  # cr0 cr2 cr3 cr4 cr8 efer apic_base
    e.raw(p[s + 280:s + 312])  # interrupt bitmap
    e.raw(p[456:456 + 4096])  # XSAVE image
    x = 4552
    nr, flags = struct.unpack_from("<II", p, x)
    e.u32(nr); e.u32(flags)
    for i in range(nr):
        xcr, _r, val = struct.unpack_from("<IIQ", p, x + 8 + 16 * i)
        e.u32(xcr); e.u64(val)
    e.raw(p[4944:4944 + 1024])  # local APIC page
    e.raw(p[5968:5972])  # mp_state
    ev = 5976
    b = p[ev:ev + 64]
    e.raw(bytes([b[0], b[1], b[2], b[3], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[24], b[25], b[26],
                 b[27], b[28], b[55]]))
    e.raw(b[4:8]); e.raw(b[16:20]); e.raw(b[20:24]); e.raw(b[56:64])
    dr = 6040
    e.raw(p[dr:dr + 56])  # db0-3, dr6, dr7, flags
    nmsrs = struct.unpack_from("<I", p, 6168)[0]
    e.u32(nmsrs)
    for i in range(nmsrs):
        idx, _r, data = struct.unpack_from("<IIQ", p, 6176 + 16 * i)
        e.u32(idx); e.u64(data)
    return e.b


def conv_pvm(p):
    return p[0:32] + bytes([1 if p[32] else 0])


def conv_rtc(p):
    return p[0:129] + p[136:144]


def conv_ged(p):
    return p[0:10]


def conv_vgid(p):
    return p[0:25]


SECTIONS = {
    "VM  ": conv_vm, "MEM ": conv_mem, "KVM ": conv_kvm, "CPU ": conv_cpu, "PVM ": conv_pvm,
    "UART": bytes, "I804": bytes, "RTC ": conv_rtc, "ACPI": bytes, "PCIB": bytes, "GED ": conv_ged,
    "VGID": conv_vgid, "CONF": bytes, "EXTN": bytes, "MEMF": bytes,
}


def convert_state(b):
    """A whole format-1 state file (bytes) as format 2."""
    assert b[:8] == MAGIC and struct.unpack_from("<I", b, 8)[0] == 1, "not a format-1 state"
    out = bytearray(b[:32])
    struct.pack_into("<I", out, 8, 2)
    off, n = 32, 0
    while True:
        sid, inst, ver, _res, plen = struct.unpack_from("<IIIIQ", b, off)
        name = sid.to_bytes(4, "little").decode("latin-1")
        if name == "END ":
            break
        payload = b[off + 24:off + 24 + plen]
        if name not in SECTIONS:
            raise SystemExit(f"section {name!r}: no format-1 layout known here")
        newp = bytes(SECTIONS[name](payload))
        out += struct.pack("<IIIIQ", sid, inst, ver, 0, len(newp)) + newp + bytes((8 - len(newp) % 8) % 8)
        off += 24 + ((plen + 7) & ~7)
        n += 1
    end = len(out)
    out += struct.pack("<IIIIQ", fourcc("END "), 0, 1, 0, 8) + bytes(8)
    struct.pack_into("<Q", out, 16, len(out))
    struct.pack_into("<II", out, end + 24, zlib.crc32(bytes(out[:end])) & 0xffffffff, n)
    return bytes(out)


def convert_stream(b):
    """A migration or replication stream: every message whose payload is (or ends in) a
    format-1 state, converted and its length fixed. Bytes after the last whole message
    (a cut-off stream) are kept as they are."""
    out, off = bytearray(), 0
    while off + 16 <= len(b):
        typ, flags, ln = struct.unpack_from("<IIQ", b, off)
        if off + 16 + ln > len(b):
            break
        payload = b[off + 16:off + 16 + ln]
        at = payload.find(MAGIC)
        if at >= 0 and struct.unpack_from("<I", payload, at + 8)[0] == 1:
            slen = struct.unpack_from("<Q", payload, at + 16)[0]
            try:
                payload = payload[:at] + convert_state(payload[at:at + slen]) + payload[at + slen:]
            except (AssertionError, struct.error, SystemExit) as e:
                print(f"  a state at {off + 16 + at} left as it is: {e}", file=sys.stderr)
        out += struct.pack("<IIQ", typ, flags, len(payload)) + payload
        off += 16 + ln
    return bytes(out + b[off:])


def main():
    for path in sys.argv[1:]:
        b = open(path, "rb").read()
        if MAGIC not in b:
            continue
        new = convert_state(b) if b.startswith(MAGIC) else convert_stream(b)
        if new != b:
            open(path, "wb").write(new)
            print(f"{path}: {len(b)} -> {len(new)} bytes")



# ---- fuzz_device_state's seeds: its input grammar changed with the format ----
#
# Format 1's target patched each device's in-memory struct; format 2's patches the bytes the
# device's save verb wrote (tests/fuzz/fuzz_device_state.c). A seed is translated field by
# field: every patched byte of a struct goes to the same byte of the same field in the
# section's encoding (bytes that fell in padding are dropped), the RAM seed and the accesses
# after the states are kept as they are.

def fields(*spec):
    """[(name, old_offset, new_offset, size)] from (old_offset, size) in encoding order."""
    out, new = [], 0
    for old, size in spec:
        out.append((old, new, size))
        new += size
    return out


def virt_fields(nqueues, pci):
    f = [(0, 4), (4, 1), (8, 8), (16, 1), (17, 1), (20, 4), (24, 4), (28, 4), (32, 8), (40, 2), (42, 2)]
    spec = [(o, n) for o, n in f]
    m = fields(*spec)
    new = sum(n for _, n in f) + 1  # the queue count byte
    for q in range(nqueues):
        base = 48 + 48 * q
        for o, n in ((0, 2), (2, 2), (4, 1), (8, 8), (16, 8), (24, 8), (32, 2), (34, 2), (36, 2), (38, 1), (39, 1),
                     (40, 1), (42, 2)):
            m.append((base + o, new, n))
            new += n
    return m


def vpci_fields(nvec, virt_len):
    m, new = [], virt_len
    m.append((0, new, 256)); new += 256
    m.append((256, new, 1)); new += 1
    m.append((257, new, 1)); new += 1
    new += 2  # the vector count
    for v in range(nvec):
        m.append((260 + 16 * v, new, 16)); new += 16
    m.append((1288, new, 8))
    return m


def byte_map(flds):
    return {old + i: new + i for old, new, size in flds for i in range(size)}


OLD_SIZES = {"CPUH": 40, "UART": 77, "I804": 23, "RTC": 144, "ACPI": 6, "PCIB": 4, "GED": 16, "VIRT": 816,
             "VPCI": 1296, "BALN": 168}


def balloon_queues(opt):
    return 2 + (opt & 1) + ((opt >> 3) & 1) + ((opt >> 1) & 1)


def old_sections(opt):
    """(name, old struct size, byte map into the new section) in the old target's order; the
    PCI rng's VIRT and VPCI become one new section."""
    nstat = 16
    baln = fields((0, 4), (4, 4), (8, 4), (12, 4), *[(16 + 8 * i, 8) for i in range(nstat)], (16 + 8 * nstat, 4),
                  *[(24 + 8 * nstat + 4 * i, 4) for i in range(4)])
    baln = [(o, n + (1 if n >= 16 else 0), s) for o, n, s in baln]  # the statistics count byte
    rng_virt = virt_fields(1, True)
    virt_len = 40 + 40 * 1
    return [
        ("CPUH", byte_map(fields((0, 8), (8, 8), (16, 8), (24, 4), (28, 4), (32, 2)))),
        ("UART", {i: i for i in range(77)}),
        ("I804", {i: i for i in range(23)}),
        ("RTC", byte_map(fields((0, 1), (1, 128), (136, 8)))),
        ("ACPI", {i: i for i in range(6)}),
        ("PCIB", {i: i for i in range(4)}),
        ("GED", byte_map(fields((0, 4), (4, 4), (8, 2)))),
        ("VIRT", byte_map(rng_virt)),
        ("VPCI", byte_map(vpci_fields(2, virt_len))),
        ("VIRT", byte_map(virt_fields(1, False))),
        ("BALN", byte_map(baln)),
        ("VIRT", byte_map(virt_fields(balloon_queues(opt), False))),
    ]


def read_old_section(data, at, size, baln):
    """One section of the old grammar at data[at:]: (kind, [(offset, byte)], next offset);
    kind 0 saved, 1 XOR, 2 overwrite."""
    def byte():
        nonlocal at
        if at >= len(data):
            return 0
        at += 1
        return data[at - 1]
    if baln:
        byte()  # the BALN version byte: one version now
    mode = byte()
    if mode & 3 == 3:
        n = min(size, len(data) - at)
        out = [(i, data[at + i]) for i in range(n)]
        return 2, out, at + n
    out = []
    for _ in range((1 + (mode >> 2) % 4) if mode & 3 else 0):
        if at + 2 > len(data):
            break
        off = (data[at] | data[at + 1] << 8) % size
        at += 2
        ln = 1 + byte() % 16
        for i in range(ln):
            if at >= len(data):
                break
            out.append((off + i, byte()))
    return mode & 3, out, at


def write_new_section(kind, patches):
    if not kind or not patches:
        return bytes([0])
    runs = []
    for off, b in sorted(patches):
        if runs and runs[-1][0] + len(runs[-1][1]) == off and len(runs[-1][1]) < 16:
            runs[-1][1].append(b)
        else:
            runs.append((off, [b]))
    runs = runs[:64]
    out = bytearray([kind | (len(runs) - 1) << 2])
    for off, bs in runs:
        out += struct.pack("<HB", off, len(bs) - 1) + bytes(bs)
    return bytes(out)


def convert_device_seed(data):
    opt = data[0] if data else 0
    at, out = 1, bytearray([opt])
    merged = []
    for name, bmap in old_sections(opt):
        kind, patches, at = read_old_section(data, at, OLD_SIZES[name], name == "BALN")
        mapped = [(bmap[o], b) for o, b in patches if o in bmap]
        if name == "VPCI":  # into the PCI rng's section, after its common part
            k0, p0 = merged.pop()
            kind = kind or k0
            if k0 and kind and k0 != kind:
                mapped = p0 + mapped  # mixed XOR and overwrite: keep the overwrite
            else:
                mapped = p0 + mapped
        merged.append((kind, mapped))
    for kind, mapped in merged:
        out += write_new_section(kind, mapped)
    return bytes(out + data[at:])


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--device-seeds":
    for path in sys.argv[2:]:
        b = open(path, "rb").read()
        open(path, "wb").write(convert_device_seed(b))
        print(f"{path}: device-state seed translated")
elif __name__ == "__main__":
    main()
