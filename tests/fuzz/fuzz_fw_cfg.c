/* libFuzzer target: fw_cfg (src/devices/legacy/fw_cfg.c, fw_cfg_dma.c) driven by a hostile
 * guest: port reads and writes of any width at any of its ports, DMA descriptors and buffers
 * anywhere (in RAM, across a region's end, in the gap between the two regions, past RAM, at
 * 64-bit addresses), the guest's own writes to RAM between them (a descriptor it changes), the
 * machine replacing a file (from the select hook too, as the ACPI rebuild does), reset, and
 * saved states: its own round trip and arbitrary bytes. Guest memory is two heap blocks,
 * 64 KiB at 0 and 64 KiB at 128 KiB, with dirty logging on: ASan sees any access outside them.
 *
 * Input: operations until the end, each a byte (op % 8) and its arguments:
 *   0 select: le16 key           1 data reads: a count byte (reads that many bytes)
 *   2 port read: off byte (% 12), width byte (1, 2, 4)
 *   3 port write: off byte (% 12), width byte, 4 value bytes
 *   4 DMA: an address (below), be32 control, be32 length, a buffer address: the descriptor is
 *     written there if it is RAM, then its address goes to +4 (if above 4 GiB) and +8
 *   5 guest write: an address, a length byte, that many bytes (what fits in RAM)
 *   6 machine: a byte b: set_file of "etc/acpi/tables" with b * 37 bytes, or reset (b == 0)
 *   7 state: a byte; even: save and load what was saved, odd: load the next 10 input bytes
 * An address is a mode byte and a le32: mode % 4 == 0 an offset in [0, 192 KiB), 1 a region's
 * end minus (v % 64), 2 v as a 32-bit address, 3 v << 32 | v (64-bit).
 * After each operation the state must be one the device could be in: the selector names an
 * item or none, the offset is inside the item. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/dev_state.h"
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/fw_cfg_int.h"
#include "fuzz_common.h"
#include "memory/guest_mem.h"
#include "util/codec.h"

FUZZ_QUIET_LOGS()

#define REGION (64u << 10)
#define R1_GPA (128u << 10)

static struct guest_mem *fw_mem(void)
{
	static struct guest_mem mem;
	if (!mem.nregions) {
		uint64_t gpas[2] = { 0, R1_GPA };
		for (unsigned i = 0; i < 2; i++) {
			mem.regions[i] = (struct guest_region){ gpas[i], REGION, calloc(1, REGION) };
			mem.regions[i].dirty = calloc(guest_region_bitmap_words(&mem.regions[i]), 8);
			if (!mem.regions[i].hva || !mem.regions[i].dirty)
				abort();
		}
		mem.nregions = 2;
		mem.total = 2 * REGION;
		mem.dirty_log = true;
	}
	return &mem;
}

static uint8_t big[64 * 37 * 4];

static void hook(void *opaque, uint16_t key, const char *name)
{
	/* the machine rebuilds a file on select, as for the ACPI tables (a size that changes) */
	if (name && strcmp(name, "etc/acpi/rsdp") == 0)
		FUZZ_CHECK(fw_cfg_set_file(opaque, name, big, 20 + key % 17) == 0);
}

static uint64_t addr(struct fuzz_input *in)
{
	uint8_t mode = fuzz_byte(in);
	uint32_t v = 0;
	fuzz_take(in, &v, 4);
	switch (mode % 4) {
	case 0: return v % (3 * REGION);
	case 1: return (mode & 4 ? R1_GPA : 0) + REGION - v % 64;
	case 2: return v;
	default: return (uint64_t)v << 32 | v;
	}
}

static void check_state(struct fw_cfg *c)
{
	if (c->st.sel == FW_CFG_INVALID) {
		FUZZ_CHECK(c->st.off == 0);
		return;
	}
	FUZZ_CHECK(!(c->st.sel & FW_CFG_WRITE_CHANNEL));
	uint32_t len = UINT32_MAX;
	if (!(c->st.sel & FW_CFG_ARCH_LOCAL) && c->st.sel >= FW_CFG_FILE_FIRST) {
		FUZZ_CHECK(c->st.sel - FW_CFG_FILE_FIRST < (int)c->nfiles);
		len = c->files[c->st.sel - FW_CFG_FILE_FIRST].len;
	} else {
		for (unsigned i = 0; i < c->nkeys; i++)
			if (c->keys[i].key == c->st.sel)
				len = c->keys[i].len;
		FUZZ_CHECK(len != UINT32_MAX);
	}
	FUZZ_CHECK(c->st.off <= len);
}

