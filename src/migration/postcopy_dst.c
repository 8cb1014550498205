/* Post-copy, the destination's side: a fault thread turns missing-page faults into requests
 * (pages the source does not have to send are zero: answered here), a page thread installs
 * what arrives (UFFDIO_COPY wakes whoever waits for it) until the source says it is done. */
#include "migration/migration_int.h"
#include "migration/postcopy.h"
#include "memory/uffd.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"
#include "vm/vm.h"
#include "util/bitmap.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define STREAM_TIMEOUT_MS 60000
#define LAT_BUCKETS 400   /* fault latency histogram: bucket i holds [2^(i/16), 2^((i+1)/16)) us */
#define STEP 1.044273782427414 /* 2^(1/16): 4.4% wide buckets */

struct pc_region {
	uint8_t *hva;
	uint64_t gpa, npages;
	uint64_t *needed, *done, *asked;  /* bitmaps; done and asked shared by both threads (atomics) */
	uint64_t *asked_ns;               /* when a page was requested (latency) */
};

struct postcopy_dst {
	struct migration *m;
	struct vm *vm;
	int fd, uffd, stop_efd;
	pthread_mutex_t *wlock;
	struct pc_region r[GUEST_MEM_MAX_REGIONS];
	unsigned n;
	pthread_t fault_thread, page_thread;
	bool threads;
	int result;                       /* page thread's end: 0, or -errno (why) */
	char why[256];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;
	uint64_t lat[LAT_BUCKETS], faults;
	double lat_max_us;
	uint8_t buf[MIG_MAX_RUN * GUEST_PAGE];
};

/* The done and asked bits are set by the fault thread and the page thread at once (one word may
 * hold both's): bitmap_set_atomic's fetch-or with release is what they need. Release orders what
 * was written before a bit (asked_ns before asked, the page's copy before done) ahead of it for the
 * readers, who test with acquire (bitmap_test_atomic, missing()); no code after a set reads what
 * another thread published through that bit, so the acquire half of the ACQ_REL the private
 * set() this file had bought nothing (on x86 both are one lock or). */
static struct pc_region *region_of(struct postcopy_dst *p, uint64_t hva_or_gpa, bool is_gpa, uint64_t *page)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct pc_region *g = &p->r[i];
		uint64_t base = is_gpa ? g->gpa : (uintptr_t)g->hva;
		if (hva_or_gpa >= base && hva_or_gpa - base < g->npages * GUEST_PAGE) {
			*page = (hva_or_gpa - base) / GUEST_PAGE;
			return g;
		}
	}
	return NULL;
}

static void fault(struct postcopy_dst *p, uint64_t addr)
{
	uint64_t pg;
	struct pc_region *g = region_of(p, addr & ~(GUEST_PAGE - 1), false, &pg);
	if (!g)
		return;
	void *at = g->hva + pg * GUEST_PAGE;
	if (bitmap_test_atomic(g->done, pg)) {
		uffd_wake(p->uffd, at, GUEST_PAGE);
		return;
	}
	if (!bitmap_test_atomic(g->needed, pg)) {
		/* Never written on the source, or sent before and not dirtied since: zero here
		 * (woken whatever happens: after postcopy_dst_wait's unregister too). */
		uffd_zero_wake(p->uffd, at, GUEST_PAGE, NULL);
		bitmap_set_atomic(g->done, pg);
		return;
	}
	if (bitmap_test_atomic(g->asked, pg))
		return; /* on its way: its arrival wakes every waiter */
	g->asked_ns[pg] = now_ns();
	bitmap_set_atomic(g->asked, pg);
	uint64_t gpa = g->gpa + pg * GUEST_PAGE;
	pthread_mutex_lock(p->wlock);
	int e = mig_send(p->fd, MIG_REQUEST, &gpa, sizeof(gpa), NULL, 0);
	pthread_mutex_unlock(p->wlock);
	if (e < 0)
		log_warn("post-copy: cannot ask the source for %#llx: %s", (unsigned long long)gpa, strerror(-e));
}

