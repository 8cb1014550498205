/* A firmware-booted VM's machine (vm_firmware.c, docs/firmware.md): for src/vm's own files. */
#ifndef PETREL_VM_VM_FIRMWARE_H
#define PETREL_VM_VM_FIRMWARE_H

#include "devices/chipset/i440fx.h"
#include "devices/chipset/piix.h"
#include "boot/firmware_vars.h"
#include "devices/chipset/port92.h"
#include "devices/flash/cfi_flash.h"
#include "devices/legacy/debugcon.h"
#include "devices/legacy/fw_cfg.h"
#include "memory/rom.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_state_unit;

struct vm_firmware {
	struct rom rom;          /* the image below 4 GiB */
	struct fw_cfg cfg;
	bool cfg_ready;
	unsigned acpi_ncpus;     /* the vCPUs its ACPI files list (the rest of them is fixed with the machine) */
	struct i440fx host;      /* 00:00.0 */
	struct piix piix;        /* 00:01.0 and 00:01.3 */
	struct port92 port92;    /* 0x92, 0xb2-0xb3, 0xcf9 */
	/* a UEFI firmware (firmware_is_uefi): its variables flash below the image */
	struct firmware_vars vars;
	struct cfi_flash flash;
	bool flash_ready;
	uint64_t flash_gpa;
	pthread_mutex_t slot_lock;  /* orders the flash slot's map and unmap */
	bool slot_mapped;           /* slot_lock: FLASH_SLOT is in KVM */
	struct debugcon debugcon;   /* port 0x402, either firmware's */
	bool debugcon_ready;
};

/* The PCI hole the firmware programs BARs in (the bus's window and the DSDT's _CRS). */
uint64_t vm_firmware_pci_base(const struct vm *vm);
uint64_t vm_firmware_pci_size(const struct vm *vm);
/* Where the VM generation ID lives (0xE0000-0xFFFFF is the firmware's): a reserved page. */
uint64_t vm_firmware_vmgenid_gpa(const struct vm *vm);
/* The chipset's functions on the PCI bus, before any other device (vm_devices_create). */
int vm_firmware_chipset(struct vm *vm);
/* The image and the fw_cfg device with its items, once the devices exist (create_machine: a
 * boot, a restore and an incoming migration build the same machine). */
int vm_firmware_create(struct vm *vm);
/* Power-on and every reset: the chipset and fw_cfg to their reset values, the image's last
 * 128 KiB to 0xE0000, the ACPI tables for ncpus present vCPUs (vm_boot_load). */
int vm_firmware_power_on(struct vm *vm, unsigned ncpus);
void vm_firmware_destroy(struct vm *vm);
/* Their saved states (vm_state_units). */
unsigned vm_firmware_state_units(struct vm *vm, struct vm_state_unit *u);

#endif
