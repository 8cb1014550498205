/* virtio-balloon: see balloon.h. */
#include "devices/virtio/balloon_int.h"
#include "devices/dev_state.h"
#include "memory/guest_mem.h"
#include "util/error.h"
#include "util/log.h"
#include "util/io_thread.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

const char *const balloon_stat_names[BALLOON_S_NR] = {
	"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory", "total_memory",
	"available_memory", "disk_caches", "hugetlb_allocations", "hugetlb_failures", "oom_kill",
	"alloc_stall", "async_scan", "direct_scan", "async_reclaim", "direct_reclaim",
};

static struct virtio_balloon *to_balloon(struct virtio_dev *d)
{
	return (struct virtio_balloon *)((char *)d - offsetof(struct virtio_balloon, vdev));
}

enum balloon_queue virtio_balloon_queue_role(const struct virtio_dev *d, unsigned q)
{
	if (q < 2)
		return q == 0 ? BALLOON_Q_INFLATE : BALLOON_Q_DEFLATE;
	unsigned next = 2;
	if (virtio_has_feature(d, VIRTIO_BALLOON_F_STATS_VQ) && q == next++)
		return BALLOON_Q_STATS;
	if (virtio_has_feature(d, VIRTIO_BALLOON_F_FREE_PAGE_HINT) && q == next++)
		return BALLOON_Q_HINTING;
	if (virtio_has_feature(d, VIRTIO_BALLOON_F_REPORTING) && q == next)
		return BALLOON_Q_REPORTING;
	return BALLOON_Q_NONE;
}

static unsigned stats_queue(const struct virtio_balloon *b)
{
	return 2; /* when negotiated it is always the third */
}

/* The region holding [gpa, gpa+len), or NULL. */
static const struct guest_region *region_of(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct guest_region *g = &m->regions[i];
		if (gpa >= g->gpa && len <= g->size && gpa - g->gpa <= g->size - len)
			return g;
	}
	return NULL;
}

/* Give [gpa, gpa+len) (page aligned, checked by the caller) back to the host. Anonymous memory
 * reads as zero afterwards, a private file mapping (a restored snapshot) as the file says.
 * 2 MiB hugetlbfs pages cannot be dropped 4 KiB at a time, and pages are left alone while a
 * userfaultfd still fills them (a lazy restore's pager or handler, a post-copy destination:
 * they would not know the page went): both count as failures. Once the filling ended (the
 * pager's memory complete, post-copy's end) they are dropped as usual. */
static bool release(struct virtio_balloon *b, uint64_t gpa, uint64_t len)
{
	const struct guest_mem *m = b->vdev.mem;
	const struct guest_region *g = region_of(m, gpa, len);
	if (!g || (g->lazy && guest_mem_filling(m)) || m->backing == GUEST_MEM_PAGES_2M) {
		b->ctr.madvise_failures++;
		return false;
	}
	uint8_t *hva = g->hva + (gpa - g->gpa);
	if (madvise(hva, len, MADV_DONTNEED) < 0) {
		b->ctr.madvise_failures++;
		return false;
	}
	/* The page changed under KVM's dirty log (it reads as zero now): diff snapshots and
	 * migration must send it. */
	guest_mem_mark_dirty(m, gpa, len);
	return true;
}

static int cmp_pfn(const void *a, const void *b)
{
	uint32_t x = le32toh(*(const uint32_t *)a), y = le32toh(*(const uint32_t *)b);
	return (x > y) - (x < y);
}

/* Room for n page numbers. The buffer grows to the largest request seen (Linux's driver sends
 * at most 256 numbers, 1 KiB) instead of being made at BALLOON_MAX_PFNS_PER_REQ's 256 KiB for
 * every balloon: a mapping of its own each time, and under the fuzzers' ASan a munmap and a
 * TLB shootdown per input. Returns what fits (less only when memory is short). */
