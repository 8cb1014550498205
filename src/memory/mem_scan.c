/* Finding what guest memory holds without reading all of it: which pages were ever touched,
 * and whether a page is all zero (snapshots and migration skip the rest). */
#include "memory/guest_mem.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

bool guest_page_is_zero(const void *page)
{
	const uint64_t *q = page;
	uint64_t acc = 0;
	for (unsigned i = 0; i < 4096 / 8; i += 8)
		acc |= q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] | q[i + 7];
	return acc == 0;
}

/* Present or swapped out, per /proc/self/pagemap (bits 63 and 62). */
uint8_t *guest_region_touched(const struct guest_region *g)
{
	if (g->from_file || g->lazy)
		return NULL;
	size_t n = g->size / 4096;
	uint8_t *v = malloc(n);
	uint64_t *ent = malloc(4096 * sizeof(*ent));
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok = v && ent && fd >= 0;
	for (size_t i = 0; ok && i < n;) {
		size_t k = n - i < 4096 ? n - i : 4096;
		off_t off = (off_t)(((uintptr_t)g->hva / 4096 + i) * sizeof(*ent));
		ok = pread(fd, ent, k * sizeof(*ent), off) == (ssize_t)(k * sizeof(*ent));
		for (size_t j = 0; ok && j < k; j++)
			v[i + j] = (ent[j] >> 62) != 0;
		i += k;
	}
	if (fd >= 0)
		close(fd);
	free(ent);
	if (!ok) {
		free(v);
		return NULL;
	}
	return v;
}
