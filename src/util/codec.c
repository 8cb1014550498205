/* Field-by-field state encoding (codec.h). */
#include "util/codec.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEC_BAD_BOOL (-EDOM) /* internal: a bool byte that is neither 0 nor 1 */

void enc_init(struct enc *e)
{
	memset(e, 0, sizeof(*e));
}

void enc_free(struct enc *e)
{
	free(e->buf);
	enc_init(e);
}

void put_bytes(struct enc *e, const void *p, size_t n)
{
	if (e->err || !n)
		return;
	if (n > e->cap - e->len) {
		size_t cap = e->cap ? e->cap : 256;
		while (cap - e->len < n) {
			if (cap > SIZE_MAX / 2) {
				e->err = -ENOMEM;
				return;
			}
			cap *= 2;
		}
		uint8_t *b = realloc(e->buf, cap);
		if (!b) {
			e->err = -ENOMEM;
			return;
		}
		e->buf = b;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static void put_le(struct enc *e, uint64_t v, unsigned n)
{
	uint8_t b[8];
	le_store(b, v, n);
	put_bytes(e, b, n);
}

void put_u8(struct enc *e, uint8_t v) { put_le(e, v, 1); }
void put_u16(struct enc *e, uint16_t v) { put_le(e, v, 2); }
void put_u32(struct enc *e, uint32_t v) { put_le(e, v, 4); }
void put_u64(struct enc *e, uint64_t v) { put_le(e, v, 8); }
void put_bool(struct enc *e, bool v) { put_le(e, v ? 1 : 0, 1); }

void dec_init(struct dec *d, const void *p, size_t len)
{
	d->p = p;
	d->len = p ? len : 0;
	d->off = 0;
	d->err = 0;
}

size_t dec_left(const struct dec *d)
{
	return d->err ? 0 : d->len - d->off;
}

void get_bytes(struct dec *d, void *p, size_t n)
{
	if (d->err || n > d->len - d->off) {
		if (!d->err)
			d->err = -EINVAL;
		memset(p, 0, n);
		return;
	}
	memcpy(p, d->p + d->off, n);
	d->off += n;
}

static uint64_t get_le(struct dec *d, unsigned n)
{
	uint8_t b[8];
	get_bytes(d, b, n);
	return le_load(b, n);
}

uint8_t get_u8(struct dec *d) { return (uint8_t)get_le(d, 1); }
uint16_t get_u16(struct dec *d) { return (uint16_t)get_le(d, 2); }
uint32_t get_u32(struct dec *d) { return (uint32_t)get_le(d, 4); }
uint64_t get_u64(struct dec *d) { return get_le(d, 8); }

bool get_bool(struct dec *d)
{
	uint8_t v = get_u8(d);
	if (v > 1 && !d->err)
		d->err = DEC_BAD_BOOL;
	return v == 1;
}

int dec_end(const struct dec *d, const char *what, char *err, size_t errlen)
{
	if (d->err == DEC_BAD_BOOL)
		return error_set(err, errlen, -EINVAL, "%s: a true/false field holds another value", what);
	if (d->err)
		return error_set(err, errlen, -EINVAL,
				 "%s: the saved state is shorter than its version's (%zu bytes)", what,
				 d->len);
	if (d->off != d->len)
		return error_set(err, errlen, -EINVAL,
				 "%s: the saved state has %zu bytes more than its version's", what,
				 d->len - d->off);
	return 0;
}
