/* A UEFI firmware's variables file (boot-source.firmware_vars_path, docs/firmware.md): opened,
 * made from OVMF's template when absent, checked, and mapped MAP_SHARED so every byte the guest
 * programs into the flash is in the file's page cache at once (write-through). */
#ifndef PETREL_BOOT_FIRMWARE_VARS_H
#define PETREL_BOOT_FIRMWARE_VARS_H

#include "config/firmware_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FIRMWARE_VARS_MIN (64u << 10)    /* bounds of a vars file: a multiple of 4 KiB ... */
#define FIRMWARE_VARS_ALIGN 4096u
#define FIRMWARE_VARS_TOTAL (16u << 20)  /* ... that fits with the code in the top 16 MiB */

struct firmware_vars {
	uint8_t *mem;     /* the contents: the file's MAP_SHARED mapping, or a private copy */
	size_t size;
	bool file;        /* mem maps the file (else a private anonymous copy of the template) */
};

/* An EFI firmware volume header at the start of img ("_FVH" at offset 40). */
bool firmware_has_fv(const uint8_t *img, size_t len);
/* The checks of a vars image next to a code image of code_size bytes: a multiple of 4 KiB,
 * FIRMWARE_VARS_MIN..(FIRMWARE_VARS_TOTAL - code_size), a firmware volume at its start.
 * 0, or -EINVAL and why (without the file's name). */
int firmware_vars_check(const uint8_t *img, size_t len, size_t code_size, char *err, size_t errlen);
/* Open path (created from FIRMWARE_OVMF_VARS_TEMPLATE with mode 0600 when it does not exist),
 * check it and map it shared; path NULL: a private anonymous copy of the template (variables
 * last as long as the VM). 0, or -errno and why naming the file. */
int firmware_vars_open(const char *path, size_t code_size, struct firmware_vars *v, char *err, size_t errlen);
/* Unmap (the file's pages are already written through). A zeroed one is fine. */
void firmware_vars_close(struct firmware_vars *v);

#endif
