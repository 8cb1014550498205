/* The i440FX host bridge (PCI 00:00.0, 8086:1237 rev 2, subsystem 1af4:1100: SeaBIOS's
 * qemu_detect checks it) of a firmware-booted VM, which replaces the PCI bus's own host
 * bridge. Guest-visible registers besides the header: PAM0..PAM6 (0x59..0x5f), the shadow RAM
 * controls of 0xC0000-0xFFFFF (each nibble: bit 0 read enable, bit 1 write enable), and SMRAM
 * (0x72; stored only: the machine has no SMM). Everything else reads as the reset value.
 *
 * What the PAM registers mean for memory is the machine's: i440fx_init takes a callback that
 * gets the seven bytes after every guest write to one of them, after a reset and after a
 * load. It runs with the PCI bus's lock held (a configuration write): it must not access PCI
 * configuration space. */
#ifndef PETREL_DEVICES_CHIPSET_I440FX_H
#define PETREL_DEVICES_CHIPSET_I440FX_H

#include "devices/pci/pci.h"

#include <stdint.h>

#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237
#define I440FX_PAM0 0x59
#define I440FX_PAM_COUNT 7
#define I440FX_SMRAM 0x72

typedef void (*i440fx_pam_fn)(void *opaque, const uint8_t pam[I440FX_PAM_COUNT]);

struct i440fx {
	struct pci_device pci;       /* its registers, under the PCI bus's lock */
	i440fx_pam_fn pam_changed;
	void *opaque;
};

/* Put it at 00:00.0 of bus (in place of the bus's own host bridge). pam_changed may be NULL. */
int i440fx_init(struct i440fx *h, struct pci_bus *bus, i440fx_pam_fn pam_changed, void *opaque);
/* Back to power-on values (PAM all 0: the firmware's bytes read from ROM), telling pam_changed. */
void i440fx_reset(struct i440fx *h);
/* The PAM registers now. */
void i440fx_pam(struct i440fx *h, uint8_t pam[I440FX_PAM_COUNT]);

/* Its saved state (section I44F: the configuration space): devices/dev_state.h. */
struct dev_state_ops;
extern const struct dev_state_ops i440fx_state_ops;

#endif
