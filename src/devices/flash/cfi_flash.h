/* An emulated CFI flash (Intel/Sharp command set 0001, as QEMU's pflash_cfi01 with an x86 pc
 * machine's geometry: 8-bit wide, 4 KiB erase blocks) holding OVMF's UEFI variables.
 *
 * The contents are the caller's mapping (the VM's vars file, MAP_SHARED), written through
 * byte by byte as the guest programs them. While the flash is in read-array mode the machine
 * maps the contents read-only into the guest (its slot); in every other mode (status,
 * identifier, CFI query, a command awaiting its data) reads must exit to cfi_flash_read, so
 * the machine removes the slot: the array_mode callback tells it which. Writes always exit to
 * cfi_flash_write.
 *
 * Commands (the first write of a sequence; any width, any offset, little-endian, the low
 * byte is the command): 0xFF/0x00 read array, 0x70 read status, 0x50 clear status, 0x90 read
 * identifier (manufacturer 0x89, device 0x18), 0x98 CFI query, 0x10/0x40 program (the next
 * write is the data: as many bytes as it is wide, cut at the device's end), 0xE8 write to
 * buffer (count-1, the data inside one CFI_FLASH_BUFFER window, 0xD0 confirm: only then is it
 * programmed), 0x20 block erase (0xD0 confirm: the 4 KiB block the confirm's address is in
 * filled with 0xFF), 0x60 lock setup (0x01/0x2F/0xD0 acknowledged, nothing is locked),
 * 0xB0/0xD0 suspend/resume acknowledged (nothing ever runs long enough to suspend).
 * Programming overwrites (as QEMU's flash does; real flash could only clear bits).
 * Status: 0x80 ready (set at reset and by every command that completes), 0x50 clears it to 0
 * and returns to read-array mode: OVMF's detection (QemuFlashDetected) writes 0x50, then
 * 0x70, and takes the device for flash only if the status then reads 0x00. A wrong sequence
 * sets the error bits (0x10 program, 0x20 erase, both for a bad sequence), counts a refusal,
 * changes no byte and leaves the flash in read-status mode; 0xFF in place of an erase's or a
 * lock's second write aborts it without an error.
 *
 * Locking: f->lock guards the command state and the contents' writes. array_mode is called
 * with f->lock released and f->notify_lock held (taken before f->lock is released), so two
 * transitions racing on two vCPUs reach the machine in the order they happened and the last
 * call always says the mode the flash is in; the callback may take the machine's own locks
 * but must not call back into this flash. cfi_flash_init does not call it (the flash starts
 * in read-array mode: the machine maps its slot itself); every later transition does (a
 * write, cfi_flash_reset, a state load). The counters are atomics (__atomic, relaxed): read
 * them without the lock. */
#ifndef PETREL_DEVICES_FLASH_CFI_FLASH_H
#define PETREL_DEVICES_FLASH_CFI_FLASH_H

#include "devices/dev_state.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFI_FLASH_BLOCK 4096u     /* erase block (QEMU's x86 pflash: sector 4 KiB, width 1) */
#define CFI_FLASH_BUFFER 256u     /* the write buffer's size in bytes (the CFI table says so) */

struct cfi_flash {                /* zero-initialise, then cfi_flash_init */
	pthread_mutex_t lock;
	pthread_mutex_t notify_lock;  /* orders the array_mode calls (above) */
	uint8_t *mem;                 /* the contents (caller's mapping: the vars file, MAP_SHARED); never freed here */
	size_t size;                  /* a multiple of CFI_FLASH_BLOCK */
	void (*array_mode)(void *opaque, bool on);   /* entered/left read-array mode: the machine maps/unmaps its slot */
	void *opaque;
	/* command state: private to cfi_flash.c, under lock */
	uint8_t cmd;                  /* the command in progress (0: read array) */
	uint8_t status;               /* the status register */
	uint8_t wcycle;               /* which write of a sequence comes next */
	bool array;                   /* in read-array mode (what array_mode was last told) */
	uint32_t buf_count;           /* write-to-buffer: bytes still expected */
	uint32_t buf_len;             /* write-to-buffer: bytes taken so far (0: no window yet) */
	uint64_t buf_addr;            /* write-to-buffer: the window's start (the first data write's offset,
	                               * rounded down to CFI_FLASH_BUFFER); every data write falls inside it */
	uint8_t buf[CFI_FLASH_BUFFER];                  /* the bytes written, programmed at the confirm */
	uint8_t buf_mask[CFI_FLASH_BUFFER / 8];         /* which of them were written */
	uint64_t programs, erases, refused;          /* counters (atomic): completed programs (a byte/word
	                                              * program or a confirmed buffer), erased blocks, refusals */
	uint64_t bytes_written;       /* counter (atomic): bytes programs and erases wrote into the contents
	                               * (the vars file): a program's data bytes, an erase's whole block */
};

/* The counters at one moment (each read atomically; a write may fall between two of them). */
struct cfi_flash_counts {
	uint64_t programs, erases, bytes_written, refused;
};

int  cfi_flash_init(struct cfi_flash *f, uint8_t *mem, size_t size, void (*array_mode)(void *, bool), void *opaque);
void cfi_flash_destroy(struct cfi_flash *f);
void cfi_flash_reset(struct cfi_flash *f);               /* power-on/reset: read-array mode, status clear */
bool cfi_flash_in_array_mode(struct cfi_flash *f);
void cfi_flash_counts(struct cfi_flash *f, struct cfi_flash_counts *out);
void cfi_flash_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);        /* bus_read_fn, opaque = f */
void cfi_flash_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len); /* bus_write_fn */
extern const struct dev_state_ops cfi_flash_state_ops;  /* section FLSH: command state + the whole contents */

#endif
