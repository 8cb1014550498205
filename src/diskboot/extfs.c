/* ext2/3/4 through libext2fs over a struct dsrc (extfs.h). */
#include "diskboot/extfs.h"
#include "util/dlopen.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

/* ---- libext2fs, loaded on first use ---- */

static struct {
	/* the first is set last by dl_load_syms: set means all are */
	errcode_t (*open2)(const char *, const char *, int, int, unsigned int, io_manager, ext2_filsys *);
	errcode_t (*close_free)(ext2_filsys *);
	errcode_t (*namei_follow)(ext2_filsys, ext2_ino_t, ext2_ino_t, const char *, ext2_ino_t *);
	errcode_t (*namei)(ext2_filsys, ext2_ino_t, ext2_ino_t, const char *, ext2_ino_t *);
	errcode_t (*read_inode)(ext2_filsys, ext2_ino_t, struct ext2_inode *);
	errcode_t (*block_iterate3)(ext2_filsys, ext2_ino_t, int, char *,
				    int (*)(ext2_filsys, blk64_t *, e2_blkcnt_t, blk64_t, int, void *), void *);
	errcode_t (*file_open)(ext2_filsys, ext2_ino_t, int, ext2_file_t *);
	errcode_t (*file_read)(ext2_file_t, void *, unsigned int, unsigned int *);
	errcode_t (*file_close)(ext2_file_t);
	const char *(*error_message)(long);
} e2;

static int load(char *err, size_t errlen)
{
	static const struct dl_sym syms[] = {
		{ "ext2fs_open2", (void **)&e2.open2 }, { "ext2fs_close_free", (void **)&e2.close_free },
		{ "ext2fs_namei_follow", (void **)&e2.namei_follow }, { "ext2fs_namei", (void **)&e2.namei },
		{ "ext2fs_read_inode", (void **)&e2.read_inode },
		{ "ext2fs_block_iterate3", (void **)&e2.block_iterate3 },
		{ "ext2fs_file_open", (void **)&e2.file_open }, { "ext2fs_file_read", (void **)&e2.file_read },
		{ "ext2fs_file_close", (void **)&e2.file_close }, { "error_message", (void **)&e2.error_message },
	};
	if (e2.open2)
		return 0;
	char why[256];
	int r = dl_load_syms("libext2fs.so.2", syms, ARRAY_SIZE(syms), why, sizeof(why));
	return r < 0 ? error_set(err, errlen, r, "%s (Debian's libext2fs2 reads ext2/3/4)", why) : 0;
}

/* ---- petrel's io_manager: blocks of a struct dsrc ---- */

struct extfs {
	ext2_filsys fs;
	struct dsrc src;
	uint64_t io_left;   /* EXTFS_META_BUDGET, spent by libext2fs's reads (a file's data: its size) */
};

/* the file system being opened, for the manager's open (libext2fs passes it only a name) */
static __thread struct extfs *opening;
static struct struct_io_manager io_mgr;

static errcode_t io_open(const char *name, int flags, io_channel *out)
{
	if (!opening)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EROFS;
	io_channel io = calloc(1, sizeof(*io));
	char *n = strdup(name);
	if (!io || !n) {
		free(io);
		free(n);
		return EXT2_ET_NO_MEMORY;
	}
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = &io_mgr;
	io->name = n;
	io->block_size = 1024;
	io->refcount = 1;
	io->private_data = opening;
	*out = io;
	return 0;
}

static errcode_t io_close(io_channel io)
{
	if (--io->refcount > 0)
		return 0;
	free(io->name);
	free(io);
	return 0;
}

static errcode_t io_set_blksize(io_channel io, int size)
{
	if (size <= 0 || size > (1 << 16))
		return EXT2_ET_INVALID_ARGUMENT;
	io->block_size = size;
	return 0;
}

static errcode_t io_read64(io_channel io, unsigned long long block, int count, void *data)
{
	struct extfs *x = io->private_data;
	/* a negative count is a byte count */
	uint64_t len = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)io->block_size;
	if (block > UINT64_MAX / (uint64_t)io->block_size)
		return EXT2_ET_SHORT_READ;
	if (len > x->io_left) { /* past the budget: a crafted image that reads forever */
		x->io_left = 0;
		return EXT2_ET_SHORT_READ;
	}
	x->io_left -= len;
	int r = dsrc_read(&x->src, block * (uint64_t)io->block_size, data, (size_t)len);
	return r == -ERANGE ? EXT2_ET_SHORT_READ : r < 0 ? -r : 0;
}

static errcode_t io_read(io_channel io, unsigned long block, int count, void *data)
{
	return io_read64(io, block, count, data);
}

static errcode_t io_write64(io_channel io, unsigned long long block, int count, const void *data)
{
	return EROFS;
}

static errcode_t io_write(io_channel io, unsigned long block, int count, const void *data)
{
	return EROFS;
}

static errcode_t io_flush(io_channel io)
{
	return 0;
}

static errcode_t io_set_option(io_channel io, const char *option, const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager io_mgr = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "petrel disk",
	.open = io_open,
	.close = io_close,
	.set_blksize = io_set_blksize,
	.read_blk = io_read,
	.write_blk = io_write,
	.flush = io_flush,
	.set_option = io_set_option,
	.read_blk64 = io_read64,
	.write_blk64 = io_write64,
};

/* ---- the file system ---- */

static const char *e2_why(errcode_t e)
{
	const char *m = e2.error_message ? e2.error_message((long)e) : NULL;
	return m ? m : "unknown error";
}

