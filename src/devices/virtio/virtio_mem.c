/* virtio-mem: see virtio_mem.h. */
#include "devices/virtio/virtio_mem.h"
#include "devices/dev_state.h"
#include "memory/devmem.h"
#include "memory/guest_mem.h"
#include "util/bitmap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static struct virtio_mem *to_mem(struct virtio_dev *d)
{
	return (struct virtio_mem *)((char *)d - offsetof(struct virtio_mem, vdev));
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Plugged blocks in [first, first + n). */
static uint64_t count_plugged(const struct virtio_mem *m, uint64_t first, uint64_t n)
{
	uint64_t c = 0;
	for (uint64_t b = first; b < first + n; b++)
		c += bitmap_test(m->plugged, b);
	return c;
}

static void set_range(struct virtio_mem *m, uint64_t first, uint64_t n, bool on)
{
	for (uint64_t b = first; b < first + n; b++) {
		if (on)
			bitmap_set(m->plugged, b);
		else
			bitmap_clear(m->plugged, b);
	}
}

int virtio_mem_parse_req(const uint8_t *buf, size_t len, struct virtio_mem_req *out)
{
	uint16_t t, n;
	uint64_t a;
	if (len < VIRTIO_MEM_REQ_LEN)
		return -EINVAL;
	memcpy(&t, buf, 2);
	memcpy(&a, buf + 8, 8);
	memcpy(&n, buf + 16, 2);
	/* padding and the union's bytes past the type's are ignored, as the spec asks */
	out->type = le16toh(t);
	out->addr = le64toh(a);
	out->nb_blocks = le16toh(n);
	return 0;
}

int virtio_mem_check_range(const struct virtio_mem_state *st, uint64_t addr, uint64_t nb_blocks)
{
	if (nb_blocks == 0 || !st->block_size || addr < st->addr || (addr - st->addr) % st->block_size)
		return -ERANGE;
	uint64_t off = addr - st->addr;
	if (off >= st->usable_region_size || nb_blocks > (st->usable_region_size - off) / st->block_size)
		return -ERANGE;
	return 0;
}

/* Unplugged blocks go back to the host now. Anonymous memory reads as zero after
 * MADV_DONTNEED; a region mapped privately from a snapshot's memory file would read as the
 * file again, so it gets fresh anonymous memory over the range (KVM follows the new mapping
 * through its MMU notifier). The change is recorded for diff snapshots and migration. */
static void discard(struct virtio_mem *m, uint64_t gpa, uint64_t len)
{
	const struct guest_region *g = m->region;
	uint8_t *hva = g->hva + (gpa - g->gpa);
	int r;
	if (g->from_file)
		r = mmap(hva, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
			 -1, 0) == MAP_FAILED ? -errno : 0;
	else
		r = madvise(hva, len, MADV_DONTNEED) < 0 ? -errno : 0;
	if (r < 0) {
		m->ctr.unplug_discard_fails++;
		log_limited(LOG_WARN, "%s: cannot give [0x%llx, +0x%llx) back to the host: %s", m->vdev.name,
				     (unsigned long long)gpa, (unsigned long long)len, strerror(-r));
	}
	guest_mem_mark_dirty(m->vdev.mem, gpa, len);
}

/* While a userfaultfd still fills the region (a lazy restore, post-copy), dropped pages would
 * be filled again from the snapshot or the source: unplugging waits (BUSY; the driver
 * retries) until the filling ended. */
static bool busy(const struct virtio_mem *m)
{
	return m->region->lazy && guest_mem_filling(m->vdev.mem);
}

static uint16_t do_plug(struct virtio_mem *m, const struct virtio_mem_req *r)
{
	struct virtio_mem_state *st = &m->st;
	if (virtio_mem_check_range(st, r->addr, r->nb_blocks) < 0)
		return VIRTIO_MEM_RESP_ERROR;
	uint64_t first = (r->addr - st->addr) / st->block_size, bytes = r->nb_blocks * st->block_size;
	if (count_plugged(m, first, r->nb_blocks))
		return VIRTIO_MEM_RESP_ERROR;
	if (st->plugged_size > st->requested_size || bytes > st->requested_size - st->plugged_size) {
		m->ctr.nack_count++;
		return VIRTIO_MEM_RESP_NACK;
	}
	set_range(m, first, r->nb_blocks, true);
	st->plugged_size += bytes;
	m->ctr.plug_bytes += bytes;
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t do_unplug(struct virtio_mem *m, const struct virtio_mem_req *r)
{
	struct virtio_mem_state *st = &m->st;
	if (virtio_mem_check_range(st, r->addr, r->nb_blocks) < 0)
		return VIRTIO_MEM_RESP_ERROR;
	uint64_t first = (r->addr - st->addr) / st->block_size, bytes = r->nb_blocks * st->block_size;
	if (count_plugged(m, first, r->nb_blocks) != r->nb_blocks)
		return VIRTIO_MEM_RESP_ERROR;
	if (busy(m)) {
		m->ctr.busy_count++;
		return VIRTIO_MEM_RESP_BUSY;
	}
	discard(m, r->addr, bytes);
	set_range(m, first, r->nb_blocks, false);
	st->plugged_size -= bytes;
	m->ctr.unplug_bytes += bytes;
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t do_unplug_all(struct virtio_mem *m)
{
	struct virtio_mem_state *st = &m->st;
	if (busy(m)) {
		m->ctr.busy_count++;
		return VIRTIO_MEM_RESP_BUSY;
	}
	/* runs of plugged blocks, one discard each */
	for (uint64_t b = 0; b < st->nblocks;) {
		if (!bitmap_test(m->plugged, b)) {
			b++;
			continue;
		}
		uint64_t e = b;
		while (e < st->nblocks && bitmap_test(m->plugged, e))
			e++;
		discard(m, st->addr + b * st->block_size, (e - b) * st->block_size);
		m->ctr.unplug_bytes += (e - b) * st->block_size;
		b = e;
	}
	memset(m->plugged, 0, BITMAP_WORDS((size_t)st->nblocks) * 8);
	st->plugged_size = 0;
	/* The only time the usable region may shrink: back to what the request needs. */
	uint64_t u = round_up(st->requested_size, st->slot_size);
	st->usable_region_size = u < st->region_size ? u : st->region_size;
	return VIRTIO_MEM_RESP_ACK;
}

void virtio_mem_unplug_all(struct virtio_mem *m)
{
	pthread_mutex_lock(&m->vdev.lock);
	uint16_t r = do_unplug_all(m);
	pthread_mutex_unlock(&m->vdev.lock);
	if (r != VIRTIO_MEM_RESP_ACK)
		log_warn("%s: the reset leaves its blocks plugged: guest memory is still being restored", m->vdev.name);
}

static uint16_t do_state(struct virtio_mem *m, const struct virtio_mem_req *r, uint16_t *state)
{
	struct virtio_mem_state *st = &m->st;
	if (virtio_mem_check_range(st, r->addr, r->nb_blocks) < 0)
		return VIRTIO_MEM_RESP_ERROR;
	uint64_t n = count_plugged(m, (r->addr - st->addr) / st->block_size, r->nb_blocks);
	*state = n == r->nb_blocks ? VIRTIO_MEM_STATE_PLUGGED : n == 0 ? VIRTIO_MEM_STATE_UNPLUGGED
								       : VIRTIO_MEM_STATE_MIXED;
	return VIRTIO_MEM_RESP_ACK;
}

static void note_latency(struct virtio_mem_latency *l, uint64_t count, uint64_t us)
{
	if (count == 1 || us < l->min_us)
		l->min_us = us;
	if (us > l->max_us)
		l->max_us = us;
	l->sum_us += us;
}

void virtio_mem_handle_locked(struct virtio_mem *m, const struct virtio_mem_req *req, uint8_t resp[VIRTIO_MEM_RESP_LEN])
{
	struct virtio_mem_counters *c = &m->ctr;
	uint16_t type = VIRTIO_MEM_RESP_ERROR, state = 0;
	uint64_t t0 = now_ns(), *count = NULL, *fails = NULL;
	struct virtio_mem_latency *lat = NULL;
	switch (req->type) {
	case VIRTIO_MEM_REQ_PLUG:
		type = do_plug(m, req);
		count = &c->plug_count, fails = &c->plug_fails, lat = &c->plug_agg;
		break;
	case VIRTIO_MEM_REQ_UNPLUG:
		type = do_unplug(m, req);
		count = &c->unplug_count, fails = &c->unplug_fails, lat = &c->unplug_agg;
		break;
	case VIRTIO_MEM_REQ_UNPLUG_ALL:
		type = do_unplug_all(m);
		count = &c->unplug_all_count, fails = &c->unplug_all_fails, lat = &c->unplug_all_agg;
		break;
	case VIRTIO_MEM_REQ_STATE:
		type = do_state(m, req, &state);
		count = &c->state_count, fails = &c->state_fails, lat = &c->state_agg;
		break;
	default:
		c->bad_requests++;
		break;
	}
	if (count) {
		++*count;
		*fails += type != VIRTIO_MEM_RESP_ACK;
		note_latency(lat, *count, (now_ns() - t0) / 1000);
	}
	uint16_t t = htole16(type), s = htole16(state);
	memset(resp, 0, VIRTIO_MEM_RESP_LEN);
	memcpy(resp, &t, 2);
	memcpy(resp + 8, &s, 2);
}

/* One request: answered in place (a chain with no room for the answer goes back empty). */
static int mem_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_mem *m = ctx;
	uint8_t buf[VIRTIO_MEM_REQ_LEN], resp[VIRTIO_MEM_RESP_LEN];
	struct virtio_mem_req req;
	uint32_t used = 0;
	size_t n = virtq_chain_read(c, 0, buf, sizeof(buf));
	if (c->in_len < VIRTIO_MEM_RESP_LEN) {
		m->ctr.bad_requests++;
		m->ctr.queue_event_fails++;
	} else {
		if (virtio_mem_parse_req(buf, n, &req) < 0)
			req = (struct virtio_mem_req){ .type = UINT16_MAX }; /* short: ERROR */
		virtio_mem_handle_locked(m, &req, resp);
		used = (uint32_t)virtq_chain_write(c, 0, resp, sizeof(resp));
	}
	virtq_push(&d->vq[q], c->head, used);
	return VIRTIO_SERVE_PUSHED;
}

static void mem_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_mem *m = to_mem(d);
	m->ctr.queue_event_count++;
	virtio_serve_queue(d, q, &m->chain, 0, mem_chain, m);
}

/* struct virtio_mem_config: block_size, node_id + padding, addr, region_size,
 * usable_region_size, plugged_size, requested_size (all read-only for the driver). */
static void mem_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mem *m = to_mem(d);
	const struct virtio_mem_state *st = &m->st;
	uint64_t cfg[VIRTIO_MEM_CONFIG_LEN / 8] = {
		htole64(st->block_size), 0, htole64(st->addr), htole64(st->region_size),
		htole64(st->usable_region_size), htole64(st->plugged_size), htole64(st->requested_size),
	};
	memcpy(data, (uint8_t *)cfg + off, len);
}

