/* Split virtqueues, device side. See virtq.h for the rules every chain is checked against. */
#include "devices/virtio/virtq.h"
#include "util/iov.h"
#include "memory/guest_mem.h"

#include <errno.h>
#include <string.h>

const char *virtq_error_name(enum virtq_error e)
{
	switch (e) {
	case VIRTQ_OK: return "ok";
	case VIRTQ_ERR_AVAIL_IDX: return "available index moved by more than the queue size";
	case VIRTQ_ERR_HEAD: return "head descriptor index out of range";
	case VIRTQ_ERR_NEXT: return "next descriptor index out of range";
	case VIRTQ_ERR_LOOP: return "descriptor chain loops (longer than the queue)";
	case VIRTQ_ERR_TOO_LONG: return "descriptor chain too long";
	case VIRTQ_ERR_ADDR: return "buffer outside guest memory";
	case VIRTQ_ERR_ORDER: return "device-readable descriptor after a device-writable one";
	case VIRTQ_ERR_INDIRECT: return "malformed indirect descriptor table";
	case VIRTQ_ERR_LEN: return "chain length overflows";
	}
	return "?";
}

static bool pow2(unsigned x)
{
	return x && !(x & (x - 1));
}

int virtq_enable(struct virtq *q, struct virtq_state *st, const struct guest_mem *mem)
{
	memset(q, 0, sizeof(*q));
	uint32_t n = st->size;
	if (!pow2(n) || n > st->max_size || n > VIRTQ_MAX_SIZE)
		return -EINVAL;
	if ((st->desc_gpa & 15) || (st->avail_gpa & 1) || (st->used_gpa & 3))
		return -EFAULT;
	void *d = guest_mem_ptr(mem, st->desc_gpa, 16ull * n);
	void *a = guest_mem_ptr(mem, st->avail_gpa, 6 + 2ull * n);
	void *u = guest_mem_ptr(mem, st->used_gpa, 6 + 8ull * n);
	if (!d || !a || !u)
		return -EFAULT;
	q->st = st;
	q->mem = mem;
	q->desc = d;
	q->avail = a;
	q->used = u;
	return 0;
}

void virtq_disable(struct virtq *q)
{
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
}

bool virtq_is_enabled(const struct virtq *q)
{
	return q->desc != NULL;
}

static inline uint16_t avail_idx(const struct virtq *q)
{
	return __atomic_load_n(&q->avail[1], __ATOMIC_ACQUIRE);
}

bool virtq_has_work(struct virtq *q)
{
	return q->desc && avail_idx(q) != q->st->last_avail_idx;
}

