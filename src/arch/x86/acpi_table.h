/* What acpi.c and acpi_dsdt.c share: a table's header and little-endian fields. Only the
 * ACPI builders include it. */
#ifndef PETREL_ARCH_X86_ACPI_TABLE_H
#define PETREL_ARCH_X86_ACPI_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/codec.h"

#define ACPI_HDR_LEN 36

struct acpi_devices;

static inline void acpi_put(uint8_t *p, size_t off, uint64_t v, unsigned bytes)
{
	le_store(p + off, v, bytes);
}

/* The 36-byte header: signature, length, revision, petrel's OEM fields, checksum 0 (the
 * table loader's ADD_CHECKSUM sets it once the pointers are in). */
void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev);

/* acpi_dsdt.c: the DSDT at t (room bytes); its length, or 0 if it does not fit. */
uint32_t acpi_build_dsdt(uint8_t *t, size_t room, const struct acpi_devices *devs);

#endif
