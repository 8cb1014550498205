/* SMBIOS 3.0 entry point and structure table (smbios.h). Field offsets follow DMTF DSP0134
 * 3.0; the choices (which structures, their values, one type 17 per 16 GiB) follow what QEMU's
 * pc machine gives SeaBIOS, with petrel's names. A structure is its formatted area (fixed
 * fields, strings as 1-based indexes) then its string set: each string NUL-terminated, then
 * one more NUL (two NULs when it has none). */
#include "arch/x86/smbios.h"
#include "arch/x86/fw_loader.h"
#include "util/codec.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define VENDOR "petrel"
#define BIOS_DATE "11/27/2026" /* mm/dd/yyyy: the release this BIOS information describes */
#define MIB (1ull << 20)

/* The table being built (util/codec.h's growing buffer, its first failure kept). Fields are
 * written through offsets in the current structure: the buffer moves as strings are added. */
struct sb {
	struct enc e;
	size_t cur;   /* the current structure's offset */
	uint8_t nstr; /* its strings so far */
};

/* A new structure: its formatted area (len bytes, zeroed, the header filled). */
static void sb_begin(struct sb *b, uint8_t type, uint8_t len, uint16_t handle)
{
	static const uint8_t zeros[0xff];
	b->cur = b->e.len;
	b->nstr = 0;
	put_bytes(&b->e, zeros, len);
	if (b->e.err)
		return;
	b->e.buf[b->cur] = type;
	b->e.buf[b->cur + 1] = len;
	le_store(b->e.buf + b->cur + 2, handle, 2);
}

static void sb_put(struct sb *b, size_t field, uint64_t v, unsigned n)
{
	if (!b->e.err)
		le_store(b->e.buf + b->cur + field, v, n);
}

/* The string s as the field's string (index 0, "none", when s is NULL or empty). */
static void sb_str(struct sb *b, size_t field, const char *s)
{
	if (!s || !*s || b->e.err)
		return;
	if (b->nstr == 0xff) {
		b->e.err = -E2BIG;
		return;
	}
	put_bytes(&b->e, s, strlen(s) + 1);
	if (!b->e.err)
		b->e.buf[b->cur + field] = ++b->nstr;
}

/* The end of the string set: one more NUL, two when it has no string. */
static void sb_end(struct sb *b)
{
	put_u8(&b->e, 0);
	if (!b->nstr)
		put_u8(&b->e, 0);
}

static void type0_bios(struct sb *b, const struct smbios_info *in)
{
	sb_begin(b, 0, 0x18, SMBIOS_HANDLE(0, 0));
	sb_str(b, 0x04, VENDOR);
	sb_str(b, 0x05, in->version);
	sb_put(b, 0x06, 0xe800, 2);   /* starting address segment: the 96 KiB below 1 MiB */
	sb_str(b, 0x08, BIOS_DATE);
	sb_put(b, 0x0a, (1u << 4) | (1u << 7), 8); /* ISA, PCI */
	sb_put(b, 0x12, 0x01, 1);     /* extension byte 1: ACPI */
	sb_put(b, 0x13, 0x14, 1);     /* extension byte 2: targeted content distribution, a VM */
	sb_put(b, 0x16, 0xff, 1);     /* no embedded controller */
	sb_put(b, 0x17, 0xff, 1);
	sb_end(b);
}

static void type1_system(struct sb *b, const struct smbios_info *in)
{
	sb_begin(b, 1, 0x1b, SMBIOS_HANDLE(1, 0));
	sb_str(b, 0x04, VENDOR);
	sb_str(b, 0x05, "petrel");
	sb_str(b, 0x06, in->version);
	sb_str(b, 0x07, in->serial);
	/* time_low, time_mid, time_hi_and_version little-endian; the rest as in RFC 4122 */
	const uint8_t *u = in->uuid;
	uint8_t w[16] = { u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6] };
	memcpy(w + 8, u + 8, 8);
	if (!b->e.err)
		memcpy(b->e.buf + b->cur + 0x08, w, 16);
	sb_put(b, 0x18, 0x06, 1);     /* wake-up type: power switch */
	sb_str(b, 0x1a, "Virtual Machine"); /* family */
	sb_end(b);
}

static void type3_chassis(struct sb *b)
{
	sb_begin(b, 3, 0x16, SMBIOS_HANDLE(3, 0));
	sb_str(b, 0x04, VENDOR);
	sb_put(b, 0x05, 0x01, 1);     /* type: other */
	sb_put(b, 0x09, 0x03, 1);     /* boot-up, power supply, thermal state: safe */
	sb_put(b, 0x0a, 0x03, 1);
	sb_put(b, 0x0b, 0x03, 1);
	sb_put(b, 0x0c, 0x02, 1);     /* security status: unknown */
	sb_end(b);
}

