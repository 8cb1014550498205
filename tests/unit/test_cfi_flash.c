/* Unit tests for the CFI flash (src/devices/flash/cfi_flash.c) driven through its bus callbacks
 * as OVMF's QemuFlashFvbServicesRuntimeDxe drives it: its detection (QemuFlashDetected), its
 * byte writes (QemuFlashWrite) and block erases (QemuFlashEraseBlock); buffered writes, the
 * identifier and CFI query, wrong sequences (error bits, no byte changed), accesses of every
 * width at the device's end, read-array mode as the machine is told it, the saved state's
 * round trip and its refusals, and a long run of random accesses. No KVM. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/flash/cfi_flash.h"
#include "util/codec.h"
#include "util/log.h"
#include "unit.h"

#define SIZE (16 * CFI_FLASH_BLOCK)
#define GUARD 64   /* bytes past the device that must never change */

/* A flash over a buffer with guard bytes after it, and what the machine was told. */
struct rig {
	struct cfi_flash f;
	uint8_t *mem;
	int on, off;          /* array_mode calls: entered, left */
	bool mapped;          /* the last call */
};

static void array_mode(void *opaque, bool on)
{
	struct rig *r = opaque;
	if (on)
		r->on++;
	else
		r->off++;
	r->mapped = on;
}

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->mem = malloc(SIZE + GUARD);
	for (unsigned i = 0; i < SIZE + GUARD; i++)
		r->mem[i] = (uint8_t)(i * 7 + 1);   /* byte 0 is 0x01: not 0x00, 0x50 or 0x70 */
	r->mapped = true;
	int e = cfi_flash_init(&r->f, r->mem, SIZE, array_mode, r);
	if (e)
		abort();
}

static void rig_free(struct rig *r)
{
	cfi_flash_destroy(&r->f);
	free(r->mem);
}

static void wr(struct rig *r, uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];
	le_store(b, v, len);
	cfi_flash_write(&r->f, off, b, len);
}

static uint64_t rd(struct rig *r, uint64_t off, uint32_t len)
{
	uint8_t b[8];
	cfi_flash_read(&r->f, off, b, len);
	return le_load(b, len);
}

/* What the guest sees at off: the slot while the machine has it mapped, else the device. */
static uint8_t guest_read(struct rig *r, uint64_t off)
{
	return r->mapped ? r->mem[off] : (uint8_t)rd(r, off, 1);
}

static uint8_t status(struct rig *r)
{
	wr(r, 0, 0x70, 1);
	return (uint8_t)rd(r, 0, 1);
}

static bool guard_intact(struct rig *r)
{
	for (unsigned i = SIZE; i < SIZE + GUARD; i++)
		if (r->mem[i] != (uint8_t)(i * 7 + 1))
			return false;
	return true;
}

TEST(flash_ovmf_detects_flash)
{
	struct rig r;
	rig_init(&r);
	CHECK(cfi_flash_in_array_mode(&r.f));
	/* QemuFlashDetected: the first byte that is not 0x50, 0x70 or 0x00 (here the first) */
	uint8_t original = guest_read(&r, 0);
	CHECK_EQ_HEX(original, 0x01);
	wr(&r, 0, 0x50, 1);                          /* CLEAR_STATUS: back in read-array mode */
	CHECK_EQ_HEX(guest_read(&r, 0), original);   /* not RAM: the byte did not become 0x50 */
	CHECK_EQ(r.off, 0);
	wr(&r, 0, 0x70, 1);                          /* READ_STATUS */
	CHECK(!r.mapped);
	CHECK_EQ_HEX(guest_read(&r, 0), 0x00);       /* CLEARED_ARRAY_STATUS: "behaves as FLASH" */
	wr(&r, 0, 0xff, 1);                          /* READ_ARRAY */
	CHECK(r.mapped && cfi_flash_in_array_mode(&r.f));
	CHECK_EQ(r.off, 1);
	CHECK_EQ(r.on, 1);
	CHECK_EQ_HEX(r.mem[0], original);
	CHECK_EQ_HEX(r.f.refused, 0);
	rig_free(&r);
}