static void mem_destroy(struct virtio_dev *d)
{
	struct virtio_mem *m = to_mem(d);
	free(m->plugged);
	m->plugged = NULL;
}

/* A driver reset leaves the blocks as they are (the spec forbids changing them then): the
 * driver finds plugged_size and unplugs or asks STATE. */
static const struct dev_state_ops mem_state_ops;

static const struct virtio_dev_ops mem_ops = {
	.config_read = mem_config_read,
	.queue_notify = mem_queue_notify,
	.destroy = mem_destroy,
	.state = &mem_state_ops,
};

int virtio_mem_map_region(struct guest_mem *mem, struct kvm *kvm, struct devmem *dm, uint64_t size,
			  uint64_t block_size, int fd)
{
	uint64_t gpa;
	uint32_t slot;
	uint64_t align = block_size > VIRTIO_MEM_REGION_ALIGN ? block_size : VIRTIO_MEM_REGION_ALIGN;
	int err = devmem_alloc(dm, size, align, &gpa, &slot);
	if (err < 0) {
		log_error("memory-hotplug: no guest-physical room for %llu MiB of hot-pluggable memory below 1 TiB",
			  (unsigned long long)(size >> 20));
		return err;
	}
	if ((err = guest_mem_add_hotplug(mem, kvm, gpa, size, fd)) < 0)
		log_error("memory-hotplug: cannot map %llu MiB at 0x%llx: %s", (unsigned long long)(size >> 20),
			  (unsigned long long)gpa, strerror(-err));
	else
		log_info("memory-hotplug: %llu MiB at 0x%llx", (unsigned long long)(size >> 20), (unsigned long long)gpa);
	return err;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Geometry a device can have (create and snapshot load). */
static int check_geometry(const struct virtio_mem_state *st)
{
	if (!is_pow2(st->block_size) || st->block_size < VIRTIO_MEM_MIN_BLOCK || !st->slot_size ||
	    st->slot_size % st->block_size || !st->region_size || st->region_size % st->slot_size ||
	    st->addr % st->block_size || st->region_size / st->block_size > VIRTIO_MEM_MAX_BLOCKS)
		return -EINVAL;
	return 0;
}

int virtio_mem_create(struct virtio_mem *m, const struct virtio_mem_params *p, const struct guest_mem *mem,
		      struct io_thread *io)
{
	memset(m, 0, sizeof(*m));
	m->st = (struct virtio_mem_state){ .addr = p->addr, .region_size = p->region_size,
					   .block_size = p->block_size, .slot_size = p->slot_size };
	if (check_geometry(&m->st) < 0)
		return -EINVAL;
	m->st.nblocks = (uint32_t)(p->region_size / p->block_size);
	for (unsigned i = 0; i < mem->nregions && !m->region; i++)
		if (mem->regions[i].hotplug && mem->regions[i].gpa == p->addr && mem->regions[i].size == p->region_size)
			m->region = &mem->regions[i];
	if (!m->region)
		return -ENOENT;
	if (!(m->plugged = calloc(BITMAP_WORDS((size_t)m->st.nblocks), 8)))
		return -ENOMEM;
	/* UNPLUGGED_INACCESSIBLE: the driver promises not to read unplugged blocks (Linux 5.16+
	 * accepts it); petrel does not depend on it (such reads see zeros). */
	uint64_t features = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE);
	int err = virtio_dev_init(&m->vdev, "virtio-mem0", VIRTIO_ID_MEM, features, 1, VIRTIO_MEM_QUEUE_SIZE,
				  VIRTIO_MEM_CONFIG_LEN, &mem_ops, mem, io);
	if (err < 0) {
		free(m->plugged);
		m->plugged = NULL;
	}
	return err;
}

