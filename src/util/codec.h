/* Field-by-field encoding of saved state: fixed widths, little-endian, no padding, whatever the
 * in-memory layout of the struct a field comes from. What a device's save verb writes and its
 * load verb reads (devices/dev_state.h); snapshots, live migration and replication all carry
 * these bytes (docs/snapshots.md lists every field).
 *
 * Both sides keep the first failure and ignore everything after it, so a device writes or
 * reads its fields in a row and checks once: a writer that could not grow its buffer has
 * err = -ENOMEM; a reader asked for more bytes than are left has err = -EINVAL and hands out
 * zeros from then on (a truncated state never reads past its end). dec_end insists the input
 * was used exactly, so an oversized state is refused as well as a short one. */
#ifndef PETREL_UTIL_CODEC_H
#define PETREL_UTIL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A section id: four characters, the first in the lowest byte ("UART"). */
#define STATE_ID(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* n bytes (1..8) of v at p, little-endian whatever the host; and back. For a guest's
 * structures in memory (a device's configuration space, a request header) as well. */
static inline void le_store(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_load(const uint8_t *p, unsigned n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* the usual widths as one load (a request header's fields, per request) */
	if (n == 8 || n == 4 || n == 2) {
		uint64_t v = 0;
		memcpy(&v, p, n);
		return v;
	}
#endif
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct enc {
	uint8_t *buf;
	size_t len, cap;
	int err;          /* first failure; sticky */
};

void enc_init(struct enc *e);
void enc_free(struct enc *e);
void put_u8(struct enc *e, uint8_t v);
void put_u16(struct enc *e, uint16_t v);
void put_u32(struct enc *e, uint32_t v);
void put_u64(struct enc *e, uint64_t v);
void put_bool(struct enc *e, bool v);               /* one byte, 0 or 1 */
void put_bytes(struct enc *e, const void *p, size_t n);

struct dec {
	const uint8_t *p;
	size_t len, off;
	int err;          /* -EINVAL once a read went past the end; sticky */
};

void dec_init(struct dec *d, const void *p, size_t len);
uint8_t get_u8(struct dec *d);
uint16_t get_u16(struct dec *d);
uint32_t get_u32(struct dec *d);
uint64_t get_u64(struct dec *d);
/* One byte that must be 0 or 1 (anything else fails the reader: a bool holding another value
 * would be undefined behaviour). */
bool get_bool(struct dec *d);
void get_bytes(struct dec *d, void *p, size_t n);
/* Bytes left to read (0 after a failure). */
size_t dec_left(const struct dec *d);
/* The end of one saved state named what: 0 if every byte was read and none was missing, else
 * -EINVAL and why ("UART: 3 bytes short" / "UART: 5 bytes too many" / "UART: a bool is 7"). */
int dec_end(const struct dec *d, const char *what, char *err, size_t errlen);

#endif
