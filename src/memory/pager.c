#include "memory/pager.h"
#include "memory/guest_mem.h"
#include "memory/uffd.h"
#include "util/bitmap.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define FAULT_RUN 16      /* pages brought in per fault: the guest tends to read on */
#define HOLE_RUN 256      /* zero pages mapped per fault in a hole (a snapshot reads them all) */
#define PREFETCH_RUN 256  /* pages per background copy: bounds how long a fault waits */

struct pager_region {
	uint8_t *hva;
	uint64_t npages;
	const uint8_t *src;   /* the file's bytes for this region, mapped read-only */
	uint64_t *data;       /* page has data in the file (else it is in a hole: zero) */
	uint64_t *done;       /* page handled: copied, zero-mapped, given back or found present */
};

struct pager {
	struct guest_mem *mem;
	int uffd, stop_efd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pager_region r[GUEST_MEM_MAX_REGIONS];
	unsigned n;
	unsigned cur;          /* background copy: region and page it is at */
	uint64_t cursor;
	bool unregistered;     /* finish() let go of all guest memory: events left are only woken */
	uint64_t t0;
	struct pager_stats st;
};

/* Which pages of [off, off+npages*GUEST_PAGE) of the file hold data (SEEK_DATA/SEEK_HOLE). */
static void find_data(int fd, uint64_t off, uint64_t npages, uint64_t *data)
{
	off_t end = (off_t)(off + npages * GUEST_PAGE), pos = (off_t)off;
	while (pos < end) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0 || d >= end)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || h > end)
			h = end;
		uint64_t first = (uint64_t)(d - (off_t)off) / GUEST_PAGE;
		uint64_t last = ((uint64_t)(h - (off_t)off) + GUEST_PAGE - 1) / GUEST_PAGE;
		bitmap_set_range(data, first, last - first);
		pos = h;
	}
}

/* How many pages from page on, page itself counted, are not handled yet and hold data (or, with
 * data false, are holes): at most max. */
static uint64_t run_of(const struct pager_region *g, uint64_t page, uint64_t max, bool data)
{
	uint64_t n = 1;
	while (n < max && page + n < g->npages && bitmap_test(g->data, page + n) == data &&
	       !bitmap_test(g->done, page + n))
		n++;
	return n;
}

/* Bring in [page, page+n) of region g (all data, none done yet): n pages copied, or fewer
 * when one turned out present (it is marked done). Returns pages handled (>= 1). */
static uint64_t copy_run(struct pager *p, struct pager_region *g, uint64_t page, uint64_t n)
{
	uint64_t done = 0;
	int e = uffd_copy(p->uffd, g->hva + page * GUEST_PAGE, g->src + page * GUEST_PAGE, n * GUEST_PAGE, &done);
	uint64_t pages = done / GUEST_PAGE;
	bitmap_set_range(g->done, page, pages);
	if (e == -EEXIST) { /* present already (a write before registration): leave it */
		bitmap_set(g->done, page + pages);
		uffd_wake(p->uffd, g->hva + (page + pages) * GUEST_PAGE, GUEST_PAGE);
		return pages + 1;
	}
	if (e < 0) {
		log_error("lazy restore: cannot copy guest page at %p: %s; it reads as zero",
			  (void *)(g->hva + (page + pages) * GUEST_PAGE), strerror(-e));
		uffd_zero_wake(p->uffd, g->hva + (page + pages) * GUEST_PAGE, GUEST_PAGE, NULL);
		bitmap_set(g->done, page + pages);
		return pages + 1;
	}
	return pages;
}

/* A fault in a hole, or on a page handled before (given back since, or answered while this
 * event waited): zero pages from page on, the hole's next ones with it (a snapshot of a VM
 * still being filled reads every page). Returns pages handled (>= 1). */
static uint64_t zero_run(struct pager *p, struct pager_region *g, uint64_t page)
{
	uint64_t n = bitmap_test(g->done, page) ? 1 : run_of(g, page, HOLE_RUN, false);
	uint64_t done = 0;
	uffd_zero_wake(p->uffd, g->hva + page * GUEST_PAGE, n * GUEST_PAGE, &done);
	uint64_t pages = done / GUEST_PAGE ? done / GUEST_PAGE : 1;  /* the first: zeroed or present */
	bitmap_set_range(g->done, page, pages);
	return pages;
}