int virtio_mem_set_requested(struct virtio_mem *m, uint64_t bytes)
{
	pthread_mutex_lock(&m->vdev.lock);
	struct virtio_mem_state *st = &m->st;
	int r = 0;
	if (bytes % st->block_size || bytes > st->region_size) {
		r = -EINVAL;
	} else {
		st->requested_size = bytes;
		if (st->usable_region_size < bytes) {
			uint64_t u = round_up(bytes, st->slot_size);
			st->usable_region_size = u < st->region_size ? u : st->region_size;
		}
		if (m->vdev.st.status & VIRTIO_STATUS_DRIVER_OK)
			virtio_config_changed(&m->vdev);
	}
	pthread_mutex_unlock(&m->vdev.lock);
	return r;
}

void virtio_mem_stats(struct virtio_mem *m, struct virtio_mem_state *st, struct virtio_mem_counters *c)
{
	pthread_mutex_lock(&m->vdev.lock);
	if (st)
		*st = m->st;
	if (c)
		*c = m->ctr;
	pthread_mutex_unlock(&m->vdev.lock);
}

/* The state and the plugged-block bitmap, field by field (docs/snapshots.md, section VMEM). */
static void mem_state_put(struct virtio_mem *m, struct enc *e)
{
	put_u64(e, m->st.addr);
	put_u64(e, m->st.region_size);
	put_u64(e, m->st.block_size);
	put_u64(e, m->st.slot_size);
	put_u64(e, m->st.usable_region_size);
	put_u64(e, m->st.plugged_size);
	put_u64(e, m->st.requested_size);
	put_u32(e, m->st.nblocks);
	for (size_t w = 0; w < BITMAP_WORDS((size_t)m->st.nblocks); w++)
		put_u64(e, m->plugged[w]);
}

