/* SMBIOS (DMI) tables for a firmware-booted guest, as QEMU hands them to SeaBIOS through fw_cfg:
 * an SMBIOS 3.0 entry point ("_SM3_", 24 bytes; SeaBIOS 1.16's smbios_romfile_setup accepts it
 * and writes the address where it placed the structures into it) and the structure table:
 * types 0 (BIOS), 1 (system: the VM's UUID and serial), 3 (chassis), 4 (one processor socket),
 * 16 (memory array), 17 (one memory device per 16 GiB, as QEMU), 32 (boot status), 127 (end). */
#ifndef PETREL_ARCH_X86_SMBIOS_H
#define PETREL_ARCH_X86_SMBIOS_H

#include <stdint.h>

#define SMBIOS_FILE_ANCHOR "etc/smbios/smbios-anchor"
#define SMBIOS_FILE_TABLES "etc/smbios/smbios-tables"
#define SMBIOS_ANCHOR_LEN 24
#define SMBIOS_DIMM_MAX (16ull << 30) /* one type 17 per 16 GiB, the last one the rest */
#define SMBIOS_DIMMS_MAX 256          /* so RAM up to 4 TiB */

/* Handles of the structures (QEMU's numbering: type << 8, plus the instance). */
#define SMBIOS_HANDLE(type, i) ((uint16_t)((type) << 8 | (i)))

struct smbios_info {
	uint8_t uuid[16];   /* RFC 4122 byte order (as printed); type 1 stores its first three
			     * fields little-endian, as SMBIOS 2.6 and later say */
	const char *serial; /* type 1's serial number (NULL or "": none) */
	unsigned ncpus;     /* cores of the one socket (1..65535) */
	uint64_t mem_bytes; /* RAM, for types 16 and 17 */
	const char *version; /* petrel's version: the BIOS's and the system's version strings */
};

/* Builds both blobs (malloc'd, the caller frees them). The anchor's table address is 0 (the
 * firmware fills it in); its checksum is right for that. 0, -EINVAL (no CPU, no RAM, RAM past
 * SMBIOS_DIMMS_MAX DIMMs), -E2BIG (a table past 64 KiB, which SeaBIOS cannot take) or -ENOMEM. */
int smbios_build(const struct smbios_info *in, uint8_t **anchor, uint32_t *anchor_len,
		 uint8_t **tables, uint32_t *tables_len);

#endif
