/* Unit tests for the ports a guest stops the VM through: ACPI PM (src/devices/legacy/acpi_pm.c:
 * S5 power-off, the reset register, the event registers) and the debug exit port
 * (src/devices/legacy/debug_port.c). No KVM. */
#include <stdio.h>
#include <string.h>

#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_port.h"
#include "devices/legacy/debugcon.h"
#include "util/log.h"
#include "unit.h"
#include "legacy_dev.h"

/* ---- ACPI PM ---- */

static void pm_w16(struct acpi_pm *pm, unsigned off, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	acpi_pm_write(pm, off, b, 2);
}

static uint16_t pm_r16(struct acpi_pm *pm, unsigned off)
{
	uint8_t b[2];
	acpi_pm_read(pm, off, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

#define SLP_EN 0x2000
#define SLP_TYP(t) ((t) << 10)

TEST(acpi_pm_s5_powers_off)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	CHECK_EQ_HEX(pm_r16(&pm, ACPI_PM1_CNT_OFF) & 1, 1); /* SCI_EN: ACPI mode */
	pm_w16(&pm, ACPI_PM1_CNT_OFF, SLP_TYP(5) | SLP_EN | 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_POWEROFF);
	/* SLP_EN is write-only: reads back as 0 */
	CHECK_EQ_HEX(pm_r16(&pm, ACPI_PM1_CNT_OFF) & SLP_EN, 0);

	/* byte by byte, low then high, as a 16-bit write split in two */
	acpi_pm_init(&pm, recorder(&pr));
	uint8_t lo = 0x01, hi = (SLP_TYP(5) | SLP_EN) >> 8;
	acpi_pm_write(&pm, ACPI_PM1_CNT_OFF, &lo, 1);
	CHECK_EQ(pr.n, 0);
	acpi_pm_write(&pm, ACPI_PM1_CNT_OFF + 1, &hi, 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_POWEROFF);
}

TEST(acpi_pm_other_sleep_types_ignored)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	for (unsigned t = 0; t < 8; t++) {
		if (t == ACPI_S5_TYP)
			continue;
		pm_w16(&pm, ACPI_PM1_CNT_OFF, (uint16_t)(SLP_TYP(t) | SLP_EN | 1));
	}
	CHECK_EQ(pr.n, 0);
	/* S5 without SLP_EN does nothing */
	pm_w16(&pm, ACPI_PM1_CNT_OFF, SLP_TYP(5) | 1);
	CHECK_EQ(pr.n, 0);
	CHECK_EQ_HEX(pm_r16(&pm, ACPI_PM1_CNT_OFF), SLP_TYP(5) | 1);
	/* other registers with the same bits do nothing */
	pm_w16(&pm, 0, SLP_TYP(5) | SLP_EN);
	pm_w16(&pm, 2, SLP_TYP(5) | SLP_EN);
	CHECK_EQ(pr.n, 0);
}

TEST(acpi_pm_reset_register)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	uint8_t v = 0;
	acpi_pm_write(&pm, ACPI_RESET_OFF, &v, 1);
	v = 2;
	acpi_pm_write(&pm, ACPI_RESET_OFF, &v, 1);
	CHECK_EQ(pr.n, 0);
	v = ACPI_RESET_VALUE;
	acpi_pm_write(&pm, ACPI_RESET_OFF, &v, 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_RESET);
	acpi_pm_read(&pm, ACPI_RESET_OFF, &v, 1);
	CHECK_EQ(v, 0);
}

TEST(acpi_pm_event_registers)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	pm_w16(&pm, 2, 0x0120);
	CHECK_EQ_HEX(pm_r16(&pm, 2), 0x0120);
	pm.st.pm1_sts = 0x8101;
	CHECK_EQ_HEX(pm_r16(&pm, 0), 0x8101);
	pm_w16(&pm, 0, 0x0100); /* write 1 to clear */
	CHECK_EQ_HEX(pm_r16(&pm, 0), 0x8001);
	pm_w16(&pm, 0, 0x0000);
	CHECK_EQ_HEX(pm_r16(&pm, 0), 0x8001);
	/* a 4-byte access to the event block covers STS and EN */
	uint8_t four[4];
	acpi_pm_read(&pm, 0, four, 4);
	CHECK_EQ_HEX(four[0] | four[1] << 8 | four[2] << 16 | (uint32_t)four[3] << 24, 0x01208001);
	CHECK_EQ(pr.n, 0);
}

/* ---- debug port ---- */

TEST(debug_port_exit_and_null)
{
	struct power_rec pr;
	struct debug_port d = { .power = recorder(&pr) };
	uint8_t v = 42;
	debug_port_write(&d, 0, &v, 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_DEBUG_EXIT);
	CHECK_EQ(pr.code, 42);
	CHECK_CONTAINS(pr.why, "42");
	/* a 4-byte write: the low byte is the code */
	uint8_t w[4] = { 0x07, 0x01, 0x02, 0x03 };
	debug_port_write(&d, 0, w, 4);
	CHECK_EQ(pr.n, 2);
	CHECK_EQ(pr.code, 7);
	/* the null port swallows writes and reads zeros */
	debug_port_write(&d, DEBUG_NULL_PORT - DEBUG_EXIT_PORT, &v, 1);
	CHECK_EQ(pr.n, 2);
	uint8_t r[4] = { 1, 2, 3, 4 };
	debug_port_read(&d, 1, r, 4);
	CHECK(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 0);
}

TEST(debugcon_answers_its_probe_and_counts)
{
	struct debugcon c;
	debugcon_init(&c);
	uint8_t b[4] = { 0 };
	debugcon_read(&c, 0, b, 1);
	CHECK_EQ_HEX(b[0], DEBUGCON_MAGIC); /* OVMF's PlatformDebugLibIoPort: present */
	char line[400];
	memset(line, 'x', sizeof(line)); /* longer than a line, no newline: split, nothing overflows */
	enum log_level was = log_get_level();
	log_set_level(LOG_DEBUG); /* lines are collected only when they would be logged */
	debugcon_write(&c, 0, (const uint8_t *)line, sizeof(line));
	debugcon_write(&c, 0, (const uint8_t *)"\n\x01\xff", 3);
	log_set_level(was);
	CHECK_EQ(debugcon_bytes(&c), sizeof(line) + 3);
	debugcon_destroy(&c);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
