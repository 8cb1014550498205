/* Unit tests for initrds decompressed on the host (src/boot/initrd_unpack.c, initrd_cpio.c
 * and the member decoders in unpack_*.c): the layouts the kernel accepts (uncompressed and
 * compressed archives concatenated, zero padding, several members, LZ4's legacy frames ended
 * by a zero word) become the same archives uncompressed; what the kernel would reject or read
 * differently (junk, broken padding, a member ending inside an entry, gzip header fields it
 * does not skip, kernel/ files its early loaders would newly see, a bootconfig tail) leaves
 * the initrd as it is; the output is bounded. The real compressors' formats against cpio as
 * the oracle are in tests/integration/test_initrd_unpack.py. */
#include <errno.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/initrd_unpack.h"
#include "boot/payload.h"
#include "unit.h"

struct buf {
	uint8_t *p;
	size_t len;
};

static void add(struct buf *b, const void *src, size_t n)
{
	b->p = realloc(b->p, b->len + n + 1);
	if (src)
		memcpy(b->p + b->len, src, n);
	else
		memset(b->p + b->len, 0, n);
	b->len += n;
}

/* One newc entry (070701, or 070702 with the data's byte sum). */
static void entry(struct buf *b, const char *magic, const char *name, unsigned mode, const char *data)
{
	size_t nl = strlen(name) + 1, dl = data ? strlen(data) : 0;
	uint32_t sum = 0;
	for (size_t i = 0; i < dl; i++)
		sum += (uint8_t)data[i];
	char h[160];
	snprintf(h, sizeof(h), "%.6s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", magic, 1u,
		 mode, 0u, 0u, 1u, 0u, (unsigned)dl, 0u, 0u, 0u, 0u, (unsigned)nl,
		 strcmp(magic, "070702") ? 0 : sum);
	add(b, h, 110);
	add(b, name, nl);
	add(b, NULL, (4 - (110 + nl) % 4) % 4);
	add(b, data, dl);
	add(b, NULL, (4 - dl % 4) % 4);
}

/* An archive: a directory, a file named name with data, the trailer. */
static struct buf archive(const char *name, const char *data)
{
	struct buf b = { 0 };
	entry(&b, "070701", "etc", 040755, NULL);
	entry(&b, "070701", name, 0100644, data);
	entry(&b, "070701", "TRAILER!!!", 0, NULL);
	return b;
}

static struct buf gzip_of(const struct buf *in, int extra_field)
{
	struct buf o = { 0 };
	z_stream s = { 0 };
	deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	gz_header h = { 0 };
	uint8_t x[4] = { 'p', 't', 0, 0 };
	if (extra_field) {
		h.extra = x;
		h.extra_len = 4;
		deflateSetHeader(&s, &h);
	}
	o.p = malloc(in->len + 1024);
	s.next_in = in->p;
	s.avail_in = (uInt)in->len;
	s.next_out = o.p;
	s.avail_out = (uInt)in->len + 1024;
	deflate(&s, Z_FINISH);
	o.len = s.total_out;
	deflateEnd(&s);
	return o;
}

static struct buf zstd_of(const struct buf *in)
{
	struct buf o = { malloc(ZSTD_compressBound(in->len)), 0 };
	o.len = ZSTD_compress(o.p, ZSTD_compressBound(in->len), in->p, in->len, 3);
	return o;
}

