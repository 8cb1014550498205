/* A state file read whole and checked, with its VM section; and the last steps of writing a
 * memory file (state_file.c). */
#ifndef PETREL_SNAPSHOT_STATE_FILE_H
#define PETREL_SNAPSHOT_STATE_FILE_H

#include "snapshot/sections.h"

struct snap_state_file {
	uint8_t *buf;
	size_t len;
	struct snap_reader r;
	struct snap_vm vm;
};

/* Read, check (format.c) and take the VM section; -EINVAL and why for anything else. */
int snap_state_open(const char *path, struct snap_state_file *f, char *err, size_t errlen);
/* The same over a buffer in memory (a migration stream's), which stays the caller's. */
int snap_state_open_buf(const uint8_t *buf, size_t len, struct snap_state_file *f, char *err, size_t errlen);
void snap_state_close(struct snap_state_file *f);
/* A memory file written to tmp (fd) with result e so far: fsync, tag with the snapshot id,
 * close, rename over path; on any failure remove tmp. Returns the final result. */
int snap_mem_commit(int fd, const char *tmp, const char *path, const uint8_t id[16], int e,
		    char *err, size_t errlen);

#endif
