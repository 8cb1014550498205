/* Synthetic kernels for the bzImage-payload tests: a small ELF vmlinux (with or without a
 * PVH note), compressed with Debian's libraries the way the kernel build does, wrapped in
 * a bzImage setup header (boot protocol 2.15) with payload_offset/payload_length. */
#ifndef PETREL_TESTS_UNIT_KERNEL_IMAGES_H
#define PETREL_TESTS_UNIT_KERNEL_IMAGES_H

#include <bzlib.h>
#include <elf.h>
#include <lz4.h>
#include <lzo/lzo1x.h>
#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/payload.h"

#define KI_LOAD 0x1000000ull    /* link address of the test vmlinux (LOAD_PHYSICAL_ADDR) */
#define KI_BSS 0x3000           /* memsz - filesz */
#define KI_PVH_OFF 0x40         /* the PVH entry, inside the segment */
#define KI_SETUP_SECTS 1
#define KI_KOFF ((KI_SETUP_SECTS + 1) * 512)
#define KI_STUB 0x80            /* bytes of "decompressor" before the payload */

struct ki_buf {
	uint8_t *p;
	size_t len;
};

static inline void ki_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void ki_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* lzop's file format as `lzop` 1.04 writes it: header with an Adler-32, then 256 KiB blocks
 * [be32 dlen][be32 clen][Adler-32 of the data][LZO1X-1 data, or the data stored]. */
static inline size_t ki_lzop(const uint8_t *in, size_t len, uint8_t *o, size_t cap)
{
	static const uint8_t hdr[] = { 0x89, 'L', 'Z', 'O', 0, 0x0d, 0x0a, 0x1a, 0x0a,
				       0x10, 0x40, 0x20, 0xa0, 0x09, 0x40, /* versions */
				       1, 5,                               /* LZO1X-1, level 5 */
				       0, 0, 0, 1,                         /* F_ADLER32_D */
				       0, 0, 0x81, 0xa4, 0, 0, 0, 0, 0, 0, 0, 0, /* mode, mtime */
				       0 };                                /* no name */
	if (lzo_init() != LZO_E_OK || cap < sizeof(hdr) + 8)
		return 0;
	memcpy(o, hdr, sizeof(hdr));
	size_t n = sizeof(hdr);
	ki_be32(o + n, (uint32_t)adler32(1, hdr + 9, sizeof(hdr) - 9));
	n += 4;
	static uint8_t wrk[LZO1X_1_MEM_COMPRESS];
	for (size_t off = 0; off < len; off += 256 * 1024) {
		size_t d = len - off < 256 * 1024 ? len - off : 256 * 1024;
		if (cap - n < 12 + d + d / 16 + 64 + 3)
			return 0;
		lzo_uint c = 0;
		if (lzo1x_1_compress(in + off, d, o + n + 12, &c, wrk) != LZO_E_OK)
			return 0;
		if (c >= d) {
			memcpy(o + n + 12, in + off, d);
			c = d;
		}
		ki_be32(o + n, (uint32_t)d);
		ki_be32(o + n + 4, (uint32_t)c);
		ki_be32(o + n + 8, (uint32_t)adler32(1, in + off, (uInt)d));
		n += 12 + c;
	}
	if (cap - n < 4)
		return 0;
	ki_be32(o + n, 0);
	return n + 4;
}
static inline void ki_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* An ELF64 x86-64 vmlinux: one PT_LOAD of body bytes at KI_LOAD (e_entry = KI_LOAD, the
 * physical startup_64), a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY when pvh, then `relocs`
 * extra bytes after everything (as the build appends vmlinux.relocs). */
static inline struct ki_buf ki_vmlinux(size_t body, int pvh, size_t relocs)
{
	const size_t ph = sizeof(Elf64_Ehdr), note = ph + 2 * sizeof(Elf64_Phdr), seg = 0x1000;
	struct ki_buf b = { NULL, seg + body + relocs };
	b.p = calloc(1, b.len);
	Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_entry = KI_LOAD, .e_phoff = ph, .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = pvh ? 2 : 1 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(b.p, &eh, sizeof(eh));
	Elf64_Phdr load = { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = seg,
			    .p_vaddr = 0xffffffff81000000ull, .p_paddr = KI_LOAD, .p_filesz = body,
			    .p_memsz = body + KI_BSS, .p_align = 0x200000 };
	memcpy(b.p + ph, &load, sizeof(load));
	if (pvh) {
		Elf64_Phdr n = { .p_type = PT_NOTE, .p_offset = note + 0x40, .p_filesz = 12 + 4 + 4 };
		memcpy(b.p + ph + sizeof(load), &n, sizeof(n));
		uint8_t *q = b.p + note + 0x40;
		ki_put32(q, 4);           /* namesz */
		ki_put32(q + 4, 4);       /* descsz */
		ki_put32(q + 8, 18);      /* XEN_ELFNOTE_PHYS32_ENTRY */
		memcpy(q + 12, "Xen", 4);
		ki_put32(q + 16, (uint32_t)(KI_LOAD + KI_PVH_OFF));
	}
	/* Compressible but not trivial: runs of a slowly changing pattern. */
	uint32_t x = 12345;
	for (size_t i = 0; i < body + relocs; i++) {
		if (i % 64 == 0)
			x = x * 1103515245u + 12345u;
		b.p[seg + i] = (uint8_t)((x >> 16) + (i % 7));
	}
	return b;
}

/* in compressed as the kernel build does it: gzip has its own length trailer, the others
 * get the little-endian uncompressed size appended. Returns {NULL, 0} on failure. */
