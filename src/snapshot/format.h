/* petrel's VM-state format: what snapshots, live migration and replication all write.
 *
 * Little-endian. A 32-byte header (magic "PETRELVS", format version, flags, total length,
 * reserved), then sections, each a 24-byte header (id: a fourcc, instance, section version,
 * reserved, payload length) and the payload padded with zeros to 8 bytes, and last an END
 * section whose payload is the CRC-32 of everything before it and the number of sections.
 *
 * Readers trust nothing: snap_open checks the whole file (bounds, padding, the checksum) before
 * any section is handed out, and snap_get insists on the exact version and size. */
#ifndef PETREL_SNAPSHOT_FORMAT_H
#define PETREL_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "PETRELVS"
/* 2: every section's payload encoded field by field (util/codec.h, docs/snapshots.md); version
 * 1 wrote in-memory structs as they were and is refused. */
#define SNAP_FORMAT_VERSION 2
#define SNAP_HEADER_SIZE 32
#define SNAP_SECTION_HEADER_SIZE 24
#define SNAP_MAX_FILE (64u << 20) /* state files are small; guest memory is a separate file */

#define SNAP_ID(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SNAP_ID_END SNAP_ID('E', 'N', 'D', ' ')

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t open;      /* offset of the open section's header, or SIZE_MAX */
	uint32_t nsections;
	int err;          /* first failure; sticky */
};

void snap_writer_init(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);
void snap_begin(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version);
void snap_put(struct snap_writer *w, const void *data, size_t len);
void snap_end(struct snap_writer *w);
void snap_section(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version,
		  const void *data, size_t len);
/* Append END; afterwards w->buf[0..w->len) is the whole file. 0 or the first error. */
int snap_finish(struct snap_writer *w);

/* Write buf to path atomically: a temporary file beside it, fsync, rename, fsync of the
 * directory. A crash at any point leaves the old file or the new one, never a mix. */
int snap_write_file(const char *path, const void *buf, size_t len, char *err, size_t errlen);

struct snap_section {
	uint32_t id, instance, version;
	const uint8_t *payload;
	uint64_t len;
};

struct snap_reader {
	const uint8_t *buf;
	size_t len;
	size_t end_off;   /* where the END section starts */
	uint32_t nsections;
};

/* Check the whole file; 0, or -EINVAL with a one-line reason. */
int snap_open(struct snap_reader *r, const uint8_t *buf, size_t len, char *err, size_t errlen);
/* Iterate: *cursor starts at 0; 1 with *s filled, 0 at the end. */
int snap_next(const struct snap_reader *r, size_t *cursor, struct snap_section *s);
/* The section (id, instance): 0, or -ENOENT. */
int snap_find(const struct snap_reader *r, uint32_t id, uint32_t instance, uint32_t *version,
	      const void **payload, uint64_t *len);
unsigned snap_count(const struct snap_reader *r, uint32_t id);
/* A fixed-size payload into out: -ENOENT (with a message) if absent, -EINVAL if its version or
 * size is not the expected one. */
int snap_get(const struct snap_reader *r, uint32_t id, uint32_t instance, uint32_t version,
	     void *out, size_t size, char *err, size_t errlen);
/* Read a whole state file (at most SNAP_MAX_FILE bytes) into a malloc'd buffer. */
int snap_read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* "CPU " for messages (out has 5 bytes; unprintable bytes become '?'). */
void snap_id_name(uint32_t id, char out[5]);

#endif
