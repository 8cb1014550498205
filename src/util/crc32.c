/* CRC-32 through libdeflate, or zlib when the host lacks libdeflate (crc32.h). */
#include "util/crc32.h"
#include "util/dlopen.h"

#include <libdeflate.h>
#include <pthread.h>
#include <zlib.h>

static __typeof__(libdeflate_crc32) *deflate_crc32;
static pthread_once_t loaded = PTHREAD_ONCE_INIT;
static char why[256];

static void load(void)
{
	const struct dl_sym syms[] = { { "libdeflate_crc32", (void **)&deflate_crc32 } };
	if (dl_load_syms("libdeflate.so.0", syms, 1, why, sizeof(why)) < 0)
		deflate_crc32 = NULL;
}

const char *crc32_load(void)
{
	pthread_once(&loaded, load);
	return deflate_crc32 ? NULL : why;
}

uint32_t crc32_fast(uint32_t crc, const void *p, size_t len)
{
	pthread_once(&loaded, load);
	if (deflate_crc32)
		return deflate_crc32(crc, p, len);
	const Bytef *b = p;
	uLong c = crc;
	while (len) {   /* zlib counts in uInt */
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, b, n);
		b += n;
		len -= n;
	}
	return (uint32_t)c;
}
