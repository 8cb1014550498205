/* Unit tests for bzImage payloads decompressed on the host (src/boot/payload.c,
 * unpack_*.c, bzimage_unpack.c): each format round-trips; truncated, corrupt and oversized
 * ("bomb") streams are refused; the bzImage -> entry decision and the two direct loads
 * (PVH, startup_64 with a zero page), over a fake guest memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "boot/boot.h"
#include "boot/bzimage_unpack.h"
#include "boot/payload.h"
#include "boot/payload_lib.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "kernel_images.h"
#include "unit.h"

#define MiB (1ull << 20)

static const enum payload_format formats[] = { PAYLOAD_GZIP, PAYLOAD_BZIP2, PAYLOAD_LZMA,
					       PAYLOAD_XZ, PAYLOAD_LZ4, PAYLOAD_ZSTD, PAYLOAD_LZO };
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

static void mem_init(struct guest_mem *m, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->regions[0] = (struct guest_region){ 0, size, calloc(1, size) };
	m->nregions = 1;
	m->total = size;
}

static void mem_free(struct guest_mem *m) { free(m->regions[0].hva); }

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* The compressed stream of a payload: without the appended size (all but gzip). */
static size_t stream_len(enum payload_format f, size_t plen) { return f == PAYLOAD_GZIP ? plen : plen - 4; }

TEST(detect_by_magic)
{
	CHECK_EQ(payload_detect((const uint8_t *)"\x1f\x8b\x08", 3), PAYLOAD_GZIP);
	CHECK_EQ(payload_detect((const uint8_t *)"BZh9", 4), PAYLOAD_BZIP2);
	CHECK_EQ(payload_detect((const uint8_t *)"\x5d\x00\x00\x80", 4), PAYLOAD_LZMA);
	CHECK_EQ(payload_detect((const uint8_t *)"\xfd" "7zXZ\x00", 6), PAYLOAD_XZ);
	CHECK_EQ(payload_detect((const uint8_t *)"\x02\x21\x4c\x18", 4), PAYLOAD_LZ4);
	CHECK_EQ(payload_detect((const uint8_t *)"\x28\xb5\x2f\xfd", 4), PAYLOAD_ZSTD);
	CHECK_EQ(payload_detect((const uint8_t *)"\x89LZO\x00", 5), PAYLOAD_LZO);
	CHECK_EQ(payload_detect((const uint8_t *)"\x7f" "ELF", 4), PAYLOAD_UNKNOWN);
	CHECK_EQ(payload_detect((const uint8_t *)"\x1f", 1), PAYLOAD_UNKNOWN);
	CHECK_EQ(payload_detect(NULL, 0), PAYLOAD_UNKNOWN);
	CHECK_STR_EQ(payload_format_name(PAYLOAD_LZ4), "lz4");
	char err[128];
	uint8_t out[4];
	CHECK_EQ(payload_decompress(PAYLOAD_UNKNOWN, out, 4, out, 4, err, sizeof(err)), -ENOTSUP);
}

TEST(each_format_round_trips)
{
	struct ki_buf elf = ki_vmlinux(200000, 1, 3000);
	for (size_t i = 0; i < NFORMATS; i++) {
		enum payload_format f = formats[i];
		struct ki_buf c = ki_compress(f, elf.p, elf.len);
		REQUIRE(c.p != NULL);
		CHECK_EQ(payload_detect(c.p, c.len), f);
		CHECK(c.len < elf.len / 2);
		uint8_t *out = malloc(elf.len);
		char err[256] = "";
		int r = payload_decompress(f, c.p, stream_len(f, c.len), out, elf.len, err, sizeof(err));
		if (r != 0)
			printf("  %s: %s\n", payload_format_name(f), err);
		CHECK_EQ(r, 0);
		CHECK(memcmp(out, elf.p, elf.len) == 0);
		free(out);
		free(c.p);
	}
	free(elf.p);
}

TEST(lz4_several_legacy_blocks)
{
	struct ki_buf elf = ki_vmlinux(17 * MiB, 0, 0);  /* three 8 MiB blocks */
	struct ki_buf c = ki_compress(PAYLOAD_LZ4, elf.p, elf.len);
	REQUIRE(c.p != NULL);
	uint8_t *out = malloc(elf.len);
	char err[256];
	CHECK_EQ(unpack_lz4(c.p, c.len - 4, out, elf.len, err, sizeof(err)), 0);
	CHECK(memcmp(out, elf.p, elf.len) == 0);
	free(out);
	free(c.p);
	free(elf.p);
}

