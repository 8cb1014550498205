/* Unit tests for src/boot (bzImage and PVH parsing and loading, initrd placement) and
 * src/arch/x86/e820.c, over a fake guest memory (a heap buffer, no KVM). */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "boot/boot.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "unit.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ---- fake guest memory ---- */

/* One region [0, low), and when high is non-zero a second one [4 GiB, 4 GiB + high). */
static void mem_init2(struct guest_mem *m, uint64_t low, uint64_t high)
{
	memset(m, 0, sizeof(*m));
	m->regions[0] = (struct guest_region){ 0, low, calloc(1, low) };
	m->nregions = 1;
	m->total = low;
	if (high) {
		m->regions[1] = (struct guest_region){ 4 * GiB, high, calloc(1, high) };
		m->nregions = 2;
		m->total += high;
	}
}

static void mem_init(struct guest_mem *m, uint64_t size) { mem_init2(m, size, 0); }

static void mem_free(struct guest_mem *m)
{
	for (unsigned i = 0; i < m->nregions; i++)
		free(m->regions[i].hva);
	memset(m, 0, sizeof(*m));
}

static uint8_t *gp(struct guest_mem *m, uint64_t gpa) { return guest_mem_ptr(m, gpa, 1); }

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

/* ---- a synthetic bzImage ---- */

#define BZ_SETUP_SECTS 1
#define BZ_KOFF ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD 0x3000
#define BZ_HDR_END 0x270

struct bz {
	uint8_t *img;
	size_t len;
};

static struct bz bz_make(size_t payload)
{
	struct bz b;
	b.len = BZ_KOFF + payload;
	b.img = calloc(1, b.len);
	uint8_t *h = b.img;
	h[0x1f1] = BZ_SETUP_SECTS;
	wr16(h + 0x1fe, 0xaa55);
	h[0x200] = 0xeb;
	h[0x201] = BZ_HDR_END - 0x202;
	memcpy(h + 0x202, "HdrS", 4);
	wr16(h + 0x206, 0x020f);
	h[0x211] = 0x01;                 /* LOADED_HIGH */
	wr32(h + 0x22c, 0x7fffffff);     /* initrd_addr_max */
	wr32(h + 0x230, 0x200000);       /* kernel_alignment */
	h[0x234] = 1;                    /* relocatable */
	wr16(h + 0x236, 0x0003);         /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
	wr32(h + 0x238, 2048);           /* cmdline_size */
	wr64(h + 0x258, 0x1000000);      /* pref_address: 16 MiB */
	wr32(h + 0x260, 0x10000);        /* init_size: 64 KiB */
	h[0x26f] = 0x5a;                 /* last byte of the header: copied to the zero page */
	for (size_t i = 0; i < payload; i++)
		h[BZ_KOFF + i] = (uint8_t)(i * 7 + 1);
	return b;
}

static int bz_parse(const struct bz *b, struct bzimage_info *info, char *err)
{
	return bzimage_parse(b->img, b->len, info, err, 256);
}

TEST(bzimage_parse_valid)
{
	struct bz b = bz_make(BZ_PAYLOAD);
	struct bzimage_info info;
	char err[256] = "";
	REQUIRE_EQ(bz_parse(&b, &info, err), 0);
	CHECK_EQ_HEX(info.version, 0x020f);
	CHECK_EQ(info.setup_sects, BZ_SETUP_SECTS);
	CHECK_EQ_HEX(info.loadflags, 0x01);
	CHECK_EQ_HEX(info.xloadflags, 0x03);
	CHECK_EQ_HEX(info.initrd_addr_max, 0x7fffffff);
	CHECK_EQ(info.cmdline_size, 2048);
	CHECK_EQ_HEX(info.init_size, 0x10000);
	CHECK_EQ_HEX(info.kernel_alignment, 0x200000);
	CHECK_EQ(info.relocatable, 1);
	CHECK_EQ_HEX(info.pref_address, 0x1000000);
	CHECK_EQ(info.kernel_offset, BZ_KOFF);
	CHECK_EQ(info.kernel_size, BZ_PAYLOAD);
	CHECK_EQ_HEX(info.hdr_end, BZ_HDR_END);
	free(b.img);
}

TEST(bzimage_parse_checks_syssize)
{
	struct bz b = bz_make(BZ_PAYLOAD);
	struct bzimage_info info;
	char err[256];
	wr32(b.img + 0x1f4, BZ_PAYLOAD / 16);          /* exactly the payload */
	CHECK_EQ(bz_parse(&b, &info, err), 0);
	wr32(b.img + 0x1f4, (BZ_PAYLOAD + 15) / 16 + 1); /* one 16-byte unit more than the file */
	CHECK_EQ(bz_parse(&b, &info, err), -EINVAL);
	CHECK_CONTAINS(err, "truncated");
	b.len -= 16;                                    /* or the file lost its tail */
	wr32(b.img + 0x1f4, BZ_PAYLOAD / 16);
	CHECK_EQ(bz_parse(&b, &info, err), -EINVAL);
	free(b.img);
}

TEST(bzimage_parse_setup_sects_zero_means_four)
{
	struct bz b = bz_make(6 * 512);
	b.img[0x1f1] = 0;
	struct bzimage_info info;
	char err[256] = "";
	REQUIRE_EQ(bz_parse(&b, &info, err), 0);
	CHECK_EQ(info.setup_sects, 4);
	CHECK_EQ(info.kernel_offset, 5 * 512);
	CHECK_EQ(info.kernel_size, b.len - 5 * 512);
	free(b.img);
}

