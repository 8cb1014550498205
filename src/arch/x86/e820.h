/* The guest's physical memory map, as given to Linux (e820) and PVH (memmap). */
#ifndef PETREL_ARCH_X86_E820_H
#define PETREL_ARCH_X86_E820_H

#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 8

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

struct guest_mem;

/* Returns the number of entries written to map (at most E820_MAX). */
int e820_build(const struct guest_mem *mem, struct e820_entry *map);

/* The memory map a firmware reads from fw_cfg (QEMU's "etc/e820"): per entry le64 address,
 * le64 length, le32 type, packed (20 bytes). */
#define E820_FW_CFG_FILE "etc/e820"
#define E820_FW_CFG_ENTRY_LEN 20

/* The file's bytes for map[0, n) in *out (malloc'd, the caller frees it), its length in *len.
 * 0, -EINVAL (n negative) or -ENOMEM. */
int e820_fw_cfg_file(const struct e820_entry *map, int n, uint8_t **out, uint32_t *len);

#endif
