/* Byte ranges of scatter-gather lists (guest buffers split across iovecs). */
#ifndef PETREL_BLOCK_IOV_H
#define PETREL_BLOCK_IOV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

/* Bytes [skip, skip+len) of iov[0..n) as iovecs in out[] (at most n of them); returns how
 * many. Stops early if iov holds less. */
static inline unsigned iov_sub(const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len,
			       struct iovec *out)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		uint64_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		uint64_t take = l - skip < len ? l - skip : len;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k].iov_len = take;
		if (take)
			k++;
		len -= take;
		skip = 0;
	}
	return k;
}

static inline uint64_t iov_total(const struct iovec *iov, unsigned n)
{
	uint64_t t = 0;
	for (unsigned i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Copy between a flat buffer and the iovecs (to_iov: buf -> iov), or fill them with zeroes
 * (buf NULL, to_iov true). */
static inline void iov_copy(const struct iovec *iov, unsigned n, uint8_t *buf, bool to_iov)
{
	for (unsigned i = 0; i < n; i++) {
		if (!to_iov)
			memcpy(buf, iov[i].iov_base, iov[i].iov_len);
		else if (buf)
			memcpy(iov[i].iov_base, buf, iov[i].iov_len);
		else
			memset(iov[i].iov_base, 0, iov[i].iov_len);
		if (buf)
			buf += iov[i].iov_len;
	}
}

#endif
