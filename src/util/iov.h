/* Byte ranges of scatter-gather lists (guest buffers split across iovecs): the block layer,
 * virtqueue chains, virtio-net and vsock use these. */
#ifndef PETREL_UTIL_IOV_H
#define PETREL_UTIL_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

/* Bytes [skip, skip+len) of iov[0..n) as iovecs in out[] (at most max of them; empty entries
 * left out); returns how many. Stops early if iov holds less. */
static inline unsigned iov_sub_max(const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len,
				   struct iovec *out, unsigned max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len && k < max; i++) {
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

/* The same with room for n entries in out[]. */
static inline unsigned iov_sub(const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len,
			       struct iovec *out)
{
	return iov_sub_max(iov, n, skip, len, out, n);
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

/* Copy len bytes between buf and the bytes of iov[0..n) from offset off on (to_iov: buf ->
 * iov); returns how many were copied (fewer when iov holds less). */
static inline size_t iov_copy_at(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len,
				 bool to_iov)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

#endif