static uint64_t pfns_room(struct virtio_balloon *b, uint64_t n)
{
	if (n <= b->pfns_cap)
		return n;
	uint32_t *p = realloc(b->pfns, n * sizeof(*p));
	if (!p)
		return b->pfns_cap;
	b->pfns = p;
	b->pfns_cap = n;
	return n;
}

/* One inflate or deflate request: a list of 32-bit page frame numbers. */
static void handle_pfns(struct virtio_balloon *b, const struct virtq_chain *c, bool inflate)
{
	const struct guest_mem *m = b->vdev.mem;
	uint64_t n = c->out_len / 4;
	if (n > BALLOON_MAX_PFNS_PER_REQ) {
		b->ctr.pfns_ignored += n - BALLOON_MAX_PFNS_PER_REQ;
		n = BALLOON_MAX_PFNS_PER_REQ;
	}
	uint64_t room = pfns_room(b, n);
	b->ctr.pfns_ignored += n - room;
	n = room ? virtq_chain_read(c, 0, b->pfns, room * 4) / 4 : 0;
	/* Sorted, contiguous pages are released in one call (Linux's driver takes its pages one
	 * at a time from the allocator, often neighbours in either order); duplicates once. */
	if (inflate && n)
		qsort(b->pfns, n, sizeof(uint32_t), cmp_pfn);
	uint64_t run_start = 0, run_len = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t pfn = le32toh(b->pfns[i]);
		uint64_t gpa = (uint64_t)pfn << BALLOON_PAGE_SHIFT;
		if (!guest_mem_ptr(m, gpa, BALLOON_PAGE_SIZE)) {
			b->ctr.pages_refused++;
			continue;
		}
		if (!inflate || (i && b->pfns[i] == b->pfns[i - 1]))
			continue;
		if (run_len && gpa == run_start + run_len && run_len < (64u << 20) &&
		    region_of(m, run_start, run_len + BALLOON_PAGE_SIZE)) {
			run_len += BALLOON_PAGE_SIZE;
			continue;
		}
		if (run_len && release(b, run_start, run_len))
			b->ctr.pages_released += run_len >> BALLOON_PAGE_SHIFT;
		run_start = gpa;
		run_len = BALLOON_PAGE_SIZE;
	}
	if (run_len && release(b, run_start, run_len))
		b->ctr.pages_released += run_len >> BALLOON_PAGE_SHIFT;
	if (inflate)
		b->ctr.inflate_count++;
	else
		b->ctr.deflate_count++;
}

bool balloon_release_iov(struct virtio_balloon *b, const struct iovec *v, uint64_t *bytes)
{
	uintptr_t start = ((uintptr_t)v->iov_base + BALLOON_PAGE_SIZE - 1) & ~(uintptr_t)(BALLOON_PAGE_SIZE - 1);
	uintptr_t end = ((uintptr_t)v->iov_base + v->iov_len) & ~(uintptr_t)(BALLOON_PAGE_SIZE - 1);
	*bytes = 0;
	if (end <= start)
		return true;
	/* back from host pointer to guest address (virtq_pop checked it lies in one region) */
	const struct guest_mem *m = b->vdev.mem;
	for (unsigned r = 0; r < m->nregions; r++) {
		const struct guest_region *g = &m->regions[r];
		if (start >= (uintptr_t)g->hva && end <= (uintptr_t)g->hva + g->size) {
			if (!release(b, g->gpa + (start - (uintptr_t)g->hva), end - start))
				return false;
			*bytes = end - start;
			return true;
		}
	}
	b->ctr.madvise_failures++;
	return false;
}

/* Free page reporting: each device-writable buffer is a free range of guest RAM (virtq_pop
 * checked it lies in RAM); whole pages inside it go back to the host. */
static void handle_report(struct virtio_balloon *b, const struct virtq_chain *c)
{
	for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
		uint64_t n;
		if (balloon_release_iov(b, &c->iov[i], &n))
			b->ctr.reported_bytes += n;
	}
	b->ctr.free_page_report_count++;
}

