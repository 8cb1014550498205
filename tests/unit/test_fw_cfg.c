/* Unit tests for fw_cfg (src/devices/legacy/fw_cfg.c, fw_cfg_dma.c) driven through its ports as
 * SeaBIOS drives them (src/fw/paravirt.c's qemu_cfg_*): the signature and ID, the file
 * directory, items read through the data port and through DMA (read, skip, select), the select
 * hook, a hostile guest (descriptors and buffers outside RAM, lengths that overflow, selectors
 * of no item, write requests, overlapping accesses), and the saved state. No KVM: guest memory
 * is two heap regions, 1 MiB at 0 and 64 KiB at 4 GiB, with dirty logging on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/dev_state.h"
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/fw_cfg_int.h"
#include "memory/guest_mem.h"
#include "util/codec.h"
#include "unit.h"

#define LOW_SIZE (1u << 20)
#define HIGH_GPA (1ull << 32)
#define HIGH_SIZE (64u << 10)

static struct guest_mem M;
static struct fw_cfg C;

static void setup(void)
{
	memset(&M, 0, sizeof(M));
	M.regions[0] = (struct guest_region){ 0, LOW_SIZE, calloc(1, LOW_SIZE) };
	M.regions[1] = (struct guest_region){ HIGH_GPA, HIGH_SIZE, calloc(1, HIGH_SIZE) };
	M.regions[0].dirty = calloc(guest_region_bitmap_words(&M.regions[0]), 8);
	M.regions[1].dirty = calloc(guest_region_bitmap_words(&M.regions[1]), 8);
	M.nregions = 2;
	M.total = LOW_SIZE + HIGH_SIZE;
	M.dirty_log = true;
	fw_cfg_init(&C, &M);
}

static void teardown(void)
{
	fw_cfg_destroy(&C);
	for (unsigned i = 0; i < M.nregions; i++) {
		free(M.regions[i].hva);
		free(M.regions[i].dirty);
	}
	memset(&M, 0, sizeof(M));
}

static uint8_t *ram(uint64_t gpa) { return guest_mem_ptr(&M, gpa, 1); }

static bool dirty(uint64_t gpa)
{
	for (unsigned i = 0; i < M.nregions; i++) {
		struct guest_region *r = &M.regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return bitmap_test(r->dirty, (gpa - r->gpa) / GUEST_PAGE);
	}
	return false;
}

static void out16(uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	fw_cfg_io_write(&C, 0, b, 2);
}

static uint8_t in8(uint64_t off)
{
	uint8_t b = 0x5a;
	fw_cfg_io_read(&C, off, &b, 1);
	return b;
}

static void read_data(void *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = in8(1);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)fw_cfg_be_load(p, 4); }

/* What SeaBIOS's qemu_cfg_dma_transfer does: the descriptor at desc, its address written
 * big-endian (high half first when there is one). Returns the control word written back. */
static uint32_t dma(uint64_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t *d = guest_mem_ptr(&M, desc, FW_CFG_DMA_SIZE);
	if (d) {
		fw_cfg_be_store(d, control, 4);
		fw_cfg_be_store(d + 4, len, 4);
		fw_cfg_be_store(d + 8, addr, 8);
	}
	uint8_t b[4];
	if (desc >> 32) {
		fw_cfg_be_store(b, desc >> 32, 4);
		fw_cfg_io_write(&C, 4, b, 4);
	}
	fw_cfg_be_store(b, (uint32_t)desc, 4);
	fw_cfg_io_write(&C, 8, b, 4);
	return d ? be32(d) : 0xdeadbeef;
}

static const char E820[] = "e820 bytes: a memory map";
static const char ORDER[] = "/pci@i0cf8/*@2\n";

