/* Firmware images (boot-source.firmware, docs/firmware.md): Debian's, found by name, or a path. */
#ifndef PETREL_BOOT_FIRMWARE_H
#define PETREL_BOOT_FIRMWARE_H

#include "config/firmware_config.h"
#include "memory/rom.h"

#include <stddef.h>
#include <stdint.h>

/* The ROM's own bounds (memory/rom.h), so a checked image always maps: */
#define FIRMWARE_MIN ROM_LOW_SIZE  /* its last 128 KiB are mapped at 0xE0000 too */
#define FIRMWARE_MAX ROM_MAX_SIZE  /* the top 16 MiB below 4 GiB: the IOAPIC and LAPIC sit lower */

/* Read and check an image: a size that is a multiple of ROM_ALIGN (4 KiB) in [FIRMWARE_MIN, FIRMWARE_MAX] and
 * a reset vector (the image's last 16 bytes) that starts with a jump. 0, or -errno and why. */
int firmware_read(const char *name, uint8_t **img, size_t *len, char *err, size_t errlen);
/* The checks alone, over an image in memory (what firmware_read and the fuzz target call). */
int firmware_check(const uint8_t *img, size_t len, char *err, size_t errlen);

#endif
