/* qcow2 metadata cache: a fixed array, looked up linearly (it holds tens of entries). */
#include "block/qcow2_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, size_t size)
{
	memset(c, 0, sizeof(*c));
	c->e = calloc(n, sizeof(*c->e));
	if (!c->e)
		return -ENOMEM;
	c->n = n;
	c->size = size;
	return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
	for (unsigned i = 0; c->e && i < c->n; i++)
		free(c->e[i].data);
	free(c->e);
	memset(c, 0, sizeof(*c));
}

static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

uint8_t *qcow2_cache_get(struct qcow2_cache *c, int fd, uint64_t off, int fresh, int *err)
{
	struct qcow2_cache_entry *victim = NULL;
	c->clock++;
	for (unsigned i = 0; i < c->n; i++) {
		struct qcow2_cache_entry *e = &c->e[i];
		if (e->off == off && e->data) {
			e->used = c->clock;
			c->hits++;
			if (fresh)
				memset(e->data, 0, c->size);
			return e->data;
		}
		if (!victim || e->used < victim->used)
			victim = e;
	}
	c->misses++;
	if (!victim->data && !(victim->data = malloc(c->size))) {
		*err = -ENOMEM;
		return NULL;
	}
	victim->off = 0;
	if (fresh) {
		memset(victim->data, 0, c->size);
	} else {
		int r = read_full(fd, victim->data, c->size, off);
		if (r < 0) {
			*err = r;
			return NULL;
		}
	}
	victim->off = off;
	victim->used = c->clock;
	return victim->data;
}

uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].off == off && c->e[i].data)
			return c->e[i].data;
	return NULL;
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].off == off)
			c->e[i].off = 0;
}
