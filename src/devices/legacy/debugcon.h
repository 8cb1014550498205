/* The firmware debug console at port 0x402 (QEMU's isa-debugcon as OVMF expects it): a read
 * answers 0xE9, which is how OVMF's PlatformDebugLibIoPort finds it present; the bytes written
 * are collected into lines, logged at debug level (petrel --level debug) and counted. Present in
 * a UEFI firmware VM only. Nothing the guest writes here is kept beyond one line. */
#ifndef PETREL_DEVICES_LEGACY_DEBUGCON_H
#define PETREL_DEVICES_LEGACY_DEBUGCON_H

#include <pthread.h>
#include <stdint.h>

#define DEBUGCON_PORT 0x402
#define DEBUGCON_MAGIC 0xe9
#define DEBUGCON_LINE 160

struct debugcon {
	pthread_mutex_t lock;
	char line[DEBUGCON_LINE];  /* lock: the line being written */
	unsigned len;              /* lock */
	uint64_t bytes;            /* atomic: bytes written */
};

void debugcon_init(struct debugcon *c);
void debugcon_destroy(struct debugcon *c);
void debugcon_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void debugcon_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
uint64_t debugcon_bytes(const struct debugcon *c);

#endif
