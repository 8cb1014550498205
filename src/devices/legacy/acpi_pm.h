/* ACPI fixed-hardware power management: PM1a event/control blocks and the FADT reset
 * register, as I/O ports. Writing SLP_TYP=5 with SLP_EN powers the VM off. */
#ifndef PETREL_DEVICES_LEGACY_ACPI_PM_H
#define PETREL_DEVICES_LEGACY_ACPI_PM_H

#include "arch/x86/acpi_hw.h"
#include "devices/power.h"

#include <pthread.h>
#include <stdint.h>

struct acpi_pm_state {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
};

struct acpi_pm {
	struct acpi_pm_state st;
	pthread_mutex_t lock;
	struct power_ctl power;
};

void acpi_pm_init(struct acpi_pm *pm, struct power_ctl power);
void acpi_pm_restore(struct acpi_pm *pm, const struct acpi_pm_state *st);
void acpi_pm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void acpi_pm_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* Its saved state (section ACPI): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops acpi_pm_state_ops;

#endif