/* Every format refuses: a stream cut anywhere, more output than the buffer (a bomb, or a
 * lying size), less output than announced, and garbage. */
TEST(truncated_bomb_and_short_streams_are_refused)
{
	struct ki_buf elf = ki_vmlinux(100000, 1, 0);
	uint8_t *out = malloc(elf.len + 100);
	char err[256];
	for (size_t i = 0; i < NFORMATS; i++) {
		enum payload_format f = formats[i];
		struct ki_buf c = ki_compress(f, elf.p, elf.len);
		REQUIRE(c.p != NULL);
		size_t sl = stream_len(f, c.len);
		const size_t cuts[] = { 0, 1, 3, 7, sl / 3, sl / 2, sl - 9, sl - 1 };
		for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
			int r = payload_decompress(f, c.p, cuts[k], out, elf.len, err, sizeof(err));
			if (r != -EINVAL)
				printf("  %s cut at %zu: %d\n", payload_format_name(f), cuts[k], r);
			CHECK_EQ(r, -EINVAL);
		}
		/* The output buffer is one byte short: the decoder must stop, not write on. */
		uint8_t *tight = malloc(elf.len - 1);
		CHECK_EQ(payload_decompress(f, c.p, sl, tight, elf.len - 1, err, sizeof(err)), -EINVAL);
		free(tight);
		CHECK_EQ(payload_decompress(f, c.p, sl, out, elf.len / 10, err, sizeof(err)), -EINVAL);
		CHECK_EQ(payload_decompress(f, c.p, sl, out, elf.len + 100, err, sizeof(err)), -EINVAL);
		free(c.p);
	}
	uint8_t junk[64];
	memset(junk, 0xa5, sizeof(junk));
	for (size_t i = 0; i < NFORMATS; i++)
		CHECK_EQ(payload_decompress(formats[i], junk, sizeof(junk), out, 1000, err, sizeof(err)),
			 -EINVAL);
	free(out);
	free(elf.p);
}

/* Formats with checksums (all but LZ4) notice a flipped byte; LZ4 may decode it to other
 * bytes of the same length, but never crashes or writes past the buffer. */
TEST(corrupt_streams_are_refused)
{
	struct ki_buf elf = ki_vmlinux(50000, 1, 0);
	uint8_t *out = malloc(elf.len);
	char err[256];
	for (size_t i = 0; i < NFORMATS; i++) {
		enum payload_format f = formats[i];
		struct ki_buf c = ki_compress(f, elf.p, elf.len);
		REQUIRE(c.p != NULL);
		size_t sl = stream_len(f, c.len);
		/* From byte 10: gzip's header has an unchecked timestamp at 4-7. */
		for (size_t pos = 10; pos < sl; pos += sl / 13 + 1) {
			c.p[pos] ^= 0x5a;
			int r = payload_decompress(f, c.p, sl, out, elf.len, err, sizeof(err));
			if (f != PAYLOAD_LZ4 && r == 0)
				printf("  %s: flip at %zu not detected\n", payload_format_name(f), pos);
			CHECK(r == -EINVAL || (f == PAYLOAD_LZ4 && r == 0));
			c.p[pos] ^= 0x5a;
		}
		free(c.p);
	}
	free(out);
	free(elf.p);
}

/* ---- the decision ---- */

struct case_ {
	struct ki_buf elf, bz;
	struct bzimage_info info;
};

static int make_case(struct case_ *k, enum payload_format f, int pvh, uint32_t init_size)
{
	k->elf = ki_vmlinux(64 * 1024, pvh, 2000);
	struct ki_buf c = ki_compress(f, k->elf.p, k->elf.len);
	if (!c.p)
		return -1;
	k->bz = ki_bzimage(c.p, c.len, k->elf.len, init_size);
	free(c.p);
	char err[256];
	return bzimage_parse(k->bz.p, k->bz.len, &k->info, err, sizeof(err));
}

static void free_case(struct case_ *k)
{
	free(k->elf.p);
	free(k->bz.p);
}

static int decide(struct case_ *k, const struct guest_mem *m, enum boot_decompress how,
		  struct bzimage_unpacked *u, char *msg)
{
	return bzimage_unpack(k->bz.p, k->bz.len, &k->info, m, how, u, msg, 256);
}