/* LZ4's legacy frame: magic, then [le32 size][block] per 8 MiB. */
static struct buf lz4_of(const struct buf *in)
{
	struct buf o = { 0 };
	add(&o, "\x02\x21\x4c\x18", 4);
	int bound = LZ4_compressBound((int)in->len);
	char *blk = malloc((size_t)bound);
	int n = LZ4_compress_default((const char *)in->p, blk, (int)in->len, bound);
	uint8_t sz[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
	add(&o, sz, 4);
	add(&o, blk, (size_t)n);
	free(blk);
	return o;
}

static void cat(struct buf *b, struct buf part)
{
	add(b, part.p, part.len);
	free(part.p);
}

static int run(const struct buf *img, size_t max, struct initrd_unpacked *u, char *msg)
{
	return initrd_unpack(img->p, img->len, max, u, msg, 320);
}

#define MAX (64u << 20)

TEST(early_uncompressed_then_gzip_becomes_both_uncompressed)
{
	struct buf early = archive("kernel/x86/microcode/GenuineIntel.bin", "microcode");
	struct buf main = archive("init", "#!/bin/sh\necho hello\n");
	struct buf img = { 0 };
	add(&img, early.p, early.len);
	cat(&img, gzip_of(&main, 0));
	struct initrd_unpacked u;
	char msg[320];
	REQUIRE_EQ(run(&img, MAX, &u, msg), 1);
	CHECK_EQ(u.members, 1u);
	CHECK_STR_EQ(u.formats, "gzip");
	CHECK_EQ(u.entries, 6u);
	/* the early archive byte for byte, then the main one at a 4-aligned offset */
	REQUIRE_EQ(u.len, early.len + main.len);
	CHECK(memcmp(u.data, early.p, early.len) == 0);
	CHECK(memcmp(u.data + early.len, main.p, main.len) == 0);
	/* the result has nothing left to decompress */
	struct initrd_unpacked again;
	CHECK_EQ(initrd_unpack(u.data, u.len, MAX, &again, msg, sizeof(msg)), 0);
	CHECK_CONTAINS(msg, "no compressed archive");
	free(u.data);
	free(early.p);
	free(main.p);
	free(img.p);
}

TEST(several_members_with_zero_padding_between)
{
	struct buf a = archive("a", "first"), b = archive("b", "second"), c = archive("c", "third");
	struct buf img = { 0 };
	cat(&img, zstd_of(&a));
	add(&img, NULL, 3);                 /* zeros after a member need no alignment */
	cat(&img, gzip_of(&b, 0));
	add(&img, NULL, 512);
	cat(&img, lz4_of(&c));
	add(&img, NULL, 4);                 /* LZ4 has no end marker: a zero word ends it */
	cat(&img, gzip_of(&a, 0));
	struct initrd_unpacked u;
	char msg[320];
	REQUIRE_EQ(run(&img, MAX, &u, msg), 1);
	CHECK_EQ(u.members, 4u);
	CHECK_STR_EQ(u.formats, "zstd+gzip+lz4+gzip");
	CHECK_EQ(u.entries, 12u);
	CHECK_EQ(u.len, a.len + b.len + c.len + a.len);
	CHECK(memcmp(u.data + a.len + b.len, c.p, c.len) == 0);
	free(u.data);
	free(a.p);
	free(b.p);
	free(c.p);
	free(img.p);
}

TEST(lz4_member_runs_to_the_end_unless_a_zero_word_ends_it)
{
	struct buf a = archive("a", "first"), b = archive("b", "second");
	struct buf img = { 0 };
	cat(&img, lz4_of(&a));
	add(&img, b.p, b.len);              /* the kernel reads this cpio as one more LZ4 block */
	struct initrd_unpacked u;
	char msg[320];
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "lz4");
	free(a.p);
	free(b.p);
	free(img.p);
}

TEST(kernel_errors_leave_the_initrd_alone)
{
	struct buf a = archive("a", "first");
	struct initrd_unpacked u;
	char msg[320];
	struct {
		const char *what, *why;
		struct buf img;
	} cases[4] = { { "junk after a member", "invalid magic" },
		       { "archive cut across two gzip members", "truncated cpio" },
		       { "uncompressed archive at an odd offset after a member", "invalid magic" },
		       { "member whose data starts with zeros", "no cpio magic" } };
	cat(&cases[0].img, gzip_of(&a, 0));
	add(&cases[0].img, "junk", 4);
	struct buf h1 = { a.p, 200 }, h2 = { a.p + 200, a.len - 200 };
	cat(&cases[1].img, gzip_of(&h1, 0));
	cat(&cases[1].img, gzip_of(&h2, 0));
	cat(&cases[2].img, zstd_of(&a));
	while (cases[2].img.len % 4 != 1)
		add(&cases[2].img, NULL, 1);
	add(&cases[2].img, a.p, a.len);
	struct buf z = { 0 };
	add(&z, NULL, 4);
	add(&z, a.p, a.len);
	cat(&cases[3].img, gzip_of(&z, 0));
	free(z.p);
	for (int i = 0; i < 4; i++) {
		int r = run(&cases[i].img, MAX, &u, msg);
		CHECK_EQ(r, -EINVAL);
		if (!strstr(msg, cases[i].why))
			unit_fail_(__FILE__, __LINE__, "%s: '%s' lacks '%s'", cases[i].what, msg, cases[i].why);
		free(cases[i].img.p);
	}
	free(a.p);
}

