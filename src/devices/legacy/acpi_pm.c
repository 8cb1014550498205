#include "devices/legacy/acpi_pm.h"
#include "devices/dev_state.h"

#include <stdio.h>
#include <string.h>

enum { CNT_SCI_EN = 0x0001, CNT_SLP_EN = 0x2000, CNT_SLP_TYP_SHIFT = 10 };

void acpi_pm_init(struct acpi_pm *pm, struct power_ctl power)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->power = power;
	pm->st.pm1_cnt = CNT_SCI_EN; /* no SMI_CMD: the machine is always in ACPI mode */
}

static uint8_t reg_byte(const struct acpi_pm_state *st, unsigned off)
{
	uint16_t v;
	switch (off & ~1u) {
	case 0: v = st->pm1_sts; break;
	case 2: v = st->pm1_en; break;
	case 4: v = st->pm1_cnt; break;
	default: return 0;
	}
	return (uint8_t)(v >> ((off & 1) * 8));
}

void acpi_pm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = reg_byte(&pm->st, (unsigned)(off + i));
	pthread_mutex_unlock(&pm->lock);
}

static void set_byte(uint16_t *reg, unsigned hi, uint8_t v)
{
	*reg = hi ? (uint16_t)((*reg & 0x00ff) | (v << 8)) : (uint16_t)((*reg & 0xff00) | v);
}

void acpi_pm_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	enum vm_stop_reason stop = VM_STOP_NONE;
	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len; i++) {
		unsigned o = (unsigned)(off + i);
		uint8_t v = data[i];
		switch (o) {
		case 0: case 1: { /* PM1_STS: write 1 to clear */
			uint16_t mask = (uint16_t)(v << ((o & 1) * 8));
			pm->st.pm1_sts &= (uint16_t)~mask;
			break;
		}
		case 2: case 3: set_byte(&pm->st.pm1_en, o & 1, v); break;
		case 4: case 5:
			set_byte(&pm->st.pm1_cnt, o & 1, v);
			if ((pm->st.pm1_cnt & CNT_SLP_EN) &&
			    ((pm->st.pm1_cnt >> CNT_SLP_TYP_SHIFT) & 7) == ACPI_S5_TYP)
				stop = VM_STOP_POWEROFF;
			pm->st.pm1_cnt &= (uint16_t)~CNT_SLP_EN; /* write-only bit */
			break;
		case ACPI_RESET_OFF:
			if (v == ACPI_RESET_VALUE)
				stop = VM_STOP_RESET;
			break;
		default: break;
		}
	}
	pthread_mutex_unlock(&pm->lock);
	if (stop == VM_STOP_POWEROFF)
		power_request(&pm->power, stop, 0, "guest powered off (ACPI S5)");
	else if (stop == VM_STOP_RESET)
		power_request(&pm->power, stop, 0, "guest reset (ACPI reset register)");
}

void acpi_pm_restore(struct acpi_pm *pm, const struct acpi_pm_state *st)
{
	pthread_mutex_lock(&pm->lock);
	pm->st = *st;
	pthread_mutex_unlock(&pm->lock);
}

/* ---- saved state (section ACPI, docs/snapshots.md) ---- */

static void acpi_pm_save_state(void *dev, struct enc *e)
{
	struct acpi_pm *pm = dev;
	pthread_mutex_lock(&pm->lock);
	struct acpi_pm_state st = pm->st;
	pthread_mutex_unlock(&pm->lock);
	put_u16(e, st.pm1_sts);
	put_u16(e, st.pm1_en);
	put_u16(e, st.pm1_cnt);
}

static int acpi_pm_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct acpi_pm_state st;
	st.pm1_sts = get_u16(d);
	st.pm1_en = get_u16(d);
	st.pm1_cnt = get_u16(d);
	int e = dec_end(d, "ACPI power management", err, errlen);
	if (e == 0)
		acpi_pm_restore(dev, &st);
	return e;
}

const struct dev_state_ops acpi_pm_state_ops = {
	.id = STATE_ID('A', 'C', 'P', 'I'), .version = 1,
	.save = acpi_pm_save_state, .load = acpi_pm_load_state,
};
