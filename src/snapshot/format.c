#include "snapshot/format.h"
#include "util/crc32.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* libdeflate's CRC-32, the same values as zlib's crc32 gave (util/crc32.h): ~4x faster */
static uint32_t crc(const uint8_t *p, size_t len)
{
	return crc32_fast(0, p, len);
}

/* ---- writer ---- */

static uint8_t *grow(struct snap_writer *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > SIZE_MAX - w->len) {
		w->err = -EOVERFLOW;
		return NULL;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->buf = b;
		w->cap = cap;
	}
	uint8_t *p = w->buf + w->len;
	memset(p, 0, n);
	w->len += n;
	return p;
}

void snap_writer_init(struct snap_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->open = SIZE_MAX;
	uint8_t *h = grow(w, SNAP_HEADER_SIZE);
	if (h) {
		memcpy(h, SNAP_MAGIC, 8);
		put32(h + 8, SNAP_FORMAT_VERSION);
	}
}

void snap_writer_free(struct snap_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

void snap_begin(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version)
{
	if (!w->err && w->open != SIZE_MAX)
		w->err = -EINVAL; /* sections do not nest */
	size_t off = w->len;
	uint8_t *h = grow(w, SNAP_SECTION_HEADER_SIZE);
	if (!h)
		return;
	put32(h, id);
	put32(h + 4, instance);
	put32(h + 8, version);
	w->open = off;
}

void snap_put(struct snap_writer *w, const void *data, size_t len)
{
	if (!w->err && w->open == SIZE_MAX)
		w->err = -EINVAL;
	uint8_t *p = grow(w, len);
	if (p && len)
		memcpy(p, data, len);
}

void snap_end(struct snap_writer *w)
{
	if (w->err)
		return;
	if (w->open == SIZE_MAX) {
		w->err = -EINVAL;
		return;
	}
	uint64_t len = w->len - w->open - SNAP_SECTION_HEADER_SIZE;
	put64(w->buf + w->open + 16, len);
	grow(w, (8 - (len & 7)) & 7);
	w->open = SIZE_MAX;
	w->nsections++;
}

void snap_section(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version,
		  const void *data, size_t len)
{
	snap_begin(w, id, instance, version);
	snap_put(w, data, len);
	snap_end(w);
}

int snap_finish(struct snap_writer *w)
{
	if (!w->err && w->open != SIZE_MAX)
		w->err = -EINVAL;
	uint32_t n = w->nsections;
	size_t end = w->len;
	uint8_t *h = grow(w, SNAP_SECTION_HEADER_SIZE + 8);
	if (!h)
		return w->err;
	put32(h, SNAP_ID_END);
	put32(h + 8, 1);
	put64(h + 16, 8);
	put64(w->buf + 16, w->len); /* total length, covered by the checksum */
	put32(h + SNAP_SECTION_HEADER_SIZE, crc(w->buf, end));
	put32(h + SNAP_SECTION_HEADER_SIZE + 4, n);
	return 0;
}

int snap_write_file(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
	char tmp[4096];
	int fd = open_new_tmp(path, tmp, sizeof(tmp));
	if (fd < 0)
		return error_set(err, errlen, fd, "%s: %s", tmp, strerror(-fd));
	const uint8_t *p = buf;
	int e = 0;
	for (size_t done = 0; !e && done < len;) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			e = n < 0 ? -errno : -EIO;
		else
			done += (size_t)n;
	}
	if (!e && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && !e)
		e = -errno;
	if (!e && rename(tmp, path) < 0)
		e = -errno;
	if (e) {
		unlink(tmp);
		return error_set(err, errlen, e, "%s: %s", path, strerror(-e));
	}
	/* The rename itself must reach the disk too. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* ---- reader ---- */

int snap_open(struct snap_reader *r, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (len < SNAP_HEADER_SIZE || memcmp(buf, SNAP_MAGIC, 8) != 0)
		return error_set(err, errlen, -EINVAL,
				 "not a petrel state file (%zu bytes, no PETRELVS header)", len);
	uint32_t version = get32(buf + 8);
	if (version != SNAP_FORMAT_VERSION)
		return error_set(err, errlen, -EINVAL,
				 "state file has format version %u; this petrel reads "
				 "format version %u only (take the snapshot again with this petrel)",
				 version, (unsigned)SNAP_FORMAT_VERSION);
	if (get32(buf + 12) || get64(buf + 24))
		return error_set(err, errlen, -EINVAL, "state file header has unknown flags %#x",
				 get32(buf + 12));
	if (get64(buf + 16) != len)
		return error_set(err, errlen, -EINVAL,
				 "state file is %zu bytes, its header says %llu (truncated?)", len,
				 (unsigned long long)get64(buf + 16));
	size_t off = SNAP_HEADER_SIZE;
	uint32_t n = 0;
	for (;;) {
		if (len - off < SNAP_SECTION_HEADER_SIZE)
			return error_set(err, errlen, -EINVAL,
					 "state file ends inside a section header at %zu", off);
		const uint8_t *h = buf + off;
		uint64_t plen = get64(h + 16);
		size_t room = len - off - SNAP_SECTION_HEADER_SIZE;
		if (plen > room || ((8 - (plen & 7)) & 7) > room - plen)
			return error_set(err, errlen, -EINVAL,
					 "section at %zu claims %llu bytes past the end of the file", off,
					 (unsigned long long)plen);
		if (get32(h + 12))
			return error_set(err, errlen, -EINVAL, "section at %zu has a non-zero reserved field",
					 off);
		size_t pad = (8 - (plen & 7)) & 7;
		const uint8_t *payload = h + SNAP_SECTION_HEADER_SIZE;
		for (size_t i = 0; i < pad; i++)
			if (payload[plen + i])
				return error_set(err, errlen, -EINVAL, "section at %zu has non-zero padding",
						 off);
		if (get32(h) == SNAP_ID_END) {
			if (plen != 8 || get32(h + 4) || get32(h + 8) != 1)
				return error_set(err, errlen, -EINVAL, "malformed END section at %zu", off);
			if (off + SNAP_SECTION_HEADER_SIZE + 8 != len)
				return error_set(err, errlen, -EINVAL, "%zu bytes after the END section",
						 len - off - SNAP_SECTION_HEADER_SIZE - 8);
			uint32_t want = get32(payload), got = crc(buf, off);
			if (want != got)
				return error_set(err, errlen, -EINVAL,
						 "state file checksum is %#x, its content gives %#x (corrupt)", want,
						 got);
			if (get32(payload + 4) != n)
				return error_set(err, errlen, -EINVAL,
						 "state file lists %u sections, %u found", get32(payload + 4),
						 n);
			r->buf = buf;
			r->len = len;
			r->end_off = off;
			r->nsections = n;
			return 0;
		}
		n++;
		off += SNAP_SECTION_HEADER_SIZE + plen + pad;
	}
}

int snap_next(const struct snap_reader *r, size_t *cursor, struct snap_section *s)
{
	size_t off = *cursor ? *cursor : SNAP_HEADER_SIZE;
	if (!r->buf || off >= r->end_off)
		return 0;
	const uint8_t *h = r->buf + off;
	s->id = get32(h);
	s->instance = get32(h + 4);
	s->version = get32(h + 8);
	s->len = get64(h + 16);
	s->payload = h + SNAP_SECTION_HEADER_SIZE;
	*cursor = off + SNAP_SECTION_HEADER_SIZE + (size_t)s->len + ((8 - (s->len & 7)) & 7);
	return 1;
}

int snap_find(const struct snap_reader *r, uint32_t id, uint32_t instance, uint32_t *version,
	      const void **payload, uint64_t *len)
{
	size_t cur = 0;
	struct snap_section s;
	while (snap_next(r, &cur, &s))
		if (s.id == id && s.instance == instance) {
			*version = s.version;
			*payload = s.payload;
			*len = s.len;
			return 0;
		}
	return -ENOENT;
}

unsigned snap_count(const struct snap_reader *r, uint32_t id)
{
	size_t cur = 0;
	struct snap_section s;
	unsigned n = 0;
	while (snap_next(r, &cur, &s))
		n += s.id == id;
	return n;
}

void snap_id_name(uint32_t id, char out[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)(id >> (8 * i));
		out[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	out[4] = '\0';
}

int snap_get(const struct snap_reader *r, uint32_t id, uint32_t instance, uint32_t version,
	     void *out, size_t size, char *err, size_t errlen)
{
	uint32_t v;
	const void *p;
	uint64_t len;
	char name[5];
	snap_id_name(id, name);
	if (snap_find(r, id, instance, &v, &p, &len) < 0)
		return error_set(err, errlen, -ENOENT, "state file lacks section '%s' #%u", name, instance);
	if (v != version || len != size)
		return error_set(err, errlen, -EINVAL,
				 "section '%s' #%u is version %u with %llu bytes; expected version %u with %zu", name,
				 instance, v, (unsigned long long)len, version, size);
	memcpy(out, p, size);
	return 0;
}

int snap_read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	*buf = NULL;
	*len = 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return error_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)SNAP_MAX_FILE)
		return error_set(err, errlen, -EINVAL, "%s: not a regular file of at most %u MiB", path,
				 SNAP_MAX_FILE >> 20);
	size_t size = (size_t)st.st_size;
	_cleanup_free_ uint8_t *b = malloc(size ? size : 1);
	if (!b)
		return -ENOMEM;
	size_t done = 0;
	while (done < size) {
		ssize_t n = read(fd, b + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done != size)
		return error_set(err, errlen, -EIO, "%s: short read", path);
	*buf = TAKE_PTR(b);
	*len = size;
	return 0;
}