int extfs_open(const struct dsrc *part, struct extfs **out, char *err, size_t errlen)
{
	int r = load(err, errlen);
	if (r < 0)
		return r;
	struct extfs *x = calloc(1, sizeof(*x));
	if (!x)
		return error_oom(err, errlen);
	x->src = *part;
	x->io_left = EXTFS_META_BUDGET;
	opening = x;
	/* read-only, no MMP, checksums not checked (as GRUB reads it) */
	errcode_t e = e2.open2("petrel", NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0,
			       &io_mgr, &x->fs);
	opening = NULL;
	if (e) {
		free(x);
		return error_set(err, errlen, -EINVAL, "libext2fs cannot open it: %s", e2_why(e));
	}
	*out = x;
	return 0;
}

void extfs_close(struct extfs *x)
{
	if (!x)
		return;
	e2.close_free(&x->fs);
	free(x);
}

static int lookup(struct extfs *x, const char *path, ext2_ino_t *ino, char *err, size_t errlen)
{
	errcode_t e = e2.namei_follow(x->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
	if (e == EXT2_ET_FILE_NOT_FOUND || e == EXT2_ET_NO_DIRECTORY)
		return error_set(err, errlen, -ENOENT, "%s: no such file", path);
	if (e == EXT2_ET_SYMLINK_LOOP)
		return error_set(err, errlen, -ELOOP, "%s: more than %d symbolic links deep (a loop?)", path,
				 EXTFS_SYMLINK_MAX);
	if (e)
		return error_set(err, errlen, -EINVAL, "%s: %s", path, e2_why(e));
	return 0;
}

int extfs_exists(struct extfs *x, const char *path)
{
	ext2_ino_t ino;
	char why[16];
	int r = lookup(x, path, &ino, why, sizeof(why));
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

/* The file's blocks, in runs that are contiguous on the disk, read straight into the buffer. */
struct extfs_runs {
	struct extfs *x;
	uint8_t *buf;
	uint64_t len, nblocks;
	uint64_t lblk, pblk, count;   /* the run being gathered */
	int r;
};

static int flush_run(struct extfs_runs *s)
{
	if (!s->count)
		return 0;
	uint64_t bs = s->x->fs->blocksize, off = s->lblk * bs;
	uint64_t n = MIN(s->count * bs, s->len - off);
	s->count = 0;
	return dsrc_read(&s->x->src, s->pblk * bs, s->buf + off, (size_t)n);
}

static int run_block(ext2_filsys fs, blk64_t *pblk, e2_blkcnt_t lblk, blk64_t ref, int ref_off, void *arg)
{
	struct extfs_runs *s = arg;
	if (lblk < 0 || !*pblk) /* metadata, or a hole */
		return 0;
	if ((uint64_t)lblk >= s->nblocks) /* past the end (preallocated): no more data */
		return BLOCK_ABORT;
	if (s->count && (uint64_t)lblk == s->lblk + s->count && *pblk == s->pblk + s->count) {
		s->count++;
		return 0;
	}
	if ((s->r = flush_run(s)) < 0)
		return BLOCK_ABORT;
	s->lblk = (uint64_t)lblk;
	s->pblk = *pblk;
	s->count = 1;
	return 0;
}

static int read_inline(struct extfs *x, ext2_ino_t ino, uint8_t *buf, size_t len, const char *path, char *err,
		       size_t errlen)
{
	ext2_file_t f = NULL;
	errcode_t e = e2.file_open(x->fs, ino, 0, &f);
	unsigned got = 0;
	if (!e) {
		e = e2.file_read(f, buf, (unsigned)len, &got);
		e2.file_close(f);
	}
	if (e || got != len)
		return error_set(err, errlen, -EINVAL, "%s: cannot read it: %s", path, e ? e2_why(e) : "short read");
	return 0;
}

int extfs_read(struct extfs *x, const char *path, size_t max, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	ext2_ino_t ino;
	struct ext2_inode inode;
	int r = lookup(x, path, &ino, err, errlen);
	if (r < 0)
		return r;
	errcode_t e = e2.read_inode(x->fs, ino, &inode);
	if (e)
		return error_set(err, errlen, -EINVAL, "%s: cannot read its inode: %s", path, e2_why(e));
	if (!LINUX_S_ISREG(inode.i_mode))
		return error_set(err, errlen, -EINVAL, "%s: not a regular file", path);
	if (inode.i_flags & EXT4_ENCRYPT_FL)
		return error_set(err, errlen, -EINVAL, "%s: encrypted", path);
	uint64_t len = EXT2_I_SIZE(&inode);
	if (len > max)
		return error_set(err, errlen, -EFBIG, "%s: %llu bytes, more than the %zu allowed", path,
				 (unsigned long long)len, max);
	_cleanup_free_ uint8_t *buf = calloc(1, (size_t)len + 1);
	if (!buf)
		return error_oom(err, errlen);
	if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		if ((r = read_inline(x, ino, buf, (size_t)len, path, err, errlen)) < 0)
			return r;
	} else {
		uint64_t bs = x->fs->blocksize;
		struct extfs_runs s = { .x = x, .buf = buf, .len = len, .nblocks = (len + bs - 1) / bs };
		e = e2.block_iterate3(x->fs, ino, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY, NULL, run_block, &s);
		if (!e && !s.r)
			s.r = flush_run(&s);
		if (s.r == -ERANGE)
			return error_set(err, errlen, -EINVAL, "%s: its blocks lie beyond the file system's end", path);
		if (s.r < 0)
			return error_set(err, errlen, s.r, "%s: cannot read it: %s", path, strerror(-s.r));
		if (e)
			return error_set(err, errlen, -EINVAL, "%s: cannot map its blocks: %s%s", path, e2_why(e),
					 x->io_left ? "" : " (more metadata than any real file system reads)");
	}
	*out = TAKE_PTR(buf);
	*outlen = (size_t)len;
	return 0;
}
