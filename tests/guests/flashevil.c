/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flashevil: a hostile guest against a UEFI VM's variables flash (issue 53, "Hostile input"),
 * booted by OVMF and GRUB's EFI image (tests/firmware/test_flashevil.py). After
 * ExitBootServices the flash (an Intel command set 0001 CFI flash over the VM's vars file,
 * directly below OVMF's code at the top of 4 GiB: src/devices/flash/cfi_flash.h) is the
 * guest's. It reads it in every mode (array, status, identifier, CFI query, a command pending),
 * writes every unknown command, programs without a setup, confirms without one, runs
 * write-to-buffer sequences with absurd counts, data outside their window and wrong confirms,
 * writes and erases below the flash, in OVMF's code above it and across its end, and storms it
 * with thousands of refused and real block erases. Then it programs a known pattern into the
 * region's last block (the fault-tolerant write's spare area: OVMF reads it only after an
 * interrupted write) legitimately, by byte and by buffer, and reads it back.
 *
 * The region's other bytes must stay as OVMF left them: their FNV-1a hash is taken when the
 * guest starts and again at the end. The test copies the vars file when the guest prints
 * "flashevil: ready" and sends a key (the guest waits for it on COM1), then compares the file
 * byte by byte. Prints "flashevil cases=N" and passes through the debug-exit port.
 *
 * cmdline: flash=ADDR (0xffc00000: 4 GiB - OVMF_CODE_4M.fd - OVMF_VARS_4M.fd)
 *          flash_size=BYTES (0x84000) storm=N (erases per storm, 2000) wait_key=0|1 (1)
 */
#include "guest.h"

DEFINE_GUEST("flashevil");

#define BLOCK 0x1000u
#define BUFFER 256u

#define CMD_PROGRAM 0x10
#define CMD_ERASE 0x20
#define CMD_CLEAR_STATUS 0x50
#define CMD_LOCK_SETUP 0x60
#define CMD_READ_STATUS 0x70
#define CMD_READ_ID 0x90
#define CMD_CFI_QUERY 0x98
#define CMD_CONFIRM 0xd0
#define CMD_WRITE_BUFFER 0xe8
#define CMD_READ_ARRAY 0xff

#define ST_READY 0x80
#define ST_SEQUENCE 0x30
#define ST_PROGRAM 0x10


static uintptr_t flash;   /* the flash's guest-physical (identity-mapped) address */
static uint64_t size;     /* its bytes */
static uint64_t legit;    /* the block the guest writes legitimately: the last one */
static uint64_t hash0;    /* the hash of every other byte as OVMF left them */
static unsigned cases;

static void flash_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void flash_case(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("flashevil: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	cases++;
}

/* ---- accesses (each one exit unless the flash is in read-array mode and it is a read) ---- */

static void w8(uint64_t off, uint8_t v) { *(volatile uint8_t *)(flash + off) = v; }
static void w16(uint64_t off, uint16_t v) { *(volatile uint16_t *)(flash + off) = v; }
static void w32(uint64_t off, uint32_t v) { *(volatile uint32_t *)(flash + off) = v; }
static void w64(uint64_t off, uint64_t v) { *(volatile uint64_t *)(flash + off) = v; }
static uint8_t r8(uint64_t off) { return *(volatile uint8_t *)(flash + off); }
static uint32_t r32(uint64_t off) { return *(volatile uint32_t *)(flash + off); }
static uint64_t r64(uint64_t off) { return *(volatile uint64_t *)(flash + off); }

static void array_mode(void) { w8(0, CMD_READ_ARRAY); }

static uint8_t status(void)
{
	w8(0, CMD_READ_STATUS);
	return r8(0);
}

/* Clear the status (which also returns to read-array mode, as OVMF's detection expects). */
static void clear(void)
{
	w8(0, CMD_CLEAR_STATUS);
	check(r32(40) == 0x4856465f, "after a clear status the flash does not read its array (\"_FVH\" at 40): 0x%x",
	      r32(40));
}

/* A refused sequence: reads show the status with the error bits, then clear it. */
static void expect_refused(const char *what, uint8_t bits)
{
	uint8_t s = r8(0);
	check((s & bits) == bits && (s & ST_READY), "%s: status 0x%02x, expected bits 0x%02x and ready", what, s,
	      bits | ST_READY);
	clear();
}

/* FNV-1a over the region but the legit block, read in array mode (at memory speed: the slot). */
static uint64_t region_hash(void)
{
	array_mode();
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint64_t i = 0; i < size; i += 8) {
		if (i >= legit && i < legit + BLOCK)
			continue;
		uint64_t v = r64(i);
		for (int b = 0; b < 8; b++) {
			h ^= (uint8_t)(v >> (8 * b));
			h *= 0x100000001b3ull;
		}
	}
	return h;
}

