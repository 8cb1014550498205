/* ACPI tables for the guest: RSDP, XSDT/RSDT, FADT (+FACS, DSDT with _S5), MADT. Built as
 * QEMU hands them to a firmware (acpi_build_blobs) and placed by petrel itself for a direct
 * boot (acpi_build, acpi_build_devices). */
#ifndef PETREL_ARCH_X86_ACPI_H
#define PETREL_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/fw_loader.h"

struct guest_mem;

/* Writes the tables into [LAYOUT_ACPI, LAYOUT_VMGENID), zeroes the rest of the area up to
 * LAYOUT_ACPI_END (the VM generation ID's page: written after) and returns the RSDP address in
 * *rsdp. ncpus local APICs with IDs 0..ncpus-1 are listed. */
int acpi_build(struct guest_mem *mem, unsigned ncpus, uint64_t *rsdp);

#define ACPI_MAX_VIRTIO_MMIO 32

/* Devices the DSDT describes besides the fixed ones. */
struct acpi_devices {
	bool pci;                       /* a PCI host bridge (PNP0A03) on config mechanism #1 */
	uint64_t pci_mmio_base, pci_mmio_size;  /* its memory window (_CRS) */
	uint32_t pci_intx_gsi_base;     /* _PRT: slot s, pin p -> GSI base + (s + p) % 4 */
	unsigned nmmio;                 /* virtio-mmio devices (LNRO0005) */
	struct {
		uint64_t base;
		uint32_t size, gsi;
	} mmio[ACPI_MAX_VIRTIO_MMIO];
	bool ged;                       /* the Generic Event Device (ACPI0013, devices/legacy/ged.h) */
	uint16_t ged_port;              /* its event register */
	uint32_t ged_gsi;               /* its interrupt (edge, active high) */
	bool vmgenid;                   /* the VM generation ID device (VMGENCTR); needs the GED */
	uint64_t vmgenid_gpa;           /* where the 16-byte ID is (ADDR) */
	unsigned cpu_max;               /* vCPU hot-plug (0: none): the processor container
					 * \_SB.CPUS lists this many CPUs, the MADT too (those past
					 * ncpus disabled, online capable); needs the GED */
	uint16_t cpuhp_port;            /* its register block (devices/legacy/cpu_hotplug.h) */
	uint16_t pvpanic_port;          /* the pvpanic device (QEMU0001, 1 port; 0: none) */
	bool i8042;                     /* the PC's keyboard controller (PNP0303 at 0x60/0x64,
					 * IRQ 1): SeaBIOS sets no keyboard up without it */
	bool i8042_mouse;               /* and its mouse port (PNP0F13, IRQ 12); Linux drops
					 * the port when a PNP0303 comes without one */
	uint16_t pm_base;               /* the ACPI PM block's port (0: ACPI_PM_BASE); a firmware
					 * moves it (PIIX4's PMBA) */
	bool pm_timer;                  /* the FADT describes the PM timer at pm_base +
					 * ACPI_PM_TMR_OFF (off: the tables a direct boot always had) */
};

/* acpi_build with a PCI host bridge and/or virtio-mmio devices in the DSDT (devs may be NULL):
 * acpi_build_blobs, then the loader's commands run by petrel, the RSDP at LAYOUT_ACPI and the
 * tables 0x100 bytes after it. -ENOSPC if they do not fit below LAYOUT_VMGENID. `fresh`: the
 * area was never written (a VM's first boot on memory just mapped), so it is not read to find
 * what to clear; else (a reset) every page not zero is cleared. */
int acpi_build_devices(struct guest_mem *mem, unsigned ncpus, const struct acpi_devices *devs, bool fresh,
		       uint64_t *rsdp);

/* The fw_cfg files a firmware gets: the tables blob (all but the RSDP; its pointers hold offsets
 * into itself), the RSDP, and the table loader's commands ("etc/table-loader") that place both
 * (RSDP in FSEG, 16-aligned; tables HIGH, 64-aligned), add the tables' address to each pointer
 * (RSDP -> RSDT/XSDT, XSDT/RSDT -> FADT/MADT, FADT -> FACS/DSDT in its 32- and 64-bit fields)
 * and set every checksum. */
#define ACPI_FILE_TABLES "etc/acpi/tables"
#define ACPI_FILE_RSDP "etc/acpi/rsdp"
#define ACPI_RSDP_LEN 36

struct acpi_blobs {
	uint8_t *tables;
	uint32_t tables_len;
	uint8_t *rsdp;
	uint32_t rsdp_len;
	struct fw_loader loader;
};

/* 0, -EINVAL (ncpus not 1..255, cpu_max past 255 or below ncpus), -ENOSPC (a DSDT past 60 KiB)
 * or -ENOMEM. devs may be NULL. */
int acpi_build_blobs(unsigned ncpus, const struct acpi_devices *devs, struct acpi_blobs *out);
/* Frees what a zeroed or built struct holds; leaves it zeroed. */
void acpi_blobs_free(struct acpi_blobs *b);

struct aml;
/* acpi_cpus.c: Device (CPUS) with max processor devices over the register block at port. */
void acpi_build_cpus(struct aml *a, unsigned max, uint16_t port);

#endif
