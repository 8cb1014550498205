/* The firmware-mode PCI machine of the chipset tests (test_chipset.c, test_chipset_state.c):
 * port and MMIO buses, a firmware bus with the i440FX at 00:00.0 and the PIIX functions at
 * 00:01.0/00:01.3, the ACPI PM block they place, port 0x92/APM, and a plain function with a
 * memory BAR and an I/O BAR added as virtio devices are (pci_bus_add). Accesses go through the
 * buses as a guest's do: configuration mechanism #1, then the ports. */
#ifndef PETREL_TESTS_UNIT_CHIPSET_MACHINE_H
#define PETREL_TESTS_UNIT_CHIPSET_MACHINE_H

#include <string.h>

#include "bus/bus.h"
#include "devices/chipset/i440fx.h"
#include "devices/chipset/piix.h"
#include "devices/chipset/port92.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/pci/pci.h"
#include "legacy_dev.h"

#define CM_MMIO_BASE 0x80000000ull
#define CM_MMIO_END 0xfec00000ull

struct cm {
	struct bus pio, mmio;
	struct pci_bus pci;
	struct i440fx host;
	struct piix piix;
	struct acpi_pm pm;
	struct port92 p92;
	struct pci_device nic;
	struct power_rec power;
	unsigned pam_calls;
	uint8_t pam[I440FX_PAM_COUNT];
};

static void cm_pam(void *opaque, const uint8_t pam[I440FX_PAM_COUNT])
{
	struct cm *m = opaque;
	m->pam_calls++;
	memcpy(m->pam, pam, I440FX_PAM_COUNT);
}

/* 0 when everything was built. */
static int cm_build(struct cm *m)
{
	memset(m, 0, sizeof(*m));
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	struct pci_windows w = { .mmio_base = CM_MMIO_BASE, .mmio_size = CM_MMIO_END - CM_MMIO_BASE,
				 .io_base = 0xc000, .io_size = 0x4000, .firmware = true };
	int e = pci_bus_init_windows(&m->pci, NULL, &m->pio, &m->mmio, &w);
	struct power_ctl pc = recorder(&m->power);
	acpi_pm_init(&m->pm, pc);
	e = e ?: i440fx_init(&m->host, &m->pci, cm_pam, m);
	e = e ?: piix_init(&m->piix, &m->pci, &m->pm, &m->pio);
	e = e ?: port92_init(&m->p92, &m->pio, pc);
	pci_device_init(&m->nic, "nic", 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 0x1100, NULL, NULL);
	pci_device_set_bar(&m->nic, 0, 0x4000);
	pci_device_set_io_bar(&m->nic, 1, 0x20);
	return e ?: pci_bus_add(&m->pci, &m->nic);
}

static void cm_free(struct cm *m)
{
	pci_bus_destroy(&m->pci);
}

static uint32_t cm_in(struct cm *m, uint64_t port, uint32_t len)
{
	uint8_t b[4] = { 0 };
	bus_access(&m->pio, port, b, len, false);
	return pci_get(b, 0, len);
}

static void cm_out(struct cm *m, uint64_t port, uint32_t v, uint32_t len)
{
	uint8_t b[4];
	pci_put(b, 0, v, len);
	bus_access(&m->pio, port, b, len, true);
}

static void cm_addr(struct cm *m, unsigned dev, unsigned fn, unsigned off)
{
	cm_out(m, 0xcf8, 0x80000000u | dev << 11 | fn << 8 | (off & 0xfc), 4);
}

static uint32_t cm_cfg_read(struct cm *m, unsigned dev, unsigned fn, unsigned off, uint32_t len)
{
	cm_addr(m, dev, fn, off);
	return cm_in(m, 0xcfc + (off & 3), len);
}

static void cm_cfg_write(struct cm *m, unsigned dev, unsigned fn, unsigned off, uint32_t v, uint32_t len)
{
	cm_addr(m, dev, fn, off);
	cm_out(m, 0xcfc + (off & 3), v, len);
}

#endif
