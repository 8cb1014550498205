/* Ranges of a disk the disk-boot readers read (source.h). */
#include "diskboot/source.h"

#include <errno.h>
#include <string.h>

int dsrc_read(const struct dsrc *s, uint64_t off, void *buf, size_t len)
{
	if (off > s->size || len > s->size - off)
		return -ERANGE;
	return s->read(s->ctx, s->base + off, buf, len);
}

struct dsrc dsrc_sub(const struct dsrc *s, uint64_t off, uint64_t size)
{
	struct dsrc r = *s;
	off = off < s->size ? off : s->size;
	r.base = s->base + off;
	r.size = size < s->size - off ? size : s->size - off;
	return r;
}

int dsrc_mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct dsrc_mem *m = ctx;
	if (off > m->len || len > m->len - off)
		return -EIO;
	memcpy(buf, m->data + off, len);
	return 0;
}

struct dsrc dsrc_of_mem(struct dsrc_mem *m, const uint8_t *data, size_t len)
{
	*m = (struct dsrc_mem){ data, len };
	return (struct dsrc){ dsrc_mem_read, m, 0, len };
}
