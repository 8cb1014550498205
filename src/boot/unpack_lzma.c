/* xz (CONFIG_KERNEL_XZ) and legacy .lzma (CONFIG_KERNEL_LZMA) payloads, with liblzma.
 * The decoder's dictionary is what the stream header asks for, so it is capped: a stream
 * that needs more than PAYLOAD_DECODER_MEM_MAX is refused (LZMA_MEMLIMIT_ERROR), not
 * allocated. xz's integrity check (the kernel uses CRC-32) is verified by liblzma. */
#include "boot/payload.h"
#include "boot/payload_lib.h"

#include <errno.h>
#include <lzma.h>
#include <stdio.h>

static __typeof__(&lzma_stream_decoder) p_lzma_stream_decoder;
static __typeof__(&lzma_alone_decoder) p_lzma_alone_decoder;
static __typeof__(&lzma_code) p_lzma_code;
static __typeof__(&lzma_end) p_lzma_end;
#define lzma_stream_decoder p_lzma_stream_decoder
#define lzma_alone_decoder p_lzma_alone_decoder
#define lzma_code p_lzma_code
#define lzma_end p_lzma_end
static const struct payload_sym syms[] = {
	{ "lzma_stream_decoder", (void **)&p_lzma_stream_decoder },
	{ "lzma_alone_decoder", (void **)&p_lzma_alone_decoder },
	{ "lzma_code", (void **)&p_lzma_code },
	{ "lzma_end", (void **)&p_lzma_end },
};

static int run(lzma_stream *s, const char *fmt, const uint8_t *in, size_t inlen, uint8_t *out,
	       size_t outlen, char *err, size_t errlen)
{
	s->next_in = in;
	s->avail_in = inlen;
	s->next_out = out;
	s->avail_out = outlen;
	lzma_ret r;
	do {
		r = lzma_code(s, LZMA_FINISH);
	} while (r == LZMA_OK);
	switch (r) {
	case LZMA_STREAM_END:
		if (s->total_out == outlen)
			return 0;
		snprintf(err, errlen, "%s: stream ends after %llu bytes, %zu expected", fmt,
			 (unsigned long long)s->total_out, outlen);
		return -EINVAL;
	case LZMA_MEM_ERROR:
		snprintf(err, errlen, "%s: out of memory", fmt);
		return -ENOMEM;
	case LZMA_MEMLIMIT_ERROR:
		snprintf(err, errlen, "%s: the stream needs more than %u MiB of decoder memory", fmt,
			 PAYLOAD_DECODER_MEM_MAX >> 20);
		return -EINVAL;
	case LZMA_BUF_ERROR:
		if (s->avail_out == 0)
			snprintf(err, errlen, "%s: stream holds more than %zu bytes", fmt, outlen);
		else
			snprintf(err, errlen, "%s: stream is truncated after %llu bytes of output", fmt,
				 (unsigned long long)s->total_out);
		return -EINVAL;
	case LZMA_FORMAT_ERROR:
	case LZMA_OPTIONS_ERROR:
	case LZMA_DATA_ERROR:
	case LZMA_UNSUPPORTED_CHECK:
	default:
		snprintf(err, errlen, "%s: corrupt or unsupported stream (liblzma error %d)", fmt, (int)r);
		return -EINVAL;
	}
}

static int unpack(int alone, const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen,
		  char *err, size_t errlen)
{
	const char *fmt = alone ? "lzma" : "xz";
	int lr = payload_lib_load("liblzma.so.5", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (lr < 0)
		return lr;
	lzma_stream s = LZMA_STREAM_INIT;
	/* LZMA_TELL_UNSUPPORTED_CHECK: an xz check liblzma cannot verify is an error, not a
	 * silent pass. */
	lzma_ret r = alone ? lzma_alone_decoder(&s, PAYLOAD_DECODER_MEM_MAX)
			   : lzma_stream_decoder(&s, PAYLOAD_DECODER_MEM_MAX, LZMA_TELL_UNSUPPORTED_CHECK);
	if (r != LZMA_OK) {
		snprintf(err, errlen, "%s: cannot initialise liblzma (%d)", fmt, (int)r);
		return r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	int ret = run(&s, fmt, in, inlen, out, outlen, err, errlen);
	lzma_end(&s);
	return ret;
}

int unpack_xz(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	return unpack(0, in, inlen, out, outlen, err, errlen);
}

int unpack_lzma(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	return unpack(1, in, inlen, out, outlen, err, errlen);
}
