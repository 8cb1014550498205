/* xz (CONFIG_KERNEL_XZ) and legacy .lzma (CONFIG_KERNEL_LZMA) payloads, with liblzma.
 * The decoder's dictionary is what the stream header asks for, so it is capped: a stream
 * that needs more than PAYLOAD_DECODER_MEM_MAX is refused (LZMA_MEMLIMIT_ERROR), not
 * allocated. xz's integrity check (the kernel uses CRC-32) is verified by liblzma. */
#include "boot/payload.h"
#include "boot/payload_lib.h"
#include "util/error.h"

#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <string.h>

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
		return error_set(err, errlen, -EINVAL, "%s: stream ends after %llu bytes, %zu expected", fmt,
				 (unsigned long long)s->total_out, outlen);
	case LZMA_MEM_ERROR:
		return error_set(err, errlen, -ENOMEM, "%s: out of memory", fmt);
	case LZMA_MEMLIMIT_ERROR:
		return error_set(err, errlen, -EINVAL,
				 "%s: the stream needs more than %u MiB of decoder memory", fmt,
				 PAYLOAD_DECODER_MEM_MAX >> 20);
	case LZMA_BUF_ERROR:
		if (s->avail_out == 0)
			return error_set(err, errlen, -EINVAL, "%s: stream holds more than %zu bytes", fmt,
					 outlen);
		return error_set(err, errlen, -EINVAL, "%s: stream is truncated after %llu bytes of output",
				 fmt, (unsigned long long)s->total_out);
	case LZMA_FORMAT_ERROR:
	case LZMA_OPTIONS_ERROR:
	case LZMA_DATA_ERROR:
	case LZMA_UNSUPPORTED_CHECK:
	default:
		return error_set(err, errlen, -EINVAL, "%s: corrupt or unsupported stream (liblzma error %d)",
				 fmt, (int)r);
	}
}

/* liblzma loaded and a decoder (.lzma if alone, else .xz) set up in s: 0, or -errno and why. */
static int xz_open(int alone, lzma_stream *s, char *err, size_t errlen)
{
	int lr = payload_lib_load("liblzma.so.5", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (lr < 0)
		return lr;
	/* LZMA_TELL_UNSUPPORTED_CHECK: an xz check liblzma cannot verify is an error, not a
	 * silent pass. */
	lzma_ret r = alone ? lzma_alone_decoder(s, PAYLOAD_DECODER_MEM_MAX)
			   : lzma_stream_decoder(s, PAYLOAD_DECODER_MEM_MAX, LZMA_TELL_UNSUPPORTED_CHECK);
	if (r != LZMA_OK)
		return error_set(err, errlen, r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL,
				 "%s: cannot initialise liblzma (%d)", alone ? "lzma" : "xz", (int)r);
	return 0;
}

static int unpack(int alone, const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen,
		  char *err, size_t errlen)
{
	const char *fmt = alone ? "lzma" : "xz";
	lzma_stream s = LZMA_STREAM_INIT;
	int lr = xz_open(alone, &s, err, errlen);
	if (lr < 0)
		return lr;
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

/* One .xz stream or .lzma file of an initramfs, decoded into out until its end; *used = the
 * input it took. */
static int member(int alone, const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used,
		  char *err, size_t errlen)
{
	const char *fmt = alone ? "lzma" : "xz";
	lzma_stream s = LZMA_STREAM_INIT;
	int lr = xz_open(alone, &s, err, errlen);
	if (lr < 0)
		return lr;
	s.next_in = in;
	s.avail_in = inlen;
	int ret = 0;
	for (;;) {
		if ((ret = unpack_out_reserve(out, 256u << 10, err, errlen)) < 0)
			break;
		size_t room = unpack_out_room(out);
		s.next_out = out->buf + out->len;
		s.avail_out = room;
		lzma_ret r = lzma_code(&s, LZMA_FINISH);
		out->len += room - s.avail_out;
		if (r == LZMA_STREAM_END)
			break;
		if (r == LZMA_OK)
			continue;
		if (r == LZMA_MEMLIMIT_ERROR)
			ret = error_set(err, errlen, -EINVAL,
					"%s: the stream needs more than %u MiB of decoder memory", fmt,
					PAYLOAD_DECODER_MEM_MAX >> 20);
		else if (r == LZMA_BUF_ERROR)
			ret = error_set(err, errlen, -EINVAL, "%s: stream is truncated", fmt);
		else
			ret = error_set(err, errlen, r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL,
					"%s: corrupt or unsupported stream (liblzma error %d)", fmt, (int)r);
		break;
	}
	if (ret == 0)
		*used = (size_t)s.total_in;
	lzma_end(&s);
	return ret;
}

/* The kernel's unxz (lib/decompress_unxz.c, multi-call mode) stops after the stream's footer:
 * one stream per member, stream padding is zeros it skips before the next. Its integrity
 * check support depends on the kernel's configuration (CRC32 always, the others not), so only
 * streams checked with CRC32 or not at all (`xz --check=crc32`, as the kernel's documentation
 * asks) are decoded here; others are left to the kernel. */
int member_xz(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err,
	      size_t errlen)
{
	if (inlen >= 12 && in[6] == 0 && (in[7] & 0x0f) != 0 && (in[7] & 0x0f) != 1)
		return error_set(err, errlen, -EINVAL,
				 "xz: integrity check type %u (a kernel may not verify it; "
				 "xz --check=crc32 makes what every kernel reads)",
				 in[7] & 0x0f);
	return member(0, in, inlen, out, used, err, errlen);
}

/* The kernel's unlzma (lib/decompress_unlzma.c) stops at the size in the header or at the
 * end marker. Only end-marked streams of unknown size (what xz-utils' lzma writes) are
 * decoded here: with a known size liblzma may also take an end marker the kernel leaves. */
int member_lzma(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err,
		size_t errlen)
{
	static const uint8_t unknown[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	if (inlen < 13 || memcmp(in + 5, unknown, 8) != 0)
		return error_set(err, errlen, -EINVAL,
				 "lzma: a stream with its size in the header (petrel reads only "
				 "end-marked ones)");
	return member(1, in, inlen, out, used, err, errlen);
}