static void *fault_main(void *arg)
{
	struct postcopy_dst *p = arg;
	pthread_setname_np(pthread_self(), "petrel_pcfault");
	for (;;) {
		struct pollfd pf[2] = { { .fd = p->uffd, .events = POLLIN }, { .fd = p->stop_efd, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		struct uffd_msg msgs[16];
		ssize_t n = read(p->uffd, msgs, sizeof(msgs));
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				fault(p, msgs[i].arg.pagefault.address);
	}
	return NULL;
}

static void account(struct postcopy_dst *p, struct pc_region *g, uint64_t pg)
{
	if (!bitmap_test_atomic(g->asked, pg))
		return;
	double us = (double)(now_ns() - g->asked_ns[pg]) / 1e3;
	unsigned b = 0;
	for (double th = STEP; b + 1 < LAT_BUCKETS && us >= th; th *= STEP)
		b++;
	pthread_mutex_lock(&p->lock);
	p->lat[b]++;
	p->faults++;
	if (us > p->lat_max_us)
		p->lat_max_us = us;
	pthread_mutex_unlock(&p->lock);
}

/* A GUEST_PAGE message: into the buffer, then into place page by page (some may be there already). */
static int install(struct postcopy_dst *p, const struct mig_hdr *h)
{
	struct mig_pages mp;
	if (h->len < sizeof(mp) || mig_recv_all(p->fd, &mp, sizeof(mp), STREAM_TIMEOUT_MS) < 0)
		return -EPROTO;
	uint64_t pg;
	struct pc_region *g = region_of(p, mp.gpa, true, &pg);
	bool zero = mp.flags & MIG_PAGES_ZERO;
	if (!g || mp.gpa % GUEST_PAGE || !mp.npages || mp.npages > MIG_MAX_RUN || (mp.flags & ~MIG_PAGES_ZERO) ||
	    pg + mp.npages > g->npages || h->len != sizeof(mp) + (zero ? 0 : mp.npages * GUEST_PAGE))
		return -EPROTO;
	if (!zero && mig_recv_all(p->fd, p->buf, mp.npages * GUEST_PAGE, STREAM_TIMEOUT_MS) < 0)
		return -ECONNRESET;
	for (uint32_t i = 0; i < mp.npages; i++) {
		if (bitmap_test_atomic(g->done, pg + i))
			continue;
		void *at = g->hva + (pg + i) * GUEST_PAGE;
		int e = zero ? uffd_zero(p->uffd, at, GUEST_PAGE, NULL) : uffd_copy(p->uffd, at, p->buf + i * GUEST_PAGE, GUEST_PAGE, NULL);
		if (e < 0 && e != -EEXIST)
			return e;
		bitmap_set_atomic(g->done, pg + i);
		account(p, g, pg + i);
	}
	MIG_LOCKED(p->m, p->m->st.postcopy_pushed += mp.npages);
	return 0;
}

/* The source says it sent everything: pages it had to send and did not (0 if none). */
static uint64_t missing(struct postcopy_dst *p)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < p->n; i++) {
		const struct pc_region *g = &p->r[i];
		for (uint64_t w = 0; w < BITMAP_WORDS(g->npages); w++)
			n += (uint64_t)__builtin_popcountll(g->needed[w] & ~__atomic_load_n(&g->done[w], __ATOMIC_ACQUIRE));
	}
	return n;
}

static void *page_main(void *arg)
{
	struct postcopy_dst *p = arg;
	pthread_setname_np(pthread_self(), "petrel_pcpage");
	int e = 0;
	for (;;) {
		struct mig_hdr h;
		if ((e = mig_recv_hdr(p->fd, &h, STREAM_TIMEOUT_MS, p->why, sizeof(p->why))) < 0)
			break;
		if (h.type == MIG_PAGES) {
			if ((e = install(p, &h)) < 0) {
				snprintf(p->why, sizeof(p->why), "a page from the source: %s", strerror(-e));
				break;
			}
		} else if (h.type == MIG_END && h.len == 0) {
			uint64_t n = missing(p);
			if (n) { /* they would read as zero: the guest's memory, silently wrong */
				snprintf(p->why, sizeof(p->why), "the source ended with %llu pages missing",
					 (unsigned long long)n);
				e = -EPROTO;
			}
			break;
		} else if (h.type == MIG_DONE && h.len == sizeof(uint64_t)) {
			uint64_t down;
			if (mig_recv_all(p->fd, &down, sizeof(down), 5000) == 0)
				MIG_LOCKED(p->m, p->m->st.downtime_ms = (double)down / 1e6);
		} else if (h.type == MIG_FAIL) {
			mig_recv_fail(p->fd, &h, p->why, sizeof(p->why));
			e = -ECONNABORTED;
			break;
		} else {
			snprintf(p->why, sizeof(p->why), "malformed migration stream during post-copy");
			e = -EPROTO;
			break;
		}
	}
	pthread_mutex_lock(&p->lock);
	p->result = e;
	p->finished = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void free_regions(struct postcopy_dst *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		free(p->r[i].needed);
		free(p->r[i].done);
		free(p->r[i].asked);
		free(p->r[i].asked_ns);
	}
}

