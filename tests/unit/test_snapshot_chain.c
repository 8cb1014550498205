/* Chains of snapshots (src/snapshot/chain.c, merge.c, page_map.c): a Diff's memory file is laid
 * over its parent's pages — the pages it holds, and only those, however the file was stored.
 * A Diff copied without its holes (scp, rsync without -S) or kept on a file system with
 * extents coarser than a page used to lay zeroes over every page it did not hold. No KVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"

#include "snapshot/chain.h"
#include "snapshot/page_map.h"
#include "snapshot/sections.h"
#include "snapshot/snapshot.h"

#define PAGES 64
#define TOTAL ((uint64_t)PAGES * 4096)

static char dir[] = "/tmp/petrel-snapchain-XXXXXX";
static char full_state[128], full_mem[128], diff_state[128], diff_mem[128];

/* A state file: its id (all `idb`), memory file, and for a Diff its parent and page map
 * (map NULL: none; map_len: its length in bytes). */
static void write_state(const char *path, uint8_t idb, const char *memf, const char *parent, uint8_t parent_idb,
			const uint64_t *map, size_t map_len)
{
	struct snap_writer w;
	char err[256] = "";
	snap_writer_init(&w);
	struct snap_vm sv = { .nvcpus = 1 };
	memset(sv.id, idb, sizeof(sv.id));
	snap_vm_put(&w, &sv);
	snap_section(&w, SEC_MEMF, 0, SEC_VERSION, memf, strlen(memf));
	struct snap_mem sm = { .nregions = 1, .total = TOTAL };
	sm.r[0].size = TOTAL;
	snap_mem_put(&w, &sm);
	if (parent) {
		uint8_t par[SNAP_PARENT_ID_LEN];
		memset(par, parent_idb, sizeof(par));
		snap_begin(&w, SEC_PRNT, 0, SEC_VERSION);
		snap_put(&w, par, sizeof(par));
		snap_put(&w, parent, strlen(parent));
		snap_end(&w);
	}
	if (map) { /* le64 words; a length not a multiple of 8 ends in its low bytes */
		struct enc e;
		enc_init(&e);
		for (size_t i = 0; i < map_len / 8; i++)
			put_u64(&e, map[i]);
		for (size_t i = 0; i < map_len % 8; i++)
			put_u8(&e, (uint8_t)(map[map_len / 8] >> (8 * i)));
		snap_section_enc(&w, SEC_PGMP, 0, SEC_VERSION, &e);
		enc_free(&e);
	}
	if (snap_finish(&w) < 0 || snap_write_file(path, w.buf, w.len, err, sizeof(err)) < 0) {
		printf("state file %s: %s\n", path, err);
		exit(2);
	}
	snap_writer_free(&w);
}

/* A memory file: every page `fill` (sparse: only the pages in `only`, the rest holes). */
static void write_mem(const char *path, uint8_t fill, const uint64_t *only)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)TOTAL) < 0) {
		perror(path);
		exit(2);
	}
	uint8_t page[4096];
	memset(page, fill, sizeof(page));
	for (unsigned pg = 0; pg < PAGES; pg++)
		if ((!only || (only[pg / 64] >> (pg % 64) & 1)) &&
		    pwrite(fd, page, sizeof(page), (off_t)pg * 4096) != (ssize_t)sizeof(page)) {
			perror(path);
			exit(2);
		}
	close(fd);
}

static void setup(void)
{
	if (!full_state[0]) {
		REQUIRE(mkdtemp(dir) != NULL);
		snprintf(full_state, sizeof(full_state), "%s/full.state", dir);
		snprintf(full_mem, sizeof(full_mem), "%s/full.mem", dir);
		snprintf(diff_state, sizeof(diff_state), "%s/diff.state", dir);
		snprintf(diff_mem, sizeof(diff_mem), "%s/diff.mem", dir);
	}
	write_state(full_state, 0xaa, full_mem, NULL, 0, NULL, 0);
	write_mem(full_mem, 'F', NULL);
}

static const uint64_t dirty_pages = 1ull << 3 | 1ull << 5; /* the pages the Diff holds */

/* Guest memory holding the full snapshot's pages, the chain of diff_state applied over it:
 * 0, or -errno with err. */