void *virtio_mem_save_locked(struct virtio_mem *m, size_t *len)
{
	struct enc e;
	enc_init(&e);
	mem_state_put(m, &e);
	if (e.err) {
		enc_free(&e);
		return NULL;
	}
	*len = e.len;
	return e.buf;
}

static int mem_state_get(struct virtio_mem *m, struct dec *d, char *err, size_t errlen)
{
	struct virtio_mem_state st = { 0 };
	st.addr = get_u64(d);
	st.region_size = get_u64(d);
	st.block_size = get_u64(d);
	st.slot_size = get_u64(d);
	st.usable_region_size = get_u64(d);
	st.plugged_size = get_u64(d);
	st.requested_size = get_u64(d);
	st.nblocks = get_u32(d);
	if (d->err)
		return error_set(err, errlen, -EINVAL, "%s: state is %zu bytes, too short", m->vdev.name, d->len);
	if (st.addr != m->st.addr || st.region_size != m->st.region_size || st.block_size != m->st.block_size ||
	    st.slot_size != m->st.slot_size || st.nblocks != m->st.nblocks)
		return error_set(err, errlen, -EINVAL, "%s: region, block or slot size differ from the snapshot's", m->vdev.name);
	size_t words = BITMAP_WORDS((size_t)st.nblocks);
	if (dec_left(d) != words * 8)
		return error_set(err, errlen, -EINVAL, "%s: state is %zu bytes, expected %zu", m->vdev.name, d->len, d->off + words * 8);
	uint64_t *map = calloc(words ? words : 1, 8);
	if (!map)
		return -ENOMEM;
	uint64_t plugged = 0, last = 0;
	for (size_t w = 0; w < words; w++) {
		uint64_t v = map[w] = get_u64(d);
		if (w == words - 1 && st.nblocks % 64 && (v >> (st.nblocks % 64)))
			plugged = UINT64_MAX; /* bits past the last block */
		for (unsigned b = 0; v && b < 64; b++)
			if ((v >> b) & 1) {
				plugged += plugged != UINT64_MAX;
				last = w * 64 + b + 1;
			}
	}
	if (plugged == UINT64_MAX || st.usable_region_size > st.region_size || st.usable_region_size % st.block_size ||
	    st.requested_size > st.region_size || st.requested_size % st.block_size ||
	    st.usable_region_size < st.requested_size || plugged * st.block_size != st.plugged_size ||
	    last * st.block_size > st.usable_region_size) {
		free(map);
		return error_set(err, errlen, -EINVAL,
				 "%s: inconsistent state (sizes, or blocks plugged outside the usable region)", m->vdev.name);
	}
	pthread_mutex_lock(&m->vdev.lock);
	m->st = st;
	memcpy(m->plugged, map, words * 8);
	pthread_mutex_unlock(&m->vdev.lock);
	free(map);
	return 0;
}

int virtio_mem_load_state(struct virtio_mem *m, const void *buf, size_t len, char *err, size_t errlen)
{
	struct dec d;
	dec_init(&d, buf, len);
	return mem_state_get(m, &d, err, errlen);
}

static void mem_save_state(void *dev, struct enc *e)
{
	struct virtio_mem *m = to_mem(dev);
	pthread_mutex_lock(&m->vdev.lock);
	mem_state_put(m, e);
	pthread_mutex_unlock(&m->vdev.lock);
}

static int mem_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	return mem_state_get(to_mem(dev), d, err, errlen);
}

static const struct dev_state_ops mem_state_ops = {
	.id = STATE_ID('V', 'M', 'E', 'M'), .version = 1,
	.save = mem_save_state, .load = mem_load_state,
};