static void intact(const char *after)
{
	uint64_t h = region_hash();
	check(h == hash0, "after %s the vars region changed outside the legit block (hash %lx, was %lx)", after,
	      (unsigned long)h, (unsigned long)hash0);
}

/* The pattern of the legit block; tests/firmware/test_flashevil.py computes the same. */
static uint8_t pat(unsigned i) { return (uint8_t)((i * 7 + 0x3b) ^ (i >> 8)); }

/* ---- the cases ---- */

static void reads_in_every_mode(void)
{
	w8(0, CMD_CONFIRM); /* a lone confirm (resume): ready, whatever status OVMF left */
	check(r8(0) == ST_READY, "a lone confirm: status 0x%02x", r8(0));
	w8(0x123, CMD_READ_ID);
	check(r8(0) == 0x89 && r8(1) == 0x18 && r8(2) == 0, "identifier: %02x %02x %02x", r8(0), r8(1), r8(2));
	check(r32(0) == 0x1889, "identifier as a dword: 0x%x", r32(0));
	w8(0, CMD_CFI_QUERY);
	uint32_t blocks_1 = (uint32_t)(size / BLOCK) - 1;
	check(r8(0x10) == 'Q' && r8(0x11) == 'R' && r8(0x12) == 'Y', "no QRY in the CFI table");
	check(r8(0x13) == 1 && r8(0x2a) == 8 && r8(0x2c) == 1, "CFI: command set %u, buffer 2^%u, %u regions", r8(0x13),
	      r8(0x2a), r8(0x2c));
	check((uint32_t)(r8(0x2d) | r8(0x2e) << 8) == blocks_1 && (r8(0x2f) | r8(0x30) << 8) == BLOCK / 256,
	      "CFI: the erase region is not %u blocks of 4 KiB", blocks_1 + 1);
	check(r8(0x1000) == 0 && r8(size - 1) == 0, "CFI: bytes past the table are not 0");
	w8(size - 1, CMD_READ_STATUS);
	check(r8(0) == ST_READY && r8(size - 1) == ST_READY && r64(0x40000) == 0x8080808080808080ull,
	      "status reads: %02x %02x %lx", r8(0), r8(size - 1), (unsigned long)r64(0x40000));
	w8(0, CMD_CLEAR_STATUS);
	check(r32(40) == 0x4856465f, "clear status did not return to the array");
	check(status() == 0, "the status after a clear is 0x%02x", status());
	/* pending commands: reads show the status (ready), then aborted or completed harmlessly */
	w8(legit, CMD_ERASE);   /* pending commands read the status (0 since the clear) */
	check(r8(legit) == 0 && r8(0) == 0, "an erase pending: reads 0x%02x", r8(legit));
	w8(legit, CMD_READ_ARRAY); /* aborts it */
	check(r32(40) == 0x4856465f, "0xFF after an erase setup did not abort it");
	w8(0, CMD_LOCK_SETUP);
	check(r8(0) == 0, "a lock setup pending: reads 0x%02x", r8(0));
	w8(0, 0x01);   /* lock block: acknowledged, nothing is locked */
	check(r8(0) == ST_READY, "after a lock: 0x%02x", r8(0));
	array_mode();
	uint8_t before = r8(legit + 5);
	w8(0, CMD_WRITE_BUFFER);
	check(r8(0) & ST_READY, "write to buffer: the buffer is not reported free");
	w8(legit, 0);        /* count: 1 byte */
	check(r8(0) == ST_READY, "a buffer pending: reads 0x%02x", r8(0));
	w8(legit + 5, (uint8_t)~before); /* its data: in the legit block */
	w8(legit, 0x77);     /* not the confirm: refused, the byte is not programmed */
	expect_refused("write to buffer confirmed by 0x77", ST_SEQUENCE);
	check(r8(legit + 5) == before, "an unconfirmed buffer was programmed");
	intact("reads in every mode");
	flash_case("reads in array, identifier, CFI query, status and pending modes");
}

static bool known_command(unsigned v)
{
	static const uint8_t known[] = { 0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0x90, 0x98, 0xb0, 0xd0, 0xe8, 0xf0,
					 0xff };
	for (unsigned i = 0; i < sizeof(known); i++)
		if (known[i] == v)
			return true;
	return false;
}

