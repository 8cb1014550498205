/* Unit tests for src/snapshot/format.c: the VM-state file format every snapshot, migration
 * stream and replica uses. A hostile file must be refused with a reason, never misread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/format.h"
#include "unit.h"

#define ID_A SNAP_ID('A', 'A', 'A', 'A')
#define ID_B SNAP_ID('B', 'B', ' ', ' ')

static struct snap_writer sample(void)
{
	struct snap_writer w;
	snap_writer_init(&w);
	uint64_t v = 0x1122334455667788ull;
	snap_section(&w, ID_A, 0, 1, &v, sizeof(v));
	snap_section(&w, ID_A, 1, 1, "abc", 3); /* needs padding */
	snap_begin(&w, ID_B, 7, 3);
	snap_put(&w, "hello ", 6);
	snap_put(&w, "world", 5);
	snap_end(&w);
	snap_section(&w, ID_B, 8, 1, NULL, 0);
	CHECK_EQ(snap_finish(&w), 0);
	return w;
}

TEST(round_trip)
{
	struct snap_writer w = sample();
	CHECK_EQ(w.len % 8, 0);
	struct snap_reader r;
	char err[256] = "";
	CHECK_EQ(snap_open(&r, w.buf, w.len, err, sizeof(err)), 0);
	CHECK_EQ(r.nsections, 4);
	CHECK_EQ(snap_count(&r, ID_A), 2);
	uint64_t v = 0;
	CHECK_EQ(snap_get(&r, ID_A, 0, 1, &v, sizeof(v), err, sizeof(err)), 0);
	CHECK_EQ(v, 0x1122334455667788ull);
	uint32_t ver;
	const void *p;
	uint64_t len;
	CHECK_EQ(snap_find(&r, ID_B, 7, &ver, &p, &len), 0);
	CHECK_EQ(ver, 3);
	CHECK_EQ(len, 11);
	CHECK(memcmp(p, "hello world", 11) == 0);
	CHECK_EQ(snap_find(&r, ID_B, 8, &ver, &p, &len), 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(snap_find(&r, ID_B, 9, &ver, &p, &len), -ENOENT);
	/* fixed-size reads insist on version and size */
	CHECK_EQ(snap_get(&r, ID_A, 0, 2, &v, sizeof(v), err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "version 1") != NULL);
	CHECK_EQ(snap_get(&r, ID_A, 1, 1, &v, sizeof(v), err, sizeof(err)), -EINVAL);
	CHECK_EQ(snap_get(&r, ID_A, 5, 1, &v, sizeof(v), err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "AAAA") != NULL);
	snap_writer_free(&w);
}

TEST(every_truncation_and_every_flipped_byte_is_refused)
{
	struct snap_writer w = sample();
	struct snap_reader r;
	char err[256];
	for (size_t n = 0; n < w.len; n++) {
		err[0] = '\0';
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, w.buf, n);
		CHECK_EQ(snap_open(&r, copy, n, err, sizeof(err)), -EINVAL);
		CHECK(err[0] != '\0');
		free(copy);
	}
	uint8_t *copy = malloc(w.len);
	for (size_t i = 0; i < w.len; i++) {
		memcpy(copy, w.buf, w.len);
		copy[i] ^= 0x01;
		err[0] = '\0';
		CHECK_EQ(snap_open(&r, copy, w.len, err, sizeof(err)), -EINVAL);
		CHECK(err[0] != '\0');
	}
	free(copy);
	snap_writer_free(&w);
}

TEST(specific_refusals_say_why)
{
	struct snap_writer w = sample();
	struct snap_reader r;
	char err[256];
	uint8_t *c = malloc(w.len + 16);
	memcpy(c, w.buf, w.len);
	c[8] = SNAP_FORMAT_VERSION + 1; /* a newer format version */
	CHECK_EQ(snap_open(&r, c, w.len, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "format version 3") != NULL);
	c[8] = 1; /* format 1 (structs written as they were in memory): named, and refused */
	CHECK_EQ(snap_open(&r, c, w.len, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "has format version 1; this petrel reads format version 2 only");
	memcpy(c, w.buf, w.len);
	memset(c + w.len, 0, 16); /* data after END (and the header's length no longer matches) */
	CHECK_EQ(snap_open(&r, c, w.len + 16, err, sizeof(err)), -EINVAL);
	memcpy(c, "NOTASNAP", 8);
	CHECK_EQ(snap_open(&r, c, w.len, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not a petrel state file") != NULL);
	/* a section length reaching past the end, fixed up so only that is wrong but the CRC */
	memcpy(c, w.buf, w.len);
	uint64_t huge = ~0ull - 3;
	memcpy(c + SNAP_HEADER_SIZE + 16, &huge, 8);
	CHECK_EQ(snap_open(&r, c, w.len, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "past the end") != NULL);
	free(c);
	snap_writer_free(&w);
}

TEST(writer_misuse_is_sticky)
{
	struct snap_writer w;
	snap_writer_init(&w);
	snap_put(&w, "x", 1); /* no open section */
	snap_section(&w, ID_A, 0, 1, "y", 1);
	CHECK_EQ(snap_finish(&w), -EINVAL);
	snap_writer_free(&w);
}

TEST(write_file_replaces_atomically)
{
	char dir[] = "/tmp/petrel-unit-snap-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], tmp[300];
	snprintf(path, sizeof(path), "%s/state", dir);
	char err[256];
	CHECK_EQ(snap_write_file(path, "old", 3, err, sizeof(err)), 0);
	CHECK_EQ(snap_write_file(path, "newer", 5, err, sizeof(err)), 0);
	uint8_t *buf;
	size_t len;
	CHECK_EQ(snap_read_file(path, &buf, &len, err, sizeof(err)), 0);
	CHECK_EQ(len, 5);
	CHECK(memcmp(buf, "newer", 5) == 0);
	free(buf);
	/* The temporary name cannot be created: the old file stays as it was. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	CHECK_EQ(mkdir(tmp, 0700), 0);
	CHECK(snap_write_file(path, "broken", 6, err, sizeof(err)) < 0);
	CHECK_EQ(snap_read_file(path, &buf, &len, err, sizeof(err)), 0);
	CHECK_EQ(len, 5);
	free(buf);
	rmdir(tmp);
	unlink(path);
	rmdir(dir);
}

/* A link planted at the temporary name (a snapshot written into a directory others can write
 * to) was opened with O_TRUNC and written through: its target lost its contents. */
TEST(write_file_replaces_a_link_at_its_temporary_name)
{
	char dir[] = "/tmp/petrel-unit-snap-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], tmp[300], victim[300], err[256];
	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	FILE *f = fopen(victim, "w");
	REQUIRE(f != NULL);
	fputs("precious", f);
	fclose(f);
	REQUIRE_EQ(symlink(victim, tmp), 0);
	CHECK_EQ(snap_write_file(path, "state", 5, err, sizeof(err)), 0);
	uint8_t *buf;
	size_t len;
	CHECK_EQ(snap_read_file(victim, &buf, &len, err, sizeof(err)), 0);
	CHECK_EQ(len, 8);
	free(buf);
	CHECK_EQ(snap_read_file(path, &buf, &len, err, sizeof(err)), 0);
	CHECK_EQ(len, 5);
	free(buf);
	unlink(path);
	unlink(victim);
	unlink(tmp);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