static void serve_fault(struct pager *p, uint64_t addr)
{
	uint64_t t = now_ns();
	if (p->unregistered) {
		/* Delivered after finish() let go (uffd.c, uffd_zero_wake): plain memory now. */
		uffd_wake(p->uffd, (void *)(uintptr_t)addr, GUEST_PAGE);
		return;
	}
	for (unsigned i = 0; i < p->n; i++) {
		struct pager_region *g = &p->r[i];
		if (addr < (uintptr_t)g->hva || addr >= (uintptr_t)g->hva + g->npages * GUEST_PAGE)
			continue;
		uint64_t page = (addr - (uintptr_t)g->hva) / GUEST_PAGE, got;
		if (bitmap_test(g->done, page) || !bitmap_test(g->data, page)) {
			got = zero_run(p, g, page);
		} else {
			got = copy_run(p, g, page, run_of(g, page, FAULT_RUN, true));
		}
		pthread_mutex_lock(&p->lock);
		p->st.faults++;
		p->st.fault_pages += got;
		uint64_t ns = now_ns() - t;
		p->st.fault_ns_total += ns;
		if (ns > p->st.fault_ns_max)
			p->st.fault_ns_max = ns;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	uffd_wake(p->uffd, (void *)(uintptr_t)addr, GUEST_PAGE); /* not ours: never left waiting */
}

/* Pages the VMM gave back (madvise DONTNEED): they read as zero from now on. */
static void removed(struct pager *p, uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct pager_region *g = &p->r[i];
		uint64_t lo = (uintptr_t)g->hva, hi = lo + g->npages * GUEST_PAGE;
		uint64_t a = start > lo ? start : lo, b = end < hi ? end : hi;
		if (a < b) {
			bitmap_set_range(g->done, (a - lo) / GUEST_PAGE, (b - a + GUEST_PAGE - 1) / GUEST_PAGE);
			pthread_mutex_lock(&p->lock);
			p->st.removed += (b - a + GUEST_PAGE - 1) / GUEST_PAGE;
			pthread_mutex_unlock(&p->lock);
		}
	}
}

static void drain_events(struct pager *p)
{
	struct uffd_msg msgs[16];
	ssize_t n;
	while ((n = read(p->uffd, msgs, sizeof(msgs))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				serve_fault(p, msgs[i].arg.pagefault.address & ~(GUEST_PAGE - 1));
			else if (msgs[i].event == UFFD_EVENT_REMOVE)
				removed(p, msgs[i].arg.remove.start, msgs[i].arg.remove.end);
		}
	}
}

/* Copy the next run of data pages nobody asked for yet; false when none is left. */
static bool prefetch(struct pager *p)
{
	while (p->cur < p->n) {
		struct pager_region *g = &p->r[p->cur];
		while (p->cursor < g->npages && (bitmap_test(g->done, p->cursor) || !bitmap_test(g->data, p->cursor)))
			p->cursor++;
		if (p->cursor == g->npages) {
			p->cur++;
			p->cursor = 0;
			continue;
		}
		uint64_t got = copy_run(p, g, p->cursor, run_of(g, p->cursor, PREFETCH_RUN, true));
		p->cursor += got;
		pthread_mutex_lock(&p->lock);
		p->st.prefetched += got;
		pthread_mutex_unlock(&p->lock);
		return true;
	}
	return false;
}