#define EXPECT_BZ_ERR(b, msg)                                                                \
	do {                                                                                 \
		struct bzimage_info i_;                                                      \
		char e_[256] = "";                                                           \
		CHECK_EQ(bz_parse(&(b), &i_, e_), -EINVAL);                                  \
		CHECK_CONTAINS(e_, msg);                                                     \
	} while (0)

TEST(bzimage_parse_rejects)
{
	struct bz b = bz_make(BZ_PAYLOAD);
	struct bz small = b;

	small.len = 0x263;
	EXPECT_BZ_ERR(small, "too small");
	small.len = 0;
	EXPECT_BZ_ERR(small, "too small");

	b.img[0x1fe] = 0;
	EXPECT_BZ_ERR(b, "not a bzImage");
	b.img[0x1fe] = 0x55;
	b.img[0x205] = 'T';
	EXPECT_BZ_ERR(b, "not a bzImage");
	b.img[0x205] = 'S';

	wr16(b.img + 0x206, 0x020b);
	EXPECT_BZ_ERR(b, "2.11 is too old");
	wr16(b.img + 0x206, 0x020c);
	struct bzimage_info info;
	char err[256];
	CHECK_EQ(bz_parse(&b, &info, err), 0);

	wr16(b.img + 0x236, 0x0002);
	EXPECT_BZ_ERR(b, "XLF_KERNEL_64");
	wr16(b.img + 0x236, 0x0001);

	b.img[0x211] = 0x80;
	EXPECT_BZ_ERR(b, "LOADED_HIGH");
	b.img[0x211] = 0x01;

	/* setup_sects points past the end of the file */
	b.img[0x1f1] = 200;
	EXPECT_BZ_ERR(b, "truncated");
	b.img[0x1f1] = BZ_SETUP_SECTS;
	/* ... or leaves less than one sector of kernel */
	struct bz t = b;
	t.len = BZ_KOFF + 0x200;
	EXPECT_BZ_ERR(t, "truncated");
	t.len = BZ_KOFF + 0x201;
	CHECK_EQ(bz_parse(&t, &info, err), 0);
	free(b.img);
}

TEST(bzimage_parse_never_reads_past_len)
{
	/* Every truncation of a valid image, copied to an exact-size buffer (ASan checks). */
	struct bz b = bz_make(0x400);
	for (size_t n = 0; n <= b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, b.img, n);
		struct bzimage_info info;
		char err[256];
		int r = bzimage_parse(copy, n, &info, err, sizeof(err));
		CHECK(r == 0 || r == -EINVAL);
		if (r == 0)
			CHECK(info.kernel_offset + info.kernel_size == n);
		free(copy);
	}
	free(b.img);
}

static struct boot_request req_of(const struct bz *b, const char *cmdline)
{
	return (struct boot_request){ .kernel = b->img, .kernel_len = b->len, .cmdline = cmdline,
				      .rsdp = 0xe0000 };
}

TEST(bzimage_load_places_kernel_and_zero_page)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	memset(m.regions[0].hva + LAYOUT_ZERO_PAGE, 0xee, 0x1000); /* must be cleared */
	struct bz b = bz_make(BZ_PAYLOAD);
	struct e820_entry e820[E820_MAX];
	int n = e820_build(&m, e820);
	struct boot_request req = req_of(&b, "console=ttyS0 quiet");
	req.e820 = e820;
	req.e820_n = n;
	struct boot_info bi;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);

	/* the protected-mode kernel at pref_address */
	CHECK(memcmp(gp(&m, 0x1000000), b.img + BZ_KOFF, BZ_PAYLOAD) == 0);
	CHECK_EQ(bi.mode, BOOT_LINUX64);
	CHECK_EQ_HEX(bi.entry, 0x1000000 + 0x200);
	CHECK_EQ_HEX(bi.params, LAYOUT_ZERO_PAGE);
	CHECK_EQ_HEX(bi.kernel_end, 0x1000000 + 0x10000); /* init_size > payload */

	uint8_t *zp = gp(&m, LAYOUT_ZERO_PAGE);
	/* the setup header, copied */
	CHECK(memcmp(zp + 0x1f1, b.img + 0x1f1, 0x210 - 0x1f1) == 0);
	CHECK(memcmp(zp + 0x202, "HdrS", 4) == 0);
	CHECK_EQ_HEX(zp[0x26f], 0x5a);
	CHECK_EQ_HEX(zp[0x270], 0); /* past hdr_end: not copied */
	CHECK_EQ_HEX(zp[0x000], 0); /* outside the header: cleared */
	CHECK_EQ_HEX(zp[0xfff], 0);
	/* what the boot loader fills in */
	CHECK_EQ_HEX(zp[0x210], 0xff);                 /* type_of_loader */
	CHECK_EQ_HEX(zp[0x211], 0x81);                 /* LOADED_HIGH | CAN_USE_HEAP */
	CHECK_EQ_HEX(rd16(zp + 0x224), 0xfe00);        /* heap_end_ptr */
	CHECK_EQ_HEX(rd32(zp + 0x214), 0x1000000);     /* code32_start */
	CHECK_EQ_HEX(rd32(zp + 0x228), LAYOUT_CMDLINE); /* cmd_line_ptr */
	CHECK_STR_EQ((const char *)gp(&m, LAYOUT_CMDLINE), "console=ttyS0 quiet");
	CHECK_EQ_HEX(rd32(zp + 0x218), 0);             /* no initrd */
	CHECK_EQ_HEX(rd32(zp + 0x21c), 0);
	CHECK_EQ_HEX(rd64(zp + 0x070), 0xe0000);       /* acpi_rsdp_addr */
	/* e820 table */
	CHECK_EQ(zp[0x1e8], n);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = zp + 0x2d0 + 20 * i;
		CHECK_EQ_HEX(rd64(e), e820[i].addr);
		CHECK_EQ_HEX(rd64(e + 8), e820[i].size);
		CHECK_EQ(rd32(e + 16), e820[i].type);
	}
	free(b.img);
	mem_free(&m);
}