static void add_files(void)
{
	CHECK_EQ(fw_cfg_add_file(&C, "etc/e820", E820, sizeof(E820)), 0);
	CHECK_EQ(fw_cfg_add_file(&C, "bootorder", ORDER, sizeof(ORDER)), 0);
	CHECK_EQ(fw_cfg_add_file(&C, "etc/acpi/tables", "TABLES", 6), 0);
}

TEST(signature_and_id_through_the_ports)
{
	setup();
	char sig[5] = "";
	out16(FW_CFG_SIGNATURE);
	read_data(sig, 4);
	CHECK_STR_EQ(sig, "QEMU");
	CHECK_EQ(in8(1), 0); /* past the end: 0 */
	out16(FW_CFG_ID);
	uint8_t id[4];
	read_data(id, 4);
	CHECK_EQ(id[0], FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
	CHECK_EQ(id[1] | id[2] | id[3], 0);
	/* bit 14 (the old write channel) selects the same item; the selector's byte reads data (QEMU) */
	out16(FW_CFG_WRITE_CHANNEL | FW_CFG_SIGNATURE);
	CHECK_EQ(in8(0), 'Q');
	CHECK_EQ(in8(1), 'E');
	/* the DMA address register reads "QEMU CFG", big-endian, at any width */
	uint8_t r[4];
	fw_cfg_io_read(&C, 4, r, 4);
	CHECK(memcmp(r, "QEMU", 4) == 0);
	fw_cfg_io_read(&C, 8, r, 4);
	CHECK(memcmp(r, " CFG", 4) == 0);
	CHECK_EQ(in8(6), 'M');
	CHECK_EQ(in8(11), 'G');
	/* the unused ports read as nothing */
	CHECK_EQ(in8(2), 0xff);
	CHECK_EQ(in8(3), 0xff);
	teardown();
}

TEST(directory_is_sorted_and_files_read_through_the_data_port)
{
	setup();
	add_files();
	out16(FW_CFG_FILE_DIR);
	uint8_t cnt[4];
	read_data(cnt, 4);
	REQUIRE_EQ(be32(cnt), 3);
	static const char *names[] = { "bootorder", "etc/acpi/tables", "etc/e820" };
	static const uint32_t sizes[] = { sizeof(ORDER), 6, sizeof(E820) };
	uint16_t keys[3];
	for (unsigned i = 0; i < 3; i++) {
		uint8_t e[FW_CFG_DIR_ENTRY];
		read_data(e, sizeof(e));
		CHECK_EQ(be32(e), sizes[i]);
		keys[i] = (uint16_t)(e[4] << 8 | e[5]);
		CHECK_EQ(keys[i], FW_CFG_FILE_FIRST + i);
		CHECK_EQ(e[6] | e[7], 0);
		CHECK_STR_EQ((char *)e + 8, names[i]);
		CHECK_EQ(e[8 + FW_CFG_NAME_MAX - 1], 0);
	}
	CHECK_EQ(in8(1), 0);
	char buf[sizeof(E820)];
	out16(keys[2]);
	read_data(buf, sizeof(buf));
	CHECK(memcmp(buf, E820, sizeof(E820)) == 0);
	/* selecting again starts over */
	out16(keys[2]);
	CHECK_EQ(in8(1), 'e');
	teardown();
}

TEST(items_refused_as_the_contract_says)
{
	setup();
	char name[64];
	memset(name, 'a', sizeof(name));
	name[55] = '\0';
	CHECK_EQ(fw_cfg_add_file(&C, name, "x", 1), 0); /* 55 characters fit */
	name[55] = 'a';
	name[56] = '\0';
	CHECK_EQ(fw_cfg_add_file(&C, name, "x", 1), -ENAMETOOLONG);
	CHECK_EQ(fw_cfg_add_file(&C, "", "x", 1), -EINVAL);
	CHECK_EQ(fw_cfg_add_file(&C, "etc/e820", NULL, 0), 0);
	CHECK_EQ(fw_cfg_add_file(&C, "etc/e820", "x", 1), -EEXIST);
	for (unsigned i = 2; i < FW_CFG_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "opt/f%u", i);
		CHECK_EQ(fw_cfg_add_file(&C, name, &i, sizeof(i)), 0);
	}
	CHECK_EQ(fw_cfg_add_file(&C, "opt/one-too-many", "x", 1), -ENOSPC);
	CHECK_EQ(fw_cfg_set_file(&C, "opt/none", "x", 1), -ENOENT);
	CHECK_EQ(fw_cfg_add_key(&C, FW_CFG_SIGNATURE, "x", 1), -EEXIST);
	CHECK_EQ(fw_cfg_add_key(&C, FW_CFG_FILE_DIR, "x", 1), -EEXIST);
	CHECK_EQ(fw_cfg_add_key(&C, FW_CFG_FILE_FIRST, "x", 1), -EINVAL);
	CHECK_EQ(fw_cfg_add_key(&C, FW_CFG_WRITE_CHANNEL | FW_CFG_NB_CPUS, "x", 1), -EINVAL);
	uint16_t n = 2;
	CHECK_EQ(fw_cfg_add_key(&C, FW_CFG_NB_CPUS, &n, 2), 0);
	CHECK_EQ(fw_cfg_add_key(&C, FW_CFG_NB_CPUS, &n, 2), -EEXIST);
	CHECK_EQ(fw_cfg_add_key(&C, FW_CFG_ARCH_LOCAL | 3, &n, 2), 0); /* e820 reservations' key */
	out16(FW_CFG_ARCH_LOCAL | 3);
	CHECK_EQ(in8(1), 2);
	teardown();
}

