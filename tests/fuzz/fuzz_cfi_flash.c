/* libFuzzer target: the CFI flash (src/devices/flash/cfi_flash.c) driven by a hostile guest:
 * writes and reads of any width at any offset (inside, at the end, far past it), its commands
 * in any order, resets, and saved states: its own round trip and saved states changed by the
 * input. The contents are a heap block of exactly the device's size, so ASan sees any access
 * outside the device.
 *
 * Input: a byte (the device's size: 1 + b % 8 blocks of 4 KiB), then operations until the end,
 * each a byte (op % 6) and its arguments:
 *   0 write: an offset (below), a width byte (1 << b % 4), 8 value bytes (little-endian)
 *   1 read: an offset, a width byte
 *   2 command: an offset, a byte (a command of the set, or the byte itself when b >= 0x80)
 *   3 reset
 *   4 state round trip: save, load into a second flash, both must then be alike
 *   5 state changed: a count byte (1 + c % 8) and that many patches (le16 offset, modulo the
 *     state's length without the contents; a byte XORed there), then loaded into this flash
 * An offset is a mode byte and a le16 v: mode % 4 == 0: v % (size + 64); 1: size - 1 - v % 16;
 * 2: v << 48 | v (far past the end); 3: v % 256 (the identifier and CFI tables).
 * After each operation: the machine's last array_mode call says the mode the flash is in; a
 * read or a write that programmed and erased nothing (a refused one above all) left every byte
 * as it was; an erase changed only its block; a refused state load changed nothing and said
 * why in the error buffer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/flash/cfi_flash.h"
#include "fuzz_common.h"
#include "util/codec.h"

FUZZ_QUIET_LOGS()

#define MAX_SIZE (8 * CFI_FLASH_BLOCK)
#define STATE_HEAD (8 + 3 + 4 + 4 + 8 + CFI_FLASH_BUFFER + CFI_FLASH_BUFFER / 8)

struct rig {
	struct cfi_flash f;
	uint8_t *mem;
	bool mapped;
};

static void array_mode(void *opaque, bool on)
{
	((struct rig *)opaque)->mapped = on;
}

static void rig_init(struct rig *r, size_t size)
{
	r->mem = malloc(size);
	FUZZ_CHECK(r->mem);
	memset(r->mem, 0xa5, size);
	r->mapped = true;
	memset(&r->f, 0, sizeof(r->f));
	FUZZ_CHECK(cfi_flash_init(&r->f, r->mem, size, array_mode, r) == 0);
}

static void rig_free(struct rig *r)
{
	cfi_flash_destroy(&r->f);
	free(r->mem);
}

static uint64_t offset(struct fuzz_input *in, size_t size)
{
	uint8_t mode = fuzz_byte(in);
	uint16_t v = 0;
	fuzz_take(in, &v, 2);
	switch (mode % 4) {
	case 0: return v % (size + 64);
	case 1: return size - 1 - v % 16;
	case 2: return (uint64_t)v << 48 | v;
	default: return v % 256;
	}
}

static uint8_t *save(struct cfi_flash *f, size_t *len)
{
	struct enc e;
	enc_init(&e);
	cfi_flash_state_ops.save(f, &e);
	FUZZ_CHECK(e.err == 0);
	*len = e.len;
	return e.buf;
}

static int load(struct cfi_flash *f, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	uint8_t *copy = fuzz_dup(p, len);
	struct dec d;
	dec_init(&d, copy, len);
	int e = cfi_flash_state_ops.load(f, &d, cfi_flash_state_ops.version, err, errlen);
	free(copy);
	return e;
}

static void round_trip(struct rig *r, size_t size)
{
	struct rig other;
	rig_init(&other, size);
	size_t len;
	uint8_t *st = save(&r->f, &len);
	char err[256] = "";
	FUZZ_CHECK(load(&other.f, st, len, err, sizeof(err)) == 0);
	FUZZ_CHECK(memcmp(other.mem, r->mem, size) == 0);
	FUZZ_CHECK(other.mapped == cfi_flash_in_array_mode(&r->f));
	size_t len2;
	uint8_t *st2 = save(&other.f, &len2);
	FUZZ_CHECK(len2 == len && memcmp(st, st2, len) == 0);
	free(st2);
	free(st);
	rig_free(&other);
}

static void changed_state(struct rig *r, struct fuzz_input *in)
{
	size_t len;
	uint8_t *st = save(&r->f, &len);
	unsigned n = 1 + fuzz_byte(in) % 8;
	for (unsigned k = 0; k < n; k++) {
		uint16_t at = 0;
		fuzz_take(in, &at, 2);
		st[at % STATE_HEAD] ^= fuzz_byte(in);
	}
	size_t len_before;
	uint8_t *st_before = save(&r->f, &len_before);
	char err[256] = "";
	int e = load(&r->f, st, len, err, sizeof(err));
	FUZZ_CHECK(e == 0 || (e == -EINVAL && err[0]));
	if (e) {
		size_t len_after;
		uint8_t *st_after = save(&r->f, &len_after);
		FUZZ_CHECK(len_after == len_before && memcmp(st_after, st_before, len_before) == 0);
		free(st_after);
	}
	free(st_before);
	free(st);
}

/* A command byte: mostly the set the flash knows, so sequences get somewhere. */
static uint8_t command(uint8_t b)
{
	static const uint8_t set[] = { 0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0x90, 0x98, 0xb0,
				       0xd0, 0xe8, 0xf0, 0xff, 0x01, 0x2f, 0x03, 0x07 };
	return b >= 0x80 ? b : set[b % sizeof(set)];
}