static void dma_op(struct fw_cfg *c, struct guest_mem *mem, struct fuzz_input *in)
{
	uint64_t desc = addr(in);
	uint32_t control = 0, len = 0;
	fuzz_take(in, &control, 4);
	fuzz_take(in, &len, 4);
	uint64_t buf = addr(in);
	uint8_t *d = guest_mem_ptr(mem, desc, FW_CFG_DMA_SIZE);
	if (d) {
		fw_cfg_be_store(d, control, 4);
		fw_cfg_be_store(d + 4, len, 4);
		fw_cfg_be_store(d + 8, buf, 8);
	}
	/* a high half latched by an earlier port write still counts when none is written now */
	bool as_written = desc >> 32 || c->st.dma_high == 0;
	uint8_t b[4];
	if (desc >> 32) {
		fw_cfg_be_store(b, (uint32_t)(desc >> 32), 4);
		fw_cfg_io_write(c, 4, b, 4);
	}
	fw_cfg_be_store(b, (uint32_t)desc, 4);
	fw_cfg_io_write(c, 8, b, 4);
	FUZZ_CHECK(c->st.dma_high == 0);
	if (d && as_written) /* done or refused: nothing else (the buffer may overlap the rest of it) */
		FUZZ_CHECK(d[0] == 0 && d[1] == 0 && d[2] == 0 && (d[3] == 0 || d[3] == FW_CFG_DMA_CTL_ERROR));
}

static void state_op(struct fw_cfg *c, struct fuzz_input *in)
{
	char err[256] = "";
	struct enc e;
	enc_init(&e);
	uint8_t raw[10] = { 0 };
	if (fuzz_byte(in) & 1) {
		fuzz_take(in, raw, sizeof(raw));
		put_bytes(&e, raw, sizeof(raw));
	} else {
		fw_cfg_state_ops.save(c, &e);
	}
	FUZZ_CHECK(e.err == 0);
	struct fw_cfg_state before = c->st;
	struct dec d;
	dec_init(&d, e.buf, e.len);
	int r = fw_cfg_state_ops.load(c, &d, fw_cfg_state_ops.version, err, sizeof(err));
	FUZZ_CHECK(r == 0 || (r == -EINVAL && err[0] && memcmp(&before, &c->st, sizeof(before)) == 0));
	enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *mem = fw_mem();
	static struct fw_cfg c;
	FUZZ_CHECK(fw_cfg_init(&c, mem) == 0);
	uint16_t two = 2;
	uint8_t e820[40] = { 1, 2, 3 };
	FUZZ_CHECK(fw_cfg_add_key(&c, FW_CFG_NB_CPUS, &two, 2) == 0);
	FUZZ_CHECK(fw_cfg_add_key(&c, FW_CFG_ARCH_LOCAL | 3, NULL, 0) == 0);
	FUZZ_CHECK(fw_cfg_add_file(&c, "etc/e820", e820, sizeof(e820)) == 0);
	FUZZ_CHECK(fw_cfg_add_file(&c, "etc/acpi/tables", big, 3000) == 0);
	FUZZ_CHECK(fw_cfg_add_file(&c, "etc/acpi/rsdp", big, 20) == 0);
	FUZZ_CHECK(fw_cfg_add_file(&c, "bootorder", NULL, 0) == 0);
	fw_cfg_set_select_hook(&c, hook, &c);

	struct fuzz_input in = { data, size };
	while (in.left) {
		uint8_t op = fuzz_byte(&in), b[8] = { 0 };
		switch (op % 8) {
		case 0:
			fuzz_take(&in, b, 2);
			fw_cfg_io_write(&c, 0, b, 2);
			break;
		case 1:
			for (unsigned n = fuzz_byte(&in); n; n--)
				fw_cfg_io_read(&c, 1, b, 1);
			break;
		case 2: case 3: {
			uint64_t off = fuzz_byte(&in) % FW_CFG_PORT_LEN;
			uint32_t w = 1u << (fuzz_byte(&in) % 3);
			if (op % 8 == 2) {
				fw_cfg_io_read(&c, off, b, w);
			} else {
				fuzz_take(&in, b, 4);
				fw_cfg_io_write(&c, off, b, w);
			}
			break;
		}
		case 4:
			dma_op(&c, mem, &in);
			break;
		case 5: {
			uint64_t gpa = addr(&in);
			uint8_t n = fuzz_byte(&in), bytes[256] = { 0 };
			fuzz_take(&in, bytes, n);
			uint8_t *p = guest_mem_ptr(mem, gpa, n);
			if (p)
				memcpy(p, bytes, n);
			break;
		}
		case 6: {
			uint8_t n = fuzz_byte(&in);
			if (n)
				FUZZ_CHECK(fw_cfg_set_file(&c, "etc/acpi/tables", big, n * 37u % sizeof(big)) == 0);
			else
				fw_cfg_reset(&c);
			break;
		}
		default:
			state_op(&c, &in);
			break;
		}
		check_state(&c);
	}
	fw_cfg_destroy(&c);
	for (unsigned i = 0; i < mem->nregions; i++) {
		memset(mem->regions[i].hva, 0, REGION);
		memset(mem->regions[i].dirty, 0, guest_region_bitmap_words(&mem->regions[i]) * 8);
	}
	return 0;
}
