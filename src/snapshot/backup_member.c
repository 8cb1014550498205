/* A disk's member of a backup chain (docs/snapshots.md#incremental-backups): an incremental
 * member is a qcow2 file (64 KiB clusters) holding only the chunks the drive's backup bitmap
 * marks, whose backing file is the previous member (a relative name, so a chain moves as a
 * directory tree); `qemu-img` reads the chain, and `qemu-img convert` of the last member gives
 * the disk as it was. It is written front to back (qcow2_stream.c), its SHA-256 computed as it
 * goes out; a full member's is read afterwards. Each goes in the answer (nettle, loaded on first
 * use). */
#include "snapshot/backup_member.h"
#include "block/dirty.h"
#include "block/qcow2.h"
#include "block/qcow2_layout.h"
#include "devices/virtio/blk/blk.h"
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

static struct {
	__typeof__(nettle_sha256_init) *init;
	__typeof__(nettle_sha256_update) *update;
	__typeof__(nettle_sha256_digest) *digest;
} nt;

static int nettle_load(char *err, size_t errlen)
{
	const struct dl_sym syms[] = {
		{ "nettle_sha256_init", (void **)&nt.init },
		{ "nettle_sha256_update", (void **)&nt.update },
		{ "nettle_sha256_digest", (void **)&nt.digest },
	};
	return dl_load_syms("libnettle.so.8", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
}

static void digest_hex(struct sha256_ctx *ctx, char hex[65])
{
	uint8_t d[SHA256_DIGEST_SIZE];
	nt.digest(ctx, sizeof(d), d);
	for (unsigned i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static int read_drive(void *opaque, uint64_t off, void *buf, uint64_t len)
{
	return virtio_blk_read(opaque, off, buf, len);
}

static void hash_written(void *opaque, const uint8_t *buf, size_t len)
{
	nt.update(opaque, len, buf);
}

int backup_member_incremental(struct virtio_blk *b, const char *path, const char *backing,
			      const struct blk_backup_take *t, char sha256[65], char *err, size_t errlen)
{
	int e = nettle_load(err, errlen);
	if (e < 0)
		return e;
	struct sha256_ctx ctx;
	nt.init(&ctx);
	/* The drive's chunks are the member's clusters: one bit, one cluster. */
	_Static_assert(BLK_DIRTY_CHUNK == 1u << QCOW2_NEW_CBITS, "a dirty chunk is a qcow2 cluster");
	struct qcow2_stream_opts so = {
		.create = { .backing = backing, .size = virtio_blk_size(b), .sync = true },
		.clusters = t->bits, .nclusters = t->nbits,
		.read = read_drive, .read_opaque = b,
		.sink = hash_written, .sink_opaque = &ctx,
	};
	unlink(path);
	if ((e = qcow2_stream_create(path, &so, err, errlen)) < 0)
		return e;
	digest_hex(&ctx, sha256);
	return 0;
}

int backup_member_sha256(const char *path, char hex[65], char *err, size_t errlen)
{
	int e = nettle_load(err, errlen);
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
	digest_hex(&ctx, hex);
	return 0;
}

uint64_t backup_member_allocated(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}
