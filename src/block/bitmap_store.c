/* A disk's persistent backup bitmap on disk: the sidecar's encoding, and loading (then marking
 * in use) whichever store the image has. Everything read here comes from a file petrel may not
 * have written (or did, and was killed while writing): each field is checked, and a bitmap
 * that fails a check is stale, never trusted. Layout of the sidecar (little-endian):
 *
 *   0  magic "PTRLBMP1"          8  version (1)           12 granularity (65536)
 *   16 disk size (bytes)         24 bits                  32 in_use (0 or 1)
 *   36 chain id length (<=255)   40 generation            48 chain id (256 bytes, zero padded)
 *   304 the bits (64-bit words)  then a CRC-32 (zlib's) of every byte before it. */
#include "block/bitmap_store.h"
#include "block/qcow2_bitmap.h"
#include "block/qcow2_format.h"
#include "util/bitmap.h"
#include "util/crc32.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void backup_bitmap_free(struct backup_bitmap *b)
{
	free(b->bits);
	b->bits = NULL;
}

void backup_bitmap_set_stale(struct backup_bitmap *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->why, sizeof(b->why), fmt, ap);
	va_end(ap);
	b->stale = true;
	backup_bitmap_free(b);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static size_t sidecar_len(uint64_t nbits)
{
	return BITMAP_SIDECAR_HEADER + BITMAP_WORDS(nbits) * 8 + 4;
}

int bitmap_sidecar_parse(const uint8_t *buf, size_t len, uint64_t disk_size, struct backup_bitmap *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->disk_size = disk_size;
	out->nbits = backup_bitmap_nbits(disk_size);
	if (len < BITMAP_SIDECAR_HEADER + 4 || memcmp(buf, BITMAP_SIDECAR_MAGIC, 8))
		return error_set(err, errlen, -EINVAL, "not a petrel bitmap (no magic, or %zu bytes)", len);
	uint32_t crc = le32(buf + len - 4), have = crc32_fast(0, buf, len - 4);
	if (crc != have)
		return error_set(err, errlen, -EINVAL, "CRC 0x%08x does not match its contents (0x%08x)", crc, have);
	uint32_t version = le32(buf + 8), gran = le32(buf + 12), in_use = le32(buf + 32), idlen = le32(buf + 36);
	uint64_t size = le64(buf + 16), nbits = le64(buf + 24);
	if (version != BITMAP_SIDECAR_VERSION)
		return error_set(err, errlen, -EINVAL, "version %u (this petrel writes %u)", version,
				 BITMAP_SIDECAR_VERSION);
	if (gran != BACKUP_BITMAP_GRANULARITY)
		return error_set(err, errlen, -EINVAL, "granularity %u (expected %u)", gran, BACKUP_BITMAP_GRANULARITY);
	if (size != disk_size || nbits != out->nbits)
		return error_set(err, errlen, -EINVAL, "made for a disk of %llu bytes (%llu bits), the disk has %llu",
				 (unsigned long long)size, (unsigned long long)nbits, (unsigned long long)disk_size);
	if (len != sidecar_len(nbits))
		return error_set(err, errlen, -EINVAL, "%zu bytes, expected %zu", len, sidecar_len(nbits));
	if (in_use > 1 || idlen > BACKUP_CHAIN_ID_MAX || memchr(buf + 48, 0, idlen))
		return error_set(err, errlen, -EINVAL, "in_use %u or chain id length %u is invalid", in_use, idlen);
	const uint8_t *bits = buf + BITMAP_SIDECAR_HEADER;
	uint64_t words = BITMAP_WORDS(nbits);
	if (nbits % 64 && le64(bits + (words - 1) * 8) >> (nbits % 64))
		return error_set(err, errlen, -EINVAL, "bits set past the end of the disk");
	if (!(out->bits = calloc(words + 1, 8)))
		return error_oom(err, errlen);
	for (uint64_t w = 0; w < words; w++)
		out->bits[w] = le64(bits + w * 8);
	memcpy(out->chain_id, buf + 48, idlen);
	out->chain_id[idlen] = 0;
	out->generation = le64(buf + 40);
	out->in_use = in_use;
	return 0;
}

uint8_t *bitmap_sidecar_build(const struct backup_bitmap *b, const uint64_t *bits, bool in_use, size_t *len)
{
	*len = sidecar_len(b->nbits);
	uint8_t *buf = calloc(1, *len);
	if (!buf)
		return NULL;
	size_t idlen = strnlen(b->chain_id, BACKUP_CHAIN_ID_MAX);
	memcpy(buf, BITMAP_SIDECAR_MAGIC, 8);
	put_le32(buf + 8, BITMAP_SIDECAR_VERSION);
	put_le32(buf + 12, BACKUP_BITMAP_GRANULARITY);
	put_le64(buf + 16, b->disk_size);
	put_le64(buf + 24, b->nbits);
	put_le32(buf + 32, in_use);
	put_le32(buf + 36, (uint32_t)idlen);
	put_le64(buf + 40, b->generation);
	memcpy(buf + 48, b->chain_id, idlen);
	for (uint64_t w = 0; bits && w < BITMAP_WORDS(b->nbits); w++)
		put_le64(buf + BITMAP_SIDECAR_HEADER + w * 8, bits[w]);
	put_le32(buf + *len - 4, crc32_fast(0, buf, *len - 4));
	return buf;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n, len -= (size_t)n, off += (uint64_t)n;
	}
	return 0;
}