static int load_chain(uint8_t *mem, char *err, size_t errlen)
{
	memset(mem, 'F', TOTAL);
	struct guest_mem gm = { .nregions = 1, .total = TOTAL };
	gm.regions[0] = (struct guest_region){ .gpa = 0, .size = TOTAL, .hva = mem, .file_off = 0 };
	struct snap_chain *c = calloc(1, sizeof(*c));
	int e = snap_chain_resolve(diff_state, NULL, c, err, errlen);
	if (!e)
		e = snap_chain_apply(c, &gm, err, errlen);
	snap_chain_free(c);
	free(c);
	return e;
}

static void check_only_dirty_pages_changed(const uint8_t *mem)
{
	for (unsigned pg = 0; pg < PAGES; pg++) {
		uint8_t want = (dirty_pages >> pg & 1) ? 'D' : 'F';
		if (mem[pg * 4096] != want || mem[pg * 4096 + 4095] != want) {
			CHECK_EQ(mem[pg * 4096], want);
			printf("  page %u\n", pg);
			return;
		}
	}
}

/* The Diff's memory file as a copy without holes: every page is data, most of them zeroes the
 * guest never had there. Its page map says which are its own. */
TEST(a_diff_copied_without_its_holes_lays_only_its_own_pages)
{
	setup();
	write_state(diff_state, 0xbb, diff_mem, full_state, 0xaa, &dirty_pages, sizeof(dirty_pages));
	write_mem(diff_mem, 'D', NULL); /* every page data */
	uint8_t *mem = malloc(TOTAL);
	char err[512] = "";
	REQUIRE_EQ(load_chain(mem, err, sizeof(err)), 0);
	check_only_dirty_pages_changed(mem);
	free(mem);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	REQUIRE(out != NULL);
	CHECK_EQ(snapshot_info(diff_state, out, err, sizeof(err)), 0);
	fclose(out);
	CHECK_CONTAINS(text, "pages in this Diff: 2");
	free(text);
}

/* A Diff from before the page map: its holes tell, as they always did. */
TEST(a_diff_without_a_page_map_is_read_by_its_holes)
{
	setup();
	write_state(diff_state, 0xbb, diff_mem, full_state, 0xaa, NULL, 0);
	write_mem(diff_mem, 'D', &dirty_pages);
	uint8_t *mem = malloc(TOTAL);
	char err[512] = "";
	REQUIRE_EQ(load_chain(mem, err, sizeof(err)), 0);
	check_only_dirty_pages_changed(mem);
	free(mem);
}