/* The write, and what it may have changed: nothing unless it programmed or erased. */
static void checked_write(struct rig *r, size_t size, uint64_t off, const uint8_t *v, uint32_t w, uint8_t *shadow)
{
	uint64_t programs = r->f.programs, erases = r->f.erases, window = r->f.buf_addr;
	cfi_flash_write(&r->f, off, v, w);
	if (r->f.erases != erases) {
		/* one block, filled */
		uint64_t block = off & ~(uint64_t)(CFI_FLASH_BLOCK - 1);
		FUZZ_CHECK(block < size);
		for (size_t i = 0; i < CFI_FLASH_BLOCK; i++)
			FUZZ_CHECK(r->mem[block + i] == 0xff);
		memcpy(shadow + block, r->mem + block, CFI_FLASH_BLOCK);
	}
	if (r->f.programs != programs) {
		/* a program: its own bytes; a buffer's confirm: its window */
		for (size_t i = 0; i < size; i++)
			if (shadow[i] != r->mem[i])
				FUZZ_CHECK((i >= off && i - off < w) || (i >= window && i - window < CFI_FLASH_BUFFER));
		memcpy(shadow, r->mem, size);
	}
	FUZZ_CHECK(memcmp(shadow, r->mem, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_input in = { data, len };
	size_t size = (1 + fuzz_byte(&in) % (MAX_SIZE / CFI_FLASH_BLOCK)) * (size_t)CFI_FLASH_BLOCK;
	struct rig r;
	rig_init(&r, size);
	uint8_t *shadow = fuzz_dup(r.mem, size);   /* the contents as the last write left them */
	while (in.left) {
		uint8_t op = fuzz_byte(&in), v[8] = { 0 };
		uint64_t off;
		uint32_t w;
		switch (op % 6) {
		case 0:
			off = offset(&in, size);
			w = 1u << fuzz_byte(&in) % 4;
			fuzz_take(&in, v, 8);
			checked_write(&r, size, off, v, w, shadow);
			break;
		case 1:
			off = offset(&in, size);
			w = 1u << fuzz_byte(&in) % 4;
			cfi_flash_read(&r.f, off, v, w);
			FUZZ_CHECK(memcmp(shadow, r.mem, size) == 0);
			break;
		case 2:
			off = offset(&in, size);
			v[0] = command(fuzz_byte(&in));
			checked_write(&r, size, off, v, 1, shadow);
			break;
		case 3:
			cfi_flash_reset(&r.f);
			FUZZ_CHECK(cfi_flash_in_array_mode(&r.f));
			break;
		case 4:
			round_trip(&r, size);
			break;
		default:
			changed_state(&r, &in);
			memcpy(shadow, r.mem, size);   /* an accepted state brings its own contents */
			break;
		}
		FUZZ_CHECK(r.mapped == cfi_flash_in_array_mode(&r.f));
	}
	free(shadow);
	rig_free(&r);
	return 0;
}