TEST(flash_ovmf_writes_bytes)
{
	struct rig r;
	rig_init(&r);
	/* QemuFlashWrite: WRITE_BYTE_CMD and the byte, for each byte; READ_ARRAY on the last */
	const char *text = "petrel";
	uint64_t at = 3 * CFI_FLASH_BLOCK + 5;
	for (unsigned i = 0; i < 6; i++) {
		wr(&r, at + i, 0x10, 1);
		CHECK(!r.mapped);
		wr(&r, at + i, (uint8_t)text[i], 1);
	}
	CHECK_EQ_HEX(rd(&r, at, 1), 0x80);           /* read-status mode until READ_ARRAY */
	wr(&r, at + 5, 0xff, 1);
	CHECK(r.mapped);
	CHECK(memcmp(r.mem + at, text, 6) == 0);
	CHECK_EQ_HEX(r.mem[at - 1], (uint8_t)((at - 1) * 7 + 1));
	CHECK_EQ_HEX(r.mem[at + 6], (uint8_t)((at + 6) * 7 + 1));
	CHECK_EQ_HEX(r.f.programs, 6);
	CHECK_EQ(r.off, 1);                          /* the slot left once and came back once */
	CHECK_EQ(r.on, 1);
	/* 0x40 is the same command; a wide data write programs all its bytes */
	wr(&r, 8, 0x40, 1);
	wr(&r, 8, 0x1122334455667788ull, 8);
	wr(&r, 8, 0xff, 1);
	CHECK_EQ_HEX(le_load(r.mem + 8, 8), 0x1122334455667788ull);
	rig_free(&r);
}

TEST(flash_ovmf_erases_a_block)
{
	struct rig r;
	rig_init(&r);
	/* QemuFlashEraseBlock: BLOCK_ERASE_CMD, BLOCK_ERASE_CONFIRM_CMD at the block's start */
	uint64_t block = 2 * CFI_FLASH_BLOCK;
	wr(&r, block, 0x20, 1);
	CHECK_EQ_HEX(r.mem[block], (uint8_t)(block * 7 + 1));    /* nothing before the confirm */
	wr(&r, block, 0xd0, 1);
	CHECK_EQ_HEX(rd(&r, block, 1), 0x80);
	wr(&r, block, 0xff, 1);
	for (unsigned i = 0; i < CFI_FLASH_BLOCK; i++)
		if (r.mem[block + i] != 0xff)
			CHECK_EQ(i, CFI_FLASH_BLOCK);
	CHECK_EQ_HEX(r.mem[block - 1], (uint8_t)((block - 1) * 7 + 1));
	CHECK_EQ_HEX(r.mem[block + CFI_FLASH_BLOCK], (uint8_t)((block + CFI_FLASH_BLOCK) * 7 + 1));
	CHECK_EQ_HEX(r.f.erases, 1);
	/* the confirm's address names the block, anywhere inside it */
	wr(&r, 0, 0x20, 1);
	wr(&r, 5 * CFI_FLASH_BLOCK + 123, 0xd0, 4);
	CHECK_EQ_HEX(r.mem[5 * CFI_FLASH_BLOCK], 0xff);
	CHECK_EQ_HEX(r.mem[0], 0x01);
	rig_free(&r);
}

TEST(flash_buffered_write)
{
	struct rig r;
	rig_init(&r);
	uint64_t at = CFI_FLASH_BLOCK + 0x40;
	wr(&r, at, 0xe8, 1);
	CHECK_EQ_HEX(rd(&r, at, 1), 0x80);           /* the buffer is free */
	wr(&r, at, 7, 1);                            /* 8 bytes */
	wr(&r, at, 0x44332211, 4);
	wr(&r, at + 4, 0x88776655, 4);
	CHECK_EQ_HEX(r.mem[at], (uint8_t)(at * 7 + 1));   /* nothing until the confirm */
	wr(&r, at, 0xd0, 1);
	CHECK_EQ_HEX(le_load(r.mem + at, 8), 0x8877665544332211ull);
	CHECK_EQ_HEX(r.mem[at + 8], (uint8_t)((at + 8) * 7 + 1));
	CHECK_EQ_HEX(r.f.programs, 1);
	/* bytes in any order inside the window; the ones not written keep their value */
	wr(&r, 0, 0xe8, 1);
	wr(&r, 0, 1, 1);
	wr(&r, 0x2ff, 0xaa, 1);
	wr(&r, 0x200, 0xbb, 1);
	wr(&r, 0, 0xd0, 1);
	CHECK_EQ_HEX(r.mem[0x200], 0xbb);
	CHECK_EQ_HEX(r.mem[0x2ff], 0xaa);
	CHECK_EQ_HEX(r.mem[0x201], (uint8_t)(0x201 * 7 + 1));
	CHECK_EQ_HEX(status(&r), 0x80);
	rig_free(&r);
}