TEST(bzimage_load_pref_address_out_of_range_uses_1mib)
{
	static const uint64_t prefs[] = { 0, 0x80000, LAYOUT_MMIO_HOLE, 5 * GiB, ~0ull };
	for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++) {
		struct guest_mem m;
		mem_init(&m, 32 * MiB);
		struct bz b = bz_make(BZ_PAYLOAD);
		wr64(b.img + 0x258, prefs[i]);
		struct boot_request req = req_of(&b, "");
		struct boot_info bi;
		REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
		CHECK_EQ_HEX(bi.entry, LAYOUT_KERNEL + 0x200);
		CHECK(memcmp(gp(&m, LAYOUT_KERNEL), b.img + BZ_KOFF, BZ_PAYLOAD) == 0);
		CHECK_EQ_HEX(rd32(gp(&m, LAYOUT_ZERO_PAGE) + 0x214), LAYOUT_KERNEL);
		free(b.img);
		mem_free(&m);
	}
}

TEST(bzimage_load_kernel_size_beyond_init_size)
{
	struct guest_mem m;
	mem_init(&m, 32 * MiB);
	struct bz b = bz_make(0x20000);      /* payload larger than init_size */
	struct boot_request req = req_of(&b, "x");
	struct boot_info bi;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	CHECK_EQ_HEX(bi.kernel_end, 0x1000000 + 0x20000);
	free(b.img);
	mem_free(&m);
}

TEST(bzimage_load_memory_too_small)
{
	struct guest_mem m;
	mem_init(&m, 16 * MiB + 0x8000); /* 16 MiB + 32 KiB: init_size 64 KiB does not fit */
	struct bz b = bz_make(BZ_PAYLOAD);
	struct boot_request req = req_of(&b, "");
	struct boot_info bi;
	CHECK_EQ(bzimage_load(&m, &req, &bi), -ENOMEM);
	mem_free(&m);
	mem_init(&m, 16 * MiB + 0x10000); /* exactly enough */
	CHECK_EQ(bzimage_load(&m, &req, &bi), 0);
	free(b.img);
	mem_free(&m);
}

TEST(bzimage_load_rejects_bad_image)
{
	struct guest_mem m;
	mem_init(&m, 32 * MiB);
	struct bz b = bz_make(BZ_PAYLOAD);
	b.img[0x1fe] = 0;
	struct boot_request req = req_of(&b, "");
	struct boot_info bi;
	CHECK_EQ(bzimage_load(&m, &req, &bi), -EINVAL);
	free(b.img);
	mem_free(&m);
}

TEST(bzimage_load_cmdline_limits)
{
	struct guest_mem m;
	mem_init(&m, 32 * MiB);
	struct bz b = bz_make(BZ_PAYLOAD);
	wr32(b.img + 0x238, 100); /* cmdline_size: at most 100 bytes, NUL not counted */
	char line[200];
	memset(line, 'a', sizeof(line));
	line[100] = 0;
	struct boot_request req = req_of(&b, line);
	struct boot_info bi;
	CHECK_EQ(bzimage_load(&m, &req, &bi), 0);
	CHECK_EQ(strlen((const char *)gp(&m, LAYOUT_CMDLINE)), 100);
	line[100] = 'a';
	line[101] = 0;
	CHECK_EQ(bzimage_load(&m, &req, &bi), -EINVAL);

	/* Never more than the area petrel reserves, whatever the kernel says. */
	wr32(b.img + 0x238, 0xffffffff);
	char *big = malloc(LAYOUT_CMDLINE_MAX + 1);
	memset(big, 'b', LAYOUT_CMDLINE_MAX);
	big[LAYOUT_CMDLINE_MAX] = 0;
	req.cmdline = big;
	CHECK_EQ(bzimage_load(&m, &req, &bi), -EINVAL);
	big[LAYOUT_CMDLINE_MAX - 1] = 0;
	CHECK_EQ(bzimage_load(&m, &req, &bi), 0);
	free(big);
	free(b.img);
	mem_free(&m);
}