TEST(dma_read_select_and_skip)
{
	setup();
	add_files();
	/* select + read, longer than the item: zeros after it (QEMU) */
	memset(ram(0x2000), 0xaa, 64);
	uint32_t ctl = (uint32_t)(FW_CFG_FILE_FIRST + 2) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
	CHECK_EQ_HEX(dma(0x1000, ctl, sizeof(E820) + 8, 0x2000), 0);
	CHECK(memcmp(ram(0x2000), E820, sizeof(E820)) == 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(ram(0x2000)[sizeof(E820) + i], 0);
	CHECK_EQ(ram(0x2000)[sizeof(E820) + 8], 0xaa);
	CHECK(dirty(0x1000) && dirty(0x2000) && !dirty(0x3000));
	/* SeaBIOS's read with a skip: select through the port, skip, read */
	out16(FW_CFG_FILE_FIRST);
	CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_SKIP, 5, 0), 0);
	CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_READ, 3, 0x3000), 0);
	CHECK(memcmp(ram(0x3000), ORDER + 5, 3) == 0);
	CHECK(dirty(0x3000));
	CHECK_EQ(in8(1), ORDER[8]); /* the port goes on where DMA stopped */
	/* a skip past the end stops at it */
	CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_SKIP, 0xffffffff, 0), 0);
	CHECK_EQ(C.st.off, sizeof(ORDER));
	/* read wins over write and skip; nothing asked: nothing done, success */
	CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_WRITE |
				 FW_CFG_DMA_CTL_SKIP | (uint32_t)FW_CFG_SIGNATURE << 16, 4, 0x4000), 0);
	CHECK(memcmp(ram(0x4000), "QEMU", 4) == 0);
	CHECK_EQ_HEX(dma(0x1000, 0, 4, 0x5000), 0);
	CHECK_EQ(C.st.off, 4);
	/* a descriptor and a buffer above 4 GiB: the high half first */
	CHECK_EQ_HEX(dma(HIGH_GPA + 0x100, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ | (uint32_t)FW_CFG_ID << 16,
			 4, HIGH_GPA + 0x1000), 0);
	CHECK_EQ(ram(HIGH_GPA + 0x1000)[0], FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
	CHECK(dirty(HIGH_GPA) && dirty(HIGH_GPA + 0x1000));
	CHECK_EQ(C.st.dma_high, 0); /* the register is 0 after an operation */
	teardown();
}

