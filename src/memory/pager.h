/* petrel's own page-fault handler (the built-in lazy loader): a thread answers the
 * userfaultfd's missing-page events from a memory file (pages in its data extents are copied,
 * pages in its holes get the zero page) and, between events, copies the rest of the file in the
 * background. When all of it is in, it unregisters guest memory and ends: from then on the
 * guest runs on plain anonymous memory. */
#ifndef PETREL_MEMORY_PAGER_H
#define PETREL_MEMORY_PAGER_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct pager;

struct pager_stats {
	uint64_t faults;          /* missing-page events answered */
	uint64_t fault_pages;     /* pages those answers brought in */
	uint64_t fault_ns_max;    /* longest answer (event read -> page in) */
	uint64_t fault_ns_total;
	uint64_t prefetched;      /* pages copied in the background */
	uint64_t removed;         /* pages given back to the host (REMOVE events) */
	bool complete;            /* everything in, memory unregistered */
	uint64_t complete_ns;     /* start -> complete */
};

/* Start serving mem (registered with uffd: uffd_register) from fd, a memory file holding
 * region r's bytes at regions[r].file_off. The pager keeps its own mapping of the file;
 * uffd stays the caller's. *out, or -errno. */
int pager_start(struct guest_mem *mem, int uffd, int fd, struct pager **out);
void pager_get_stats(struct pager *p, struct pager_stats *s);
/* Wait until everything is in (or timeout_ms passed: -ETIMEDOUT). */
int pager_wait_complete(struct pager *p, int timeout_ms);
/* Stop the thread and free the pager (before guest memory goes away). */
void pager_stop(struct pager *p);

#endif
