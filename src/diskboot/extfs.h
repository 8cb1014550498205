/* Files of an ext2/3/4 file system, read-only, through libext2fs (e2fsprogs: the reference
 * reader of the format, loaded with dlopen on first use) over petrel's own io_manager on a
 * struct dsrc, so the bytes come from petrel's block layer and never from a host path.
 * Symbolic links are followed (libext2fs's limit: EXTFS_SYMLINK_MAX deep); libext2fs's own reads
 * (metadata) are bounded by EXTFS_META_BUDGET per file system, files by the caller's maximum, so a
 * crafted image (indirect blocks that loop) cannot read forever. Untrusted input
 * (tests/fuzz/fuzz_extfs.c). */
#ifndef PETREL_DISKBOOT_EXTFS_H
#define PETREL_DISKBOOT_EXTFS_H

#include "diskboot/source.h"

#include <stddef.h>
#include <stdint.h>

#define EXTFS_SYMLINK_MAX 8                  /* libext2fs's EXT2FS_MAX_NESTED_LINKS */
#define EXTFS_META_BUDGET (256ull << 20)     /* bytes libext2fs may read of one file system */

struct extfs;

/* Open the file system on part: 0, -ENOTSUP (no libext2fs: why says what to install) or
 * -EINVAL and why. */
int extfs_open(const struct dsrc *part, struct extfs **out, char *err, size_t errlen);
void extfs_close(struct extfs *x);
/* The whole regular file at path (absolute, links followed) into *buf (malloc'd, NUL-terminated
 * beyond *len): 0; -ENOENT (no such file, err says so); -EFBIG (more than max bytes); -ELOOP;
 * -EINVAL (not a regular file, encrypted, blocks beyond the file system) and why. */
int extfs_read(struct extfs *x, const char *path, size_t max, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* Whether path names something (links followed): 1, 0 or -errno. */
int extfs_exists(struct extfs *x, const char *path);

#endif
