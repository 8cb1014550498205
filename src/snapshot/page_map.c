/* A Diff snapshot's page map. A Diff's memory file holds only the pages written since its
 * parent; they used to be told apart by the file's holes alone. A copy without holes (scp,
 * rsync without -S, cp to a file system without them) or a file system whose extents are
 * coarser than a page (ZFS's records) made every other page read as data: zeroes laid over the
 * parent's pages. The map names the pages, however the file is stored. A Diff written before
 * the map existed has none: its holes are used, as before. */
#include "snapshot/page_map.h"
#include "snapshot/sections.h"
#include "memory/guest_mem.h"
#include "util/bitmap.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>


size_t snap_page_map_words(uint64_t total)
{
	return (size_t)BITMAP_WORDS(total / GUEST_PAGE);
}


void snap_page_map_put(struct snap_writer *w, const struct guest_mem *mem, uint64_t *const *dirty)
{
	size_t words = snap_page_map_words(mem->total);
	uint64_t *map = calloc(words ? words : 1, sizeof(*map));
	if (!map) {
		if (!w->err)
			w->err = -ENOMEM;
		return;
	}
	for (unsigned r = 0; r < mem->nregions; r++) {
		const struct guest_region *g = &mem->regions[r];
		uint64_t first = g->file_off / GUEST_PAGE;
		for (uint64_t pg = 0; pg < g->size / GUEST_PAGE; pg++)
			if (bitmap_test(dirty[r], pg))
				map[(first + pg) / 64] |= 1ull << ((first + pg) % 64);
	}
	struct enc e;
	enc_init(&e);
	for (size_t i = 0; i < words; i++)
		put_u64(&e, map[i]);
	snap_section_enc(w, SEC_PGMP, 0, SEC_VERSION, &e);
	enc_free(&e);
	free(map);
}

static int map_runs(const uint64_t *map, uint64_t start, uint64_t end, snap_run_fn fn, void *ctx)
{
	for (uint64_t pg = start / GUEST_PAGE, last = end / GUEST_PAGE; pg < last;) {
		if (!bitmap_test(map, pg)) {
			pg++;
			continue;
		}
		uint64_t n = 1;
		while (pg + n < last && bitmap_test(map, pg + n))
			n++;
		int e = fn(ctx, pg * GUEST_PAGE, n * GUEST_PAGE);
		if (e)
			return e;
		pg += n;
	}
	return 0;
}

int snap_mem_runs(int fd, const uint64_t *map, uint64_t start, uint64_t end, snap_run_fn fn, void *ctx)
{
	if (map)
		return map_runs(map, start, end, fn, ctx);
	for (off_t pos = (off_t)start; (uint64_t)pos < end;) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* ENXIO: no data past pos */
		if ((uint64_t)data >= end)
			return 0;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((uint64_t)hole > end)
			hole = (off_t)end;
		int e = fn(ctx, (uint64_t)data, (uint64_t)(hole - data));
		if (e)
			return e;
		pos = hole;
	}
	return 0;
}
