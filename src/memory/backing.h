/* How guest RAM is backed on the host: ordinary 4 KiB pages, transparent huge pages
 * (madvise(MADV_HUGEPAGE) on 2 MiB-aligned memory) or explicit 2 MiB hugetlbfs pages from the
 * host's reserved pool (Firecracker's machine-config huge_pages: None, Transparent, 2M). */
#ifndef PETREL_MEMORY_BACKING_H
#define PETREL_MEMORY_BACKING_H

#include <stddef.h>
#include <stdint.h>

enum guest_mem_backing {
	GUEST_MEM_PAGES_4K = 0,   /* "None" */
	GUEST_MEM_PAGES_THP,      /* "Transparent" */
	GUEST_MEM_PAGES_2M,       /* "2M" */
};

#define GUEST_MEM_HUGE_PAGE (2ull << 20)

/* Firecracker's names <-> values. from_name: 0 or -EINVAL. */
const char *guest_mem_backing_name(enum guest_mem_backing b);
int guest_mem_backing_from_name(const char *name, enum guest_mem_backing *out);

/* Can `size` bytes be backed this way on this host right now? For 2M: size a multiple of
 * 2 MiB and that many free pages in the host's pool (/sys/kernel/mm/hugepages); for
 * Transparent: THP not disabled. 0, or -EINVAL/-ENOMEM with a message saying what to do. */
int guest_mem_backing_check(enum guest_mem_backing b, uint64_t size, char *err, size_t errlen);

/* Map `size` bytes of private anonymous memory backed as asked (2M: reserved from the pool at
 * once, so a short pool fails here rather than with SIGBUS later; 4K and THP: not reserved,
 * pages come on first touch). NULL with errno set on failure. Unmap with
 * guest_mem_backing_unmap (THP maps are aligned inside a larger reservation). */
void *guest_mem_backing_map(enum guest_mem_backing b, uint64_t size);
void guest_mem_backing_unmap(void *p, uint64_t size);
/* The same as a shared mapping of a memfd (2M: a hugetlbfs memfd), so another process (a
 * vhost-user back end, docs/virtio-fs.md) can map the same pages: *fd is the memfd (the
 * caller closes it after unmapping). NULL with errno set on failure. */
void *guest_mem_backing_map_shared(enum guest_mem_backing b, uint64_t size, int *fd);

#endif
