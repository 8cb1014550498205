/* A firmware-booted VM (boot-source.firmware, docs/firmware.md): QEMU's pc machine as SeaBIOS
 * sees it. The chipset (i440FX host bridge, PIIX3/PIIX4 functions, port 0x92 and APM), the
 * firmware image read-only below 4 GiB, and the fw_cfg device carrying what QEMU hands a
 * firmware: the memory map, the ACPI tables with their loader commands, SMBIOS, the boot order,
 * the serial console port, the CPU count. A UEFI firmware (OVMF) also gets its variables: a CFI
 * flash over the VM's vars file directly below the image, as QEMU's second pflash unit. */
#include "vm/vm_firmware.h"
#include "arch/x86/acpi.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/smbios.h"
#include "boot/firmware.h"
#include "arch/x86/fw_loader.h"
#include "kvm/kvm.h"
#include "devices/display/stdvga.h"
#include "devices/legacy/pvpanic.h"
#include "devices/legacy/serial.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm_internal.h"
#include "vm/vm_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SeaBIOS's i440FX PCI hole: from 2 GiB when low RAM ends there or below, else from 3 GiB, to
 * the I/O APIC (src/fw/pciinit.c, i440fx_mem_addr_setup). The bus and the DSDT say the same. */
#define FW_PCI_HOLE_END 0xfec00000ull

uint64_t vm_firmware_pci_base(const struct vm *vm)
{
	return guest_mem_low_end(&vm->mem) <= 0x80000000ull ? 0x80000000ull : 0xc0000000ull;
}

uint64_t vm_firmware_pci_size(const struct vm *vm)
{
	return FW_PCI_HOLE_END - vm_firmware_pci_base(vm);
}

uint64_t vm_firmware_vmgenid_gpa(const struct vm *vm)
{
	/* the last page of low RAM, which the firmware's memory map reserves (below) */
	return guest_mem_low_end(&vm->mem) - GUEST_PAGE;
}

/* ---- what the fw_cfg device carries ---- */

/* err, logged with what failed */
static int logged(int err, const char *what, const char *name)
{
	if (err < 0)
		log_error("firmware: cannot %s fw_cfg item %s: %s", what, name, strerror(-err));
	return err;
}

static int add_key(struct vm *vm, uint16_t key, const void *data, uint32_t len)
{
	char name[8];
	snprintf(name, sizeof(name), "%#x", key);
	return logged(fw_cfg_add_key(&vm->fw->cfg, key, data, len), "add", name);
}

static int add_file(struct vm *vm, const char *name, const void *data, uint32_t len)
{
	return logged(fw_cfg_add_file(&vm->fw->cfg, name, data, len), "add", name);
}

/* The memory map: RAM below the PCI hole (but the VM generation ID's page) and above 4 GiB. The
 * firmware adds its own reservations (EBDA, its code) and hands the result to the OS. */
static int add_e820(struct vm *vm)
{
	struct e820_entry map[E820_MAX];
	int n = 0;
	for (unsigned i = 0; i < vm->mem.nregions && n < E820_MAX - 1; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		if (r->hotplug)
			continue; /* virtio-mem tells the guest of its region itself */
		uint64_t size = r->size;
		bool genid = vm->devs.genid.present && r->gpa < vm_firmware_vmgenid_gpa(vm) &&
			     r->gpa + r->size == guest_mem_low_end(&vm->mem);
		if (genid)
			size -= GUEST_PAGE;
		map[n++] = (struct e820_entry){ r->gpa, size, E820_RAM };
		if (genid)
			map[n++] = (struct e820_entry){ r->gpa + size, GUEST_PAGE, E820_RESERVED };
	}
	uint8_t *buf = NULL;
	uint32_t len = 0;
	int err = e820_fw_cfg_file(map, n, &buf, &len);
	if (err == 0)
		err = add_file(vm, E820_FW_CFG_FILE, buf, len);
	free(buf);
	return err;
}

static int set_file(struct vm *vm, const char *name, const void *data, uint32_t len)
{
	return logged(fw_cfg_set_file(&vm->fw->cfg, name, data, len), "replace", name);
}

