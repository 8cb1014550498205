/* Shared by fuzz_ports.c and fuzz_device_state.c: the guest's register surface without KVM.
 * A small machine of the legacy port devices (16550A serial, i8042, CMOS RTC, ACPI PM block,
 * ACPI GED, the CPU hot-plug block, port 0x92 and APM), the PCI configuration mechanism
 * (0xCF8/0xCFC) with a firmware boot's chipset (the i440FX host bridge at 00:00.0, PIIX3's ISA
 * bridge and PIIX4's PM function at 00:01.0/.3, whose PMBA the guest may move the ACPI PM block
 * with: it starts at ACPI_PM_BASE, as SeaBIOS leaves it), and a virtio-rng on virtio-pci (00:02.0,
 * BARs placed as in a direct boot) and one on virtio-mmio, over PORT_RAM bytes of guest RAM;
 * then guest accesses read from a fuzz input, and each device's queue served as the I/O thread
 * would.
 *
 * An access is PORT_ACCESS_LEN bytes: a selector (bit 0 write, bits 1-2 size 1/2/4/8, bits
 * 3-7 region), a 32-bit offset into the region (modulo its length) and a 32-bit value. */
#ifndef PETREL_FUZZ_PORT_MACHINE_H
#define PETREL_FUZZ_PORT_MACHINE_H

#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/chipset/i440fx.h"
#include "devices/chipset/piix.h"
#include "devices/chipset/port92.h"
#include "devices/legacy/debugcon.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/cpu_hotplug.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_pci.h"
#include "fuzz_common.h"

#define PORT_RAM (1u << 16)
#define PORT_RAM_SEED 64       /* bytes of input repeated over RAM */
#define PORT_ACCESS_LEN 9
#define PORT_MAX_CPUS 8

struct port_machine {
	struct guest_mem *mem;
	struct bus pio, mmio;
	struct serial serial;
	struct i8042 kbd;
	struct rtc rtc;
	struct acpi_pm pm;
	struct ged ged;
	struct cpu_hotplug cpuhp;
	struct pci_bus pci;
	struct i440fx host;
	struct piix piix;
	struct port92 p92;
	struct debugcon dcon;     /* 0x402, a UEFI firmware VM's (reached through "any port") */
	struct virtio_rng rng_pci, rng_mmio;
	struct virtio_pci vp;
	struct virtio_mmio vm;
	bool ok;                   /* everything built */
	bool have_pci, have_mmio;  /* which rng devices exist (to destroy) */
};

static unsigned port_power_requests, port_ejects;

static void port_eject(void *opaque, unsigned cpu)
{
	(void)opaque;
	FUZZ_CHECK(cpu > 0 && cpu < PORT_MAX_CPUS); /* never the boot CPU, never past max_cpus */
	port_ejects++;
}

static void port_power(void *opaque, enum vm_stop_reason reason, int code, const char *why)
{
	(void)opaque, (void)reason, (void)code, (void)why;
	port_power_requests++;
}

struct port_region {
	bool mmio;
	uint64_t base, len;
};

static const struct port_region port_regions[] = {
	{ false, SERIAL_COM1_BASE, 8 },
	{ false, I8042_DATA_PORT, 1 },
	{ false, I8042_CMD_PORT, 1 },
	{ false, RTC_INDEX_PORT, 2 },
	{ false, ACPI_PM_BASE, ACPI_PM_LEN },
	{ false, GED_PORT, GED_LEN },
	{ false, CPUHP_PORT, CPUHP_LEN },
	{ false, 0xcf8, 8 },                                  /* PCI configuration mechanism #1 */
	{ false, PORT92_PORT, 1 },
	{ false, APM_PORT, APM_LEN },
	{ true, LAYOUT_PCI_MMIO, 0x100000 },                  /* where BARs are placed first */
	{ true, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE },      /* the whole window */
	{ true, LAYOUT_VIRTIO_MMIO, LAYOUT_VIRTIO_MMIO_STRIDE },
	{ false, 0, 0x10000 },                                /* any port: unclaimed ones too */
};
#define PORT_NREGIONS (sizeof(port_regions) / sizeof(port_regions[0]))

/* The guest's RAM: the seed's PORT_RAM_SEED bytes over and over (rings and buffers anywhere). */
static void port_machine_fill_ram(struct port_machine *m, const uint8_t *seed)
{
	uint8_t *ram = m->mem->regions[0].hva;
	for (unsigned i = 0; i < PORT_RAM; i += PORT_RAM_SEED)
		memcpy(ram + i, seed, PORT_RAM_SEED);
}

