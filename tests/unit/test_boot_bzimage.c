/* Unit tests for src/boot's bzImage support: header parsing and its refusals, and loading
 * (kernel placement, the zero page, command line, initrd, e820 in the zero page) into fake
 * guest memory. No KVM. */
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
#include "boot_images.h"

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

/* What a load test starts from: guest RAM, a synthetic bzImage and a request to load it. */
struct bz_vm {
	struct guest_mem m;
	struct bz b;
	struct boot_request req;
	struct boot_info bi;
};

/* `ram` bytes of RAM, an image with `payload` bytes of kernel, the request with `cmdline`. */
static void bz_vm_init(struct bz_vm *vm, uint64_t ram, size_t payload, const char *cmdline)
{
	mem_init(&vm->m, ram);
	vm->b = bz_make(payload);
	vm->req = (struct boot_request){ .kernel = vm->b.img, .kernel_len = vm->b.len,
					 .cmdline = cmdline, .rsdp = 0xe0000 };
}

static int bz_vm_load(struct bz_vm *vm)
{
	return bzimage_load(&vm->m, &vm->req, &vm->bi);
}

static void bz_vm_free(struct bz_vm *vm)
{
	free(vm->b.img);
	mem_free(&vm->m);
}

TEST(bzimage_load_places_kernel_and_zero_page)
{
	struct bz_vm vm;
	bz_vm_init(&vm, 64 * MiB, BZ_PAYLOAD, "console=ttyS0 quiet");
	memset(vm.m.regions[0].hva + LAYOUT_ZERO_PAGE, 0xee, 0x1000); /* must be cleared */
	struct e820_entry e820[E820_MAX];
	int n = e820_build(&vm.m, e820);
	vm.req.e820 = e820;
	vm.req.e820_n = n;
	REQUIRE_EQ(bz_vm_load(&vm), 0);

	/* the protected-mode kernel at pref_address */
	CHECK(memcmp(gp(&vm.m, 0x1000000), vm.b.img + BZ_KOFF, BZ_PAYLOAD) == 0);
	CHECK_EQ(vm.bi.mode, BOOT_LINUX64);
	CHECK_EQ_HEX(vm.bi.entry, 0x1000000 + 0x200);
	CHECK_EQ_HEX(vm.bi.params, LAYOUT_ZERO_PAGE);
	CHECK_EQ_HEX(vm.bi.kernel_end, 0x1000000 + 0x10000); /* init_size > payload */

	uint8_t *zp = gp(&vm.m, LAYOUT_ZERO_PAGE);
	/* the setup header, copied */
	CHECK(memcmp(zp + 0x1f1, vm.b.img + 0x1f1, 0x210 - 0x1f1) == 0);
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
	CHECK_STR_EQ((const char *)gp(&vm.m, LAYOUT_CMDLINE), "console=ttyS0 quiet");
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
	bz_vm_free(&vm);
}

TEST(bzimage_load_pref_address_out_of_range_uses_1mib)
{
	static const uint64_t prefs[] = { 0, 0x80000, LAYOUT_MMIO_HOLE, 5 * GiB, ~0ull };
	for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++) {
		struct bz_vm vm;
		bz_vm_init(&vm, 32 * MiB, BZ_PAYLOAD, "");
		wr64(vm.b.img + 0x258, prefs[i]);
		REQUIRE_EQ(bz_vm_load(&vm), 0);
		CHECK_EQ_HEX(vm.bi.entry, LAYOUT_KERNEL + 0x200);
		CHECK(memcmp(gp(&vm.m, LAYOUT_KERNEL), vm.b.img + BZ_KOFF, BZ_PAYLOAD) == 0);
		CHECK_EQ_HEX(rd32(gp(&vm.m, LAYOUT_ZERO_PAGE) + 0x214), LAYOUT_KERNEL);
		bz_vm_free(&vm);
	}
}

TEST(bzimage_load_kernel_size_beyond_init_size)
{
	struct bz_vm vm;
	bz_vm_init(&vm, 32 * MiB, 0x20000, "x");      /* payload larger than init_size */
	REQUIRE_EQ(bz_vm_load(&vm), 0);
	CHECK_EQ_HEX(vm.bi.kernel_end, 0x1000000 + 0x20000);
	bz_vm_free(&vm);
}

TEST(bzimage_load_memory_too_small)
{
	struct bz_vm vm;
	/* 16 MiB + 32 KiB: init_size 64 KiB does not fit */
	bz_vm_init(&vm, 16 * MiB + 0x8000, BZ_PAYLOAD, "");
	CHECK_EQ(bz_vm_load(&vm), -ENOMEM);
	mem_free(&vm.m);
	mem_init(&vm.m, 16 * MiB + 0x10000); /* exactly enough */
	CHECK_EQ(bz_vm_load(&vm), 0);
	bz_vm_free(&vm);
}