TEST(decision_per_format_and_entry)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	char msg[256];
	for (size_t i = 0; i < NFORMATS; i++) {
		struct case_ k;
		REQUIRE_EQ(make_case(&k, formats[i], 1, 0), 0);
		struct bzimage_unpacked u;
		CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), 1);
		CHECK_EQ(u.format, formats[i]);
		CHECK_EQ(u.mode, BOOT_PVH);
		CHECK_EQ_HEX(u.entry, KI_LOAD + KI_PVH_OFF);
		CHECK_EQ(u.elf_len, k.elf.len);
		CHECK(u.elf && memcmp(u.elf, k.elf.p, k.elf.len) == 0);
		bzimage_unpacked_free(&u);
		CHECK_NULL(u.elf);

		CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST_LINUX64, &u, msg), 1);
		CHECK_EQ(u.mode, BOOT_LINUX64);
		CHECK_EQ_HEX(u.entry, KI_LOAD);
		bzimage_unpacked_free(&u);

		CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_GUEST, &u, msg), 0);
		CHECK_CONTAINS(msg, "--kernel-decompress guest");
		CHECK_NULL(u.elf);
		free_case(&k);
	}
	/* Without a PVH note: startup_64. */
	struct case_ k;
	REQUIRE_EQ(make_case(&k, PAYLOAD_ZSTD, 0, 0), 0);
	struct bzimage_unpacked u;
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), 1);
	CHECK_EQ(u.mode, BOOT_LINUX64);
	CHECK_EQ_HEX(u.entry, KI_LOAD);
	bzimage_unpacked_free(&u);
	free_case(&k);
	mem_free(&m);
}

TEST(decision_falls_back)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	char msg[256];
	struct bzimage_unpacked u;
	struct case_ k;

	/* No payload fields (boot protocol before 2.08 or a hand-made image). */
	REQUIRE_EQ(make_case(&k, PAYLOAD_GZIP, 1, 0), 0);
	k.info.payload_length = 0;
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), 0);
	CHECK_CONTAINS(msg, "no payload");
	/* Payload outside the image. */
	k.info.payload_length = (uint32_t)k.info.kernel_size;
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "outside the image");
	k.info.payload_offset = 0xffffffff;
	k.info.payload_length = 0xffffffff;
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), -EINVAL);
	free_case(&k);

	/* Unknown magic; another format's magic on a gzip stream. */
	REQUIRE_EQ(make_case(&k, PAYLOAD_GZIP, 1, 0), 0);
	k.bz.p[KI_KOFF + KI_STUB] = 0x42;
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), 0);
	CHECK_CONTAINS(msg, "unknown format");
	memcpy(k.bz.p + KI_KOFF + KI_STUB, "\x89LZO", 4);
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "lzo");
	free_case(&k);

	/* The announced size is larger than init_size (a lie), or than the guest's RAM. */
	REQUIRE_EQ(make_case(&k, PAYLOAD_LZ4, 1, 0x10000), 0);
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "init_size");
	free_case(&k);
	REQUIRE_EQ(make_case(&k, PAYLOAD_LZ4, 1, 0x7fffffff), 0);
	uint8_t *size = k.bz.p + k.bz.len - 4;
	ki_put32(size, 0x7ffffff0);
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), 0);
	CHECK_CONTAINS(msg, "more than the guest's RAM");
	/* ... or smaller than what the stream holds: the decoder stops at the buffer's end. */
	ki_put32(size, (uint32_t)k.elf.len - 1);
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "does not decompress");
	ki_put32(size, 0);
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), -EINVAL);
	free_case(&k);

	/* A truncated payload. */
	REQUIRE_EQ(make_case(&k, PAYLOAD_XZ, 1, 0), 0);
	k.info.payload_length -= 100;
	memcpy(k.bz.p + KI_KOFF + KI_STUB + k.info.payload_length - 4, &(uint32_t){ (uint32_t)k.elf.len }, 4);
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), -EINVAL);
	CHECK_NULL(u.elf);
	free_case(&k);

	/* The kernel's link address is beyond this guest's RAM (16 MiB + the image). */
	struct guest_mem small;
	mem_init(&small, 16 * MiB);
	REQUIRE_EQ(make_case(&k, PAYLOAD_GZIP, 1, 0), 0);
	CHECK_EQ(decide(&k, &small, BOOT_DECOMPRESS_HOST, &u, msg), 0);
	CHECK_CONTAINS(msg, "link address");
	CHECK_NULL(u.elf);
	free_case(&k);
	mem_free(&small);

	/* The payload is not an ELF. */
	uint8_t raw[4096];
	uint32_t x = 1;
	for (size_t i = 0; i < sizeof(raw); i++) /* incompressible: the image stays large enough */
		raw[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 24);
	struct ki_buf c = ki_compress(PAYLOAD_GZIP, raw, sizeof(raw));
	k.elf = (struct ki_buf){ NULL, 0 };
	k.bz = ki_bzimage(c.p, c.len, sizeof(raw), 0);
	free(c.p);
	REQUIRE_EQ(bzimage_parse(k.bz.p, k.bz.len, &k.info, msg, sizeof(msg)), 0);
	CHECK_EQ(decide(&k, &m, BOOT_DECOMPRESS_HOST, &u, msg), 0);
	CHECK_CONTAINS(msg, "not a usable vmlinux");
	free_case(&k);
	mem_free(&m);
}

