/* The PIIX functions of a firmware-booted VM (QEMU's pc machine as SeaBIOS sees it):
 *   00:01.0 PIIX3 PCI-to-ISA bridge (8086:7000, class 0601, multi-function): PIRQRC[A-D]
 *           (0x60..0x63, reset 0x80) writable and stored; petrel's INTx routing stays the
 *           DSDT's _PRT (GSI 16 + slot % 4 on the I/O APIC), whatever the guest writes there.
 *   00:01.3 PIIX4 power management (8086:7113, class 0680, interrupt line 9): PMBA (0x40: I/O
 *           base, bits 15:6 writable, bit 0 reads 1) and PMREGMISC (0x80, bit 0: PM I/O enable)
 *           place petrel's ACPI PM block (devices/legacy/acpi_pm.h) on the port bus;
 *           DEVACTB (0x58) reads with APMC_EN (bit 25) set, which tells SeaBIOS SMM is set up
 *           already (the machine has none: the PVM host has no KVM_CAP_X86_SMM), so it leaves
 *           SMM alone; the SMBus base (0x90, bits 15:4) and host configuration (0xd2) are
 *           writable, with no SMBus behind them.
 * Every other byte reads as its reset value and ignores writes. */
#ifndef PETREL_DEVICES_CHIPSET_PIIX_H
#define PETREL_DEVICES_CHIPSET_PIIX_H

#include "devices/pci/pci.h"

#include <stdint.h>

struct acpi_pm;
struct bus;

#define PIIX_SLOT 1
#define PIIX_ISA_FN 0
#define PIIX_PM_FN 3
#define PIIX_PIRQRC 0x60
#define PIIX_PMBA 0x40
#define PIIX_DEVACTB 0x58
#define PIIX_DEVACTB_APMC_EN (1u << 25)
#define PIIX_PMREGMISC 0x80
#define PIIX_SMBBA 0x90
#define PIIX_SMBHSTCFG 0xd2

struct piix {
	struct pci_device isa, pm;   /* their registers, under the PCI bus's lock */
	struct acpi_pm *acpi;
	struct bus *pio;
};

/* Put both functions at 00:01 of bus (after i440fx_init: the firmware finds its host bridge
 * first; before the other PCI devices, which pci_bus_add then puts from slot 2 on), and the PM
 * block at its reset place: not decoding until the firmware programs PMBA and PMREGMISC. */
int piix_init(struct piix *p, struct pci_bus *bus, struct acpi_pm *pm, struct bus *pio);
/* Back to power-on values (the PM block stops decoding). */
void piix_reset(struct piix *p);

/* Its saved state (section PIIX: the two configuration spaces, ISA bridge then PM; loading
 * places the PM block again): devices/dev_state.h. */
struct dev_state_ops;
extern const struct dev_state_ops piix_state_ops;

#endif