static unsigned hook_calls;
static char hook_name[FW_CFG_NAME_MAX];

static void rebuild_on_select(void *opaque, uint16_t key, const char *name)
{
	hook_calls++;
	snprintf(hook_name, sizeof(hook_name), "%s", name ? name : "(key)");
	if (name && strcmp(name, "etc/acpi/tables") == 0)
		CHECK_EQ(fw_cfg_set_file(opaque, name, "REBUILT!", 8), 0);
	(void)key;
}

TEST(select_hook_runs_before_the_read)
{
	setup();
	add_files();
	hook_calls = 0;
	fw_cfg_set_select_hook(&C, rebuild_on_select, &C);
	out16(FW_CFG_FILE_FIRST + 1);
	CHECK_EQ(hook_calls, 1);
	CHECK_STR_EQ(hook_name, "etc/acpi/tables");
	char buf[9] = "";
	read_data(buf, 8);
	CHECK_STR_EQ(buf, "REBUILT!");
	/* through DMA's select too; the directory has the new size */
	CHECK_EQ_HEX(dma(0x1000, (uint32_t)(FW_CFG_FILE_FIRST + 1) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
			 8, 0x2000), 0);
	CHECK(memcmp(ram(0x2000), "REBUILT!", 8) == 0);
	CHECK_EQ(hook_calls, 2);
	out16(FW_CFG_FILE_DIR);
	uint8_t d[4 + FW_CFG_DIR_ENTRY * 2];
	read_data(d, sizeof(d));
	CHECK_EQ(be32(d + 4 + FW_CFG_DIR_ENTRY), 8);
	CHECK_STR_EQ(hook_name, "(key)");
	/* no hook for a key that names nothing */
	out16(0x1234);
	CHECK_EQ(hook_calls, 3);
	teardown();
}

TEST(set_file_keeps_the_offset_inside_the_item)
{
	setup();
	add_files();
	out16(FW_CFG_FILE_FIRST + 2);
	char b[10];
	read_data(b, 10);
	CHECK_EQ(fw_cfg_set_file(&C, "etc/e820", "short", 5), 0);
	CHECK_EQ(C.st.off, 5);
	CHECK_EQ(in8(1), 0);
	/* a file added before the selected one: the selection follows its file */
	CHECK_EQ(fw_cfg_add_file(&C, "a-first", "A", 1), 0);
	CHECK_EQ(C.st.sel, FW_CFG_FILE_FIRST + 3);
	teardown();
}

