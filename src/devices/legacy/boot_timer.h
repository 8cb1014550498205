/* Boot timer (--boot-timer): a one-register MMIO device the guest writes the byte 123 to when
 * it considers itself booted (an init wrapper does it through /dev/mem). petrel then logs how
 * long the boot took since the VM was started, in wall-clock and in petrel's own CPU time:
 *   Guest-boot-time = 123456 us 123 ms, 4567 CPU us 4 CPU ms
 * Firecracker puts this register in its first MMIO slot (0xd0000000 on x86); in petrel that
 * address starts the virtio-mmio window, so the register sits right after that window
 * (LAYOUT_BOOT_TIMER, 0xd0020000): a guest init wrapper must write there. */
#ifndef PETREL_DEVICES_LEGACY_BOOT_TIMER_H
#define PETREL_DEVICES_LEGACY_BOOT_TIMER_H

#include "arch/x86/layout.h"

#include <stdint.h>

#define BOOT_TIMER_MMIO_BASE LAYOUT_BOOT_TIMER  /* in the 3-4 GiB MMIO hole */
#define BOOT_TIMER_MMIO_LEN  0x1000ull
#define BOOT_TIMER_MAGIC     123

struct boot_timer {
	uint64_t start_ns;      /* CLOCK_MONOTONIC when the VM start was requested */
	uint64_t start_cpu_ns;  /* CLOCK_PROCESS_CPUTIME_ID at the same moment */
	uint64_t reports;       /* how many times the guest signalled */
};

/* Record "now" as the start of the boot. */
void boot_timer_init(struct boot_timer *t);
void boot_timer_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void boot_timer_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

#endif