/* The ACPI tables for ncpus present vCPUs: added when the machine is built (a restored VM has
 * the same files), replaced at a power-on when the count changed (a reset after a vCPU hot-plug
 * lists it); what else they describe is fixed when the machine is built. */
static int put_acpi(struct vm *vm, unsigned ncpus, bool replace)
{
	int (*put)(struct vm *, const char *, const void *, uint32_t) = replace ? set_file : add_file;
	struct acpi_blobs b;
	vm->devs.acpi.pvpanic_port = PVPANIC_PORT;
	int err = acpi_build_blobs(ncpus, &vm->devs.acpi, &b);
	if (err < 0) {
		log_error("firmware: cannot build the ACPI tables: %s", strerror(-err));
		return err;
	}
	err = put(vm, ACPI_FILE_TABLES, b.tables, b.tables_len);
	err = err ?: put(vm, ACPI_FILE_RSDP, b.rsdp, b.rsdp_len);
	err = err ?: put(vm, FW_LOADER_FILE, b.loader.cmds, (uint32_t)b.loader.len);
	acpi_blobs_free(&b);
	vm->fw->acpi_ncpus = err < 0 ? 0 : ncpus;
	return err;
}

/* fw_cfg's select hook: before the firmware reads the ACPI files, they are rebuilt when the PM
 * block decodes somewhere other than what their FADT says. The firmware places it (PIIX4's PMBA:
 * SeaBIOS at 0x600, where the tables start, OVMF at 0xB000), as QEMU rebuilds its tables on
 * their first read: a FADT naming ports nothing decodes left GRUB's PM-timer calibration
 * spinning for minutes and a guest's ACPI power-off writing nowhere. */
static void acpi_on_select(void *opaque, uint16_t key, const char *name)
{
	(void)key;
	struct vm *vm = opaque;
	uint16_t base;
	if (!name || (strcmp(name, FW_LOADER_FILE) && strcmp(name, ACPI_FILE_TABLES) && strcmp(name, ACPI_FILE_RSDP)) ||
	    !acpi_pm_where(&vm->pm, &base))
		return;
	uint16_t built = vm->devs.acpi.pm_base ? vm->devs.acpi.pm_base : ACPI_PM_BASE;
	if (base == built)
		return;
	log_debug("firmware: the PM block decodes at 0x%x: the ACPI tables rebuilt for it", base);
	vm->devs.acpi.pm_base = base;
	put_acpi(vm, vm->fw->acpi_ncpus ? vm->fw->acpi_ncpus : vm->nvcpus, true);
}

static int add_smbios(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	char serial[VM_UUID_STR];
	vm_uuid_format(cfg->uuid, serial);
	struct smbios_info in = { .ncpus = vm->nvcpus, .mem_bytes = cfg->mem_mib << 20,
				  .serial = cfg->smbios_serial[0] ? cfg->smbios_serial : serial,
				  .version = PETREL_VERSION };
	memcpy(in.uuid, cfg->uuid, 16);
	uint8_t *anchor = NULL, *tables = NULL;
	uint32_t alen = 0, tlen = 0;
	int err = smbios_build(&in, &anchor, &alen, &tables, &tlen);
	if (err < 0)
		log_error("firmware: cannot build the SMBIOS tables: %s", strerror(-err));
	err = err ?: add_file(vm, SMBIOS_FILE_ANCHOR, anchor, alen);
	err = err ?: add_file(vm, SMBIOS_FILE_TABLES, tables, tlen);
	free(anchor);
	free(tables);
	return err;
}

/* Where the i-th device of a kind sits on PCI: 0, or -ENOENT (no such device, or not on PCI). */
static int pci_place(struct vm *vm, enum dev_kind kind, unsigned i, unsigned *slot, unsigned *fn)
{
	for (unsigned k = 0, seen = 0; k < vm->devs.ndev; k++) {
		const struct vm_device *d = &vm->devs.dev[k];
		if (d->kind != kind || seen++ != i)
			continue;
		if (!d->tr || d->tr->mmio)
			return -ENOENT;
		*slot = d->tr->u.pci.pci.slot;
		*fn = d->tr->u.pci.pci.fn;
		return 0;
	}
	return -ENOENT;
}

