/* zstd payloads (CONFIG_KERNEL_ZSTD), with libzstd. Decoded in one call straight into the
 * output buffer, so no window buffer is allocated whatever window size the frame announces;
 * the context's memory is bounded by libzstd. Checksums, when present, are verified. */
#include "boot/payload.h"

#include <errno.h>
#include <stdio.h>
#include <zstd.h>
#include <zstd_errors.h>

int unpack_zstd(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	if (!d) {
		snprintf(err, errlen, "zstd: out of memory");
		return -ENOMEM;
	}
	size_t n = ZSTD_decompressDCtx(d, out, outlen, in, inlen);
	ZSTD_freeDCtx(d);
	if (ZSTD_isError(n)) {
		snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(n));
		return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL;
	}
	if (n != outlen) {
		snprintf(err, errlen, "zstd: stream ends after %zu bytes, %zu expected", n, outlen);
		return -EINVAL;
	}
	return 0;
}