static bool port_machine_legacy(struct port_machine *m)
{
	struct power_ctl pc = { port_power, NULL };
	struct irq_line none = { NULL, 0 };
	serial_init(&m->serial, -1, none);
	i8042_init(&m->kbd, none, pc);
	rtc_init(&m->rtc, PORT_RAM, 0);
	acpi_pm_init(&m->pm, pc);
	ged_init(&m->ged, none, GED_PORT);
	cpu_hotplug_init(&m->cpuhp, PORT_MAX_CPUS, 2, CPUHP_PORT, port_eject, NULL);
	cpu_hotplug_insert(&m->cpuhp, 2);
	cpu_hotplug_insert(&m->cpuhp, 3);
	cpu_hotplug_request_remove(&m->cpuhp, 1);
	struct bus *pio = &m->pio;
	return bus_register(pio, SERIAL_COM1_BASE, 8, "serial", serial_io_read, serial_io_write, &m->serial) == 0 &&
	       bus_register(pio, I8042_DATA_PORT, 1, "i8042-data", i8042_data_read, i8042_data_write, &m->kbd) == 0 &&
	       bus_register(pio, I8042_CMD_PORT, 1, "i8042-cmd", i8042_cmd_read, i8042_cmd_write, &m->kbd) == 0 &&
	       bus_register(pio, RTC_INDEX_PORT, 2, "rtc", rtc_io_read, rtc_io_write, &m->rtc) == 0 &&
	       bus_register(pio, ACPI_PM_BASE, ACPI_PM_LEN, "acpi-pm", acpi_pm_read, acpi_pm_write, &m->pm) == 0 &&
	       bus_register(pio, GED_PORT, GED_LEN, "ged", ged_read, ged_write, &m->ged) == 0 &&
	       bus_register(pio, CPUHP_PORT, CPUHP_LEN, "cpuhp", cpu_hotplug_read, cpu_hotplug_write, &m->cpuhp) == 0;
}

/* The chipset, with PMBA and PMREGMISC as SeaBIOS programs them (the PM block at ACPI_PM_BASE). */
static bool port_machine_chipset(struct port_machine *m)
{
	struct power_ctl pc = { port_power, NULL };
	if (i440fx_init(&m->host, &m->pci, NULL, NULL) < 0 || piix_init(&m->piix, &m->pci, &m->pm, &m->pio) < 0 ||
	    port92_init(&m->p92, &m->pio, pc) < 0)
		return false;
	pci_bus_set_cf9(&m->pci, port92_rcr_read, port92_rcr_write, &m->p92); /* a byte at 0xCF9: the reset control */
	debugcon_init(&m->dcon);
	if (bus_register(&m->pio, DEBUGCON_PORT, 1, "debugcon", debugcon_read, debugcon_write, &m->dcon) < 0)
		return false;
	uint8_t pmba[4] = { ACPI_PM_BASE | 1, ACPI_PM_BASE >> 8, 0, 0 }, on = 1;
	pci_config_write(&m->pci, PIIX_SLOT, PIIX_PM_FN, PIIX_PMBA, pmba, 4);
	pci_config_write(&m->pci, PIIX_SLOT, PIIX_PM_FN, PIIX_PMREGMISC, &on, 1);
	return m->pm.mapped;
}

/* Build the machine into *m (static storage: it is large). m->ok says whether all of it was. */
static void port_machine_build(struct port_machine *m)
{
	m->mem = fuzz_guest_mem(PORT_RAM);
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	bool ok = port_machine_legacy(m) &&
		  pci_bus_init(&m->pci, NULL, &m->pio, &m->mmio, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE) == 0 &&
		  port_machine_chipset(m);
	m->have_pci = ok && virtio_rng_create(&m->rng_pci, 0, NULL, m->mem, NULL) == 0;
	ok = m->have_pci && virtio_pci_create(&m->vp, &m->rng_pci.vdev, &m->pci, NULL, NULL) == 0;
	m->have_mmio = ok && virtio_rng_create(&m->rng_mmio, 1, NULL, m->mem, NULL) == 0;
	m->ok = m->have_mmio && virtio_mmio_create(&m->vm, &m->rng_mmio.vdev, &m->mmio, LAYOUT_VIRTIO_MMIO,
						    LAYOUT_VIRTIO_MMIO_GSI, &m->pci, NULL) == 0;
}

/* Guest accesses until the input runs out. */
static void port_machine_accesses(struct port_machine *m, struct fuzz_input *in)
{
	uint8_t op;
	uint32_t off, val;
	while (m->ok && fuzz_take(in, &op, 1) && fuzz_take(in, &off, 4) && fuzz_take(in, &val, 4)) {
		const struct port_region *r = &port_regions[(op >> 3) % PORT_NREGIONS];
		uint32_t len = 1u << ((op >> 1) & 3);
		uint64_t addr = r->base + off % r->len;
		uint8_t buf[8] = { 0 };
		memcpy(buf, &val, 4);
		memcpy(buf + 4, &val, 4);
		bus_access(r->mmio ? &m->mmio : &m->pio, addr, buf, len, op & 1);
	}
}

/* Each rng's queue served once, as the I/O thread does when the driver notified it. */
static void port_machine_serve(struct port_machine *m)
{
	struct virtio_dev *devs[2] = { m->have_pci ? &m->rng_pci.vdev : NULL,
				       m->have_mmio ? &m->rng_mmio.vdev : NULL };
	for (unsigned i = 0; m->ok && i < 2; i++) {
		pthread_mutex_lock(&devs[i]->lock);
		if (virtio_is_running(devs[i]))
			devs[i]->ops->queue_notify(devs[i], 0);
		pthread_mutex_unlock(&devs[i]->lock);
	}
}

static void port_machine_destroy(struct port_machine *m)
{
	if (m->have_mmio)
		virtio_mmio_destroy(&m->vm);
	if (m->have_pci)
		virtio_pci_destroy(&m->vp);
	if (m->have_mmio)
		virtio_dev_destroy(&m->rng_mmio.vdev);
	if (m->have_pci)
		virtio_dev_destroy(&m->rng_pci.vdev);
	pci_bus_destroy(&m->pci);
}

#endif