/* One socket with ncpus cores of one thread each. */
static void type4_processor(struct sb *b, unsigned ncpus)
{
	uint8_t n8 = ncpus > 0xff ? 0xff : (uint8_t)ncpus;
	sb_begin(b, 4, 0x30, SMBIOS_HANDLE(4, 0));
	sb_str(b, 0x04, "CPU 0");     /* socket designation */
	sb_put(b, 0x05, 0x03, 1);     /* central processor */
	sb_put(b, 0x06, 0x01, 1);     /* family: other */
	sb_str(b, 0x07, VENDOR);
	sb_put(b, 0x18, 0x41, 1);     /* socket populated, CPU enabled */
	sb_put(b, 0x19, 0x01, 1);     /* upgrade: other */
	sb_put(b, 0x1a, 0xffff, 2);   /* no L1, L2, L3 cache information */
	sb_put(b, 0x1c, 0xffff, 2);
	sb_put(b, 0x1e, 0xffff, 2);
	sb_put(b, 0x23, n8, 1);       /* cores, enabled, threads (0xff: see the 2-byte fields) */
	sb_put(b, 0x24, n8, 1);
	sb_put(b, 0x25, n8, 1);
	sb_put(b, 0x26, 0x04 | (ncpus > 1 ? 0x08 : 0), 2); /* 64-bit capable, multi-core */
	sb_put(b, 0x28, 0x01, 2);     /* family 2 */
	sb_put(b, 0x2a, ncpus, 2);
	sb_put(b, 0x2c, ncpus, 2);
	sb_put(b, 0x2e, ncpus, 2);
	sb_end(b);
}

static void type16_memory_array(struct sb *b, uint64_t mem, unsigned dimms)
{
	sb_begin(b, 16, 0x17, SMBIOS_HANDLE(16, 0));
	sb_put(b, 0x04, 0x01, 1);     /* location: other */
	sb_put(b, 0x05, 0x03, 1);     /* use: system memory */
	sb_put(b, 0x06, 0x06, 1);     /* error correction: multi-bit ECC */
	uint64_t kib = mem >> 10;
	if (kib < 0x80000000u) {
		sb_put(b, 0x07, kib, 4);
	} else {
		sb_put(b, 0x07, 0x80000000u, 4); /* see the extended maximum capacity */
		sb_put(b, 0x0f, mem, 8);
	}
	sb_put(b, 0x0b, 0xfffe, 2);   /* no memory error information */
	sb_put(b, 0x0d, dimms, 2);
	sb_end(b);
}

static void type17_memory_device(struct sb *b, unsigned i, uint64_t bytes)
{
	char loc[16];
	snprintf(loc, sizeof(loc), "DIMM %u", i);
	uint64_t mib = (bytes + MIB - 1) / MIB;
	sb_begin(b, 17, 0x28, SMBIOS_HANDLE(17, i));
	sb_put(b, 0x04, SMBIOS_HANDLE(16, 0), 2); /* its memory array */
	sb_put(b, 0x06, 0xfffe, 2);   /* no memory error information */
	sb_put(b, 0x08, 0xffff, 2);   /* total and data width: unknown */
	sb_put(b, 0x0a, 0xffff, 2);
	if (mib < 0x7fff) {
		sb_put(b, 0x0c, mib, 2);
	} else {
		sb_put(b, 0x0c, 0x7fff, 2); /* see the extended size */
		sb_put(b, 0x1c, mib, 4);
	}
	sb_put(b, 0x0e, 0x09, 1);     /* form factor: DIMM */
	sb_str(b, 0x10, loc);         /* device locator */
	sb_put(b, 0x12, 0x07, 1);     /* type: RAM */
	sb_put(b, 0x13, 0x0002, 2);   /* type detail: other */
	sb_str(b, 0x17, VENDOR);
	sb_end(b);
}

int smbios_build(const struct smbios_info *in, uint8_t **anchor, uint32_t *anchor_len,
		 uint8_t **tables, uint32_t *tables_len)
{
	if (!in->ncpus || in->ncpus > 0xffff || !in->mem_bytes)
		return -EINVAL;
	uint64_t dimms = (in->mem_bytes + SMBIOS_DIMM_MAX - 1) / SMBIOS_DIMM_MAX;
	if (dimms > SMBIOS_DIMMS_MAX)
		return -EINVAL;
	struct sb b = { 0 };
	enc_init(&b.e);
	type0_bios(&b, in);
	type1_system(&b, in);
	type3_chassis(&b);
	type4_processor(&b, in->ncpus);
	type16_memory_array(&b, in->mem_bytes, (unsigned)dimms);
	for (unsigned i = 0; i < dimms; i++)
		type17_memory_device(&b, i, i + 1 < dimms ? SMBIOS_DIMM_MAX
							  : (in->mem_bytes - 1) % SMBIOS_DIMM_MAX + 1);
	sb_begin(&b, 32, 0x0b, SMBIOS_HANDLE(32, 0)); /* boot status (10): no errors */
	sb_end(&b);
	sb_begin(&b, 127, 4, SMBIOS_HANDLE(127, 0));
	sb_end(&b);
	if (!b.e.err && b.e.len > 0xffff)
		b.e.err = -E2BIG; /* SeaBIOS reads the table's length as 16 bits */
	_cleanup_free_ uint8_t *t = b.e.buf;
	if (b.e.err)
		return b.e.err;
	uint8_t *a = calloc(1, SMBIOS_ANCHOR_LEN);
	if (!a)
		return -ENOMEM;
	memcpy(a, "_SM3_", 5);
	a[6] = SMBIOS_ANCHOR_LEN;
	a[7] = 3;                     /* SMBIOS 3.0.0 */
	a[8] = 0;
	a[9] = 0;                     /* docrev */
	a[10] = 1;                    /* entry point revision: 3.0 */
	le_store(a + 12, b.e.len, 4);   /* the structure table's maximum size: its size */
	/* the structure table's address (16, 8 bytes): the firmware's to fill */
	a[5] = (uint8_t)(0 - fw_byte_sum(a, SMBIOS_ANCHOR_LEN));
	*anchor = a;
	*anchor_len = SMBIOS_ANCHOR_LEN;
	*tables = TAKE_PTR(t);
	*tables_len = (uint32_t)b.e.len;
	return 0;
}
