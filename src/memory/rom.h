/* The firmware image (SeaBIOS's bios-256k.bin, an OVMF code file): read-only guest memory at
 * [4 GiB - size, 4 GiB), KVM memory slot ROM_SLOT with KVM_MEM_READONLY. Guest reads are
 * served by KVM from the image; guest writes exit as MMIO, which the machine answers with
 * rom_mmio_write on its MMIO bus over the same range (dropped, counted).
 *
 * A PC's firmware also appears below 1 MiB: its last 128 KiB at 0xE0000-0xFFFFF, where the
 * CPU's first far jump lands. petrel keeps that range as guest RAM and copies the bytes in
 * (rom_copy_low) at power-on and at every reset: the "read from ROM" view of PAM mode 0,
 * which the firmware then shadows in place (devices/chipset/i440fx.h). */
#ifndef PETREL_MEMORY_ROM_H
#define PETREL_MEMORY_ROM_H

#include "memory/devmem.h"
#include "memory/guest_mem.h"

#include <stddef.h>
#include <stdint.h>

/* Slots [0, GUEST_MEM_MAX_REGIONS) are RAM's (virtio-mem's region included), then devmem's
 * DEVMEM_MAX_SLOTS (virtio-pmem, virtio-mem): the ROM takes the first one after them, 36. */
#define ROM_SLOT (DEVMEM_SLOT_FIRST + DEVMEM_MAX_SLOTS)
/* A UEFI firmware's variables flash (vm/vm_firmware.c): read-only, below the code, mapped only
 * while the flash is in read-array mode. */
#define FLASH_SLOT (ROM_SLOT + 1)
/* A display's framebuffer BAR (devices/display/bochs.c), dirty-logged, while its BAR decodes. */
#define FB_SLOT (ROM_SLOT + 2)
/* RAM above the VGA window when region 0 has its hole (memory/guest_mem.h, stdvga). */
#define LOW_TAIL_SLOT (ROM_SLOT + 3)
#define ROM_TOP (1ull << 32)             /* the image ends at 4 GiB */
#define ROM_ALIGN 4096u                  /* a size is a multiple of a page (OVMF's code file is not of 64 KiB) ... */
#define ROM_MAX_SIZE (16u << 20)         /* ... up to 16 MiB */
#define ROM_LOW_SIZE (128u << 10)        /* what appears below 1 MiB ... */
#define ROM_LOW_BASE 0xe0000u            /* ... here */

struct kvm;

struct rom {
	uint8_t *map;       /* the image (a read-only host mapping), or NULL */
	size_t size;
	uint64_t gpa;
	struct kvm *kvm;    /* the VM it is mapped into, or NULL */
	uint64_t writes;    /* atomic: guest writes dropped */
};

/* Copy the image into a read-only mapping after checking its size: -EINVAL with why for an
 * empty one, one not a multiple of 4 KiB or one over 16 MiB. */
int rom_load(struct rom *r, const void *data, size_t size, char *err, size_t errlen);
/* rom_load, then map it at gpa (ROM_TOP - size for a PC's firmware) as slot ROM_SLOT,
 * read-only. -ENOTSUP when the host's KVM cannot make read-only memory. */
int rom_map(struct rom *r, struct kvm *kvm, uint64_t gpa, const void *data, size_t size,
	    char *err, size_t errlen);
/* Remove the slot (if mapped) and free the image. A zeroed rom is fine. */
void rom_unmap(struct rom *r);
/* Copy the image's last 128 KiB (all of a smaller one) to guest RAM ending at 1 MiB
 * (0xE0000-0xFFFFF for 128 KiB), marking the pages dirty. -EFAULT if that is not RAM. */
int rom_copy_low(const struct rom *r, struct guest_mem *mem);
/* The machine's MMIO range over [gpa, gpa + size) (bus_read_fn/bus_write_fn, opaque = rom):
 * reads give the image's bytes (an emulated access), writes are dropped and counted. */
void rom_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void rom_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
uint64_t rom_writes(const struct rom *r);

#endif