/* ---- the loads ---- */

static struct boot_request req_of(struct case_ *k, const char *cmdline, const uint8_t *initrd,
				  size_t ilen, const struct e820_entry *e820, int n,
				  enum boot_decompress how)
{
	return (struct boot_request){ .kernel = k->bz.p, .kernel_len = k->bz.len, .initrd = initrd,
				      .initrd_len = ilen, .cmdline = cmdline, .e820 = e820,
				      .e820_n = n, .rsdp = 0xe0000, .decompress = how };
}

TEST(load_linux64_fills_the_zero_page)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	struct e820_entry e820[E820_MAX];
	int n = e820_build(&m, e820);
	struct case_ k;
	REQUIRE_EQ(make_case(&k, PAYLOAD_LZ4, 0, 0), 0);
	uint8_t initrd[5000];
	memset(initrd, 0x77, sizeof(initrd));
	struct boot_request req = req_of(&k, "console=ttyS0 root=/dev/vda", initrd, sizeof(initrd), e820, n,
					 BOOT_DECOMPRESS_HOST);
	struct boot_info bi;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_LINUX64);
	CHECK_EQ_HEX(bi.entry, KI_LOAD);
	CHECK_EQ_HEX(bi.params, LAYOUT_ZERO_PAGE);
	CHECK_EQ_HEX(bi.kernel_end, KI_LOAD + 64 * 1024 + KI_BSS);
	/* The segment at its link address, its bss zeroed; the protected-mode code is not there. */
	CHECK(memcmp(guest_mem_ptr(&m, KI_LOAD, 64 * 1024), k.elf.p + 0x1000, 64 * 1024) == 0);
	const uint8_t *bss = guest_mem_ptr(&m, KI_LOAD + 64 * 1024, KI_BSS);
	CHECK(bss[0] == 0 && bss[KI_BSS - 1] == 0);
	/* The zero page: what the classic path writes. */
	const uint8_t *zp = guest_mem_ptr(&m, LAYOUT_ZERO_PAGE, 4096);
	CHECK(memcmp(zp + 0x202, "HdrS", 4) == 0);
	CHECK_EQ(zp[0x210], 0xff);                       /* type_of_loader */
	CHECK_EQ(zp[0x211] & 0x81, 0x81);                /* LOADED_HIGH | CAN_USE_HEAP */
	CHECK_EQ_HEX(rd32(zp + 0x214), KI_LOAD);         /* code32_start */
	CHECK_EQ_HEX(rd32(zp + 0x228), LAYOUT_CMDLINE);  /* cmd_line_ptr */
	CHECK_STR_EQ((const char *)guest_mem_ptr(&m, LAYOUT_CMDLINE, 1), "console=ttyS0 root=/dev/vda");
	uint32_t rd = rd32(zp + 0x218);
	CHECK_EQ(rd32(zp + 0x21c), sizeof(initrd));
	CHECK(rd >= bi.kernel_end && rd % 4096 == 0);
	CHECK(memcmp(guest_mem_ptr(&m, rd, sizeof(initrd)), initrd, sizeof(initrd)) == 0);
	CHECK_EQ(zp[0x1e8], n);                          /* e820_entries */
	CHECK_EQ_HEX(rd64(zp + 0x2d0 + 8), e820[0].size);
	CHECK_EQ_HEX(rd64(zp + 0x070), 0xe0000);         /* acpi_rsdp_addr */
	free_case(&k);
	mem_free(&m);
}