static void unknown_commands(void)
{
	unsigned n = 0;
	for (unsigned v = 0; v < 256; v++) {
		if (known_command(v))
			continue;
		uint64_t off = (uint64_t)v * 0x811 % size; /* everywhere in the region, the vars too */
		if (v & 1)
			w8(off, (uint8_t)v);
		else
			w32(off & ~3ull, 0x5a5a5a00u | v);
		expect_refused("an unknown command", ST_SEQUENCE);
		n++;
	}
	intact("unknown commands");
	flash_case("%u unknown commands refused, no byte changed", n);
}

static void program_without_setup(void)
{
	/* data written in array mode and in status mode: a command byte the flash does not know */
	static const uint64_t data[] = { 0x5a, 0xa5, 0x12345678, 0xdeadbeefcafe0042ull, 0x3c3c };
	for (unsigned i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		uint64_t off = 0x100 + i * 0x2001;
		w64(off & ~7ull, data[i]);
		expect_refused("data written in array mode", ST_SEQUENCE);
		w8(0, CMD_READ_STATUS);
		w16(off & ~1ull, (uint16_t)data[i]);
		expect_refused("data written in status mode", ST_SEQUENCE);
	}
	/* a confirm without a setup: acknowledged (resume), nothing written */
	for (uint64_t off = 0; off < size; off += 0x10000) {
		w8(off, CMD_CONFIRM);
		check(r8(off) == ST_READY, "a lone confirm: status 0x%02x", r8(off));
	}
	/* lock setup with a wrong second write */
	w8(0, CMD_LOCK_SETUP);
	w8(0, 0x03);
	expect_refused("lock setup + 0x03", ST_SEQUENCE);
	/* an erase setup confirmed by something else */
	w8(0x2000, CMD_ERASE);
	w8(0x2000, 0x21);
	expect_refused("erase confirmed by 0x21", ST_SEQUENCE);
	intact("programs without a setup");
	flash_case("programs without a setup, confirms without one, wrong second writes: refused");
}

static void buffers_absurd(void)
{
	/* 256 bytes (the most an 8-bit count allows, whatever the write's width), then no confirm */
	static const uint64_t counts[] = { 0xff, 0xffffffffull, 0x7fffffffffffffffull, 0xffffffffffffffffull };
	for (unsigned c = 0; c < 4; c++) {
		uint64_t at = 0x1000 * (c + 1);
		w8(at, CMD_WRITE_BUFFER);
		if (c == 0)
			w8(at, (uint8_t)counts[c]);
		else if (c == 1)
			w32(at, (uint32_t)counts[c]);
		else
			w64(at, counts[c]);
		for (unsigned i = 0; i < BUFFER; i += 8)
			w64(at + i, 0x1111111111111111ull * (i / 8 % 15 + 1));
		w8(at, 0x00); /* a wrong confirm */
		expect_refused("256 buffered bytes, a wrong confirm", ST_SEQUENCE);
	}
	/* data outside the buffer's window, more data than the count, across the region's end */
	w8(0x3000, CMD_WRITE_BUFFER);
	w8(0x3000, 0xff);
	w8(0x3010, 0x42);
	w8(0x3000 + BUFFER, 0x42);
	expect_refused("buffered data outside its window", ST_PROGRAM);
	w8(0x3000, CMD_WRITE_BUFFER);
	w8(0x3000, 3);
	w64(0x3000, 0x4242424242424242ull);
	expect_refused("8 bytes for a count of 4", ST_PROGRAM);
	w8(0x3000, CMD_WRITE_BUFFER);
	w8(0x3000, 0xff);
	w8(0x30f0, 0x42);
	w8(0x30ef, 0x42);     /* below the first write's window? no: the same window, allowed */
	w8(0x2fff, 0x42);     /* below the window */
	expect_refused("buffered data below its window", ST_PROGRAM);
	w8(size - 16, CMD_WRITE_BUFFER);
	w8(size - 16, 3);
	w64(size - 4, 0x4343434343434343ull); /* across the region's end: 8 bytes for 4 */
	if (!(r8(0) & ST_PROGRAM))            /* KVM split it at the page: 4 bytes taken, the confirm wrong */
		w8(size - 16, 0x00);
	expect_refused("buffered data across the region's end", ST_PROGRAM);
	/* confirms written early are data; then the real confirm is missing */
	w8(0x5000, CMD_WRITE_BUFFER);
	w8(0x5000, 7);
	w32(0x5000, 0x42424242);
	for (unsigned i = 4; i < 8; i++)
		w8(0x5000 + i, CMD_CONFIRM);
	w8(0x5000, CMD_READ_ARRAY);
	expect_refused("early confirms, then 0xFF for the confirm", ST_SEQUENCE);
	/* a confirm where the count goes */
	w8(0x6000, CMD_WRITE_BUFFER);
	w8(0x6000, CMD_CONFIRM); /* a count of 0xd1 bytes */
	w8(0x6000, 0x42);
	w8(0x6000, 0x42);  /* the same byte twice: still inside, the count runs down */
	w8(0x6000 + BUFFER, 0x42);
	expect_refused("a confirm as the count, then data outside", ST_PROGRAM);
	intact("write-to-buffer sequences with absurd counts");
	flash_case("write to buffer: absurd counts, data outside its window and the region, wrong confirms: refused");
}