/* A wrong sequence: the error bits, the refusal counted, not one byte changed. */
static void check_refused(struct rig *r, const uint8_t *before, uint8_t bits, uint64_t refused)
{
	CHECK(memcmp(r->mem, before, SIZE + GUARD) == 0);
	CHECK_EQ_HEX(r->f.refused, refused);
	CHECK_EQ_HEX(rd(r, 0, 1), 0x80 | bits);      /* read-status mode */
	CHECK(!cfi_flash_in_array_mode(&r->f));
	wr(r, 0, 0x50, 1);                           /* cleared, read-array mode */
	CHECK(cfi_flash_in_array_mode(&r->f));
}

TEST(flash_wrong_sequences_change_nothing)
{
	struct rig r;
	rig_init(&r);
	uint8_t *before = malloc(SIZE + GUARD);
	memcpy(before, r.mem, SIZE + GUARD);
	wr(&r, 0, 0x20, 1);                          /* erase, confirmed with something else */
	wr(&r, 0, 0x00, 1);
	check_refused(&r, before, 0x30, 1);
	wr(&r, 0, 0x33, 1);                          /* no such command */
	check_refused(&r, before, 0x30, 2);
	wr(&r, 0, 0x60, 1);                          /* lock setup, unknown operation */
	wr(&r, 0, 0x77, 1);
	check_refused(&r, before, 0x30, 3);
	wr(&r, 0, 0xe8, 1);                          /* more data than counted */
	wr(&r, 0, 1, 1);
	wr(&r, 0, 0x11223344, 4);
	check_refused(&r, before, 0x10, 4);
	wr(&r, 0, 0xe8, 1);                          /* data outside the first write's window */
	wr(&r, 0, 3, 1);
	wr(&r, 0x10, 0x1122, 2);
	wr(&r, 0x100, 0x3344, 2);
	check_refused(&r, before, 0x10, 5);
	wr(&r, 0, 0xe8, 1);                          /* data across the window's end */
	wr(&r, 0, 3, 1);
	wr(&r, 0xfe, 0x11223344, 4);
	check_refused(&r, before, 0x10, 6);
	wr(&r, 0, 0xe8, 1);                          /* all the data, then no confirm */
	wr(&r, 0, 1, 1);
	wr(&r, 0, 0x1122, 2);
	wr(&r, 0, 0xff, 1);
	check_refused(&r, before, 0x30, 7);
	wr(&r, SIZE, 0x10, 1);                       /* program past the end */
	wr(&r, SIZE, 0x12, 1);
	check_refused(&r, before, 0x10, 8);
	wr(&r, 0, 0x20, 1);                          /* erase past the end */
	wr(&r, ~0ull, 0xd0, 1);
	check_refused(&r, before, 0x20, 9);
	/* aborting an erase or a lock with READ_ARRAY is no error */
	wr(&r, 0, 0x20, 1);
	wr(&r, 0, 0xff, 1);
	wr(&r, 0, 0x60, 1);
	wr(&r, 0, 0xff, 1);
	CHECK(cfi_flash_in_array_mode(&r.f));
	CHECK_EQ_HEX(r.f.refused, 9);
	CHECK(memcmp(r.mem, before, SIZE + GUARD) == 0);
	free(before);
	rig_free(&r);
}

TEST(flash_acknowledged_commands)
{
	struct rig r;
	rig_init(&r);
	static const uint8_t lock_ops[] = { 0x01, 0xd0, 0x2f };
	for (unsigned i = 0; i < 3; i++) {
		wr(&r, 0, 0x60, 1);
		wr(&r, 0, lock_ops[i], 1);
		CHECK_EQ_HEX(rd(&r, 0, 1), 0x80);
		wr(&r, 0, 0xff, 1);
	}
	wr(&r, 0, 0xb0, 1);                          /* suspend, resume: nothing runs */
	CHECK_EQ_HEX(rd(&r, 0, 1), 0x80);
	wr(&r, 0, 0xd0, 1);
	CHECK_EQ_HEX(rd(&r, 0, 1), 0x80);
	wr(&r, 0, 0xf0, 1);                          /* an AMD reset: read array */
	CHECK(cfi_flash_in_array_mode(&r.f));
	CHECK_EQ_HEX(r.f.refused, 0);
	rig_free(&r);
}