/* A statistics buffer: 10-byte entries (le16 tag, le64 value). */
static void parse_stats(struct virtio_balloon *b, const struct virtq_chain *c)
{
	uint64_t n = c->out_len / 10;
	if (c->out_len % 10)
		b->ctr.stats_invalid++;
	for (uint64_t i = 0; i < n && i < 4096; i++) {
		uint8_t e[10];
		virtq_chain_read(c, i * 10, e, 10);
		uint16_t tag;
		uint64_t val;
		memcpy(&tag, e, 2);
		memcpy(&val, e + 2, 8);
		tag = le16toh(tag);
		if (tag >= BALLOON_S_NR) {
			b->ctr.stats_invalid++;
			continue;
		}
		b->st.stats[tag] = le64toh(val);
		b->st.stats_present |= 1u << tag;
	}
	b->ctr.stats_updates++;
}

/* One chain of queue q, by the queue's role. */
static int balloon_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_balloon *b = ctx;
	switch (virtio_balloon_queue_role(d, q)) {
	case BALLOON_Q_INFLATE:
	case BALLOON_Q_DEFLATE:
		handle_pfns(b, c, virtio_balloon_queue_role(d, q) == BALLOON_Q_INFLATE);
		break;
	case BALLOON_Q_REPORTING:
		handle_report(b, c);
		break;
	case BALLOON_Q_HINTING:
		balloon_hint_chain(b, c);
		break;
	case BALLOON_Q_STATS: {
		parse_stats(b, c);
		int r = 0;
		if (b->stats_held) { /* a driver that queued two: the older goes back */
			virtq_push(&d->vq[q], b->stats_head, 0);
			r = VIRTIO_SERVE_PUSHED;
		}
		b->stats_held = true;
		b->stats_head = c->head;
		return r; /* kept until the next polling tick */
	}
	default:
		break;
	}
	virtq_push(&d->vq[q], c->head, 0);
	return VIRTIO_SERVE_PUSHED;
}

static void balloon_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_balloon *b = to_balloon(d);
	if (b->hint_config_pending) { /* restored: the driver learns of DONE now */
		b->hint_config_pending = false;
		virtio_config_changed(d);
	}
	virtio_serve_queue(d, q, &b->chain, 0, balloon_chain, b);
}

static void stats_tick_locked(struct virtio_balloon *b)
{
	struct virtio_dev *d = &b->vdev;
	unsigned q = stats_queue(b);
	if (!b->stats_held || !virtio_is_running(d) || !virtio_has_feature(d, VIRTIO_BALLOON_F_STATS_VQ) ||
	    !virtq_is_enabled(&d->vq[q]))
		return;
	b->stats_held = false;
	virtq_push(&d->vq[q], b->stats_head, 0);
	virtio_queue_interrupt(d, q);
}

void virtio_balloon_stats_tick(struct virtio_balloon *b)
{
	pthread_mutex_lock(&b->vdev.lock);
	stats_tick_locked(b);
	pthread_mutex_unlock(&b->vdev.lock);
}

static void stats_timer(void *opaque, int fd, uint32_t events)
{
	uint64_t expirations;
	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	virtio_balloon_stats_tick(opaque);
}

static void arm_timer(struct virtio_balloon *b, bool now)
{
	if (b->timer_fd < 0)
		return;
	time_t s = b->st.stats_polling_interval_s;
	struct itimerspec its = { .it_interval = { s, 0 }, .it_value = { now ? 0 : s, now ? 1 : 0 } };
	timerfd_settime(b->timer_fd, 0, &its, NULL);
}

static void balloon_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_balloon *b = to_balloon(d);
	uint32_t cfg[BALLOON_CONFIG_LEN / 4] = { htole32(b->st.num_pages), htole32(b->st.actual),
						 htole32(b->st.hint_cmd_id), 0 };
	memcpy(data, (uint8_t *)cfg + off, len);
}

static void balloon_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_balloon *b = to_balloon(d);
	/* Only `actual` is the driver's to write (free_page_hint_cmd_id is read-only for it). */
	if (off < 4 || off + len > 8)
		return;
	uint32_t v = htole32(b->st.actual);
	memcpy((uint8_t *)&v + (off - 4), data, len);
	b->st.actual = le32toh(v);
}

