/* Kernel loading: Linux bzImage (64-bit boot protocol) and ELF vmlinux (PVH). */
#ifndef PETREL_BOOT_BOOT_H
#define PETREL_BOOT_BOOT_H

#include "arch/x86/boot_entry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who decompresses a bzImage's payload (--kernel-decompress, docs/performance.md). */
enum boot_decompress {
	BOOT_DECOMPRESS_HOST,         /* petrel, then the kernel's PVH entry, else startup_64 */
	BOOT_DECOMPRESS_HOST_LINUX64, /* petrel, then always startup_64 (tests that entry) */
	BOOT_DECOMPRESS_GUEST,        /* the kernel's own decompressor (the classic path) */
};
/* "host", "host-linux64", "guest" -> enum boot_decompress; -EINVAL (logged) otherwise. */
int boot_decompress_from_name(const char *s, unsigned *out);
/* --initrd-unpack: "on" -> *off = false, "off" -> true; -EINVAL (logged) otherwise. */
int initrd_unpack_from_name(const char *s, bool *off);

/* Parsed bzImage setup header (see Documentation/arch/x86/boot.rst). */
struct bzimage_info {
	uint16_t version;
	uint8_t setup_sects;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint32_t init_size;
	uint32_t kernel_alignment;
	uint8_t relocatable;
	uint64_t pref_address;
	size_t kernel_offset;  /* file offset of the protected-mode kernel */
	size_t kernel_size;
	size_t hdr_end;        /* file offset just past the setup header */
	uint32_t payload_offset; /* the compressed kernel, relative to kernel_offset (2.08+); */
	uint32_t payload_length; /* unchecked here: see bzimage_unpack() */
};

#define PVH_MAX_SEGMENTS 16

struct elf_segment {
	uint64_t paddr, filesz, memsz, offset;
};

struct pvh_info {
	uint32_t entry;        /* XEN_ELFNOTE_PHYS32_ENTRY, if has_pvh */
	int has_pvh;
	uint64_t elf_entry;    /* e_entry: in a Linux vmlinux, startup_64's physical address */
	struct elf_segment seg[PVH_MAX_SEGMENTS];
	unsigned nseg;
};

/* Pure parsers over an in-memory image: never trust the image; -EINVAL + message. */
int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err,
		  size_t errlen);
int pvh_parse(const uint8_t *img, size_t len, struct pvh_info *info, char *err, size_t errlen);
/* pvh_parse() without requiring the PVH note (has_pvh says whether there is one). */
int elf_kernel_parse(const uint8_t *img, size_t len, struct pvh_info *info, char *err,
		     size_t errlen);
/* 1 if the image starts with the ELF magic, 0 otherwise. */
int image_is_elf(const uint8_t *img, size_t len);

struct guest_mem;
struct e820_entry;

struct boot_request {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd;   /* may be NULL */
	size_t initrd_len;
	const char *cmdline;
	const struct e820_entry *e820;
	int e820_n;
	uint64_t rsdp;           /* guest address of the ACPI RSDP */
	enum boot_decompress decompress; /* bzImage only; 0 = BOOT_DECOMPRESS_HOST */
};

int bzimage_load(struct guest_mem *mem, const struct boot_request *req, struct boot_info *out);
int pvh_load(struct guest_mem *mem, const struct boot_request *req, struct boot_info *out);
/* Read the kernel/initrd files, detect the format and load. With initrd_unpack, the initrd's
 * compressed archives are decompressed on the host first (boot/initrd_unpack.h). Logs why on
 * failure. */
int boot_load(struct guest_mem *mem, const char *kernel_path, const char *initrd_path,
	      const char *cmdline, const struct e820_entry *e820, int e820_n, uint64_t rsdp,
	      enum boot_decompress decompress, bool initrd_unpack, struct boot_info *out);

/* A kernel and initrd already in memory (a boot from the disk, src/diskboot): their names are
 * for messages. boot_load_images may replace initrd (decompressed on the host); the caller
 * frees both. */
struct boot_images {
	char *kernel;
	size_t klen;
	char *initrd;            /* may be NULL */
	size_t ilen;
	const char *kernel_name, *initrd_name;
};
int boot_load_images(struct guest_mem *mem, struct boot_images *img, const char *cmdline,
		     const struct e820_entry *e820, int e820_n, uint64_t rsdp, enum boot_decompress decompress,
		     bool initrd_unpack, struct boot_info *out);

/* Shared by the loaders. Copy the PT_LOAD segments to their physical addresses (above
 * 1 MiB, inside RAM, else -EINVAL logged); *end = first byte after the highest one. */
int elf_load_segments(struct guest_mem *mem, const uint8_t *img, const struct pvh_info *pi,
		      uint64_t *end);
/* Fill the zero page (setup header copied from the bzImage, loader fields, e820, RSDP), the
 * command line and the initrd (placed above kernel_end) for a 64-bit-protocol entry into a
 * kernel loaded at `load`. -EINVAL/-ENOMEM logged. */
/* -EINVAL (logged) if a command line of clen bytes is longer than the kernel accepts. */
int bzimage_check_cmdline(const struct bzimage_info *bz, size_t clen);
int bzimage_setup_params(struct guest_mem *mem, const struct boot_request *req,
			 const struct bzimage_info *bz, uint64_t load, uint64_t kernel_end);

/* Place an initrd of len bytes at the highest 4 KiB-aligned address that ends at or below
 * `limit` (exclusive) and starts at or above `floor`. Returns the address or 0. */
uint64_t boot_place_initrd(const struct guest_mem *mem, uint64_t len, uint64_t floor,
			   uint64_t limit);

#endif
