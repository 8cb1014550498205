/* Post-copy, the source's side: requested pages first, the rest pushed in order. */
#include "migration/migration_int.h"
#include "migration/postcopy.h"
#include "util/error.h"
#include "util/util.h"
#include "vm/vm.h"
#include "util/bitmap.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUSH_RUN 64u      /* pages per pushed message: bounds how long a request waits */
#define REQ_RUN 8u        /* a requested page and the needed ones after it */
#define SERVE_TIMEOUT_MS 60000

struct server {
	struct migration *m;
	int fd;
	const struct guest_mem *mem;  /* the VM's (vm_guest_mem) */
	uint64_t *const *needed;
	uint64_t **sent;
	uint64_t push_start, pushed;  /* bytes pushed (not requested) since, for max_bandwidth */
	unsigned cur;
	uint64_t cursor;
};


/* Up to max pages of region r from page p that are needed and not sent yet, in one message. */
static int push(struct server *s, unsigned r, uint64_t p, unsigned max)
{
	const struct guest_region *g = &s->mem->regions[r];
	uint64_t npages = g->size / GUEST_PAGE;
	uint32_t n = 0;
	while (n < max && p + n < npages && bitmap_test(s->needed[r], p + n) && !bitmap_test(s->sent[r], p + n))
		n++;
	if (!n)
		return 0;
	struct mig_pages hdr = { .gpa = g->gpa + p * GUEST_PAGE, .npages = n };
	int e = mig_send(s->fd, MIG_PAGES, &hdr, sizeof(hdr), g->hva + p * GUEST_PAGE, n * GUEST_PAGE);
	for (uint32_t i = 0; !e && i < n; i++)
		bitmap_set(s->sent[r], p + i);
	if (!e)
		MIG_LOCKED(s->m, {
			s->m->st.bytes_sent += sizeof(hdr) + n * GUEST_PAGE;
			s->m->st.postcopy_pushed += n;
		});
	return e;
}

/* The next needed page not sent yet, in order; false when none is left. */
static bool push_next(struct server *s, int *e)
{
	while (s->cur < s->mem->nregions) {
		uint64_t npages = s->mem->regions[s->cur].size / GUEST_PAGE;
		while (s->cursor < npages && (!bitmap_test(s->needed[s->cur], s->cursor) || bitmap_test(s->sent[s->cur], s->cursor)))
			s->cursor++;
		if (s->cursor < npages) {
			uint64_t before = s->m->st.postcopy_pushed;
			*e = push(s, s->cur, s->cursor, PUSH_RUN);
			s->pushed += (s->m->st.postcopy_pushed - before) * GUEST_PAGE;
			return true;
		}
		s->cur++;
		s->cursor = 0;
	}
	return false;
}

static int on_request(struct server *s, uint64_t gpa)
{
	for (unsigned r = 0; r < s->mem->nregions; r++) {
		const struct guest_region *g = &s->mem->regions[r];
		if (gpa >= g->gpa && gpa - g->gpa < g->size)
			return push(s, r, (gpa - g->gpa) / GUEST_PAGE, REQ_RUN); /* 0 if it went out already */
	}
	return -EPROTO;
}

int postcopy_serve(struct migration *m, int fd, struct vm *vm, uint64_t *const *needed, uint64_t t_pause,
		   bool *committed, char *err, size_t errlen)
{
	struct mig_go go_msg, *go = &go_msg;
	struct server s = { .m = m, .fd = fd, .mem = vm_guest_mem(vm), .needed = needed, .push_start = now_ns() };
	uint64_t *sent[GUEST_MEM_MAX_REGIONS] = { 0 };
	s.sent = sent;
	int e = 0;
	for (unsigned r = 0; !e && r < s.mem->nregions; r++)
		if (!(sent[r] = calloc(guest_region_bitmap_words(&s.mem->regions[r]), 8)))
			e = -ENOMEM;
	bool ended = false, have_go = false;
	while (!e && !(ended && have_go)) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int ready = poll(&pf, 1, ended ? SERVE_TIMEOUT_MS : 0);
		if (ready < 0 && errno != EINTR) {
			e = -errno;
			break;
		}
		if (ready > 0) {
			struct mig_hdr h;
			char why[MIG_MAX_TEXT + 1];
			uint64_t gpa;
			if ((e = mig_recv_hdr(fd, &h, 5000, why, sizeof(why))) < 0) {
				e = error_set(err, errlen, e, "post-copy: %s", why);
				break;
			}
			if (h.type == MIG_REQUEST && h.len == sizeof(gpa) && mig_recv_all(fd, &gpa, sizeof(gpa), 5000) == 0) {
				if ((e = on_request(&s, gpa)) < 0)
					e = error_set(err, errlen, e,
						      "post-copy: the destination asked for %#llx, not guest RAM",
						      (unsigned long long)gpa);
			} else if (h.type == MIG_GO && h.len == sizeof(*go) && mig_recv_all(fd, go, sizeof(*go), 5000) == 0) {
				have_go = *committed = true;
				mig_record_go(m, fd, go, t_pause);
			} else if (h.type == MIG_FAIL) {
				mig_recv_fail(fd, &h, why, sizeof(why));
				e = error_set(err, errlen, -EREMOTEIO, "the destination failed: %.400s", why);
			} else {
				e = error_set(err, errlen, -EPROTO,
					      "post-copy: the destination sent a message out of turn");
			}
			continue;
		}
		if (ready == 0 && ended) {
			e = error_set(err, errlen, -ETIMEDOUT,
				      "post-copy: the destination never said the guest runs");
			break;
		}
		if (!ended && m->so.max_bandwidth_mib_s) {
			/* Paced push: requests are answered at once, the rest at the asked rate. */
			uint64_t due = s.push_start + s.pushed * 1000000000ull / ((uint64_t)m->so.max_bandwidth_mib_s << 20);
			if (due > now_ns()) {
				struct pollfd wait = { .fd = fd, .events = POLLIN };
				poll(&wait, 1, (int)((due - now_ns()) / 1000000) + 1);
				continue;
			}
		}
		if (!ended && !push_next(&s, &e)) {
			if (!e && (e = mig_send(fd, MIG_END, NULL, 0, NULL, 0)) == 0)
				ended = true;
		}
		if (e && !err[0])
			e = error_set(err, errlen, e, "post-copy: sending pages: %s", strerror(-e));
	}
	for (unsigned r = 0; r < GUEST_MEM_MAX_REGIONS; r++)
		free(sent[r]);
	return e;
}
