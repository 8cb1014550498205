/* The definitions directory (defs.c): one <name>.json per VM, written atomically. petrelctl
 * links defs.c too (it reads files with defs_read). */
#ifndef PETREL_MANAGER_DEFS_H
#define PETREL_MANAGER_DEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DEF_MAX_BYTES (1 << 20)

int defs_write_atomic(const char *dir, const char *name, const char *text, char *err, size_t errlen);
/* The same with the file's mode (defs_write_atomic: 0640; a network's definition: 0644). */
int defs_write_mode(const char *dir, const char *name, const char *text, mode_t mode, char *err, size_t errlen);
/* Any file of dir (FILE as it is, no ".json" added) written so: a temporary file, fsync, rename, the directory synced. */
int defs_write_file(const char *dir, const char *file, const char *text, mode_t mode, char *err, size_t errlen);
int defs_remove(const char *dir, const char *name, char *err, size_t errlen);
/* fsync a directory (after a file in it was made, renamed or removed): 0 or -errno. */
int defs_sync_dir(const char *dir);
/* Call fn(name, arg) for each <name>.json in dir (name at most VM_NAME_MAX characters, not
 * starting with a dot) until it answers false. */
void defs_each_json(const char *dir, bool (*fn)(const char *name, void *arg), void *arg);
/* Read <dir>/<file> into a malloc'd NUL-terminated text (at most DEF_MAX_BYTES). */
int defs_read(const char *dir, const char *file, char **out, char *err, size_t errlen);

#endif