TEST(bzimage_load_initrd)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	struct bz b = bz_make(BZ_PAYLOAD);
	size_t ilen = 3 * 4096 + 123;
	uint8_t *initrd = malloc(ilen);
	for (size_t i = 0; i < ilen; i++)
		initrd[i] = (uint8_t)(i * 13 + 5);
	struct boot_request req = req_of(&b, "");
	req.initrd = initrd;
	req.initrd_len = ilen;
	struct boot_info bi;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	uint8_t *zp = gp(&m, LAYOUT_ZERO_PAGE);
	uint64_t addr = rd32(zp + 0x218) | (uint64_t)rd32(zp + 0xc0) << 32;
	CHECK_EQ(rd32(zp + 0x21c), ilen);
	CHECK_EQ(rd32(zp + 0xc4), 0);
	/* highest 4 KiB-aligned place in RAM, above the kernel */
	CHECK_EQ_HEX(addr, (64 * MiB - ilen) & ~0xfffull);
	CHECK(addr >= bi.kernel_end);
	CHECK(addr + ilen <= 64 * MiB);
	CHECK(memcmp(gp(&m, addr), initrd, ilen) == 0);

	/* initrd_addr_max limits where it may go: the last byte must be <= initrd_addr_max */
	wr32(b.img + 0x22c, 32 * MiB - 1);
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	addr = rd32(zp + 0x218);
	CHECK_EQ_HEX(addr, (32 * MiB - ilen) & ~0xfffull);
	CHECK(addr + ilen - 1 <= 32 * MiB - 1);
	CHECK(memcmp(gp(&m, addr), initrd, ilen) == 0);

	/* no room between the kernel and the limit */
	wr32(b.img + 0x22c, 0x1000000 + 0x10000 + 0x1000 - 1);
	CHECK_EQ(bzimage_load(&m, &req, &bi), -ENOMEM);
	/* larger than RAM */
	wr32(b.img + 0x22c, 0xffffffff);
	req.initrd_len = 64 * MiB;
	CHECK_EQ(bzimage_load(&m, &req, &bi), -ENOMEM);
	free(initrd);
	free(b.img);
	mem_free(&m);
}

TEST(bzimage_load_e820_is_clamped)
{
	struct guest_mem m;
	mem_init(&m, 32 * MiB);
	struct bz b = bz_make(BZ_PAYLOAD);
	struct e820_entry many[200];
	for (int i = 0; i < 200; i++)
		many[i] = (struct e820_entry){ (uint64_t)i << 20, 1 << 20, E820_RAM };
	struct boot_request req = req_of(&b, "");
	req.e820 = many;
	req.e820_n = 200;
	struct boot_info bi;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	uint8_t *zp = gp(&m, LAYOUT_ZERO_PAGE);
	CHECK_EQ(zp[0x1e8], 128);
	CHECK_EQ_HEX(rd64(zp + 0x2d0 + 20 * 127), 127ull << 20);
	/* the table ends at 0x2d0 + 128 * 20 = 0xcd0; what follows stays zero */
	CHECK_EQ(zp[0xcd0], 0);
	free(b.img);
	mem_free(&m);
}

/* ---- initrd placement ---- */

TEST(place_initrd)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 0, ~0ull), 64 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4097, 0, ~0ull), 64 * MiB - 8192);
	CHECK_EQ_HEX(boot_place_initrd(&m, 1, 0, ~0ull), 64 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 100, 0, 32 * MiB), 32 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 100, 0, 32 * MiB + 100), 32 * MiB);
	CHECK_EQ_HEX(boot_place_initrd(&m, 64 * MiB, 0, ~0ull), 0);       /* all of RAM: at 0 */
	CHECK_EQ_HEX(boot_place_initrd(&m, 64 * MiB + 1, 0, ~0ull), 0);
	CHECK_EQ_HEX(boot_place_initrd(&m, 0, 0, ~0ull), 0);
	/* the floor */
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 64 * MiB - 4096, ~0ull), 64 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 64 * MiB - 4095, ~0ull), 0);
	CHECK_EQ_HEX(boot_place_initrd(&m, 8 * MiB, 60 * MiB, ~0ull), 0);
	/* a limit below the length */
	CHECK_EQ_HEX(boot_place_initrd(&m, 8192, 0, 4096), 0);
	for (uint64_t len = 1; len < 100000; len += 997) {
		uint64_t a = boot_place_initrd(&m, len, MiB, 48 * MiB + 17);
		CHECK(a % 4096 == 0);
		CHECK(a >= MiB);
		CHECK(a + len <= 48 * MiB + 17);
		CHECK(a + len + 4096 > 48 * MiB + 17 - 4096); /* as high as it goes */
	}
	mem_free(&m);

	/* Only RAM below 4 GiB counts. */
	mem_init2(&m, 16 * MiB, 16 * MiB);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 0, ~0ull), 16 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 20 * MiB, 0, ~0ull), 0);
	mem_free(&m);
}

/* ---- a synthetic PVH ELF ---- */

struct elf {
	uint8_t buf[0x4000];
	size_t len;
	unsigned nph;
};