static void outside(void)
{
	const uintptr_t below = flash - 0x1000, code = flash + size;
	uint8_t code_save[64], top_save[16];
	memcpy(code_save, (void *)code, sizeof(code_save));
	memcpy(top_save, (void *)0xfffffff0ul, sizeof(top_save));
	check(*(volatile uint32_t *)(code + 40) == 0x4856465f, "OVMF's code is not above the flash (\"_FVH\")");
	/* commands and data below the flash and in the code: nothing there takes them */
	for (uintptr_t a = below; a <= code; a += code - below) {
		*(volatile uint8_t *)a = CMD_ERASE;
		*(volatile uint8_t *)a = CMD_CONFIRM;
		*(volatile uint8_t *)(a + 8) = CMD_PROGRAM;
		*(volatile uint64_t *)(a + 8) = 0x4444444444444444ull;
		*(volatile uint8_t *)(a + 16) = CMD_WRITE_BUFFER;
		*(volatile uint32_t *)(a + 16) = 0xff;
		*(volatile uint32_t *)(a + 16) = CMD_CONFIRM;
	}
	check(r32(40) == 0x4856465f, "the flash left read-array mode for writes outside it");
	/* an erase set up in the flash, confirmed in the code: the flash still waits, 0xFF aborts */
	w8(0, CMD_ERASE);
	*(volatile uint8_t *)(code + 0x1000) = CMD_CONFIRM;
	*(volatile uint8_t *)0xfffffff0ul = CMD_CONFIRM;
	check(r8(0) == 0, "an erase confirmed outside the flash: status 0x%02x (0: still waiting)", r8(0));
	w8(0, CMD_READ_ARRAY);
	/* a program set up in the flash, its data below it: not the flash's; it still waits for it */
	w8(legit, CMD_PROGRAM);
	*(volatile uint64_t *)(flash - 8) = 0x4545454545454545ull;
	check(r8(0) == 0, "a program with its data below the flash: status 0x%02x (0: still waiting)", r8(0));
	w8(legit, 0xff); /* the data: 0xFF into the legit block */
	/* 8 bytes from 4 below the flash into it (the flash in status mode): split at the page by KVM the
	 * flash's half is an unknown command (refused), whole it goes to what is below (nothing) */
	*(volatile uint64_t *)(flash - 4) = 0x4545454545454545ull;
	clear();
	check(memcmp((void *)code, code_save, sizeof(code_save)) == 0 &&
	      memcmp((void *)0xfffffff0ul, top_save, sizeof(top_save)) == 0, "OVMF's code changed");
	intact("writes below the flash and in the code");
	flash_case("writes and erases below the flash and in OVMF's code: ignored, the flash unchanged");

	/* across the flash's end: a program of 8 bytes at size - 4 programs its 4 bytes inside */
	w8(legit, CMD_ERASE);
	w8(legit, CMD_CONFIRM);
	w8(size - 1, CMD_PROGRAM);
	w64(size - 4, 0x0403020146464646ull);
	check(status() == ST_READY, "a program across the end: status 0x%02x", status());
	array_mode();
	check(r32(size - 4) == 0x46464646 && r8(size - 5) == 0xff, "a program across the end wrote 0x%x", r32(size - 4));
	/* an erase confirmed by a 2-byte write at the last byte */
	w8(legit, CMD_ERASE);
	w16(size - 1, 0x00d0);
	check(status() == ST_READY, "an erase confirmed across the end: status 0x%02x", status());
	array_mode();
	check(r32(size - 4) == 0xffffffff, "an erase confirmed across the end did not erase the last block");
	check(memcmp((void *)code, code_save, sizeof(code_save)) == 0, "OVMF's code changed");
	intact("writes across the end");
	flash_case("a program and an erase across the flash's end: bounded to the flash, the code unchanged");
}