TEST(flash_identifier_and_query)
{
	struct rig r;
	rig_init(&r);
	wr(&r, 0, 0x90, 1);
	CHECK_EQ_HEX(rd(&r, 0, 1), 0x89);
	CHECK_EQ_HEX(rd(&r, 1, 1), 0x18);
	CHECK_EQ_HEX(rd(&r, 0, 2), 0x1889);
	CHECK_EQ_HEX(rd(&r, 2, 1), 0);               /* block unlocked */
	wr(&r, 0, 0x98, 1);
	CHECK_EQ_HEX(rd(&r, 0x10, 4), 0x01595251);  /* "QRY", command set 0001 */
	CHECK_EQ_HEX(rd(&r, 0x27, 1), 16);           /* 64 KiB */
	CHECK_EQ_HEX(rd(&r, 0x2a, 1), 8);            /* a 256-byte buffer */
	CHECK_EQ_HEX(rd(&r, 0x2c, 1), 1);
	CHECK_EQ_HEX(rd(&r, 0x2d, 2), SIZE / CFI_FLASH_BLOCK - 1);
	CHECK_EQ_HEX(rd(&r, 0x2f, 2), CFI_FLASH_BLOCK / 256);
	CHECK_EQ_HEX(rd(&r, 0x31, 3), 0x495250);     /* "PRI" */
	CHECK_EQ_HEX(rd(&r, 0x80, 8), 0);
	wr(&r, 0, 0xff, 1);
	CHECK_EQ_HEX(rd(&r, 0, 1), 0x01);
	rig_free(&r);
}

TEST(flash_accesses_at_the_end)
{
	struct rig r;
	rig_init(&r);
	wr(&r, SIZE - 4, 0x10, 1);                   /* an 8-byte program over the end: 4 bytes */
	wr(&r, SIZE - 4, 0x1122334455667788ull, 8);
	CHECK_EQ_HEX(le_load(r.mem + SIZE - 4, 4), 0x55667788);
	CHECK(guard_intact(&r));
	wr(&r, 0, 0xff, 1);
	CHECK_EQ_HEX(rd(&r, SIZE - 2, 8), 0xffffffffffff5566ull);  /* past the end reads 0xff */
	CHECK_EQ_HEX(rd(&r, SIZE, 4), 0xffffffff);
	CHECK_EQ_HEX(rd(&r, ~0ull - 2, 8), ~0ull);
	uint8_t none = 0x5a;
	cfi_flash_write(&r.f, 0, &none, 0);          /* zero-length: nothing */
	CHECK(cfi_flash_in_array_mode(&r.f));
	rig_free(&r);
}

TEST(flash_reset)
{
	struct rig r;
	rig_init(&r);
	cfi_flash_reset(&r.f);                       /* already in read-array mode: no call */
	CHECK_EQ(r.on + r.off, 0);
	wr(&r, 0, 0xe8, 1);
	wr(&r, 0, 3, 1);
	wr(&r, 0, 0x33, 1);
	cfi_flash_reset(&r.f);
	CHECK(r.mapped && cfi_flash_in_array_mode(&r.f));
	CHECK_EQ(r.on, 1);
	CHECK_EQ_HEX(status(&r), 0x80);
	wr(&r, 0, 0xd0, 1);                          /* the buffer was dropped: only a resume */
	CHECK_EQ_HEX(r.mem[0], 0x01);
	rig_free(&r);
}

static size_t save(struct rig *r, uint8_t **out)
{
	struct enc e;
	enc_init(&e);
	cfi_flash_state_ops.save(&r->f, &e);
	if (e.err)
		abort();
	*out = e.buf;
	return e.len;
}

static int load(struct rig *r, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	struct dec d;
	dec_init(&d, p, len);
	return cfi_flash_state_ops.load(&r->f, &d, cfi_flash_state_ops.version, err, errlen);
}

