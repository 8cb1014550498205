/* The ACPI Generic Event Device's event register and interrupt (ged.h). */
#include "devices/legacy/ged.h"
#include "devices/dev_state.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void ged_init(struct ged *g, struct irq_line irq, uint16_t port)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	g->irq = irq;
	g->st.gsi = irq.gsi;
	g->st.port = port;
	g->present = true;
}

void ged_reset(struct ged *g)
{
	pthread_mutex_lock(&g->lock);
	g->st.pending = 0;
	pthread_mutex_unlock(&g->lock);
}

void ged_raise(struct ged *g, uint32_t events)
{
	pthread_mutex_lock(&g->lock);
	bool present = g->present;
	if (present)
		g->st.pending |= events & GED_EVT_ALL;
	pthread_mutex_unlock(&g->lock);
	if (!present)
		return;
	/* Edge-triggered in the DSDT's _CRS: the IOAPIC delivers on the rising edge. */
	irq_line_set(&g->irq, 1);
	irq_line_set(&g->irq, 0);
}

/* A read returns the bytes of the register it covers and clears them: _EVT reads it once. */
void ged_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct ged *g = opaque;
	pthread_mutex_lock(&g->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (!g->present || o >= 4) {
			data[i] = 0xff;
			continue;
		}
		data[i] = (uint8_t)(g->st.pending >> (8 * o));
		g->st.pending &= ~(0xffu << (8 * o));
	}
	pthread_mutex_unlock(&g->lock);
}

void ged_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	/* Read-only: the DSDT's Field is WriteAsZeros and never written. */
}

void ged_save(struct ged *g, struct ged_state *out)
{
	pthread_mutex_lock(&g->lock);
	*out = g->st;
	pthread_mutex_unlock(&g->lock);
}

int ged_restore(struct ged *g, const struct ged_state *st, char *err, size_t errlen)
{
	if (!g->st.port)
		return error_set(err, errlen, -EINVAL, "the snapshot has an ACPI event device and its definition turns it off");
	if (st->gsi != g->st.gsi || st->port != g->st.port)
		return error_set(err, errlen, -EINVAL, "event device: the snapshot's guest has it at GSI %u, port 0x%x; "
			 "this petrel at GSI %u, port 0x%x", st->gsi, st->port, g->st.gsi, g->st.port);
	if (st->pending & ~GED_EVT_ALL)
		return error_set(err, errlen, -EINVAL, "event device: unknown pending events 0x%x", st->pending & ~GED_EVT_ALL);
	pthread_mutex_lock(&g->lock);
	g->st.pending = st->pending;
	g->present = true;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* ---- saved state (section GED, docs/snapshots.md) ---- */

static void ged_save_state(void *dev, struct enc *e)
{
	struct ged_state st;
	ged_save(dev, &st);
	put_u32(e, st.pending);
	put_u32(e, st.gsi);
	put_u16(e, st.port);
}

static int ged_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct ged_state st = { 0 };
	st.pending = get_u32(d);
	st.gsi = get_u32(d);
	st.port = get_u16(d);
	int e = dec_end(d, "ACPI event device (GED)", err, errlen);
	return e < 0 ? e : ged_restore(dev, &st, err, errlen);
}

/* A state saved without the section: the guest has no GED (its DSDT does not list one). */
static void ged_absent(void *dev)
{
	((struct ged *)dev)->present = false;
}

const struct dev_state_ops ged_state_ops = {
	.id = STATE_ID('G', 'E', 'D', ' '), .version = 1,
	.save = ged_save_state, .load = ged_load_state, .absent = ged_absent,
};