static Elf64_Phdr *ph(struct elf *e, unsigned i)
{
	return (Elf64_Phdr *)(e->buf + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

static void elf_sync(struct elf *e)
{
	((Elf64_Ehdr *)e->buf)->e_phnum = (Elf64_Half)e->nph;
}

static unsigned elf_add_ph(struct elf *e, Elf64_Phdr p)
{
	*ph(e, e->nph) = p;
	e->nph++;
	elf_sync(e);
	return e->nph - 1;
}

/* Note at `off`: returns its total size. */
static size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = { namesz, descsz, type };
	memcpy(p, &nh, sizeof(nh));
	size_t off = sizeof(nh);
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

#define PVH_ENTRY 0x1000123u
#define NOTE_OFF 0x800
#define SEG_OFF 0x1000
#define SEG_FILESZ 0x1800
#define SEG_MEMSZ 0x3000

/* An ELF with a GNU note and the Xen PVH note (8-byte descriptor) in one PT_NOTE, and one
 * PT_LOAD at 16 MiB with filesz < memsz. */
static void elf_make(struct elf *e)
{
	memset(e, 0, sizeof(*e));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)e->buf;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0xffffffff81000000ull;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);

	size_t noff = NOTE_OFF, n = 0;
	uint8_t gnu_desc[20] = { 1, 2, 3 };
	n += put_note(e->buf + noff + n, "GNU", 4, 3, gnu_desc, sizeof(gnu_desc));
	uint64_t entry = PVH_ENTRY;
	n += put_note(e->buf + noff + n, "Xen", 4, 18, &entry, 8);
	elf_add_ph(e, (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = noff, .p_filesz = n });
	elf_add_ph(e, (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = SEG_OFF, .p_paddr = 0x1000000,
				    .p_vaddr = 0xffffffff81000000ull, .p_filesz = SEG_FILESZ,
				    .p_memsz = SEG_MEMSZ });
	for (size_t i = 0; i < SEG_FILESZ; i++)
		e->buf[SEG_OFF + i] = (uint8_t)(i * 3 + 7);
	e->len = SEG_OFF + SEG_FILESZ;
}

static int elf_parse(struct elf *e, struct pvh_info *pi, char *err)
{
	/* exact-size copy, so any overread trips ASan */
	uint8_t *copy = malloc(e->len);
	memcpy(copy, e->buf, e->len);
	int r = pvh_parse(copy, e->len, pi, err, 256);
	free(copy);
	return r;
}

#define EXPECT_PVH_ERR(e, msg)                                                               \
	do {                                                                                 \
		struct pvh_info p_;                                                          \
		char m_[256] = "";                                                           \
		CHECK_EQ(elf_parse((e), &p_, m_), -EINVAL);                                  \
		CHECK_CONTAINS(m_, msg);                                                     \
	} while (0)

TEST(image_is_elf)
{
	CHECK_EQ(image_is_elf((const uint8_t *)"\177ELF", 4), 1);
	CHECK_EQ(image_is_elf((const uint8_t *)"\177ELF\2\1", 6), 1);
	CHECK_EQ(image_is_elf((const uint8_t *)"\177EL", 3), 0);
	CHECK_EQ(image_is_elf((const uint8_t *)"MZ\0\0", 4), 0);
	CHECK_EQ(image_is_elf((const uint8_t *)"", 0), 0);
}

TEST(pvh_parse_valid)
{
	static struct elf e;
	elf_make(&e);
	struct pvh_info pi;
	char err[256] = "";
	int r = elf_parse(&e, &pi, err);
	if (r)
		printf("  error: %s\n", err);
	REQUIRE_EQ(r, 0);
	CHECK_EQ_HEX(pi.entry, PVH_ENTRY);
	REQUIRE_EQ(pi.nseg, 1);
	CHECK_EQ_HEX(pi.seg[0].paddr, 0x1000000);
	CHECK_EQ_HEX(pi.seg[0].filesz, SEG_FILESZ);
	CHECK_EQ_HEX(pi.seg[0].memsz, SEG_MEMSZ);
	CHECK_EQ_HEX(pi.seg[0].offset, SEG_OFF);
}

TEST(pvh_parse_4_byte_note_and_other_segments)
{
	static struct elf e;
	elf_make(&e);
	/* replace the notes by one with a 4-byte descriptor, after a non-Xen note of type 18 */
	size_t n = 0;
	uint32_t entry = 0x200000, bogus = 0xdead;
	n += put_note(e.buf + NOTE_OFF + n, "Foo", 4, 18, &bogus, 4);
	n += put_note(e.buf + NOTE_OFF + n, "Xen", 4, 18, &entry, 4);
	ph(&e, 0)->p_filesz = n;
	/* a PT_GNU_STACK and a PT_DYNAMIC with junk offsets are ignored */
	elf_add_ph(&e, (Elf64_Phdr){ .p_type = PT_GNU_STACK, .p_offset = ~0ull, .p_filesz = ~0ull });
	elf_add_ph(&e, (Elf64_Phdr){ .p_type = PT_DYNAMIC, .p_offset = ~0ull });
	struct pvh_info pi;
	char err[256] = "";
	REQUIRE_EQ(elf_parse(&e, &pi, err), 0);
	CHECK_EQ_HEX(pi.entry, 0x200000);
	CHECK_EQ(pi.nseg, 1);
}

