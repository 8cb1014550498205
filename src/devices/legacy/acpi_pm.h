/* ACPI fixed-hardware power management: PM1a event/control blocks, the FADT reset register and
 * the PM timer, as I/O ports (arch/x86/acpi_hw.h has the offsets). Writing SLP_TYP=5 with SLP_EN
 * powers the VM off.
 *
 * The block sits at ACPI_PM_BASE (direct boot: the machine registers it there with
 * bus_register), or where PIIX4's PMBA puts it (firmware boot: acpi_pm_move, called by
 * devices/chipset/piix.c while vCPUs run). */
#ifndef PETREL_DEVICES_LEGACY_ACPI_PM_H
#define PETREL_DEVICES_LEGACY_ACPI_PM_H

#include "arch/x86/acpi_hw.h"
#include "devices/power.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus;

struct acpi_pm_state {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t base;          /* where the block was asked to decode ... */
	bool enabled;           /* ... and whether (PIIX4's PMBA and PMREGMISC) */
};

struct acpi_pm {
	struct acpi_pm_state st;      /* lock */
	pthread_mutex_t lock;
	struct power_ctl power;
	struct bus *pio;              /* lock; the bus acpi_pm_move placed it on, NULL before */
	bool mapped;                  /* lock; it decodes at st.base (a move may be refused) */
};

/* At ACPI_PM_BASE, enabled (direct boot's place; the machine registers it there). */
void acpi_pm_init(struct acpi_pm *pm, struct power_ctl power);
/* The machine's reset: the PM1 registers as at power-on (the block stays where it decodes). */
void acpi_pm_reset(struct acpi_pm *pm);
void acpi_pm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void acpi_pm_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
/* Decode the block at ports [base, base + ACPI_PM_LEN) of pio, or not at all (!enabled); the
 * first call registers it on pio (unless it is not enabled: then the first enabled one does).
 * Safe while vCPUs run. -EEXIST when the ports overlap another device's (the block then
 * decodes nowhere until moved again; the guest asked for a conflict), -EINVAL past port
 * 0xffff. The block remembers what was asked either way (its saved state). */
int acpi_pm_move(struct acpi_pm *pm, struct bus *pio, uint16_t base, bool enabled);
/* Where the block decodes now: true and *base when it does (a firmware's PMBA, or direct boot's
 * ACPI_PM_BASE), false when it decodes nowhere. Safe while vCPUs run. */
bool acpi_pm_where(struct acpi_pm *pm, uint16_t *base);
/* The PM timer's 24-bit count now (ACPI_PM_TMR_HZ from CLOCK_MONOTONIC). */
uint32_t acpi_pm_timer(void);

/* Its saved state (section ACPI, version 2: the PM1 registers, then base and enabled; version
 * 1, without them, loads as ACPI_PM_BASE, enabled): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops acpi_pm_state_ops;

#endif