TEST(a_page_map_of_the_wrong_size_is_refused)
{
	setup();
	uint64_t map[2] = { dirty_pages, 0 };
	write_state(diff_state, 0xbb, diff_mem, full_state, 0xaa, map, sizeof(map));
	write_mem(diff_mem, 'D', NULL);
	uint8_t *mem = malloc(TOTAL);
	char err[512] = "";
	CHECK_EQ(load_chain(mem, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "malformed page map");
	free(mem);
}

/* Merge folds the chain into one full snapshot by the same rule, and the result is a full
 * snapshot: no parent, no page map. */
TEST(merge_takes_a_diff_s_own_pages_only)
{
	setup();
	write_state(diff_state, 0xbb, diff_mem, full_state, 0xaa, &dirty_pages, sizeof(dirty_pages));
	write_mem(diff_mem, 'D', NULL);
	char out_state[160], out_mem[160], err[512] = "";
	snprintf(out_state, sizeof(out_state), "%s/merged.state", dir);
	snprintf(out_mem, sizeof(out_mem), "%s/merged.mem", dir);
	REQUIRE_EQ(snapshot_merge(diff_state, NULL, out_state, out_mem, err, sizeof(err)), 0);
	int fd = open(out_mem, O_RDONLY);
	REQUIRE(fd >= 0);
	uint8_t *mem = malloc(TOTAL);
	REQUIRE_EQ(pread(fd, mem, TOTAL, 0), (ssize_t)TOTAL);
	close(fd);
	check_only_dirty_pages_changed(mem);
	free(mem);
	uint8_t *buf;
	size_t len;
	REQUIRE_EQ(snap_read_file(out_state, &buf, &len, err, sizeof(err)), 0);
	struct snap_reader r;
	REQUIRE_EQ(snap_open(&r, buf, len, err, sizeof(err)), 0);
	CHECK_EQ(snap_count(&r, SEC_PRNT), 0);
	CHECK_EQ(snap_count(&r, SEC_PGMP), 0);
	free(buf);
	unlink(out_state);
	unlink(out_mem);
}

/* Pages a Diff holds as zeroes (what the balloon or virtio-mem had dropped) are given back
 * on a load over the full snapshot's file mapped privately (the File backend, clones), not
 * kept as written zero pages: they read zero and hold no memory. */
TEST(a_diff_s_zero_pages_hold_no_memory_after_the_load)
{
	setup();
	uint64_t map = ~0ull << 8;                 /* pages 8..63, all zero in the Diff */
	write_state(diff_state, 0xbb, diff_mem, full_state, 0xaa, &map, sizeof(map));
	write_mem(diff_mem, 0, NULL);
	int fd = open(full_mem, O_RDONLY);
	REQUIRE(fd >= 0);
	uint8_t *mem = mmap(NULL, TOTAL, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	REQUIRE(mem != MAP_FAILED);
	for (uint64_t p = 0; p < TOTAL; p += 4096)
		mem[p] = 'F';                      /* each page a private copy now */
	struct guest_mem gm = { .nregions = 1, .total = TOTAL };
	gm.regions[0] = (struct guest_region){ .gpa = 0, .size = TOTAL, .hva = mem, .from_file = true };
	struct snap_chain *c = calloc(1, sizeof(*c));
	char err[512] = "";
	REQUIRE_EQ(snap_chain_resolve(diff_state, NULL, c, err, sizeof(err)), 0);
	REQUIRE_EQ(snap_chain_apply(c, &gm, err, sizeof(err)), 0);
	snap_chain_free(c);
	free(c);
	unsigned char res[PAGES];
	REQUIRE_EQ(mincore(mem, TOTAL, res), 0);
	unsigned held = 0;
	for (unsigned pg = 8; pg < PAGES; pg++)
		held += res[pg] & 1;
	CHECK_EQ(held, 0);                         /* given back (they were private copies) */
	CHECK_EQ(res[7] & 1, 1);
	CHECK_EQ(mem[7 * 4096], 'F');
	CHECK_EQ(mem[8 * 4096], 0);
	CHECK_EQ(mem[TOTAL - 1], 0);
	munmap(mem, TOTAL);
}

/* What a Diff snapshot writes: bit i of the map is file page i, regions back to back. */
TEST(page_map_names_each_region_s_dirty_pages_at_their_file_pages)
{
	struct guest_mem gm = { .nregions = 2, .total = 3 * 64 * 4096ull };
	gm.regions[0] = (struct guest_region){ .gpa = 0, .size = 64 * 4096, .file_off = 0 };
	gm.regions[1] = (struct guest_region){ .gpa = 1ull << 32, .size = 128 * 4096, .file_off = 64 * 4096 };
	uint64_t d0[1] = { 1ull << 1 }, d1[2] = { 1ull << 0, 1ull << 63 };
	uint64_t *dirty[GUEST_MEM_MAX_REGIONS] = { d0, d1 };
	struct snap_writer w;
	snap_writer_init(&w);
	snap_page_map_put(&w, &gm, dirty);
	REQUIRE_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	char err[256];
	REQUIRE_EQ(snap_open(&r, w.buf, w.len, err, sizeof(err)), 0);
	struct dec d;
	uint32_t v;
	REQUIRE_EQ(snap_section_dec(&r, SEC_PGMP, 0, 0, SEC_VERSION, &v, &d, err, sizeof(err)), 0);
	CHECK_EQ(d.len, 3 * 8);                              /* le64 words */
	CHECK_EQ_HEX(get_u64(&d), 1ull << 1);
	CHECK_EQ_HEX(get_u64(&d), 1ull << 0);
	CHECK_EQ_HEX(get_u64(&d), 1ull << 63);
	CHECK_EQ(dec_end(&d, "PGMP", err, sizeof(err)), 0);
	snap_writer_free(&w);
}

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	unlink(full_state);
	unlink(full_mem);
	unlink(diff_state);
	unlink(diff_mem);
	rmdir(dir);
	return r;
}