TEST(bzimage_load_rejects_bad_image)
{
	struct bz_vm vm;
	bz_vm_init(&vm, 32 * MiB, BZ_PAYLOAD, "");
	vm.b.img[0x1fe] = 0;
	CHECK_EQ(bz_vm_load(&vm), -EINVAL);
	bz_vm_free(&vm);
}

TEST(bzimage_load_cmdline_limits)
{
	char line[200];
	memset(line, 'a', sizeof(line));
	line[100] = 0;
	struct bz_vm vm;
	bz_vm_init(&vm, 32 * MiB, BZ_PAYLOAD, line);
	wr32(vm.b.img + 0x238, 100); /* cmdline_size: at most 100 bytes, NUL not counted */
	CHECK_EQ(bz_vm_load(&vm), 0);
	CHECK_EQ(strlen((const char *)gp(&vm.m, LAYOUT_CMDLINE)), 100);
	line[100] = 'a';
	line[101] = 0;
	CHECK_EQ(bz_vm_load(&vm), -EINVAL);

	/* Never more than the area petrel reserves, whatever the kernel says. */
	wr32(vm.b.img + 0x238, 0xffffffff);
	char *big = malloc(LAYOUT_CMDLINE_MAX + 1);
	memset(big, 'b', LAYOUT_CMDLINE_MAX);
	big[LAYOUT_CMDLINE_MAX] = 0;
	vm.req.cmdline = big;
	CHECK_EQ(bz_vm_load(&vm), -EINVAL);
	big[LAYOUT_CMDLINE_MAX - 1] = 0;
	CHECK_EQ(bz_vm_load(&vm), 0);
	free(big);
	bz_vm_free(&vm);
}

TEST(bzimage_load_initrd)
{
	struct bz_vm vm;
	bz_vm_init(&vm, 64 * MiB, BZ_PAYLOAD, "");
	size_t ilen = 3 * 4096 + 123;
	uint8_t *initrd = malloc(ilen);
	for (size_t i = 0; i < ilen; i++)
		initrd[i] = (uint8_t)(i * 13 + 5);
	vm.req.initrd = initrd;
	vm.req.initrd_len = ilen;
	REQUIRE_EQ(bz_vm_load(&vm), 0);
	uint8_t *zp = gp(&vm.m, LAYOUT_ZERO_PAGE);
	uint64_t addr = rd32(zp + 0x218) | (uint64_t)rd32(zp + 0xc0) << 32;
	CHECK_EQ(rd32(zp + 0x21c), ilen);
	CHECK_EQ(rd32(zp + 0xc4), 0);
	/* highest 4 KiB-aligned place in RAM, above the kernel */
	CHECK_EQ_HEX(addr, (64 * MiB - ilen) & ~0xfffull);
	CHECK(addr >= vm.bi.kernel_end);
	CHECK(addr + ilen <= 64 * MiB);
	CHECK(memcmp(gp(&vm.m, addr), initrd, ilen) == 0);

	/* initrd_addr_max limits where it may go: the last byte must be <= initrd_addr_max */
	wr32(vm.b.img + 0x22c, 32 * MiB - 1);
	REQUIRE_EQ(bz_vm_load(&vm), 0);
	addr = rd32(zp + 0x218);
	CHECK_EQ_HEX(addr, (32 * MiB - ilen) & ~0xfffull);
	CHECK(addr + ilen - 1 <= 32 * MiB - 1);
	CHECK(memcmp(gp(&vm.m, addr), initrd, ilen) == 0);

	/* no room between the kernel and the limit */
	wr32(vm.b.img + 0x22c, 0x1000000 + 0x10000 + 0x1000 - 1);
	CHECK_EQ(bz_vm_load(&vm), -ENOMEM);
	/* larger than RAM */
	wr32(vm.b.img + 0x22c, 0xffffffff);
	vm.req.initrd_len = 64 * MiB;
	CHECK_EQ(bz_vm_load(&vm), -ENOMEM);
	free(initrd);
	bz_vm_free(&vm);
}

TEST(bzimage_load_e820_is_clamped)
{
	struct bz_vm vm;
	bz_vm_init(&vm, 32 * MiB, BZ_PAYLOAD, "");
	struct e820_entry many[200];
	for (int i = 0; i < 200; i++)
		many[i] = (struct e820_entry){ (uint64_t)i << 20, 1 << 20, E820_RAM };
	vm.req.e820 = many;
	vm.req.e820_n = 200;
	REQUIRE_EQ(bz_vm_load(&vm), 0);
	uint8_t *zp = gp(&vm.m, LAYOUT_ZERO_PAGE);
	CHECK_EQ(zp[0x1e8], 128);
	CHECK_EQ_HEX(rd64(zp + 0x2d0 + 20 * 127), 127ull << 20);
	/* the table ends at 0x2d0 + 128 * 20 = 0xcd0; what follows stays zero */
	CHECK_EQ(zp[0xcd0], 0);
	bz_vm_free(&vm);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* the loaders log why they refuse; the tests check return codes */
	return unit_main(argc, argv);
}