int bitmap_store_save_sidecar(const char *path, const struct backup_bitmap *b, const uint64_t *bits, bool in_use,
			      char *err, size_t errlen)
{
	_cleanup_free_ char *name = NULL, *tmp = NULL;
	if (asprintf(&name, "%s%s", path, BITMAP_SIDECAR_SUFFIX) < 0 || asprintf(&tmp, "%s.tmp", name) < 0)
		return error_oom(err, errlen);
	size_t len;
	_cleanup_free_ uint8_t *buf = bitmap_sidecar_build(b, bits, in_use, &len);
	if (!buf)
		return error_oom(err, errlen);
	unlink(tmp);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot create %s: %s", tmp, strerror(errno));
	int e = write_all(fd, buf, len, 0);
	if (!e && fsync(fd) < 0)
		e = -errno;
	if (!e && rename(tmp, name) < 0)
		e = -errno;
	if (e < 0) {
		unlink(tmp);
		return error_set(err, errlen, e, "cannot write %s: %s", name, strerror(-e));
	}
	/* the rename made durable: the directory synced */
	_cleanup_free_ char *dir = strdup(name);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = 0;
		_cleanup_close_ int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			fsync(dfd);
	}
	return 0;
}

static int load_sidecar(const char *path, uint64_t disk_size, struct backup_bitmap *out)
{
	_cleanup_free_ char *name = NULL;
	if (asprintf(&name, "%s%s", path, BITMAP_SIDECAR_SUFFIX) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		backup_bitmap_set_stale(out, "no bitmap yet (%s: %s)", name, strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != sidecar_len(out->nbits)) {
		backup_bitmap_set_stale(out, "the bitmap %s is refused: %lld bytes, expected %zu", name,
					(long long)st.st_size, sidecar_len(out->nbits));
		return 0;
	}
	_cleanup_free_ uint8_t *buf = malloc((size_t)st.st_size);
	if (!buf)
		return -ENOMEM;
	char err[200];
	int e = qcow2_bm_fd_read(&fd, buf, (size_t)st.st_size, 0);
	if (e < 0)
		error_set(err, sizeof(err), e, "%s", strerror(-e));
	else
		e = bitmap_sidecar_parse(buf, (size_t)st.st_size, disk_size, out, err, sizeof(err));
	if (e == -ENOMEM)
		return e;
	if (e < 0)
		backup_bitmap_set_stale(out, "the bitmap %s is refused: %s", name, err);
	return 0;
}

static int load_qcow2(int fd, uint64_t file_size, uint64_t disk_size, struct backup_bitmap *out,
		      uint64_t *flags_off)
{
	struct qcow2_bm_src src = { qcow2_bm_fd_read, &fd, file_size };
	return qcow2_bitmap_read(&src, disk_size, out, flags_off);
}

/* A qcow2 v3 image keeps the bitmap itself; any other image (raw, qcow2 v2) has the sidecar. */
static bool keeps_own(int fd, uint64_t file_size)
{
	uint8_t h[8];
	return file_size >= QCOW2_V3_HEADER_LEN && qcow2_bm_fd_read(&fd, h, 8, 0) == 0 && qcow2_be32(h) == QCOW2_MAGIC &&
	       qcow2_be32(h + 4) >= 3;
}

int bitmap_store_load(const char *path, uint64_t disk_size, struct backup_bitmap *out, bool *qcow2_ext)
{
	memset(out, 0, sizeof(*out));
	out->disk_size = disk_size; /* what a stale answer says too */
	out->nbits = backup_bitmap_nbits(disk_size);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	*qcow2_ext = false;
	if (fd < 0 || fstat(fd, &st) < 0) {
		backup_bitmap_set_stale(out, "cannot open %s: %s", path, strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode)) { /* a block device: no place of its own for a sidecar */
		backup_bitmap_set_stale(out, "%s is not a regular file: it keeps no backup bitmap", path);
		return 0;
	}
	uint64_t flags_off = 0;
	int e;
	*qcow2_ext = keeps_own(fd, (uint64_t)st.st_size);
	if (*qcow2_ext)
		e = load_qcow2(fd, (uint64_t)st.st_size, disk_size, out, &flags_off);
	else
		e = load_sidecar(path, disk_size, out);
	if (e < 0)
		return e;
	if (!out->stale && out->in_use)
		backup_bitmap_set_stale(out, "the bitmap was in use: the worker that had the disk open did not close "
					"it cleanly (crashed or killed)");
	if (out->stale)
		log_info("%s: backup bitmap stale, the next backup is full: %s", path, out->why);
	else
		log_info("%s: backup bitmap loaded (chain \"%s\")", path, out->chain_id);
	/* In use from now on, on disk: a crash before the clean close leaves it so. */
	char err[256];
	if (*qcow2_ext) {
		uint8_t be[4];
		if (flags_off && qcow2_bm_fd_read(&fd, be, 4, flags_off) == 0) {
			qcow2_put_be32(be, qcow2_be32(be) | QCOW2_BME_IN_USE);
			if (write_all(fd, be, 4, flags_off) < 0 || fdatasync(fd) < 0)
				backup_bitmap_set_stale(out, "cannot mark the bitmap in use: %s", strerror(errno));
		}
		/* and qcow2_open clears the autoclear bit: QEMU sees the extension as inconsistent */
	} else if (bitmap_store_save_sidecar(path, out, out->bits, true, err, sizeof(err)) < 0) {
		/* a crash would find the old clean one: never trust it */
		backup_bitmap_set_stale(out, "cannot mark the bitmap in use: %s", err);
		log_warn("%s: %s", path, out->why);
	}
	return 0;
}