/* "bootorder": one OpenFirmware device path per line, the drives with a boot_index by it (the
 * firmware matches a virtio-blk function by /pci@i0cf8/ANY@SLOT[,FN]); the others follow in the
 * firmware's own order. */
static int add_bootorder(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	char text[DEVICES_MAX_DRIVES * 40 + 1] = "";
	size_t used = 0;
	for (unsigned want = 0; want <= DRIVE_BOOT_INDEX_MAX; want++)
		for (unsigned i = 0; i < cfg->ndrives; i++) {
			const struct drive_config *d = &cfg->drives[i];
			if (!d->has_boot_index || d->boot_index != want)
				continue;
			unsigned slot, fn;
			if (pci_place(vm, DEV_BLK, i, &slot, &fn) < 0)
				continue;
			used += (size_t)snprintf(text + used, sizeof(text) - used, fn ? "/pci@i0cf8/disk@%x,%x\n" : "/pci@i0cf8/disk@%x\n",
						 slot, fn);
		}
	return used ? add_file(vm, "bootorder", text, (uint32_t)used) : 0;
}

/* stdvga's option ROM, Debian's SeaVGABIOS for it: SeaBIOS runs the fw_cfg file named after
 * the VGA device's PCI ids as its ROM (optionroms.c, init_pcirom), with the device's address,
 * so the VGA BIOS finds its framebuffer BAR. */
static int add_vga_rom(struct vm *vm)
{
	if (!vm->cfg->has_display || vm->cfg->display.model != DISPLAY_MODEL_STDVGA)
		return 0;
	char *rom = NULL;
	size_t len = 0;
	int e = read_whole_file(DISPLAY_STDVGA_ROM, 256u << 10, &rom, &len);
	if (e < 0) {
		log_error("stdvga: cannot read its VGA BIOS %s: %s (install Debian's package seabios)", DISPLAY_STDVGA_ROM,
			  strerror(-e));
		return e;
	}
	e = add_file(vm, STDVGA_ROM_NAME, rom, (uint32_t)len);
	free(rom);
	return e;
}

static int add_items(struct vm *vm)
{
	uint16_t ncpus = (uint16_t)vm->nvcpus, max = (uint16_t)vcpu_hotplug_possible(vm->cfg), yes = 1, no = 0;
	uint64_t ram = guest_mem_ram_size(&vm->mem), port = SERIAL_COM1_BASE;
	int err = add_key(vm, FW_CFG_NB_CPUS, &ncpus, 2);
	err = err ?: add_key(vm, FW_CFG_MAX_CPUS, &max, 2);
	err = err ?: add_key(vm, FW_CFG_RAM_SIZE, &ram, 8);
	err = err ?: add_key(vm, FW_CFG_UUID, vm->cfg->uuid, 16);
	err = err ?: add_key(vm, FW_CFG_NOGRAPHIC, &yes, 2);
	err = err ?: add_key(vm, FW_CFG_BOOT_MENU, &no, 2);
	/* the firmware's screen is the serial console (SeaBIOS's sercon); with stdvga's VGA BIOS
	 * SeaBIOS writes to both (its "split mode") */
	err = err ?: add_file(vm, "etc/sercon-port", &port, 8);
	err = err ?: add_vga_rom(vm);
	err = err ?: add_e820(vm);
	err = err ?: put_acpi(vm, vm->nvcpus, false);
	err = err ?: add_smbios(vm);
	return err ?: add_bootorder(vm);
}

/* ---- the machine ---- */

static void pam_changed(void *opaque, const uint8_t pam[I440FX_PAM_COUNT])
{
	(void)opaque;
	(void)pam; /* the BIOS area stays RAM the firmware shadows in place (docs/firmware.md, PAM) */
}

