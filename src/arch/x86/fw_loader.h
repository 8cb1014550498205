/* QEMU's table loader ("linker/loader", fw_cfg file "etc/table-loader"): commands a firmware
 * runs to place files it read from fw_cfg (ACPI tables, the RSDP) in guest memory, patch the
 * pointers between them and fix their checksums. Each command is 128 bytes, little-endian:
 *
 *   le32 command, then
 *   ALLOCATE (1):     char file[56], le32 align (a power of two), u8 zone (HIGH 1, FSEG 2)
 *   ADD_POINTER (2):  char dst_file[56], char src_file[56], le32 offset, u8 size (1, 2, 4, 8):
 *                     the size-byte value at dst_file + offset += the address of src_file
 *   ADD_CHECKSUM (3): char file[56], le32 offset, le32 start, le32 length: the byte at
 *                     offset -= the 8-bit sum of [start, start + length)
 *   WRITE_POINTER (4) writes an address back into a writable fw_cfg file; petrel has none.
 *
 * A file is ALLOCATEd once, before any other command names it. The builders write the
 * commands (docs/firmware.md#the-tables-a-firmware-gets); fw_loader_run does what a firmware does with them. */
#ifndef PETREL_ARCH_X86_FW_LOADER_H
#define PETREL_ARCH_X86_FW_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_LOADER_FILE "etc/table-loader"
#define FW_LOADER_CMD_LEN 128
#define FW_LOADER_NAME_LEN 56 /* a file name's field, its NUL included */

enum {
	FW_LOADER_ALLOCATE = 1,
	FW_LOADER_ADD_POINTER = 2,
	FW_LOADER_ADD_CHECKSUM = 3,
	FW_LOADER_WRITE_POINTER = 4,
};

#define FW_LOADER_ZONE_HIGH 1 /* anywhere below 4 GiB the firmware keeps */
#define FW_LOADER_ZONE_FSEG 2 /* the BIOS area below 1 MiB, where a guest scans for the RSDP */

/* A command list being built: len bytes (a multiple of 128) at cmds. Zeroed is empty. */
struct fw_loader {
	uint8_t *cmds;
	size_t len;
};

/* Append one command. 0, -ENAMETOOLONG (a name of 56 characters or more), -EINVAL (align not
 * a power of two, size not 1, 2, 4 or 8) or -ENOMEM. */
int fw_loader_allocate(struct fw_loader *l, const char *file, uint32_t align, bool fseg);
int fw_loader_add_pointer(struct fw_loader *l, const char *dst_file, const char *src_file,
			  uint32_t offset, uint8_t size);
int fw_loader_add_checksum(struct fw_loader *l, const char *file, uint32_t cksum_off,
			   uint32_t start, uint32_t len);
void fw_loader_free(struct fw_loader *l);

/* A file the commands may name: its bytes (patched in place by the run) and, once ALLOCATEd,
 * the guest-physical address the placement gave it. */
struct fw_loader_file {
	const char *name;
	uint8_t *data;
	uint32_t len;
	uint64_t addr;
};

/* The placement a firmware makes at ALLOCATE: sets f->addr (aligned to align, in the zone
 * fseg names) and answers 0, or a negative errno (no room). */
typedef int (*fw_loader_place_fn)(void *opaque, struct fw_loader_file *f, uint32_t align, bool fseg);

/* Run the commands cmds[0, len) over files as a firmware does: ALLOCATE calls place, then
 * ADD_POINTER and ADD_CHECKSUM patch the files' bytes. Every field is checked: a length that
 * is no multiple of 128, an unknown command, a name without its NUL or of no file, a file
 * allocated twice or empty, one named before its ALLOCATE, an alignment that is not a power of
 * two, an unknown zone, a placement off its alignment or past 2^64, a pointer size other than
 * 1, 2, 4, 8, a pointer field or checksum range past its file's end, a pointer sum that does
 * not fit its field. 0, or -EINVAL (the placement's own code when it fails) with
 * "table-loader command N: what" in err. Files may have been patched up to the failing
 * command. */
int fw_loader_run(const uint8_t *cmds, size_t len, struct fw_loader_file *files, unsigned nfiles,
		  fw_loader_place_fn place, void *opaque, char *err, size_t errlen);

/* The 8-bit sum of len bytes: a table is whole when it sums to 0 (ACPI, SMBIOS). */
uint8_t fw_byte_sum(const uint8_t *p, size_t len);

#endif