/* Everything the file holds is in: stop faulting (missing pages are holes: zero). */
static void finish(struct pager *p)
{
	drain_events(p);
	bool all = true;
	for (unsigned i = 0; i < p->n; i++) {
		struct pager_region *g = &p->r[i];
		int e = uffd_unregister(p->uffd, g->hva, g->npages * GUEST_PAGE);
		if (e < 0)
			log_warn("lazy restore: cannot unregister guest memory: %s", strerror(-e));
		all &= e == 0;
	}
	/* Still registered somewhere: its faults keep getting zero pages (every data page is in),
	 * a wake-up alone would only bring them back. */
	p->unregistered = all;
	drain_events(p); /* faults that raced with it: woken, their pages are plain memory now */
	/* The file is not read again: let it go, so deleting it gives its space back. */
	for (unsigned i = 0; i < p->n; i++) {
		struct pager_region *g = &p->r[i];
		munmap((void *)g->src, g->npages * GUEST_PAGE);
		g->src = NULL;
	}
	guest_mem_set_filling(p->mem, false); /* the balloon and virtio-mem may drop pages again */
	pthread_mutex_lock(&p->lock);
	p->st.complete = true;
	p->st.complete_ns = now_ns() - p->t0;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	log_info("lazy restore: memory complete after %.1f ms (%llu faults, %llu pages prefetched)",
		 (double)p->st.complete_ns / 1e6, (unsigned long long)p->st.faults,
		 (unsigned long long)p->st.prefetched);
}

static void *pager_thread(void *opaque)
{
	struct pager *p = opaque;
	bool complete = false;
	for (;;) {
		struct pollfd pf[2] = { { .fd = p->uffd, .events = POLLIN }, { .fd = p->stop_efd, .events = POLLIN } };
		int r = poll(pf, 2, complete ? -1 : 0);
		if (r < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		/* Events first, then one background run either way: a thread faulting page after
		 * page (a snapshot reading the holes) must not hold the copy back. */
		if (pf[0].revents & POLLIN)
			drain_events(p);
		if (!complete && !prefetch(p)) {
			finish(p);
			complete = true;
		}
	}
	return NULL;
}

static void free_regions(struct pager *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct pager_region *g = &p->r[i];
		if (g->src && g->src != MAP_FAILED)
			munmap((void *)g->src, g->npages * GUEST_PAGE);
		free(g->data);
		free(g->done);
	}
}

int pager_start(struct guest_mem *mem, int uffd, int fd, struct pager **out)
{
	struct pager *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->mem = mem;
	p->uffd = uffd;
	p->t0 = now_ns();
	int e = 0;
	for (unsigned i = 0; !e && i < mem->nregions; i++) {
		const struct guest_region *gr = &mem->regions[i];
		struct pager_region *g = &p->r[p->n++];
		g->hva = gr->hva;
		g->npages = gr->size / GUEST_PAGE;
		size_t words = BITMAP_WORDS(g->npages);
		g->data = calloc(words, 8);
		g->done = calloc(words, 8);
		g->src = mmap(NULL, gr->size, PROT_READ, MAP_PRIVATE | MAP_NORESERVE, fd, (off_t)gr->file_off);
		if (!g->data || !g->done)
			e = -ENOMEM;
		else if (g->src == MAP_FAILED)
			e = -errno;
		else
			find_data(fd, gr->file_off, g->npages, g->data);
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (!e && (p->stop_efd = eventfd(0, EFD_CLOEXEC)) < 0)
		e = -errno;
	if (!e && (e = thread_start(&p->thread, SC_PAGER, "petrel_pager", pager_thread, p)) < 0)
		close(p->stop_efd);
	if (e) {
		free_regions(p);
		free(p);
		return e;
	}
	*out = p;
	return 0;
}

void pager_get_stats(struct pager *p, struct pager_stats *s)
{
	pthread_mutex_lock(&p->lock);
	*s = p->st;
	pthread_mutex_unlock(&p->lock);
}

int pager_wait_complete(struct pager *p, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int e = 0;
	pthread_mutex_lock(&p->lock);
	while (!p->st.complete && e == 0)
		e = pthread_cond_timedwait(&p->cond, &p->lock, &until);
	bool done = p->st.complete;
	pthread_mutex_unlock(&p->lock);
	return done ? 0 : -ETIMEDOUT;
}

void pager_stop(struct pager *p)
{
	if (!p)
		return;
	uint64_t one = 1;
	if (write(p->stop_efd, &one, sizeof(one)) < 0)
		log_warn("lazy restore: cannot stop the pager: %s", strerror(errno));
	pthread_join(p->thread, NULL);
	close(p->stop_efd);
	free_regions(p);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