static inline struct ki_buf ki_compress(enum payload_format f, const uint8_t *in, size_t len)
{
	size_t cap = len + len / 2 + (1u << 16);
	struct ki_buf o = { malloc(cap + 4), 0 };
	size_t n = 0;
	int ok = 0;
	switch (f) {
	case PAYLOAD_GZIP: {
		z_stream s = { 0 };
		if (deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			break;
		s.next_in = (Bytef *)(uintptr_t)in;
		s.avail_in = (uInt)len;
		s.next_out = o.p;
		s.avail_out = (uInt)cap;
		ok = deflate(&s, Z_FINISH) == Z_STREAM_END;
		n = s.total_out;
		deflateEnd(&s);
		break;
	}
	case PAYLOAD_BZIP2: {
		unsigned dl = (unsigned)cap;
		ok = BZ2_bzBuffToBuffCompress((char *)o.p, &dl, (char *)(uintptr_t)in, (unsigned)len, 9, 0, 0) == BZ_OK;
		n = dl;
		break;
	}
	case PAYLOAD_XZ:
	case PAYLOAD_LZMA: {
		lzma_options_lzma opt;
		lzma_lzma_preset(&opt, 6);
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_filter xz[] = { { LZMA_FILTER_X86, NULL }, { LZMA_FILTER_LZMA2, &opt },
				     { LZMA_VLI_UNKNOWN, NULL } };
		if ((f == PAYLOAD_XZ ? lzma_stream_encoder(&s, xz, LZMA_CHECK_CRC32)
				     : lzma_alone_encoder(&s, &opt)) != LZMA_OK)
			break;
		s.next_in = in;
		s.avail_in = len;
		s.next_out = o.p;
		s.avail_out = cap;
		lzma_ret r;
		while ((r = lzma_code(&s, LZMA_FINISH)) == LZMA_OK)
			;
		ok = r == LZMA_STREAM_END;
		n = s.total_out;
		lzma_end(&s);
		break;
	}
	case PAYLOAD_LZ4: { /* legacy frames: magic, then [le32 size][block] per 8 MiB */
		ki_put32(o.p, 0x184c2102u);
		n = 4;
		ok = 1;
		for (size_t off = 0; off < len && ok; off += 8u << 20) {
			size_t chunk = len - off < (8u << 20) ? len - off : (8u << 20);
			int c = LZ4_compress_default((const char *)in + off, (char *)o.p + n + 4,
						     (int)chunk, (int)(cap - n - 4));
			ok = c > 0;
			ki_put32(o.p + n, (uint32_t)c);
			n += 4 + (size_t)c;
		}
		break;
	}
	case PAYLOAD_LZO:
		n = ki_lzop(in, len, o.p, cap);
		ok = n > 0;
		break;
	case PAYLOAD_ZSTD: { /* with a checksum, as the zstd tool writes by default */
		ZSTD_CCtx *z = ZSTD_createCCtx();
		ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 19);
		ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
		n = ZSTD_compress2(z, o.p, cap, in, len);
		ZSTD_freeCCtx(z);
		ok = !ZSTD_isError(n);
		break;
	}
	default:
		break;
	}
	if (!ok) {
		free(o.p);
		return (struct ki_buf){ NULL, 0 };
	}
	if (f != PAYLOAD_GZIP) {
		ki_put32(o.p + n, (uint32_t)len);
		n += 4;
	}
	o.len = n;
	return o;
}

/* A bzImage around payload: setup header, KI_STUB bytes of stand-in decompressor, the
 * payload. init_size = the given value (0: the uncompressed size rounded up, + 1 MiB). */
static inline struct ki_buf ki_bzimage(const uint8_t *payload, size_t plen, size_t unpacked,
				       uint32_t init_size)
{
	struct ki_buf b = { NULL, KI_KOFF + KI_STUB + plen };
	b.p = calloc(1, b.len);
	uint8_t *h = b.p;
	h[0x1f1] = KI_SETUP_SECTS;
	ki_put32(h + 0x1f4, (uint32_t)((b.len - KI_KOFF + 15) / 16));  /* syssize */
	h[0x1fe] = 0x55;
	h[0x1ff] = 0xaa;
	h[0x200] = 0xeb;
	h[0x201] = 0x270 - 0x202;
	memcpy(h + 0x202, "HdrS", 4);
	h[0x206] = 0x0f;
	h[0x207] = 0x02;                 /* 2.15 */
	h[0x211] = 0x01;                 /* LOADED_HIGH */
	ki_put32(h + 0x214, 0x100000);   /* code32_start */
	ki_put32(h + 0x22c, 0x7fffffff); /* initrd_addr_max */
	ki_put32(h + 0x230, 0x200000);   /* kernel_alignment */
	h[0x234] = 1;                    /* relocatable */
	h[0x236] = 0x01;                 /* XLF_KERNEL_64 */
	ki_put32(h + 0x238, 2047);       /* cmdline_size */
	ki_put32(h + 0x248, KI_STUB);    /* payload_offset */
	ki_put32(h + 0x24c, (uint32_t)plen);
	ki_put64(h + 0x258, KI_LOAD);    /* pref_address */
	ki_put32(h + 0x260, init_size ? init_size : (uint32_t)((unpacked + 0xfff) & ~0xfffull) + (1u << 20));
	memset(b.p + KI_KOFF, 0x90, KI_STUB);
	memcpy(b.p + KI_KOFF + KI_STUB, payload, plen);
	return b;
}

#endif
