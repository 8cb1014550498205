/* zstd payloads (CONFIG_KERNEL_ZSTD), with libzstd. Decoded in one call straight into the
 * output buffer, so no window buffer is allocated whatever window size the frame announces;
 * the context's memory is bounded by libzstd. Checksums, when present, are verified. */
#include "boot/payload.h"
#include "boot/payload_lib.h"
#include "util/error.h"

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
/* For initramfs members (below). */
static __typeof__(&ZSTD_findFrameCompressedSize) p_ZSTD_findFrameCompressedSize;
static __typeof__(&ZSTD_DCtx_setParameter) p_ZSTD_DCtx_setParameter;
static __typeof__(&ZSTD_decompressStream) p_ZSTD_decompressStream;
#define ZSTD_findFrameCompressedSize p_ZSTD_findFrameCompressedSize
#define ZSTD_DCtx_setParameter p_ZSTD_DCtx_setParameter
#define ZSTD_decompressStream p_ZSTD_decompressStream
static const struct payload_sym syms[] = {
	{ "ZSTD_createDCtx", (void **)&p_ZSTD_createDCtx },
	{ "ZSTD_decompressDCtx", (void **)&p_ZSTD_decompressDCtx },
	{ "ZSTD_freeDCtx", (void **)&p_ZSTD_freeDCtx },
	{ "ZSTD_isError", (void **)&p_ZSTD_isError },
	{ "ZSTD_getErrorName", (void **)&p_ZSTD_getErrorName },
	{ "ZSTD_getErrorCode", (void **)&p_ZSTD_getErrorCode },
	{ "ZSTD_findFrameCompressedSize", (void **)&p_ZSTD_findFrameCompressedSize },
	{ "ZSTD_DCtx_setParameter", (void **)&p_ZSTD_DCtx_setParameter },
	{ "ZSTD_decompressStream", (void **)&p_ZSTD_decompressStream },
};

int unpack_zstd(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	int r = payload_lib_load("libzstd.so.1", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (r < 0)
		return r;
	ZSTD_DCtx *d = ZSTD_createDCtx();
	if (!d)
		return error_set(err, errlen, -ENOMEM, "zstd: out of memory");
	size_t n = ZSTD_decompressDCtx(d, out, outlen, in, inlen);
	ZSTD_freeDCtx(d);
	if (ZSTD_isError(n))
		return error_set(err, errlen,
				 ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL,
				 "zstd: %s", ZSTD_getErrorName(n));
	if (n != outlen)
		return error_set(err, errlen, -EINVAL, "zstd: stream ends after %zu bytes, %zu expected", n,
				 outlen);
	return 0;
}

/* An initramfs member: one zstd frame, as the kernel's unzstd (lib/decompress_unzstd.c)
 * decodes it; the next member starts after the frame. Windows over 128 MiB are refused. */
int member_zstd(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err,
		size_t errlen)
{
	int r = payload_lib_load("libzstd.so.1", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (r < 0)
		return r;
	size_t fsz = ZSTD_findFrameCompressedSize(in, inlen);
	if (ZSTD_isError(fsz))
		return error_set(err, errlen, -EINVAL, "zstd: %s", ZSTD_getErrorName(fsz));
	ZSTD_DCtx *d = ZSTD_createDCtx();
	if (!d)
		return error_set(err, errlen, -ENOMEM, "zstd: out of memory");
	size_t e = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
	ZSTD_inBuffer ib = { in, fsz, 0 };
	int ret = 0;
	while (!ZSTD_isError(e)) {
		if ((ret = unpack_out_reserve(out, 256u << 10, err, errlen)) < 0)
			break;
		ZSTD_outBuffer ob = { out->buf + out->len, unpack_out_room(out), 0 };
		size_t in_before = ib.pos;
		e = ZSTD_decompressStream(d, &ob, &ib);
		out->len += ob.pos;
		if (ZSTD_isError(e))
			break;
		if (e == 0)
			break;
		if (ib.pos == in_before && ob.pos == 0) {
			ret = error_set(err, errlen, -EINVAL, "zstd: frame is truncated");
			break;
		}
	}
	if (ret == 0 && ZSTD_isError(e))
		ret = error_set(err, errlen,
				ZSTD_getErrorCode(e) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL,
				"zstd: %s", ZSTD_getErrorName(e));
	ZSTD_freeDCtx(d);
	if (ret == 0)
		*used = fsz;
	return ret;
}
