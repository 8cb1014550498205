/* A disk's member of a backup chain (docs/snapshots.md#incremental-backups): an incremental
 * member is a qcow2 file (64 KiB clusters) holding only the chunks the drive's backup bitmap
 * marks, whose backing file is the previous member (a relative name, so a chain moves as a
 * directory tree); `qemu-img` reads the chain, and `qemu-img convert` of the last member gives
 * the disk as it was. Each member's SHA-256 goes in the answer (nettle, loaded on first use). */
#include "snapshot/backup_member.h"
#include "block/disk.h"
#include "block/dirty.h"
#include "block/qcow2.h"
#include "devices/virtio/blk/blk.h"
#include "util/bitmap.h"
#include "util/dlopen.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int backup_member_incremental(struct virtio_blk *b, const char *path, const char *backing,
			      const struct blk_backup_take *t, char *err, size_t errlen)
{
	uint64_t size = virtio_blk_size(b);
	struct qcow2_create_opts co = { .backing = backing, .size = size, .sync = false };
	unlink(path);
	int e = qcow2_create(path, &co, err, errlen);
	if (e < 0)
		return e;
	struct disk m;
	struct disk_options o = { .format = DISK_FORMAT_QCOW2 };
	if ((e = disk_open(&m, path, &o)) < 0)
		return error_set(err, errlen, e, "cannot open the new member %s: %s", path, strerror(-e));
	_cleanup_free_ uint8_t *buf = malloc(BLK_DIRTY_CHUNK);
	e = buf ? 0 : error_oom(err, errlen);
	for (uint64_t c = 0; !e && c < t->nbits; c++) {
		if (!bitmap_test(t->bits, c))
			continue;
		uint64_t off = c * BLK_DIRTY_CHUNK, len = MIN((uint64_t)BLK_DIRTY_CHUNK, size - off);
		struct iovec iov = { buf, len };
		if ((e = virtio_blk_read(b, off, buf, len)) < 0)
			e = error_set(err, errlen, e, "reading %s at %llu: %s", virtio_blk_path(b), (unsigned long long)off,
				      strerror(-e));
		else if ((e = (int)disk_sync(&m, RAW_WRITE, off, &iov, 1)) != (int)len)
			e = error_set(err, errlen, e < 0 ? e : -EIO, "writing %s at %llu: %s", path,
				      (unsigned long long)off, strerror(e < 0 ? -e : EIO));
		else
			e = 0;
	}
	if (!e && (e = (int)disk_sync(&m, RAW_FLUSH, 0, NULL, 0)) < 0)
		e = error_set(err, errlen, e, "syncing %s: %s", path, strerror(-e));
	disk_close(&m);
	return e;
}

static struct {
	__typeof__(nettle_sha256_init) *init;
	__typeof__(nettle_sha256_update) *update;
	__typeof__(nettle_sha256_digest) *digest;
} nt;

int backup_member_sha256(const char *path, char hex[65], char *err, size_t errlen)
{
	const struct dl_sym syms[] = {
		{ "nettle_sha256_init", (void **)&nt.init },
		{ "nettle_sha256_update", (void **)&nt.update },
		{ "nettle_sha256_digest", (void **)&nt.digest },
	};
	int e = dl_load_syms("libnettle.so.8", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (e < 0)
		return e;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	const size_t cap = 1 << 20;
	_cleanup_free_ uint8_t *buf = malloc(cap);
	if (!buf)
		return error_oom(err, errlen);
	struct sha256_ctx ctx;
	nt.init(&ctx);
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, errlen, -errno, "reading %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		nt.update(&ctx, (size_t)n, buf);
	}
	uint8_t d[SHA256_DIGEST_SIZE];
	nt.digest(&ctx, sizeof(d), d);
	for (unsigned i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return 0;
}

uint64_t backup_member_allocated(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}
