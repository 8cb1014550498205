/* A model of how the kernel reads the cpio ("newc") archives of an initramfs
 * (init/initramfs.c: the write_buffer() state machine), for host-side initrd decompression:
 * it walks the same entries, keeps the kernel's running offset (this_header) for the
 * alignment rules, and notes the first thing the kernel would report as an error, or that
 * petrel cannot be sure the kernel reads the same way in a compressed and an uncompressed
 * archive. It never creates files: it counts entries and checksums their bytes, so the
 * archive petrel makes can be checked to hold the very same entries. */
#ifndef PETREL_BOOT_INITRD_CPIO_H
#define PETREL_BOOT_INITRD_CPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cpio_state {
	CPIO_START,  /* a header is expected */
	CPIO_RESET,  /* between entries: zeros are padding */
};

struct cpio_model {
	enum cpio_state state;
	uint64_t th;           /* the kernel's this_header */
	uint64_t entries;
	bool sum;              /* keep digest: */
	uint32_t digest;       /* CRC-32 over every entry's bytes, in order */
	bool in_member;        /* reading a decompressed member (see initrd_cpio.c) */
	const char *why;       /* the first problem, or NULL */
};

/* Read buf as the kernel's write_buffer() does from m->state. Returns the bytes consumed:
 * all of them, or fewer when it stops at a non-zero byte after an entry (what that byte is,
 * the caller decides, as the kernel's callers do) or at a problem (m->why set). */
size_t cpio_feed(struct cpio_model *m, const uint8_t *buf, size_t len);

#endif