TEST(flash_state_round_trip)
{
	struct rig a, b;
	rig_init(&a);
	rig_init(&b);
	memset(b.mem, 0, SIZE);
	wr(&a, 0x300, 0xe8, 1);                      /* in the middle of a buffered write */
	wr(&a, 0x300, 3, 1);
	wr(&a, 0x302, 0xbeef, 2);
	uint8_t *st;
	size_t len = save(&a, &st);
	CHECK_EQ_HEX(len, 8 + 3 + 4 + 4 + 8 + CFI_FLASH_BUFFER + CFI_FLASH_BUFFER / 8 + SIZE);
	char err[160] = "";
	CHECK_EQ(load(&b, st, len, err, sizeof(err)), 0);
	CHECK(memcmp(a.mem, b.mem, SIZE) == 0);
	CHECK(!b.mapped);                            /* the machine was told: not read-array */
	CHECK_EQ(b.off, 1);
	wr(&a, 0x300, 0xcafe, 2);                    /* both finish the write alike */
	wr(&b, 0x300, 0xcafe, 2);
	wr(&a, 0, 0xd0, 1);
	wr(&b, 0, 0xd0, 1);
	CHECK_EQ_HEX(le_load(b.mem + 0x300, 4), 0xbeefcafe);
	CHECK(memcmp(a.mem, b.mem, SIZE + GUARD) == 0);
	CHECK_EQ_HEX(rd(&b, 0, 1), rd(&a, 0, 1));
	free(st);
	rig_free(&a);
	rig_free(&b);
}

/* Load a copy of st's first len bytes with byte i replaced by v (none if i >= len): must be
 * refused, naming FLSH and why, b unchanged. */
