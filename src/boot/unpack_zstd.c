/* zstd payloads (CONFIG_KERNEL_ZSTD), with libzstd. Decoded in one call straight into the
 * output buffer, so no window buffer is allocated whatever window size the frame announces;
 * the context's memory is bounded by libzstd. Checksums, when present, are verified. */
#include "boot/payload.h"
#include "boot/payload_lib.h"

#include <errno.h>
#include <stdio.h>
#include <zstd.h>
#include <zstd_errors.h>

static __typeof__(&ZSTD_createDCtx) p_ZSTD_createDCtx;
static __typeof__(&ZSTD_decompressDCtx) p_ZSTD_decompressDCtx;
static __typeof__(&ZSTD_freeDCtx) p_ZSTD_freeDCtx;
static __typeof__(&ZSTD_isError) p_ZSTD_isError;
static __typeof__(&ZSTD_getErrorName) p_ZSTD_getErrorName;
static __typeof__(&ZSTD_getErrorCode) p_ZSTD_getErrorCode;
#define ZSTD_createDCtx p_ZSTD_createDCtx
#define ZSTD_decompressDCtx p_ZSTD_decompressDCtx
#define ZSTD_freeDCtx p_ZSTD_freeDCtx
#define ZSTD_isError p_ZSTD_isError
#define ZSTD_getErrorName p_ZSTD_getErrorName
#define ZSTD_getErrorCode p_ZSTD_getErrorCode
static const struct payload_sym syms[] = {
	{ "ZSTD_createDCtx", (void **)&p_ZSTD_createDCtx },
	{ "ZSTD_decompressDCtx", (void **)&p_ZSTD_decompressDCtx },
	{ "ZSTD_freeDCtx", (void **)&p_ZSTD_freeDCtx },
	{ "ZSTD_isError", (void **)&p_ZSTD_isError },
	{ "ZSTD_getErrorName", (void **)&p_ZSTD_getErrorName },
	{ "ZSTD_getErrorCode", (void **)&p_ZSTD_getErrorCode },
};

int unpack_zstd(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	int r = payload_lib_load("libzstd.so.1", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (r < 0)
		return r;
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
