/* A Diff snapshot's page map (section PGMP): which pages of its memory file it holds. */
#ifndef PETREL_SNAPSHOT_PAGE_MAP_H
#define PETREL_SNAPSHOT_PAGE_MAP_H

#include "memory/guest_mem.h"
#include "snapshot/format.h"

#include <stddef.h>
#include <stdint.h>

/* The map's length in 64-bit words for a memory file of total bytes (bit i: file page i). */
size_t snap_page_map_words(uint64_t total);
/* The map of a Diff whose pages are dirty (each region's bitmap), as section SEC_PGMP. */
void snap_page_map_put(struct snap_writer *w, const struct guest_mem *mem, uint64_t *const *dirty);

/* Called for each run [off, off + len) of a memory file; 0 goes on, -errno stops. */
typedef int (*snap_run_fn)(void *ctx, uint64_t off, uint64_t len);
/* The runs of the memory file fd within [start, end) that its snapshot holds: those map names
 * (page-aligned bounds, at least end / 4096 bits), or with map NULL the file's data extents
 * (any file: a backup copies disk images by them too). */
int snap_mem_runs(int fd, const uint64_t *map, uint64_t start, uint64_t end, snap_run_fn fn, void *ctx);

#endif