TEST(hostile_dma_is_refused_without_touching_anything)
{
	setup();
	add_files();
	/* descriptors that are not RAM: past RAM, in the MMIO hole, straddling a region's end,
	 * in the high half's gap: nothing happens, the latch is cleared */
	static const uint64_t bad_desc[] = { LOW_SIZE, 0xfee00000, LOW_SIZE - 8, HIGH_GPA + HIGH_SIZE - 15,
					      0xffffffff, 0x500000000ull, ~0ull - 7 };
	for (unsigned i = 0; i < sizeof(bad_desc) / sizeof(bad_desc[0]); i++) {
		CHECK_EQ_HEX(dma(bad_desc[i], FW_CFG_DMA_CTL_READ, 4, 0x2000), 0xdeadbeef);
		CHECK_EQ(C.st.dma_high, 0);
	}
	CHECK_EQ(ram(LOW_SIZE - 8)[0], 0);
	CHECK(!dirty(LOW_SIZE - 8) && !dirty(0x2000));
	/* buffers that are not RAM, that straddle its end, that wrap, lengths larger than RAM:
	 * the error bit, nothing written, the offset where it was */
	memset(ram(LOW_SIZE - 4096), 0x77, 4096);
	out16(FW_CFG_FILE_FIRST + 2);
	struct { uint64_t addr; uint32_t len; } bad[] = {
		{ LOW_SIZE - 4, 8 }, { LOW_SIZE, 1 }, { 0xfee00000, 4 }, { 0x2000, 0xffffffff },
		{ ~0ull - 0xff, 0x200 }, { HIGH_GPA - 2, 4 }, { HIGH_GPA + HIGH_SIZE - 1, 2 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_READ, bad[i].len, bad[i].addr), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(ram(LOW_SIZE - 4)[0], 0x77);
	CHECK(!dirty(LOW_SIZE - 4096));
	CHECK_EQ(C.st.off, 0);
	/* writes: refused, the item unchanged */
	memcpy(ram(0x2000), "XXXX", 4);
	CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_WRITE, 4, 0x2000), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_WRITE | FW_CFG_DMA_CTL_SKIP, 4, 0x2000), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(in8(1), 'e');
	/* the descriptor as its own buffer: the data, then the status over its first word */
	out16(FW_CFG_FILE_FIRST + 2);
	CHECK_EQ_HEX(dma(0x3000, FW_CFG_DMA_CTL_READ, 16, 0x3000), 0);
	CHECK(memcmp(ram(0x3004), E820 + 4, 12) == 0);
	/* a selector of no item through DMA: zeros read, no error (QEMU) */
	memset(ram(0x2000), 0xaa, 8);
	CHECK_EQ_HEX(dma(0x1000, 0x3fffu << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 8, 0x2000), 0);
	CHECK_EQ(ram(0x2000)[0] | ram(0x2000)[7], 0);
	CHECK_EQ(C.st.sel, FW_CFG_INVALID);
	CHECK_EQ_HEX(dma(0x1000, FW_CFG_DMA_CTL_SKIP, 100, 0), 0);
	CHECK_EQ(C.st.off, 0);
	teardown();
}

TEST(hostile_port_accesses)
{
	setup();
	add_files();
	/* selectors of no item: reads give 0 */
	static const uint16_t none[] = { 0x3fff, FW_CFG_FILE_FIRST + 3, 0x8fff, 0xffff, 0x0d, 0x8000 };
	for (unsigned i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		out16(none[i]);
		CHECK_EQ(C.st.sel, FW_CFG_INVALID);
		CHECK_EQ(in8(1), 0);
		CHECK_EQ(C.st.off, 0);
	}
	out16(FW_CFG_SIGNATURE);
	CHECK_EQ(in8(1), 'Q');
	/* overlapping and odd-sized accesses: ignored, or all ones */
	uint8_t b[4] = { 0x19, 0, 0, 0 };
	fw_cfg_io_write(&C, 1, b, 2); /* 16 bits over data and 0x512 */
	fw_cfg_io_write(&C, 0, b, 4); /* 32 bits over the selector */
	fw_cfg_io_write(&C, 0, b, 1); /* half a selector: a data write */
	fw_cfg_io_write(&C, 1, b, 1); /* data writes: ignored */
	CHECK_EQ(C.st.sel, FW_CFG_SIGNATURE);
	CHECK_EQ(C.st.off, 1);
	uint8_t r[4];
	fw_cfg_io_read(&C, 0, r, 2); /* 16-bit read of the data port: nothing, no advance */
	CHECK_EQ(r[0] & r[1], 0xff);
	fw_cfg_io_read(&C, 1, r, 4);
	CHECK_EQ(r[0] & r[1] & r[2] & r[3], 0xff);
	fw_cfg_io_read(&C, 10, r, 4); /* past the end of the range */
	CHECK_EQ(r[0] & r[3], 0xff);
	CHECK_EQ(C.st.off, 1);
	CHECK_EQ(in8(1), 'E');
	/* DMA address: only 32-bit writes at +4 and +8 count */
	b[0] = 0x12;
	fw_cfg_io_write(&C, 4, b, 2);
	fw_cfg_io_write(&C, 5, b, 4);
	fw_cfg_io_write(&C, 8, b, 2);
	fw_cfg_io_write(&C, 10, b, 4);
	CHECK_EQ(C.st.dma_high, 0);
	fw_cfg_io_write(&C, 4, b, 4);
	CHECK_EQ_HEX(C.st.dma_high, 0x12000000);
	teardown();
}