static void storms(unsigned n)
{
	unsigned blocks = (unsigned)(size / BLOCK);
	/* erases of every block with a wrong confirm: all refused */
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = (uint64_t)(i * 37u % blocks) * BLOCK;
		w8(b, CMD_ERASE);
		w8(b + (i & 0xfff), (uint8_t)(0x2a + (i & 0x3f))); /* never 0xd0 nor 0xff */
		check(r8(b) == (ST_READY | ST_SEQUENCE), "refused erase %u: status 0x%02x", i, r8(b));
	}
	clear();
	intact("a storm of refused erases");
	flash_case("%u refused erases over every block", n);
	/* real erases, all of the legit block, without returning to read-array mode */
	for (unsigned i = 0; i < n; i++) {
		w8(legit + (i & 0xfff), CMD_ERASE);
		w8(legit + ((i * 13) & 0xfff), CMD_CONFIRM);
		if (!(i & 15))
			check(r8(legit) == ST_READY, "erase %u: status 0x%02x", i, r8(legit));
	}
	check(status() == ST_READY, "after the erase storm: status 0x%02x", status());
	array_mode();
	for (unsigned i = 0; i < BLOCK; i += 8)
		check(r64(legit + i) == ~0ull, "the erased block holds 0x%lx at %u", (unsigned long)r64(legit + i), i);
	intact("an erase storm");
	flash_case("%u erases of the last block", n);
}

static void legit_write(void)
{
	w8(legit, CMD_ERASE);
	w8(legit, CMD_CONFIRM);
	check(status() == ST_READY, "erase: status 0x%02x", status());
	/* the first half byte by byte (OVMF's way: 0x10 + the byte) */
	for (unsigned i = 0; i < BLOCK / 2; i++) {
		w8(legit + i, i & 1 ? 0x40 : CMD_PROGRAM);
		w8(legit + i, pat(i));
	}
	check(status() == ST_READY, "byte programs: status 0x%02x", status());
	/* the second half by buffer: 0xE8, count-1, the data in 8-byte writes, 0xD0 */
	for (unsigned at = BLOCK / 2; at < BLOCK; at += BUFFER) {
		w8(legit + at, CMD_WRITE_BUFFER);
		w8(legit + at, BUFFER - 1);
		for (unsigned i = 0; i < BUFFER; i += 8) {
			uint64_t v = 0;
			for (unsigned b = 0; b < 8; b++)
				v |= (uint64_t)pat(at + i + b) << (8 * b);
			w64(legit + at + i, v);
		}
		w8(legit + at, CMD_CONFIRM);
		check(r8(legit) == ST_READY, "buffered program at %u: status 0x%02x", at, r8(legit));
	}
	array_mode();
	for (unsigned i = 0; i < BLOCK; i++)
		check(r8(legit + i) == pat(i), "the legit block reads 0x%02x at %u, wrote 0x%02x", r8(legit + i), i, pat(i));
	intact("the legit write");
	flash_case("the last block programmed (bytes and buffers) and read back");
}

/* The handshake: the test copies the vars file while the guest waits for a key on COM1. */
static void wait_key(void)
{
	struct deadline d;
	deadline_start(&d, 600);
	while (!(inb(COM1 + 5) & 1))
		check(!deadline_expired(&d), "no key on COM1 in 600 s");
	(void)inb(COM1);
}

void test_main(void)
{
	flash = (uintptr_t)cmdline_int("flash", 0xffc00000);
	size = (uint64_t)cmdline_int("flash_size", 0x84000);
	unsigned n = (unsigned)cmdline_int("storm", 2000);
	check(size >= 2 * BLOCK && size % BLOCK == 0 && flash + size <= 0xfffffff0ul, "flash=%lx flash_size=%lx",
	      (unsigned long)flash, (unsigned long)size);
	legit = size - BLOCK;
	check(r32(40) == 0x4856465f, "no firmware volume at the flash (0x%lx): 0x%x", (unsigned long)flash, r32(40));
	hash0 = region_hash();
	printf("flashevil: ready flash=0x%lx size=0x%lx hash=%lx\n", (unsigned long)flash, (unsigned long)size,
	       (unsigned long)hash0);
	if (cmdline_int("wait_key", 1))
		wait_key();
	reads_in_every_mode();
	unknown_commands();
	program_without_setup();
	buffers_absurd();
	outside();
	storms(n);
	legit_write();
	printf("flashevil cases=%u\n", cases);
	pass();
}
