/* QEMU's bochs-display on petrel's PCI bus (1234:1111, class 0380): the display device OVMF's
 * QemuVideoDxe and Linux's bochs DRM driver drive; with bochs_params.vga, QEMU's stdvga (class
 * 0300, the same registers plus the legacy VGA of stdvga.h).
 *
 * BAR 0: the framebuffer, video memory the guest writes straight into: a host mapping put in a
 * KVM memory slot (FB_SLOT) with dirty logging wherever the BAR decodes, so drawing costs no
 * exit and bochs_changed learns which lines changed from KVM's dirty log, not by comparing
 * copies. BAR 2 (4 KiB of MMIO): the EDID block at 0x000 (edid.h), the DISPI registers at
 * 0x500 (index << 1, dispi.h), QEMU's extended registers at 0x600 (their size, and the
 * framebuffer's byte order: little-endian only).
 *
 * Video memory is a power of two of at least 16 MiB that holds the definition's mode; a mode
 * the guest programs past it, or in a depth other than 32 bits, is refused (nothing shown, a
 * rate-limited warning naming it). docs/display.md. */
#ifndef PETREL_DEVICES_DISPLAY_BOCHS_H
#define PETREL_DEVICES_DISPLAY_BOCHS_H

#include "devices/display/display.h"
#include "devices/display/dispi.h"
#include "devices/display/edid.h"
#include "devices/pci/pci.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm;
struct stdvga;

#define BOCHS_VENDOR 0x1234
#define BOCHS_DEVICE 0x1111
#define BOCHS_MMIO_SIZE 0x1000
#define BOCHS_MMIO_EDID 0x000
#define BOCHS_MMIO_DISPI 0x500
#define BOCHS_MMIO_QEXT 0x600
#define BOCHS_QEXT_SIZE 8
#define BOCHS_LITTLE_ENDIAN 0x1e1e1e1eu
#define BOCHS_BIG_ENDIAN 0xbebebebeu
#define BOCHS_VRAM_MIN (16u << 20)

struct bochs_params {
	uint32_t width, height;      /* the EDID's preferred mode; video memory holds it */
	uint64_t vram_size;          /* 0: the smallest power of two of at least BOCHS_VRAM_MIN
				      * that holds the mode; else that (a power of two, >= 4 KiB:
				      * the fuzz target's small ones) */
	bool vga;                    /* stdvga: class 0300 with the legacy VGA (stdvga.h) */
};

/* The guest-visible state besides the configuration space and video memory. */
struct bochs_state {
	struct dispi_state dispi;
};

struct bochs {
	struct pci_device pci;
	pthread_mutex_t lock;        /* everything below that changes; after the PCI bus's lock */
	struct bochs_state st;
	uint8_t *vram;               /* video memory (an anonymous mapping), BAR 0's bytes */
	uint64_t vram_size;
	uint8_t edid[EDID_SIZE];
	struct kvm *kvm;             /* NULL: no slot (unit tests, the fuzz target) */
	uint64_t slot_gpa;           /* where FB_SLOT maps vram now, 0: not mapped */
	uint64_t *dirty;             /* pages written through exits (and a bit per page of scratch) */
	uint64_t *scratch;           /* the slot's dirty log, read into */
	bool all_dirty;              /* every line changed (a move, a restore, a clear) */
	struct dispi_mode mode;      /* what the registers describe, refused ones disabled */
	uint64_t generation;         /* bumped on every change of mode */
	uint64_t reported;           /* the generation bochs_changed last reported */
	struct stdvga *vga;          /* stdvga's legacy VGA, NULL for bochs-display */
};

/* Create the device and put it on bus (NULL: off any bus, for tests); kvm NULL: no memory
 * slot. 0, or -errno and why. */
int bochs_create(struct bochs *b, const struct bochs_params *p, struct kvm *kvm, struct pci_bus *bus,
		 char *err, size_t errlen);
void bochs_destroy(struct bochs *b);
/* The machine's reset: registers as at power-on, video memory cleared. */
void bochs_reset(struct bochs *b);
/* display.h's display_frame and display_changed for this device. */
const uint8_t *bochs_frame(struct bochs *b, struct display_mode *mode);
int bochs_changed(struct bochs *b, uint64_t *lines, uint32_t nbits);
/* BAR 2's registers (what the PCI bus calls; exported for the fuzz target and unit tests). */
void bochs_mmio_read(struct bochs *b, uint64_t off, uint8_t *data, uint32_t len);
void bochs_mmio_write(struct bochs *b, uint64_t off, const uint8_t *data, uint32_t len);

/* Its saved state (section BOCH): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops bochs_state_ops;

#endif