static int load(const struct fw_cfg_state *st, size_t cut, char *err, size_t errlen)
{
	struct enc e;
	enc_init(&e);
	put_u16(&e, st->sel);
	put_u32(&e, st->off);
	put_u32(&e, st->dma_high);
	struct dec d;
	dec_init(&d, e.buf, e.len - cut);
	int r = fw_cfg_state_ops.load(&C, &d, fw_cfg_state_ops.version, err, errlen);
	enc_free(&e);
	return r;
}

TEST(saved_state_round_trip_and_hostile_states)
{
	setup();
	add_files();
	out16(FW_CFG_FILE_FIRST + 2);
	char b[3];
	read_data(b, 3);
	uint8_t hi[4] = { 0, 0, 0, 1 };
	fw_cfg_io_write(&C, 4, hi, 4);
	struct enc e;
	enc_init(&e);
	fw_cfg_state_ops.save(&C, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK_EQ(e.len, 10);
	CHECK_EQ(fw_cfg_state_ops.id, STATE_ID('F', 'W', 'C', 'F'));
	fw_cfg_reset(&C);
	CHECK(C.st.sel == FW_CFG_SIGNATURE && C.st.off == 0 && C.st.dma_high == 0);
	CHECK_EQ(in8(1), 'Q');
	struct dec d;
	dec_init(&d, e.buf, e.len);
	char err[256] = "";
	CHECK_EQ(fw_cfg_state_ops.load(&C, &d, 1, err, sizeof(err)), 0);
	enc_free(&e);
	CHECK_EQ(in8(1), E820[3]);
	CHECK_EQ_HEX(C.st.dma_high, 1);
	/* the low half now reaches the descriptor above 4 GiB */
	uint8_t *desc = ram(HIGH_GPA);
	fw_cfg_be_store(desc, FW_CFG_DMA_CTL_READ, 4);
	fw_cfg_be_store(desc + 4, 2, 4);
	fw_cfg_be_store(desc + 8, 0x2000, 8);
	uint8_t lo[4] = { 0 };
	fw_cfg_io_write(&C, 8, lo, 4);
	CHECK_EQ(be32(desc), 0);
	CHECK(memcmp(ram(0x2000), E820 + 4, 2) == 0);

	/* refused, the device unchanged */
	struct fw_cfg_state before = C.st;
	struct fw_cfg_state bad[] = {
		{ 0x1234, 0, 0 },                      /* no such item */
		{ FW_CFG_FILE_FIRST + 3, 0, 0 },       /* past the files */
		{ FW_CFG_WRITE_CHANNEL | 1, 0, 0 },    /* bit 14 is never kept */
		{ FW_CFG_SIGNATURE, 5, 0 },            /* past the item's end */
		{ FW_CFG_INVALID, 1, 0 },              /* no item, yet an offset */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ(load(&bad[i], 0, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, "fw_cfg");
		CHECK(memcmp(&C.st, &before, sizeof(before)) == 0);
	}
	err[0] = '\0';
	CHECK_EQ(load(&before, 1, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "short");
	/* accepted: no item selected, the end of an item */
	struct fw_cfg_state ok1 = { FW_CFG_INVALID, 0, 7 }, ok2 = { FW_CFG_SIGNATURE, 4, 0 };
	CHECK_EQ(load(&ok1, 0, err, sizeof(err)), 0);
	CHECK_EQ(in8(1), 0);
	CHECK_EQ(load(&ok2, 0, err, sizeof(err)), 0);
	CHECK_EQ(in8(1), 0);
	teardown();
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
