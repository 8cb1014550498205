/* File helpers of petreld (fsutil.c): copy, move, remove a tree, and the directories with a
 * meta.json that snapshots and backups are. */
#ifndef PETREL_MANAGER_FSUTIL_H
#define PETREL_MANAGER_FSUTIL_H

#include "util/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Copy src to a new file dst (which must not exist): 0 or -errno. copy_file_mode (util/util.h)
 * with the new file's mode and a sync. */
int copy_file(const char *src, const char *dst);
/* Copy src to a new file dst (which must not exist), sparse: the source's holes (SEEK_HOLE) and
 * every 64 KiB block of zeros stay holes in the copy, whose size is the source's; synced.
 * 0 or -errno; dst is removed on an error. */
int copy_sparse(const char *src, const char *dst, mode_t mode);
/* Rename, or copy and remove across file systems. */
int move_file(const char *src, const char *dst);
/* Remove a directory tree. */
int rm_tree(const char *dir);
/* dir/meta.json (a snapshot's or a backup's) parsed, or NULL when it is missing, too large or
 * no JSON. */
json_t *meta_dir_read(const char *dir);
/* The subdirectories of parent with a meta.json (snapshots, backups): each meta.json without
 * its definition, plus "dir" and "mem_bytes" (the size of its vm.mem). */
json_t *meta_dirs_list(const char *parent);
/* Write meta (taken) as tmp/meta.json and rename tmp to dir; on failure tmp is removed. */
int meta_dir_finish(const char *tmp, const char *dir, json_t *meta, char *err, size_t errlen);

#endif