/* Read one descriptor once (the guest may change it under us). */
static inline struct virtq_desc load_desc(const struct virtq_desc *p)
{
	struct virtq_desc d;
	memcpy(&d, (const void *)p, sizeof(d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return d;
}

struct walk {
	struct virtq_chain *c;
	bool seen_write;
	uint64_t total;
};

/* Inline: three calls a request on a block device's path, where a call's saves cost more than
 * the body. */
static inline __attribute__((always_inline)) int add_buf(struct virtq *q, struct walk *w, const struct virtq_desc *d,
							enum virtq_error *err)
{
	bool wr = d->flags & VIRTQ_DESC_F_WRITE;
	if (!wr && w->seen_write) {
		*err = VIRTQ_ERR_ORDER;
		return -EINVAL;
	}
	if (w->c->n_out + w->c->n_in >= VIRTQ_MAX_CHAIN) {
		*err = VIRTQ_ERR_TOO_LONG;
		return -EINVAL;
	}
	void *p = d->len ? guest_mem_ptr(q->mem, d->addr, d->len) : NULL;
	if (d->len && !p) {
		*err = VIRTQ_ERR_ADDR;
		return -EINVAL;
	}
	w->total += d->len;
	if (w->total > UINT32_MAX) {
		*err = VIRTQ_ERR_LEN;
		return -EINVAL;
	}
	struct iovec *iov = &w->c->iov[w->c->n_out + w->c->n_in];
	iov->iov_base = p;
	iov->iov_len = d->len;
	if (wr) {
		guest_mem_mark_dirty(q->mem, d->addr, d->len); /* the device may write it from now on */
		w->seen_write = true;
		w->c->n_in++;
		w->c->in_len += d->len;
	} else {
		w->c->n_out++;
		w->c->out_len += d->len;
	}
	return 0;
}

static int walk_indirect(struct virtq *q, struct walk *w, const struct virtq_desc *ind, enum virtq_error *err)
{
	if (!q->st->indirect || ind->len == 0 || ind->len % 16 || ind->len / 16 > VIRTQ_MAX_CHAIN ||
	    (ind->flags & VIRTQ_DESC_F_NEXT)) {
		*err = VIRTQ_ERR_INDIRECT;
		return -EINVAL;
	}
	const struct virtq_desc *table = guest_mem_ptr(q->mem, ind->addr, ind->len);
	if (!table || (ind->addr & 15) != 0) {
		*err = table ? VIRTQ_ERR_INDIRECT : VIRTQ_ERR_ADDR;
		return -EINVAL;
	}
	uint32_t count = ind->len / 16, i = 0;
	for (uint32_t steps = 0;; steps++) {
		if (steps >= count) {
			*err = VIRTQ_ERR_LOOP;
			return -EINVAL;
		}
		struct virtq_desc d = load_desc(&table[i]);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			*err = VIRTQ_ERR_INDIRECT;
			return -EINVAL;
		}
		int r = add_buf(q, w, &d, err);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= count) {
			*err = VIRTQ_ERR_NEXT;
			return -EINVAL;
		}
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c, enum virtq_error *err)
{
	enum virtq_error dummy;
	if (!err)
		err = &dummy;
	*err = VIRTQ_OK;
	if (!q->desc)
		return 0;
	struct virtq_state *st = q->st;
	uint16_t size = st->size;
	uint16_t idx = avail_idx(q);
	uint16_t pending = (uint16_t)(idx - st->last_avail_idx);
	if (pending == 0)
		return 0;
	if (pending > size) {
		*err = VIRTQ_ERR_AVAIL_IDX;
		return -EINVAL;
	}
	uint16_t head = __atomic_load_n(&q->avail[2 + (st->last_avail_idx & (size - 1))], __ATOMIC_RELAXED);
	if (head >= size) {
		*err = VIRTQ_ERR_HEAD;
		return -EINVAL;
	}
	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	struct walk w = { c, false, 0 };
	uint16_t i = head;
	for (unsigned steps = 0;; steps++) {
		if (steps >= size) {
			*err = VIRTQ_ERR_LOOP;
			return -EINVAL;
		}
		struct virtq_desc d = load_desc(&q->desc[i]);
		int r;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			r = walk_indirect(q, &w, &d, err);
			if (r < 0)
				return r;
			break; /* INDIRECT with NEXT was refused: the table ends the chain */
		}
		r = add_buf(q, &w, &d, err);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= size) {
			*err = VIRTQ_ERR_NEXT;
			return -EINVAL;
		}
		i = d.next;
	}
	st->last_avail_idx++;
	return 1;
}

/* With dirty logging, the used ring (entries, index, avail_event) counts as written. */
static void mark_used_ring(const struct virtq *q)
{
	guest_mem_mark_dirty(q->mem, q->st->used_gpa, 6 + 8 * (uint64_t)q->st->size);
}

/* Mark dirty the device-writable buffers of the chain at table[i] (count entries), up to *len
 * bytes, following one indirect table. Bounded as virtq_pop's walk; stops quietly at anything
 * malformed (a guest that changed a chain it had made available only loses its own pages). */