TEST(pvh_parse_rejects)
{
	static struct elf e;

	elf_make(&e);
	e.len = sizeof(Elf64_Ehdr) - 1;
	EXPECT_PVH_ERR(&e, "not an ELF");
	elf_make(&e);
	e.buf[0] = 0;
	EXPECT_PVH_ERR(&e, "not an ELF");

	elf_make(&e);
	e.buf[EI_CLASS] = ELFCLASS32;
	EXPECT_PVH_ERR(&e, "x86-64");
	elf_make(&e);
	e.buf[EI_DATA] = ELFDATA2MSB;
	EXPECT_PVH_ERR(&e, "x86-64");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_machine = EM_386;
	EXPECT_PVH_ERR(&e, "x86-64");

	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phentsize = 32;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phnum = 0;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phoff = e.len - sizeof(Elf64_Phdr) * 2 + 1;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phoff = ~0ull - 8;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phnum = 0xffff;
	EXPECT_PVH_ERR(&e, "program headers");

	/* segment outside the file, including offset + size overflowing */
	elf_make(&e);
	ph(&e, 1)->p_filesz = SEG_FILESZ + 1;
	ph(&e, 1)->p_memsz = SEG_MEMSZ;
	EXPECT_PVH_ERR(&e, "outside the file");
	elf_make(&e);
	ph(&e, 1)->p_offset = ~0ull - 0x10;
	EXPECT_PVH_ERR(&e, "outside the file");
	elf_make(&e);
	ph(&e, 1)->p_offset = 0x10;
	ph(&e, 1)->p_filesz = ~0ull;
	EXPECT_PVH_ERR(&e, "outside the file");
	elf_make(&e);
	ph(&e, 0)->p_offset = e.len;
	ph(&e, 0)->p_filesz = 1;
	EXPECT_PVH_ERR(&e, "outside the file");

	/* bad sizes */
	elf_make(&e);
	ph(&e, 1)->p_memsz = SEG_FILESZ - 1;
	EXPECT_PVH_ERR(&e, "invalid sizes");
	elf_make(&e);
	ph(&e, 1)->p_paddr = ~0ull - 0x1000;
	EXPECT_PVH_ERR(&e, "invalid sizes");

	/* no note / no PT_LOAD */
	elf_make(&e);
	ph(&e, 0)->p_type = PT_NULL;
	EXPECT_PVH_ERR(&e, "no PVH entry note");
	elf_make(&e);
	ph(&e, 1)->p_type = PT_NULL;
	EXPECT_PVH_ERR(&e, "no loadable segments");

	/* malformed notes */
	elf_make(&e);
	{
		Elf64_Nhdr nh = { 0x7fffffff, 4, 18 };
		memcpy(e.buf + NOTE_OFF, &nh, sizeof(nh));
	}
	EXPECT_PVH_ERR(&e, "malformed");
	elf_make(&e);
	{
		Elf64_Nhdr nh = { 4, 0xfffffffd, 3 }; /* descsz rounds up to 2^32 */
		memcpy(e.buf + NOTE_OFF, &nh, sizeof(nh));
	}
	EXPECT_PVH_ERR(&e, "malformed");
	elf_make(&e);
	ph(&e, 0)->p_filesz = 12 + 4 + 20 + 12 + 4 + 7; /* last descriptor cut short */
	EXPECT_PVH_ERR(&e, "malformed");

	/* an entry that does not fit in 32 bits */
	elf_make(&e);
	{
		uint64_t big = 0x100000000ull;
		memcpy(e.buf + NOTE_OFF + 12 + 4 + 20 + 12 + 4, &big, 8);
	}
	EXPECT_PVH_ERR(&e, "malformed");

	/* a note with a 2-byte descriptor is not the entry */
	elf_make(&e);
	{
		uint16_t d = 0x1234;
		size_t n = put_note(e.buf + NOTE_OFF, "Xen", 4, 18, &d, 2);
		ph(&e, 0)->p_filesz = n;
	}
	EXPECT_PVH_ERR(&e, "no PVH entry note");

	/* too many PT_LOADs */
	elf_make(&e);
	for (unsigned i = 0; i < PVH_MAX_SEGMENTS; i++)
		elf_add_ph(&e, *ph(&e, 1));
	EXPECT_PVH_ERR(&e, "more than 16");
	elf_make(&e);
	for (unsigned i = 1; i < PVH_MAX_SEGMENTS; i++)
		elf_add_ph(&e, *ph(&e, 1));
	struct pvh_info pi;
	char err[256];
	CHECK_EQ(elf_parse(&e, &pi, err), 0);
	CHECK_EQ(pi.nseg, PVH_MAX_SEGMENTS);
}

TEST(pvh_parse_never_reads_past_len)
{
	static struct elf e;
	elf_make(&e);
	size_t full = e.len;
	for (size_t n = 0; n <= full; n += (n < 0x500 ? 1 : 61)) {
		e.len = n;
		struct pvh_info pi;
		char err[256];
		int r = elf_parse(&e, &pi, err);
		CHECK_EQ(r, n == full ? 0 : -EINVAL);
	}
}

static struct boot_request pvh_req(struct elf *e, const char *cmdline)
{
	return (struct boot_request){ .kernel = e->buf, .kernel_len = e->len, .cmdline = cmdline,
				      .rsdp = 0xe0000 };
}