static void check_load_refused(struct rig *b, const uint8_t *st, size_t len, size_t i, uint8_t v, const char *why)
{
	uint8_t *copy = malloc(len);
	memcpy(copy, st, len);
	if (i < len)
		copy[i] = v;
	uint8_t *before = malloc(SIZE);
	memcpy(before, b->mem, SIZE);
	char err[160] = "";
	CHECK_EQ(load(b, copy, len, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "FLSH");
	CHECK_CONTAINS(err, why);
	CHECK(memcmp(before, b->mem, SIZE) == 0);
	CHECK(cfi_flash_in_array_mode(&b->f));
	free(before);
	free(copy);
}

TEST(flash_state_refused)
{
	struct rig a, b;
	rig_init(&a);
	rig_init(&b);
	memset(a.mem, 0xee, SIZE);
	uint8_t *st;
	size_t len = save(&a, &st);
	/* field offsets: size 0, cmd 8, status 9, wcycle 10, count 11, len 15, addr 19, buf 27 */
	check_load_refused(&b, st, len, 1, 0x02, "bytes");            /* another size */
	check_load_refused(&b, st, len, 8, 0x33, "unknown read mode");
	check_load_refused(&b, st, len, 8, 0x10, "unknown read mode");  /* program without its cycle */
	check_load_refused(&b, st, len, 10, 1, "second write");        /* read array awaiting data */
	check_load_refused(&b, st, len, 10, 4, "past 3");
	check_load_refused(&b, st, len, 9, 0x41, "status bits");
	check_load_refused(&b, st, len, 11, 5, "write buffer outside");
	check_load_refused(&b, st, len - 1, len, 0, "short");           /* one byte short */
	/* a write to buffer whose window lies outside the device */
	wr(&a, 0, 0xe8, 1);
	wr(&a, 0, 1, 1);
	wr(&a, 0x100, 0x11, 1);
	free(st);
	len = save(&a, &st);
	check_load_refused(&b, st, len, 21, 0x10, "window outside");    /* addr 0x100000 */
	check_load_refused(&b, st, len, 19, 0x80, "window outside");    /* not aligned */
	check_load_refused(&b, st, len, 12, 1, "more buffered");       /* 257 bytes to come */
	check_load_refused(&b, st, len, 15, 0, "mask");
	check_load_refused(&b, st, len, 10, 3, "count");
	free(st);
	rig_free(&a);
	rig_free(&b);
}

/* A hostile guest: random commands, data and widths at random offsets, in and far out of the
 * device. The guard never changes, every state saves and loads again, and the machine's
 * last call always says the mode the flash is in. */
TEST(flash_random_accesses)
{
	struct rig r, c;
	rig_init(&r);
	rig_init(&c);
	static const uint8_t cmds[] = { 0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0x90, 0x98, 0xb0,
					0xd0, 0xe8, 0xf0, 0xff, 0x01, 0x2f, 0x33 };
	uint64_t x = 88172645463325252ull;
	for (unsigned n = 0; n < 200000; n++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		static const uint32_t widths[] = { 1, 2, 4, 8 };
		uint32_t w = widths[x & 3];
		uint64_t off = (x >> 8) % (SIZE + 512);
		if ((x >> 40) % 64 == 0)
			off = ~0ull - (x >> 50) % 16;
		uint64_t v = (x >> 2) & 1 ? cmds[(x >> 20) % sizeof(cmds)] : x >> 24;
		if ((x >> 3) % 4 == 0)
			(void)rd(&r, off, w);
		else
			wr(&r, off, v, w);
		CHECK_EQ(r.mapped, cfi_flash_in_array_mode(&r.f));
		if (n % 4096 == 0) {
			uint8_t *st;
			size_t len = save(&r, &st);
			char err[160] = "";
			CHECK_EQ(load(&c, st, len, err, sizeof(err)), 0);
			free(st);
		}
	}
	CHECK(guard_intact(&r));
	CHECK(r.f.programs + r.f.erases + r.f.refused > 0);
	rig_free(&r);
	rig_free(&c);
}

/* The counters --stats reports (a UEFI VM's writes to its vars file): a byte program's and a
 * wide program's bytes (cut at the device's end), a buffered write's distinct bytes, a whole
 * block per erase; an aborted erase, a refused sequence and a state load write nothing. */
TEST(flash_counts_writes)
{
	struct rig r;
	rig_init(&r);
	struct cfi_flash_counts c;
	cfi_flash_counts(&r.f, &c);
	CHECK(!c.programs && !c.erases && !c.bytes_written && !c.refused);
	wr(&r, 10, 0x10, 1);
	wr(&r, 10, 0x5a, 1);                         /* 1 byte */
	wr(&r, 16, 0x40, 1);
	wr(&r, 16, 0x1122334455667788ull, 8);        /* 8 bytes */
	wr(&r, SIZE - 2, 0x10, 1);
	wr(&r, SIZE - 2, 0xaabbccdd, 4);             /* cut at the end: 2 bytes */
	CHECK(guard_intact(&r));
	cfi_flash_counts(&r.f, &c);
	CHECK_EQ(c.programs, 3);
	CHECK_EQ(c.bytes_written, 11);
	/* a buffer of 4 bytes, one of them written twice: 3 distinct bytes reach the contents */
	wr(&r, 0x100, 0xe8, 1);
	wr(&r, 0x100, 3, 1);
	wr(&r, 0x100, 0x11, 1);
	wr(&r, 0x101, 0x22, 1);
	wr(&r, 0x101, 0x3322, 2);                    /* 0x101 again, and 0x102 */
	wr(&r, 0x100, 0xd0, 1);
	CHECK_EQ_HEX(le_load(r.mem + 0x100, 3), 0x332211);
	cfi_flash_counts(&r.f, &c);
	CHECK_EQ(c.programs, 4);
	CHECK_EQ(c.bytes_written, 14);
	/* an erase: the whole block; an aborted one (0xFF) and a bad confirm: nothing */
	wr(&r, CFI_FLASH_BLOCK, 0x20, 1);
	wr(&r, CFI_FLASH_BLOCK + 7, 0xd0, 1);
	wr(&r, 0, 0x20, 1);
	wr(&r, 0, 0xff, 1);
	wr(&r, 0, 0x20, 1);
	wr(&r, 0, 0x33, 1);
	cfi_flash_counts(&r.f, &c);
	CHECK_EQ(c.erases, 1);
	CHECK_EQ(c.bytes_written, 14 + CFI_FLASH_BLOCK);
	CHECK_EQ(c.refused, 1);
	CHECK_EQ(c.programs, 4);
	/* a state load replaces the contents without counting them as the guest's writes */
	struct rig d;
	rig_init(&d);
	uint8_t *st;
	size_t len = save(&r, &st);
	char err[160] = "";
	CHECK_EQ(load(&d, st, len, err, sizeof(err)), 0);
	free(st);
	cfi_flash_counts(&d.f, &c);
	CHECK(!c.programs && !c.erases && !c.bytes_written && !c.refused);
	rig_free(&d);
	rig_free(&r);
}

TEST(flash_init_refuses_sizes)
{
	struct cfi_flash f = { 0 };
	uint8_t m[16];
	CHECK_EQ(cfi_flash_init(&f, m, 0, NULL, NULL), -EINVAL);
	CHECK_EQ(cfi_flash_init(&f, m, CFI_FLASH_BLOCK + 1, NULL, NULL), -EINVAL);
	CHECK_EQ(cfi_flash_init(&f, NULL, CFI_FLASH_BLOCK, NULL, NULL), -EINVAL);
	cfi_flash_destroy(&f);                       /* of a flash never set up: nothing */
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