static void balloon_reset(struct virtio_dev *d)
{
	struct virtio_balloon *b = to_balloon(d);
	b->stats_held = false;
	b->st.actual = 0;
	b->hint_config_pending = false;
	balloon_hint_reset(b);
}

static void balloon_quiesce(struct virtio_dev *d)
{
	struct virtio_balloon *b = to_balloon(d);
	/* The held statistics buffer is the last one popped: back into the ring, so the queue
	 * positions alone describe the device (it is popped again after a restore). */
	if (b->stats_held && virtq_is_enabled(&d->vq[stats_queue(b)])) {
		virtq_unpop(&d->vq[stats_queue(b)], 1);
		b->stats_held = false;
	}
}

static void balloon_destroy(struct virtio_dev *d)
{
	struct virtio_balloon *b = to_balloon(d);
	if (b->timer_fd >= 0) {
		if (d->io)
			io_thread_remove(d->io, b->timer_fd);
		close(b->timer_fd);
		b->timer_fd = -1;
	}
	free(b->pfns);
	b->pfns = NULL;
	b->pfns_cap = 0;
}

static const struct dev_state_ops balloon_state_ops;

static const struct virtio_dev_ops balloon_ops = {
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.reset = balloon_reset,
	.quiesce = balloon_quiesce,
	.queue_notify = balloon_queue_notify,
	.destroy = balloon_destroy,
	.state = &balloon_state_ops,
};

static uint32_t mib_to_pages(uint32_t mib)
{
	uint64_t p = (uint64_t)mib * BALLOON_PAGES_PER_MIB;
	return p > UINT32_MAX ? UINT32_MAX : (uint32_t)p;
}

int virtio_balloon_create(struct virtio_balloon *b, const struct balloon_params *p,
			  const struct guest_mem *mem, struct io_thread *io)
{
	memset(b, 0, sizeof(*b));
	b->timer_fd = -1;
	b->st.num_pages = mib_to_pages(p->amount_mib);
	b->st.stats_polling_interval_s = p->stats_polling_interval_s;
	uint64_t features = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	unsigned nq = 2;
	if (p->stats_polling_interval_s) {
		features |= VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ);
		nq++;
	}
	if (p->deflate_on_oom) {
		features |= VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
		b->st.flags |= BALLOON_STATE_DEFLATE_ON_OOM;
	}
	if (p->free_page_hinting) { /* its queue comes before the reporting one */
		features |= VIRTIO_BIT(VIRTIO_BALLOON_F_FREE_PAGE_HINT);
		b->st.flags |= BALLOON_STATE_HINTING;
		nq++;
	}
	if (p->free_page_reporting) {
		features |= VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING);
		b->st.flags |= BALLOON_STATE_REPORTING;
		nq++;
	}
	int err = virtio_dev_init(&b->vdev, "virtio-balloon0", VIRTIO_ID_BALLOON, features, nq,
				  BALLOON_QUEUE_SIZE, BALLOON_CONFIG_LEN, &balloon_ops, mem, io);
	if (err < 0)
		return err;
	if (p->stats_polling_interval_s) {
		b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->timer_fd < 0)
			err = -errno;
		else if (io)
			err = io_thread_add_in(io, b->timer_fd, stats_timer, b);
		if (err == 0)
			arm_timer(b, false);
	}
	if (err < 0)
		virtio_dev_destroy(&b->vdev);
	return err;
}

void virtio_balloon_set_target_mib(struct virtio_balloon *b, uint32_t mib)
{
	pthread_mutex_lock(&b->vdev.lock);
	b->st.num_pages = mib_to_pages(mib);
	if (b->vdev.st.status & VIRTIO_STATUS_DRIVER_OK)
		virtio_config_changed(&b->vdev);
	pthread_mutex_unlock(&b->vdev.lock);
}