int vm_firmware_chipset(struct vm *vm)
{
	struct vm_firmware *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	vm->fw = fw;
	struct power_ctl power = vm_power_ctl(vm);
	int err = i440fx_init(&fw->host, &vm->devs.pci, pam_changed, vm);
	err = err ?: piix_init(&fw->piix, &vm->devs.pci, &vm->pm, &vm->pio);
	err = err ?: port92_init(&fw->port92, &vm->pio, power);
	if (err == 0) /* PIIX3's reset control register: OVMF's cold reset */
		pci_bus_set_cf9(&vm->devs.pci, port92_rcr_read, port92_rcr_write, &fw->port92);
	if (err < 0)
		log_error("firmware: cannot create the chipset: %s", strerror(-err));
	return err;
}

/* ---- a UEFI firmware's variables flash ---- */

/* The flash's array_mode callback (called with its lock released, transitions in order: a
 * state load's too): its slot mapped in read-array mode, removed in every other. */
static void flash_slot_sync(void *opaque, bool want)
{
	struct vm *vm = opaque;
	struct vm_firmware *fw = vm->fw;
	pthread_mutex_lock(&fw->slot_lock);
	if (want != fw->slot_mapped) {
		int e = want ? kvm_set_user_memory(&vm->kvm, FLASH_SLOT, fw->flash_gpa, fw->vars.size, fw->vars.mem,
						   KVM_MEM_READONLY)
			     : kvm_set_user_memory(&vm->kvm, FLASH_SLOT, fw->flash_gpa, 0, NULL, 0);
		if (e == 0)
			fw->slot_mapped = want;
		else /* unmapped, reads still work by exits; mapped and not removed, the guest reads array data */
			log_limited(LOG_ERROR, "firmware: cannot %s the vars flash's slot: %s", want ? "map" : "unmap",
				    strerror(-e));
	}
	pthread_mutex_unlock(&fw->slot_lock);
}

/* The vars file mapped, the flash over it directly below the image at 4 GiB - code_size, its
 * MMIO range (reads while not in read-array mode, every write) and its slot. */
static int flash_create(struct vm *vm, size_t code_size)
{
	struct vm_firmware *fw = vm->fw;
	char why[400];
	int err = firmware_vars_open(vm->cfg->firmware_vars, code_size, &fw->vars, why, sizeof(why));
	if (err < 0) {
		log_error("firmware: %s", why);
		return err;
	}
	fw->flash_gpa = ROM_TOP - code_size - fw->vars.size;
	pthread_mutex_init(&fw->slot_lock, NULL);
	err = cfi_flash_init(&fw->flash, fw->vars.mem, fw->vars.size, flash_slot_sync, vm);
	if (err < 0) {
		log_error("firmware: cannot create the vars flash: %s", strerror(-err));
		return err;
	}
	fw->flash_ready = true;
	err = bus_register(&vm->mmio, fw->flash_gpa, fw->vars.size, "firmware-vars", cfi_flash_read, cfi_flash_write,
			   &fw->flash);
	if (err < 0)
		return err;
	flash_slot_sync(vm, cfi_flash_in_array_mode(&fw->flash));
	return fw->slot_mapped ? 0 : -EIO;
}

/* Read the image; a UEFI one (with its variables) must be a firmware volume. */
static int read_image(struct vm *vm, uint8_t **img, size_t *len)
{
	char why[320];
	int err = firmware_read(vm->cfg->firmware, img, len, why, sizeof(why));
	if (err < 0) {
		log_error("%s", why);
		return err;
	}
	if (firmware_is_uefi(vm->cfg) && !firmware_has_fv(*img, *len)) {
		log_error("firmware '%s' is not an OVMF code file (no EFI firmware volume header, \"_FVH\" at offset 40)",
			  firmware_path(vm->cfg->firmware));
		free(*img);
		*img = NULL;
		return -EINVAL;
	}
	return 0;
}

