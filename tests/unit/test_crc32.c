/* util/crc32.c: libdeflate's CRC-32 in place of zlib's for the VM-state checksum (snapshots,
 * migration, replication) and the E1000's FCS. The state format must not change: the values
 * are zlib's on random buffers of every length up to 300 bytes and large ones, also continued
 * piece by piece; a state file's END checksum is zlib's crc32 of what comes before it, so
 * files written by a petrel that used zlib (main before this) still open, and theirs ours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapshot/format.h"
#include "unit.h"
#include "util/crc32.h"

static uint32_t zlib_crc(uint32_t c, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(c, p, (uInt)n);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rand();
}

TEST(libdeflate_is_there_and_used)
{
	/* a host without it falls back to zlib silently: this host must test the fast one */
	CHECK(crc32_load() == NULL);
}

TEST(the_check_value)
{
	CHECK_EQ(crc32_fast(0, "123456789", 9), 0xcbf43926u);
	CHECK_EQ(crc32_fast(0, "", 0), 0u);
	CHECK_EQ(crc32_fast(0x12345678, "", 0), 0x12345678u);
}

TEST(zlibs_values_on_random_buffers)
{
	static uint8_t b[(1u << 22) + 77];
	fill(b, sizeof(b), 1);
	for (size_t n = 0; n <= 300; n++)
		for (size_t off = 0; off < 16; off += 5)   /* unaligned starts too */
			CHECK_EQ(crc32_fast(0, b + off, n), zlib_crc(0, b + off, n));
	CHECK_EQ(crc32_fast(0, b, sizeof(b)), zlib_crc(0, b, sizeof(b)));
	CHECK_EQ(crc32_fast(0, b + 3, 65536 + 5), zlib_crc(0, b + 3, 65536 + 5));
}

TEST(zlibs_values_continued_piece_by_piece)
{
	static uint8_t b[1 << 20];
	fill(b, sizeof(b), 2);
	uint32_t whole = zlib_crc(0, b, sizeof(b));
	/* pieces of random lengths, each continuing the last: ours, zlib's, and the two mixed */
	srand(3);
	uint32_t ours = 0, theirs = 0, mixed = 0;
	bool turn = false;
	for (size_t off = 0; off < sizeof(b);) {
		size_t n = (size_t)rand() % 5000;
		if (n > sizeof(b) - off)
			n = sizeof(b) - off;
		ours = crc32_fast(ours, b + off, n);
		theirs = zlib_crc(theirs, b + off, n);
		mixed = (turn = !turn) ? crc32_fast(mixed, b + off, n) : zlib_crc(mixed, b + off, n);
		CHECK_EQ(ours, theirs);
		off += n;
	}
	CHECK_EQ(ours, whole);
	CHECK_EQ(mixed, whole);
}

TEST(a_state_files_checksum_is_zlibs_crc32)
{
	struct snap_writer w;
	snap_writer_init(&w);
	uint8_t payload[1000];
	fill(payload, sizeof(payload), 4);
	snap_section(&w, SNAP_ID('T', 'E', 'S', 'T'), 0, 1, payload, sizeof(payload));
	snap_section(&w, SNAP_ID('T', 'E', 'S', 'T'), 1, 1, payload, 13);
	CHECK_EQ(snap_finish(&w), 0);
	size_t end = w.len - SNAP_SECTION_HEADER_SIZE - 8;
	uint32_t stored;
	memcpy(&stored, w.buf + end + SNAP_SECTION_HEADER_SIZE, 4);
	CHECK_EQ(stored, zlib_crc(0, w.buf, end));   /* written as main's build wrote it */
	/* a file whose checksum zlib made (as main's build did) opens; one bit off does not */
	uint32_t z = zlib_crc(0, w.buf, end);
	memcpy(w.buf + end + SNAP_SECTION_HEADER_SIZE, &z, 4);
	struct snap_reader r;
	char err[256];
	CHECK_EQ(snap_open(&r, w.buf, w.len, err, sizeof(err)), 0);
	w.buf[40] ^= 1;
	CHECK(snap_open(&r, w.buf, w.len, err, sizeof(err)) < 0);
	CHECK(strstr(err, "checksum") != NULL);
	snap_writer_free(&w);
}

TEST(a_state_file_written_with_zlibs_crc_opens)
{
	/* the seed of fuzz_snapshot: a real VM's state, saved under KVM by a build that used zlib */
	FILE *f = fopen(PETREL_SRC_ROOT "/tests/fuzz/corpus/fuzz_snapshot/counter-1vcpu.state", "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	static uint8_t b[65536];
	size_t n = fread(b, 1, sizeof(b), f);
	fclose(f);
	struct snap_reader r;
	char err[256] = "";
	CHECK_EQ(snap_open(&r, b, n, err, sizeof(err)), 0);
	CHECK(r.nsections > 3);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