int postcopy_dst_start(struct migration *m, struct vm *vm, int fd, pthread_mutex_t *wlock, const uint8_t *needed,
		       size_t len, struct postcopy_dst **out, char *err, size_t errlen)
{
	struct postcopy_dst *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->m = m;
	p->vm = vm;
	p->fd = fd;
	p->wlock = wlock;
	p->uffd = p->stop_efd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	size_t off = 0, want = 0;
	struct guest_mem *mem = vm_guest_mem(vm);
	for (unsigned i = 0; i < mem->nregions; i++)
		want += guest_region_bitmap_words(&mem->regions[i]) * 8;
	int e = 0;
	if (len != want)
		e = error_set(err, errlen, -EPROTO,
			      "malformed migration stream: a post-copy bitmap of %zu bytes, %zu expected",
			      len, want);
	for (unsigned i = 0; !e && i < mem->nregions; i++) {
		const struct guest_region *gr = &mem->regions[i];
		struct pc_region *g = &p->r[p->n++];
		g->hva = gr->hva;
		g->gpa = gr->gpa;
		g->npages = gr->size / GUEST_PAGE;
		size_t words = BITMAP_WORDS(g->npages);
		g->needed = malloc(words * 8);
		g->done = calloc(words, 8);
		g->asked = calloc(words, 8);
		g->asked_ns = calloc(g->npages, 8);
		if (!g->needed || !g->done || !g->asked || !g->asked_ns) {
			e = -ENOMEM;
			break;
		}
		memcpy(g->needed, needed + off, words * 8);
		off += words * 8;
		if (g->npages % 64) /* no pages past the region's end (missing() counts whole words) */
			g->needed[words - 1] &= (1ull << (g->npages % 64)) - 1;
		/* The destination's copies of those pages are stale: drop them, so they fault. */
		for (uint64_t pg = 0; pg < g->npages;) {
			uint64_t n = 0;
			while (pg + n < g->npages && bitmap_test_atomic(g->needed, pg + n))
				n++;
			if (n)
				madvise(g->hva + pg * GUEST_PAGE, n * GUEST_PAGE, MADV_DONTNEED);
			pg += n ? n : 1;
		}
	}
	if (!e && (p->uffd = uffd_open()) < 0)
		e = p->uffd;
	if (!e && (e = uffd_register(p->uffd, mem)) == 0)
		guest_mem_set_filling(mem, true); /* the balloon and virtio-mem hold back until the end */
	if (e < 0 && !err[0])
		e = error_set(err, errlen, e, "post-copy: cannot set up a userfaultfd: %s", strerror(-e));
	if (!e && (p->stop_efd = eventfd(0, EFD_CLOEXEC)) < 0)
		e = -errno;
	if (!e && (e = thread_start(&p->fault_thread, SC_POSTCOPY, "petrel_pcfault", fault_main, p)) == 0 &&
	    (e = thread_start(&p->page_thread, SC_POSTCOPY, "petrel_pcpage", page_main, p)) < 0) {
		uint64_t one = 1;
		if (write(p->stop_efd, &one, sizeof(one)) < 0)
			log_warn("post-copy: cannot stop the fault thread");
		pthread_join(p->fault_thread, NULL);
	}
	if (e < 0) {
		free_regions(p);
		if (p->uffd >= 0)
			close(p->uffd);
		if (p->stop_efd >= 0)
			close(p->stop_efd);
		free(p);
		return e;
	}
	p->threads = true;
	MIG_LOCKED(m, m->st.postcopy = true);
	*out = p;
	return 0;
}

static void publish_latency(struct postcopy_dst *p)
{
	pthread_mutex_lock(&p->lock);
	uint64_t half = (p->faults + 1) / 2, seen = 0;
	double p50 = 0, th = 1;
	for (unsigned b = 0; b < LAT_BUCKETS && p->faults; b++, th *= STEP) {
		seen += p->lat[b];
		if (seen >= half) {
			p50 = th * STEP; /* the bucket's upper bound */
			break;
		}
	}
	uint64_t faults = p->faults;
	double max = p->lat_max_us;
	pthread_mutex_unlock(&p->lock);
	MIG_LOCKED(p->m, {
		p->m->st.postcopy_faults = faults;
		p->m->st.postcopy_fault_us_p50 = p50;
		p->m->st.postcopy_fault_us_max = max;
	});
}

int postcopy_dst_wait(struct postcopy_dst *p, char *err, size_t errlen)
{
	pthread_mutex_lock(&p->lock);
	while (!p->finished)
		pthread_cond_wait(&p->cond, &p->lock);
	int e = p->result;
	pthread_mutex_unlock(&p->lock);
	publish_latency(p);
	if (e < 0) {
		error_set(err, errlen, e,
			  "lost the source during post-copy (%.200s): the guest's memory is incomplete",
			  p->why);
		vm_request_stop(p->vm, VM_STOP_ERROR, 1, "%s", err);
		return e;
	}
	/* Everything the source had to send is in: any page still missing is zero. */
	for (unsigned i = 0; i < p->n; i++)
		uffd_unregister(p->uffd, p->r[i].hva, p->r[i].npages * GUEST_PAGE);
	guest_mem_set_filling(vm_guest_mem(p->vm), false);
	return 0;
}

void postcopy_dst_free(struct postcopy_dst *p)
{
	if (!p)
		return;
	uint64_t one = 1;
	if (write(p->stop_efd, &one, sizeof(one)) < 0)
		log_warn("post-copy: cannot stop the fault thread");
	if (p->threads) {
		pthread_join(p->fault_thread, NULL);
		pthread_join(p->page_thread, NULL);
	}
	close(p->uffd);
	close(p->stop_efd);
	free_regions(p);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