TEST(load_pvh_from_the_bzimage)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	struct e820_entry e820[E820_MAX];
	int n = e820_build(&m, e820);
	struct case_ k;
	REQUIRE_EQ(make_case(&k, PAYLOAD_GZIP, 1, 0), 0);
	uint8_t initrd[100] = { 9, 8, 7 };
	struct boot_request req = req_of(&k, "quiet", initrd, sizeof(initrd), e820, n, BOOT_DECOMPRESS_HOST);
	struct boot_info bi;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_PVH);
	CHECK_EQ_HEX(bi.entry, KI_LOAD + KI_PVH_OFF);
	CHECK_EQ_HEX(bi.params, LAYOUT_START_INFO);
	const uint8_t *si = guest_mem_ptr(&m, LAYOUT_START_INFO, 56);
	CHECK_EQ_HEX(rd32(si), 0x336ec578);              /* hvm_start_info magic */
	CHECK_EQ(rd32(si + 12), 1);                      /* nr_modules: the initrd */
	CHECK_EQ_HEX(rd64(si + 24), LAYOUT_CMDLINE);
	CHECK_EQ_HEX(rd64(si + 32), 0xe0000);
	CHECK_EQ(rd32(si + 48), (uint32_t)n);
	CHECK_STR_EQ((const char *)guest_mem_ptr(&m, LAYOUT_CMDLINE, 1), "quiet");
	CHECK(memcmp(guest_mem_ptr(&m, KI_LOAD, 4096), k.elf.p + 0x1000, 4096) == 0);

	/* The bzImage's cmdline_size still applies on the PVH path. */
	char longline[2100];
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	req.cmdline = longline;
	CHECK_EQ(bzimage_load(&m, &req, &bi), -EINVAL);
	free_case(&k);
	mem_free(&m);
}

TEST(load_falls_back_to_the_classic_path)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	struct case_ k;
	REQUIRE_EQ(make_case(&k, PAYLOAD_XZ, 1, 0), 0);
	struct boot_request req = req_of(&k, "", NULL, 0, NULL, 0, BOOT_DECOMPRESS_GUEST);
	struct boot_info bi;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_LINUX64);
	CHECK_EQ_HEX(bi.entry, KI_LOAD + 0x200);  /* the kernel's own decompressor at pref_address */
	CHECK(memcmp(guest_mem_ptr(&m, KI_LOAD, 64), k.bz.p + KI_KOFF, 64) == 0);
	/* A corrupt payload: the same, with a warning. */
	k.bz.p[KI_KOFF + KI_STUB + 40] ^= 0xff;
	req.decompress = BOOT_DECOMPRESS_HOST;
	REQUIRE_EQ(bzimage_load(&m, &req, &bi), 0);
	CHECK_EQ_HEX(bi.entry, KI_LOAD + 0x200);
	free_case(&k);
	mem_free(&m);
}

TEST(missing_library_is_not_supported)
{
	static void (*fn)(void);
	const struct payload_sym syms[] = { { "nothing", (void **)&fn } };
	char err[256];
	CHECK_EQ(payload_lib_load("libpetrel-no-such-library.so.9", syms, 1, err, sizeof(err)), -ENOTSUP);
	CHECK_CONTAINS(err, "libpetrel-no-such-library.so.9");
	CHECK_NULL(fn);
	const struct payload_sym missing[] = { { "LZ4_no_such_function", (void **)&fn } };
	CHECK_EQ(payload_lib_load("liblz4.so.1", missing, 1, err, sizeof(err)), -ENOTSUP);
	CHECK_CONTAINS(err, "LZ4_no_such_function");
	CHECK_NULL(fn);
}

TEST(decompress_option_names)
{
	unsigned v = 99;
	CHECK_EQ(boot_decompress_from_name("host", &v), 0);
	CHECK_EQ(v, BOOT_DECOMPRESS_HOST);
	CHECK_EQ(boot_decompress_from_name("host-linux64", &v), 0);
	CHECK_EQ(v, BOOT_DECOMPRESS_HOST_LINUX64);
	CHECK_EQ(boot_decompress_from_name("guest", &v), 0);
	CHECK_EQ(v, BOOT_DECOMPRESS_GUEST);
	CHECK_EQ(boot_decompress_from_name("off", &v), -EINVAL);
	CHECK_EQ(boot_decompress_from_name("", &v), -EINVAL);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