struct hvm_start_info_t {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

TEST(pvh_load)
{
	static struct elf e;
	elf_make(&e);
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	memset(gp(&m, 0x1000000), 0xcc, 0x10000); /* the bss part must be zeroed */
	struct e820_entry e820[E820_MAX];
	int n = e820_build(&m, e820);
	uint8_t initrd[5000];
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	struct boot_request req = pvh_req(&e, "root=/dev/vda");
	req.e820 = e820;
	req.e820_n = n;
	req.initrd = initrd;
	req.initrd_len = sizeof(initrd);
	struct boot_info bi;
	REQUIRE_EQ(pvh_load(&m, &req, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_PVH);
	CHECK_EQ_HEX(bi.entry, PVH_ENTRY);
	CHECK_EQ_HEX(bi.params, LAYOUT_START_INFO);
	CHECK_EQ_HEX(bi.kernel_end, 0x1000000 + SEG_MEMSZ);

	CHECK(memcmp(gp(&m, 0x1000000), e.buf + SEG_OFF, SEG_FILESZ) == 0);
	const uint8_t *bss = gp(&m, 0x1000000 + SEG_FILESZ);
	bool zero = true;
	for (size_t i = 0; i < SEG_MEMSZ - SEG_FILESZ; i++)
		zero &= bss[i] == 0;
	CHECK(zero);
	CHECK_EQ_HEX(*gp(&m, 0x1000000 + SEG_MEMSZ), 0xcc); /* nothing past memsz */

	struct hvm_start_info_t si;
	REQUIRE_EQ(guest_mem_read(&m, LAYOUT_START_INFO, &si, sizeof(si)), 0);
	CHECK_EQ_HEX(si.magic, 0x336ec578);
	CHECK_EQ(si.version, 1);
	CHECK_EQ_HEX(si.cmdline_paddr, LAYOUT_CMDLINE);
	CHECK_STR_EQ((const char *)gp(&m, si.cmdline_paddr), "root=/dev/vda");
	CHECK_EQ_HEX(si.rsdp_paddr, 0xe0000);
	REQUIRE_EQ(si.nr_modules, 1);
	uint64_t mod[4];
	REQUIRE_EQ(guest_mem_read(&m, si.modlist_paddr, mod, sizeof(mod)), 0);
	CHECK_EQ(mod[1], sizeof(initrd));
	CHECK(mod[0] % 4096 == 0);
	CHECK(mod[0] >= bi.kernel_end);
	CHECK(mod[0] + sizeof(initrd) <= 64 * MiB);
	CHECK(memcmp(gp(&m, mod[0]), initrd, sizeof(initrd)) == 0);
	REQUIRE_EQ(si.memmap_entries, n);
	for (int i = 0; i < n; i++) {
		uint8_t ent[24];
		REQUIRE_EQ(guest_mem_read(&m, si.memmap_paddr + 24 * (uint64_t)i, ent, 24), 0);
		CHECK_EQ_HEX(rd64(ent), e820[i].addr);
		CHECK_EQ_HEX(rd64(ent + 8), e820[i].size);
		CHECK_EQ(rd32(ent + 16), e820[i].type);
	}
	/* start info, module list and memory map do not overlap */
	CHECK(si.modlist_paddr >= LAYOUT_START_INFO + sizeof(si));
	CHECK(si.memmap_paddr >= si.modlist_paddr + 32);
	CHECK(si.memmap_paddr + 24 * E820_MAX <= LAYOUT_ZERO_PAGE);
	mem_free(&m);
}

TEST(pvh_load_without_initrd)
{
	static struct elf e;
	elf_make(&e);
	struct guest_mem m;
	mem_init(&m, 32 * MiB);
	struct boot_request req = pvh_req(&e, "");
	struct boot_info bi;
	REQUIRE_EQ(pvh_load(&m, &req, &bi), 0);
	struct hvm_start_info_t si;
	REQUIRE_EQ(guest_mem_read(&m, LAYOUT_START_INFO, &si, sizeof(si)), 0);
	CHECK_EQ(si.nr_modules, 0);
	CHECK_EQ(si.modlist_paddr, 0);
	CHECK_EQ(si.memmap_entries, 0);
	mem_free(&m);
}

TEST(pvh_load_rejects)
{
	static struct elf e;
	struct guest_mem m;
	struct boot_info bi;
	struct boot_request req;
	mem_init(&m, 32 * MiB);

	elf_make(&e); /* segment below 1 MiB */
	ph(&e, 1)->p_paddr = 0x8000;
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	elf_make(&e); /* segment past the end of RAM */
	ph(&e, 1)->p_paddr = 32 * MiB - SEG_MEMSZ + 1;
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	ph(&e, 1)->p_paddr = 32 * MiB - SEG_MEMSZ;
	CHECK_EQ(pvh_load(&m, &req, &bi), 0);
	elf_make(&e); /* in the MMIO hole */
	ph(&e, 1)->p_paddr = LAYOUT_MMIO_HOLE;
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	elf_make(&e); /* not an ELF */
	e.buf[1] = 'X';
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);

	/* initrd that does not fit */
	elf_make(&e);
	req = pvh_req(&e, "");
	static const uint8_t one = 1;
	req.initrd = &one;
	req.initrd_len = 32 * MiB;
	CHECK_EQ(pvh_load(&m, &req, &bi), -ENOMEM);
	/* command line too long */
	char *big = malloc(LAYOUT_CMDLINE_MAX + 1);
	memset(big, 'c', LAYOUT_CMDLINE_MAX);
	big[LAYOUT_CMDLINE_MAX] = 0;
	req = pvh_req(&e, big);
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	free(big);
	mem_free(&m);
}

/* ---- boot_load: files on disk, format detection ---- */

static char *write_tmp(const void *data, size_t len)
{
	char *path = strdup("/tmp/petrel-test-boot-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror("mkstemp/write");
		exit(2);
	}
	close(fd);
	return path;
}

TEST(boot_load_detects_format)
{
	struct guest_mem m;
	struct boot_info bi;
	mem_init(&m, 32 * MiB);

	struct bz b = bz_make(BZ_PAYLOAD);
	char *kb = write_tmp(b.img, b.len);
	static struct elf e;
	elf_make(&e);
	char *ke = write_tmp(e.buf, e.len);
	char *junk = write_tmp("hello, world: not a kernel at all", 33);
	uint8_t rd[100] = { 1, 2, 3 };
	char *initrd = write_tmp(rd, sizeof(rd));

	CHECK_EQ(boot_load(&m, kb, initrd, "a=b", NULL, 0, 0xe0000, BOOT_DECOMPRESS_HOST, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_LINUX64);
	CHECK_EQ(rd32(gp(&m, LAYOUT_ZERO_PAGE) + 0x21c), sizeof(rd));
	CHECK_EQ(boot_load(&m, ke, NULL, "a=b", NULL, 0, 0xe0000, BOOT_DECOMPRESS_HOST, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_PVH);
	CHECK_EQ_HEX(bi.entry, PVH_ENTRY);
	CHECK_EQ(boot_load(&m, junk, NULL, "", NULL, 0, 0, BOOT_DECOMPRESS_HOST, &bi), -EINVAL);
	CHECK_EQ(boot_load(&m, "/nonexistent/petrel-kernel", NULL, "", NULL, 0, 0, BOOT_DECOMPRESS_HOST, &bi), -ENOENT);
	CHECK_EQ(boot_load(&m, kb, "/nonexistent/petrel-initrd", "", NULL, 0, 0, BOOT_DECOMPRESS_HOST, &bi), -ENOENT);

	unlink(kb);
	unlink(ke);
	unlink(junk);
	unlink(initrd);
	free(kb);
	free(ke);
	free(junk);
	free(initrd);
	free(b.img);
	mem_free(&m);
}

/* ---- e820 ---- */

TEST(e820_layout)
{
	struct guest_mem m;
	struct e820_entry map[E820_MAX];
	memset(&m, 0, sizeof(m));
	m.regions[0] = (struct guest_region){ 0, 256 * MiB, NULL };
	m.nregions = 1;
	int n = e820_build(&m, map);
	REQUIRE_EQ(n, 4);
	CHECK_EQ_HEX(map[0].addr, 0);
	CHECK_EQ_HEX(map[0].size, LAYOUT_EBDA);
	CHECK_EQ(map[0].type, E820_RAM);
	CHECK_EQ_HEX(map[1].addr, LAYOUT_EBDA);
	CHECK_EQ_HEX(map[1].addr + map[1].size, 0xa0000);
	CHECK_EQ(map[1].type, E820_RESERVED);
	CHECK_EQ_HEX(map[2].addr, LAYOUT_ACPI);
	CHECK_EQ_HEX(map[2].addr + map[2].size, LAYOUT_ACPI_END);
	CHECK_EQ(map[2].type, E820_RESERVED);
	CHECK_EQ_HEX(map[3].addr, MiB);
	CHECK_EQ_HEX(map[3].size, 255 * MiB);
	CHECK_EQ(map[3].type, E820_RAM);

	/* RAM split around the MMIO hole */
	m.regions[0] = (struct guest_region){ 0, LAYOUT_MMIO_HOLE, NULL };
	m.regions[1] = (struct guest_region){ 4 * GiB, 2 * GiB, NULL };
	m.nregions = 2;
	n = e820_build(&m, map);
	REQUIRE_EQ(n, 5);
	CHECK_EQ_HEX(map[3].addr, MiB);
	CHECK_EQ_HEX(map[3].addr + map[3].size, LAYOUT_MMIO_HOLE);
	CHECK_EQ_HEX(map[4].addr, 4 * GiB);
	CHECK_EQ_HEX(map[4].size, 2 * GiB);
	CHECK_EQ(map[4].type, E820_RAM);

	/* sorted and non-overlapping; nothing in the MMIO hole or the ACPI/EBDA areas is RAM */
	for (int i = 1; i < n; i++)
		CHECK(map[i].addr >= map[i - 1].addr + map[i - 1].size);
	for (int i = 0; i < n; i++) {
		if (map[i].type != E820_RAM)
			continue;
		uint64_t end = map[i].addr + map[i].size;
		CHECK(end <= LAYOUT_EBDA || map[i].addr >= LAYOUT_ACPI_END);
		CHECK(end <= LAYOUT_MMIO_HOLE || map[i].addr >= 4 * GiB);
	}
	/* every RAM byte the map lists is backed by a region */
	for (int i = 0; i < n; i++) {
		if (map[i].type != E820_RAM)
			continue;
		bool backed = false;
		for (unsigned j = 0; j < m.nregions; j++)
			backed |= map[i].addr >= m.regions[j].gpa &&
				  map[i].addr + map[i].size <= m.regions[j].gpa + m.regions[j].size;
		CHECK(backed);
	}
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* the loaders log why they refuse; the tests check return codes */
	return unit_main(argc, argv);
}
