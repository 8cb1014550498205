#include "devices/legacy/acpi_pm.h"
#include "devices/dev_state.h"
#include "bus/bus.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { CNT_SCI_EN = 0x0001, CNT_SLP_EN = 0x2000, CNT_SLP_TYP_SHIFT = 10 };

void acpi_pm_init(struct acpi_pm *pm, struct power_ctl power)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->power = power;
	pm->st.pm1_cnt = CNT_SCI_EN; /* no SMI_CMD: the machine is always in ACPI mode */
	pm->st.base = ACPI_PM_BASE;
	pm->st.enabled = true;
	pm->mapped = true;
}

uint32_t acpi_pm_timer(void)
{
	unsigned __int128 ticks = (unsigned __int128)now_ns() * ACPI_PM_TMR_HZ / 1000000000u;
	return (uint32_t)ticks & 0xffffffu;
}

/* The PM1 registers only: where the block decodes is its owner's (direct boot: fixed; firmware
 * boot: PIIX4's PMBA, which that function's reset puts back). */
void acpi_pm_reset(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->st.pm1_sts = pm->st.pm1_en = 0;
	pm->st.pm1_cnt = CNT_SCI_EN;
	pthread_mutex_unlock(&pm->lock);
}

static uint8_t reg_byte(const struct acpi_pm_state *st, unsigned off, uint32_t tmr)
{
	uint16_t v;
	if (off >= ACPI_PM_TMR_OFF && off < ACPI_PM_TMR_OFF + ACPI_PM_TMR_LEN)
		return (uint8_t)(tmr >> ((off - ACPI_PM_TMR_OFF) * 8));
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
	/* one reading of the clock for the whole access: its bytes belong together */
	uint32_t tmr = off + len > ACPI_PM_TMR_OFF ? acpi_pm_timer() : 0;
	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = reg_byte(&pm->st, (unsigned)(off + i), tmr);
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
		default: break; /* the PM timer is read-only */
		}
	}
	pthread_mutex_unlock(&pm->lock);
	if (stop == VM_STOP_POWEROFF)
		power_request(&pm->power, stop, 0, "guest powered off (ACPI S5)");
	else if (stop == VM_STOP_RESET)
		power_request(&pm->power, stop, 0, "guest reset (ACPI reset register)");
}

/* ---- where it decodes ---- */

/* pm->lock held. */
static int move_locked(struct acpi_pm *pm, struct bus *pio, uint16_t base, bool enabled)
{
	pm->st.base = base;
	pm->st.enabled = enabled;
	pm->pio = pio;
	int err;
	if ((uint32_t)base + ACPI_PM_LEN > 0x10000) {
		err = -EINVAL;
		bus_move(pio, acpi_pm_read, pm, 0, false);
	} else {
		err = bus_move(pio, acpi_pm_read, pm, base, enabled);
		if (err == -ENOENT) /* the first place it decodes at registers it */
			err = enabled ? bus_register(pio, base, ACPI_PM_LEN, "acpi-pm", acpi_pm_read, acpi_pm_write, pm) : 0;
	}
	pm->mapped = err == 0 && enabled;
	return err;
}

int acpi_pm_move(struct acpi_pm *pm, struct bus *pio, uint16_t base, bool enabled)
{
	pthread_mutex_lock(&pm->lock);
	bool same = pm->pio == pio && pm->st.base == base && pm->st.enabled == enabled && pm->mapped == enabled;
	int err = same ? 0 : move_locked(pm, pio, base, enabled);
	pthread_mutex_unlock(&pm->lock);
	if (err < 0)
		log_limited(LOG_WARN, "ACPI PM block: cannot decode at ports 0x%x-0x%x: %s", base,
			    base + ACPI_PM_LEN - 1, err == -EEXIST ? "another device has some of them" : "past 0xffff");
	return err;
}

bool acpi_pm_where(struct acpi_pm *pm, uint16_t *base)
{
	pthread_mutex_lock(&pm->lock);
	bool on = pm->mapped;
	*base = pm->st.base;
	pthread_mutex_unlock(&pm->lock);
	return on;
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
	put_u16(e, st.base);
	put_bool(e, st.enabled);
}

static int acpi_pm_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	struct acpi_pm *pm = dev;
	struct acpi_pm_state st = { .base = ACPI_PM_BASE, .enabled = true };
	st.pm1_sts = get_u16(d);
	st.pm1_en = get_u16(d);
	st.pm1_cnt = get_u16(d);
	if (version >= 2) {
		st.base = get_u16(d);
		st.enabled = get_bool(d);
	}
	int e = dec_end(d, "ACPI power management", err, errlen);
	if (e < 0)
		return e;
	pthread_mutex_lock(&pm->lock);
	bool moves = st.base != pm->st.base || st.enabled != pm->st.enabled;
	if (moves && !pm->pio)
		e = error_set(err, errlen, -EINVAL, "ACPI power management: the saved block is at port %#x (%s), "
			      "this machine's is fixed at %#x", st.base, st.enabled ? "enabled" : "disabled", pm->st.base);
	if (e == 0 && moves)
		move_locked(pm, pm->pio, st.base, st.enabled); /* a refused place is the guest's, as it was */
	if (e == 0) {
		pm->st.pm1_sts = st.pm1_sts;
		pm->st.pm1_en = st.pm1_en;
		pm->st.pm1_cnt = st.pm1_cnt;
	}
	pthread_mutex_unlock(&pm->lock);
	return e;
}

const struct dev_state_ops acpi_pm_state_ops = {
	.id = STATE_ID('A', 'C', 'P', 'I'), .version = 2, .min_version = 1,
	.save = acpi_pm_save_state, .load = acpi_pm_load_state,
};