int virtio_balloon_set_stats_interval(struct virtio_balloon *b, uint32_t seconds)
{
	if (!seconds || !b->st.stats_polling_interval_s)
		return -EINVAL;
	pthread_mutex_lock(&b->vdev.lock);
	b->st.stats_polling_interval_s = seconds;
	arm_timer(b, true);
	pthread_mutex_unlock(&b->vdev.lock);
	return 0;
}

void virtio_balloon_stats(struct virtio_balloon *b, struct balloon_state *st, struct balloon_counters *c)
{
	pthread_mutex_lock(&b->vdev.lock);
	if (st)
		*st = b->st;
	if (c)
		*c = b->ctr;
	pthread_mutex_unlock(&b->vdev.lock);
}

void virtio_balloon_load_state(struct virtio_balloon *b, const struct balloon_state *st)
{
	pthread_mutex_lock(&b->vdev.lock);
	b->st = *st;
	b->stats_held = false;
	/* As Firecracker does: after a restore the guest may reclaim its hinted pages. */
	b->hint_config_pending = false;
	if ((b->st.flags & BALLOON_STATE_HINTING) && b->st.hint_cmd_id != BALLOON_HINT_CMD_DONE) {
		b->st.hint_cmd_id = BALLOON_HINT_CMD_DONE;
		b->st.hint_flags &= ~BALLOON_HINT_JOINED;
		b->hint_config_pending = true;
	}
	arm_timer(b, false);
	pthread_mutex_unlock(&b->vdev.lock);
}

/* ---- saved state (section BALN, docs/snapshots.md): target, actual, the last statistics and
 * the free page hinting run; the options come from the definition and must be the same ---- */

static void balloon_save_state(void *dev, struct enc *e)
{
	struct balloon_state st;
	virtio_balloon_stats(to_balloon(dev), &st, NULL);
	put_u32(e, st.num_pages);
	put_u32(e, st.actual);
	put_u32(e, st.stats_polling_interval_s);
	put_u32(e, st.flags);
	put_u8(e, BALLOON_S_NR);
	for (unsigned i = 0; i < BALLOON_S_NR; i++)
		put_u64(e, st.stats[i]);
	put_u32(e, st.stats_present);
	put_u32(e, st.hint_cmd_id);
	put_u32(e, st.hint_last_id);
	put_u32(e, st.hint_guest_cmd);
	put_u32(e, st.hint_flags);
}

static int balloon_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_balloon *b = to_balloon(dev);
	struct balloon_state st = { 0 };
	st.num_pages = get_u32(d);
	st.actual = get_u32(d);
	st.stats_polling_interval_s = get_u32(d);
	st.flags = get_u32(d);
	unsigned nstats = get_u8(d);
	if (!d->err && nstats != BALLOON_S_NR)
		return error_set(err, errlen, -EINVAL, "%s: the snapshot has %u statistics, this petrel %u", b->vdev.name, nstats,
			 (unsigned)BALLOON_S_NR);
	for (unsigned i = 0; i < BALLOON_S_NR; i++)
		st.stats[i] = get_u64(d);
	st.stats_present = get_u32(d);
	st.hint_cmd_id = get_u32(d);
	st.hint_last_id = get_u32(d);
	st.hint_guest_cmd = get_u32(d);
	st.hint_flags = get_u32(d);
	int e = dec_end(d, b->vdev.name, err, errlen);
	if (e < 0)
		return e;
	if (st.flags != b->st.flags || !st.stats_polling_interval_s != !b->st.stats_polling_interval_s)
		return error_set(err, errlen, -EINVAL, "%s: deflate_on_oom, free_page_reporting, free_page_hinting or "
			 "statistics differ from the snapshot's", b->vdev.name);
	virtio_balloon_load_state(b, &st);
	return 0;
}

static const struct dev_state_ops balloon_state_ops = {
	.id = STATE_ID('B', 'A', 'L', 'N'), .version = 1,
	.save = balloon_save_state, .load = balloon_load_state,
};