TEST(broken_padding_and_bad_checksums_are_kernel_errors)
{
	struct initrd_unpacked u;
	char msg[320];
	struct buf a = archive("a", "first");
	struct buf img = { 0 };
	add(&img, a.p, a.len);
	add(&img, NULL, 2);                 /* the next archive 2 bytes off alignment */
	cat(&img, gzip_of(&a, 0));
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "broken padding");
	free(img.p);

	struct buf crc = { 0 };
	entry(&crc, "070702", "f", 0100644, "data");
	crc.p[6 + 8 * 12 + 7] = crc.p[6 + 8 * 12 + 7] == '0' ? '1' : '0'; /* checksum's last digit */
	entry(&crc, "070701", "TRAILER!!!", 0, NULL);
	img = (struct buf){ 0 };
	cat(&img, gzip_of(&crc, 0));
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "bad data checksum");
	free(crc.p);
	free(img.p);
	free(a.p);
}

TEST(gzip_header_fields_the_kernel_does_not_skip)
{
	struct buf a = archive("a", "first");
	struct buf img = { 0 };
	cat(&img, gzip_of(&a, 1));
	struct initrd_unpacked u;
	char msg[320];
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "header flags");
	/* a wrong CRC in the trailer: the kernel would not notice, petrel does and stands back */
	img.len = 0;
	cat(&img, gzip_of(&a, 0));
	img.p[img.len - 8] ^= 0xff;
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "trailer");
	free(img.p);
	free(a.p);
}

TEST(kernel_files_inside_a_compressed_archive_stay_compressed)
{
	/* the early loaders scan the uncompressed start of the initrd for kernel/...: an
	 * ACPI table in the compressed archive must not become visible to them */
	struct buf a = archive("kernel/firmware/acpi/ssdt.aml", "table");
	struct buf img = { 0 };
	cat(&img, gzip_of(&a, 0));
	struct initrd_unpacked u;
	char msg[320];
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "early loaders");
	free(img.p);
	free(a.p);
	a = archive("./kernel/x86/microcode/AuthenticAMD.bin", "ucode");
	img = (struct buf){ 0 };
	cat(&img, zstd_of(&a));
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	free(img.p);
	free(a.p);
}

TEST(output_is_bounded)
{
	struct buf big = { 0 };
	char *data = calloc(1, 1u << 20);
	memset(data, 'x', (1u << 20) - 1);
	entry(&big, "070701", "big", 0100644, data);
	entry(&big, "070701", "TRAILER!!!", 0, NULL);
	free(data);
	struct buf img = { 0 };
	cat(&img, gzip_of(&big, 0));
	REQUIRE(img.len < 8192);            /* a 1 MiB archive from a few KiB */
	struct initrd_unpacked u;
	char msg[320];
	CHECK_EQ(run(&img, 256u << 10, &u, msg), -EFBIG);
	CHECK_CONTAINS(msg, "limit");
	CHECK_EQ(run(&img, 2u << 20, &u, msg), 1);
	free(u.data);
	free(img.p);
	struct buf lz = lz4_of(&big);
	CHECK_EQ(run(&lz, 256u << 10, &u, msg), -EFBIG);
	free(lz.p);
	free(big.p);
}

TEST(nothing_to_do)
{
	struct initrd_unpacked u;
	char msg[320];
	struct buf a = archive("a", "first");
	CHECK_EQ(run(&a, MAX, &u, msg), 0);
	CHECK_CONTAINS(msg, "no compressed archive");
	struct buf img = { 0 };
	cat(&img, gzip_of(&a, 0));
	add(&img, "\0\0\0\0#BOOTCONFIG\n", 16);
	CHECK_EQ(run(&img, MAX, &u, msg), 0);
	CHECK_CONTAINS(msg, "bootconfig");
	struct buf empty = { 0 };
	CHECK_EQ(run(&empty, MAX, &u, msg), 0);
	free(img.p);
	free(a.p);
}

TEST(entries_the_kernel_skips_by_chunk_are_left_to_it)
{
	/* a device node with data: the kernel's skip then depends on how its decompressor cuts
	 * the output, so petrel does not promise the same result */
	struct buf b = { 0 };
	entry(&b, "070701", "dev/x", 020644, "data");
	entry(&b, "070701", "TRAILER!!!", 0, NULL);
	struct buf img = { 0 };
	cat(&img, gzip_of(&b, 0));
	struct initrd_unpacked u;
	char msg[320];
	CHECK_EQ(run(&img, MAX, &u, msg), -EINVAL);
	CHECK_CONTAINS(msg, "data the kernel skips");
	free(img.p);
	free(b.p);
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
