#include "util/outgate.h"
#include "util/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define OUTGATE_MAX (64u << 20) /* held bytes; beyond, output is dropped (logged) */
/* ...and held entries: each takes a header and at least 256 bytes, so a flood of tiny frames
 * (12 bytes: a virtio-net header alone) held 64 MiB of data in some 1.7 GiB. With this many
 * entries at most, the gate takes under 64 MiB + OUTGATE_MAX_ENTRIES * (header + 256). */
#define OUTGATE_MAX_ENTRIES (OUTGATE_MAX / 256)

struct held {
	struct held *next;
	uint64_t epoch;
	outgate_emit_fn emit;
	void *opaque;
	size_t len, cap;
	uint8_t data[];
};

struct outgate {
	pthread_mutex_t lock;
	bool open;                  /* not holding */
	uint64_t epoch;             /* the open epoch */
	struct held *head, **tail;
	uint64_t bytes;
	size_t entries;             /* in the list */
	uint64_t dropped;           /* bytes dropped: the gate was full, or its output was discarded */
	bool shut;                  /* outgate_drop: nothing is held or written any more */
};

struct outgate *outgate_new(void)
{
	struct outgate *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	g->epoch = 1;
	g->tail = &g->head;
	return g;
}

bool outgate_hold(struct outgate *g, outgate_emit_fn emit, void *opaque, const void *data, size_t len,
		  bool stream)
{
	pthread_mutex_lock(&g->lock);
	bool held = false;
	if (g->shut) {
		g->dropped += len;
		pthread_mutex_unlock(&g->lock);
		return true;
	}
	if (!g->open && (g->bytes + len > OUTGATE_MAX || g->entries >= OUTGATE_MAX_ENTRIES)) {
		/* Written now, it would reach the outside before the checkpoint that made it (and
		 * before older output held): dropped, as a congested link drops. */
		if (!g->dropped)
			log_warn("replication: %u MiB of output (or %u writes) is waiting for the standby: output "
				 "is dropped until it acknowledges", OUTGATE_MAX >> 20, OUTGATE_MAX_ENTRIES);
		g->dropped += len;
		pthread_mutex_unlock(&g->lock);
		return true;
	}
	if (!g->open) {
		/* Console bytes come one at a time: they join the last entry when they can. Frames
		 * never do: each is one write. */
		struct held *last = g->head ? (struct held *)((char *)g->tail - offsetof(struct held, next)) : NULL;
		if (stream && last && last->epoch == g->epoch && last->emit == emit && last->opaque == opaque &&
		    last->cap - last->len >= len && len < 64) {
			memcpy(last->data + last->len, data, len);
			last->len += len;
			held = true;
		} else {
			size_t cap = len < 256 ? 256 : len;
			struct held *h = malloc(sizeof(*h) + cap);
			if (h) {
				*h = (struct held){ .epoch = g->epoch, .emit = emit, .opaque = opaque, .len = len, .cap = cap };
				memcpy(h->data, data, len);
				*g->tail = h;
				g->tail = &h->next;
				g->entries++;
				held = true;
			}
		}
		if (held)
			g->bytes += len;
	}
	pthread_mutex_unlock(&g->lock);
	return held;
}

uint64_t outgate_close_epoch(struct outgate *g)
{
	pthread_mutex_lock(&g->lock);
	uint64_t n = g->epoch++;
	pthread_mutex_unlock(&g->lock);
	return n;
}

size_t outgate_copy(struct outgate *g, uint64_t n, const void *opaque, uint8_t *buf, size_t cap)
{
	pthread_mutex_lock(&g->lock);
	size_t total = 0, done = 0;
	for (const struct held *h = g->head; h; h = h->next)
		if (h->epoch == n && h->opaque == opaque)
			total += h->len;
	size_t skip = total > cap ? total - cap : 0;
	for (const struct held *h = g->head; h; h = h->next) {
		if (h->epoch != n || h->opaque != opaque)
			continue;
		size_t from = skip < h->len ? skip : h->len;
		skip -= from;
		if (h->len > from) {
			memcpy(buf + done, h->data + from, h->len - from);
			done += h->len - from;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return done;
}

/* Take the entries of epochs <= n off the list (under the lock), write them (outside it).
 * open: the gate opens only once nothing is held, under the lock: output the guest makes while
 * the last entries are being written is held behind them and written next, never before them.
 * A guest that makes output as fast as it is written cannot keep the gate shut: after
 * OPEN_ROUNDS rounds it opens with what is left (output from then on may pass the last of it). */
#define OPEN_ROUNDS 64
static void flush(struct outgate *g, uint64_t n, bool open)
{
	for (unsigned round = 0;; round++) {
		pthread_mutex_lock(&g->lock);
		struct held *out = NULL, **out_tail = &out;
		while (g->head && g->head->epoch <= n) {
			struct held *h = g->head;
			g->head = h->next;
			g->bytes -= h->len;
			g->entries--;
			h->next = NULL;
			*out_tail = h;
			out_tail = &h->next;
		}
		if (!g->head)
			g->tail = &g->head;
		if (open && (!out || round >= OPEN_ROUNDS))
			g->open = true;
		pthread_mutex_unlock(&g->lock);
		if (!out)
			return;
		while (out) {
			struct held *h = out;
			out = h->next;
			h->emit(h->opaque, h->data, h->len);
			free(h);
		}
		if (!open || round >= OPEN_ROUNDS)
			return;
	}
}

void outgate_release(struct outgate *g, uint64_t n)
{
	flush(g, n, false);
}

void outgate_open(struct outgate *g)
{
	flush(g, UINT64_MAX, true);
}

void outgate_drop(struct outgate *g)
{
	pthread_mutex_lock(&g->lock);
	struct held *h = g->head;
	g->head = NULL;
	g->tail = &g->head;
	g->dropped += g->bytes;
	g->bytes = 0;
	g->entries = 0;
	g->shut = true;
	pthread_mutex_unlock(&g->lock);
	while (h) {
		struct held *next = h->next;
		free(h);
		h = next;
	}
}

struct outgate *outgate_shut(void)
{
	static struct outgate shut = { .lock = PTHREAD_MUTEX_INITIALIZER, .open = true, .tail = &shut.head, .shut = true };
	return &shut;
}

uint64_t outgate_dropped(struct outgate *g)
{
	pthread_mutex_lock(&g->lock);
	uint64_t b = g->dropped;
	pthread_mutex_unlock(&g->lock);
	return b;
}

uint64_t outgate_held(struct outgate *g)
{
	pthread_mutex_lock(&g->lock);
	uint64_t b = g->bytes;
	pthread_mutex_unlock(&g->lock);
	return b;
}

void outgate_free(struct outgate *g)
{
	if (!g)
		return;
	outgate_open(g);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