static void mark_written(const struct virtq *q, const struct virtq_desc *table, uint32_t count, uint32_t i,
			 uint32_t *len, bool nested)
{
	for (uint32_t steps = 0; steps < count && *len; steps++) {
		struct virtq_desc d = load_desc(&table[i]);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			const struct virtq_desc *t = d.len % 16 == 0 && d.len / 16 <= VIRTQ_MAX_CHAIN ?
							     guest_mem_ptr(q->mem, d.addr, d.len) : NULL;
			if (!nested && t)
				mark_written(q, t, d.len / 16, 0, len, true);
			return;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			uint32_t n = d.len < *len ? d.len : *len;
			guest_mem_mark_dirty(q->mem, d.addr, n);
			*len -= n;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT) || d.next >= count)
			return;
		i = d.next;
	}
}

/* With dirty logging, a chain's device-writable buffers count as written again when the device
 * hands the chain back, not only when it took it (add_buf): a buffer taken before a migration
 * round, a checkpoint or a Diff snapshot harvested the log and filled after it (an rx buffer
 * waiting for a frame, a read in flight) would otherwise leave a stale page behind. */
static void mark_chain_written(const struct virtq *q, uint16_t head, uint32_t len)
{
	if (len && head < q->st->size && guest_mem_logging(q->mem))
		mark_written(q, q->desc, q->st->size, head, &len, false);
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct virtq_state *st = q->st;
	if (!q->used)
		return;
	struct virtq_used_elem e = { head, len };
	mark_chain_written(q, head, len);
	memcpy(q->used + 4 + 8 * (size_t)(st->used_idx & (st->size - 1)), &e, sizeof(e));
	st->used_idx++;
	__atomic_store_n((uint16_t *)(q->used + 2), st->used_idx, __ATOMIC_RELEASE);
	mark_used_ring(q); /* after the stores: a harvest between them must not take the bit */
}

void virtq_push_n(struct virtq *q, const struct virtq_used_elem *elems, unsigned n)
{
	struct virtq_state *st = q->st;
	if (!q->used || !n)
		return;
	uint16_t idx = st->used_idx;
	for (unsigned i = 0; i < n; i++)
		mark_chain_written(q, (uint16_t)elems[i].id, elems[i].len);
	for (unsigned i = 0; i < n; i++, idx++)
		memcpy(q->used + 4 + 8 * (size_t)(idx & (st->size - 1)), &elems[i], sizeof(elems[i]));
	st->used_idx = idx;
	__atomic_store_n((uint16_t *)(q->used + 2), st->used_idx, __ATOMIC_RELEASE);
	mark_used_ring(q);
}

void virtq_unpop(struct virtq *q, uint16_t n)
{
	q->st->last_avail_idx = (uint16_t)(q->st->last_avail_idx - n);
}

bool virtq_should_notify(struct virtq *q)
{
	struct virtq_state *st = q->st;
	if (!q->avail)
		return false;
	/* The used index store must be visible before we read the driver's suppression fields. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!st->event_idx)
		return !(__atomic_load_n(&q->avail[0], __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	uint16_t old = st->signalled_used, new_idx = st->used_idx;
	bool valid = st->signalled_valid;
	st->signalled_used = new_idx;
	st->signalled_valid = true;
	if (!valid)
		return true;
	uint16_t used_event = __atomic_load_n(&q->avail[2 + st->size], __ATOMIC_RELAXED);
	/* vring_need_event: notify if used_event lies in (old, new]. */
	return (uint16_t)(new_idx - used_event - 1) < (uint16_t)(new_idx - old);
}

bool virtq_enable_notify(struct virtq *q)
{
	struct virtq_state *st = q->st;
	if (!q->used)
		return false;
	if (st->event_idx) {
		uint16_t *avail_event = (uint16_t *)(q->used + 4 + 8 * (size_t)st->size);
		__atomic_store_n(avail_event, st->last_avail_idx, __ATOMIC_RELAXED);
		mark_used_ring(q);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail_idx(q) != st->last_avail_idx;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
	return iov_copy_at(c->iov, c->n_out, off, buf, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len)
{
	return iov_copy_at(c->iov + c->n_out, c->n_in, off, (void *)buf, len, true);
}