int vm_firmware_create(struct vm *vm)
{
	struct vm_firmware *fw = vm->fw;
	char why[320];
	uint8_t *img = NULL;
	size_t len = 0;
	int err = read_image(vm, &img, &len);
	if (err < 0)
		return err;
	err = rom_map(&fw->rom, &vm->kvm, ROM_TOP - len, img, len, why, sizeof(why));
	free(img);
	if (err < 0) {
		log_error("firmware: %s", why);
		return err;
	}
	err = bus_register(&vm->mmio, fw->rom.gpa, fw->rom.size, "firmware", rom_mmio_read, rom_mmio_write, &fw->rom);
	/* port 0x402 for both firmwares: OVMF's and SeaBIOS's debug output (each checks that it
	 * reads back 0xe9 before writing there) */
	debugcon_init(&fw->debugcon);
	fw->debugcon_ready = true;
	err = err ?: bus_register(&vm->pio, DEBUGCON_PORT, 1, "debugcon", debugcon_read, debugcon_write, &fw->debugcon);
	err = err ?: (firmware_is_uefi(vm->cfg) ? flash_create(vm, len) : 0);
	err = err ?: fw_cfg_init(&fw->cfg, &vm->mem);
	if (err < 0)
		return err;
	fw_cfg_set_select_hook(&fw->cfg, acpi_on_select, vm);
	fw->cfg_ready = true;
	err = bus_register(&vm->pio, FW_CFG_PORT, FW_CFG_PORT_LEN, "fw_cfg", fw_cfg_io_read, fw_cfg_io_write, &fw->cfg);
	rtc_set_vcpus(&vm->rtc, vm->nvcpus);
	return err ?: add_items(vm);
}

int vm_firmware_power_on(struct vm *vm, unsigned ncpus)
{
	struct vm_firmware *fw = vm->fw;
	/* rebuilt only when a vCPU hot-plug changed the count: not twice at the VM's start */
	int err = fw->acpi_ncpus == ncpus ? 0 : put_acpi(vm, ncpus, true);
	if (err < 0)
		return err;
	fw_cfg_reset(&fw->cfg);
	i440fx_reset(&fw->host);
	piix_reset(&fw->piix);
	port92_reset(&fw->port92);
	if (fw->flash_ready)
		cfi_flash_reset(&fw->flash); /* back in read-array mode: its slot mapped again */
	err = rom_copy_low(&fw->rom, &vm->mem);
	if (err < 0)
		log_error("firmware: cannot copy its last 128 KiB below 1 MiB: %s", strerror(-err));
	return err;
}

bool vm_firmware_vars_counts(struct vm *vm, struct cfi_flash_counts *out)
{
	if (!vm->fw || !vm->fw->flash_ready)
		return false;
	cfi_flash_counts(&vm->fw->flash, out);
	return true;
}

void vm_firmware_destroy(struct vm *vm)
{
	struct vm_firmware *fw = vm->fw;
	if (!fw)
		return;
	if (fw->cfg_ready)
		fw_cfg_destroy(&fw->cfg);
	if (fw->slot_mapped)
		kvm_set_user_memory(&vm->kvm, FLASH_SLOT, fw->flash_gpa, 0, NULL, 0);
	if (fw->flash_ready) {
		cfi_flash_destroy(&fw->flash);
		pthread_mutex_destroy(&fw->slot_lock);
	}
	if (fw->debugcon_ready)
		debugcon_destroy(&fw->debugcon);
	firmware_vars_close(&fw->vars);
	rom_unmap(&fw->rom);
	free(fw);
	vm->fw = NULL;
}

unsigned vm_firmware_state_units(struct vm *vm, struct vm_state_unit *u)
{
	struct vm_firmware *fw = vm->fw;
	if (!fw)
		return 0;
	unsigned n = 0;
	u[n++] = (struct vm_state_unit){ .ops = &i440fx_state_ops, .dev = &fw->host, .saved = true };
	u[n++] = (struct vm_state_unit){ .ops = &piix_state_ops, .dev = &fw->piix, .saved = true };
	u[n++] = (struct vm_state_unit){ .ops = &port92_state_ops, .dev = &fw->port92, .saved = true };
	u[n++] = (struct vm_state_unit){ .ops = &fw_cfg_state_ops, .dev = &fw->cfg, .saved = true };
	if (fw->flash_ready) /* after FWCF: the command state and the whole contents */
		u[n++] = (struct vm_state_unit){ .ops = &cfi_flash_state_ops, .dev = &fw->flash, .saved = true };
	return n;
}
