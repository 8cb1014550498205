/* The i8042 controller: see i8042.h. Its keyboard is ps2_kbd.c, its mouse ps2_mouse.c, its
 * saved state i8042_state.c. */
#include "devices/legacy/i8042.h"
#include "util/stat.h"

#include <errno.h>
#include <string.h>

enum {
	STS_OBF = 0x01, STS_SYS = 0x04, STS_CMD = 0x08, STS_UNLOCKED = 0x10, STS_AUX_OBF = 0x20,
	CTR_KBD_INT = 0x01, CTR_AUX_INT = 0x02, CTR_SYS = 0x04, CTR_KBD_DISABLE = 0x10, CTR_AUX_DISABLE = 0x20,
	CTR_XLATE = 0x40,
};

static void power_on(struct i8042_state *st)
{
	memset(st, 0, sizeof(*st));
	st->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE | CTR_AUX_DISABLE;
	st->status = STS_SYS | STS_UNLOCKED;
	ps2_kbd_reset(&st->kbd);
	ps2_mouse_reset(&st->mouse);
}

void i8042_init(struct i8042 *k, struct irq_line irq, struct power_ctl power)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->irq = irq;
	k->power = power;
	power_on(&k->st);
}

void i8042_add_mouse(struct i8042 *k, struct irq_line aux_irq)
{
	k->aux_irq = aux_irq;
	k->has_aux = true;
}

/* Take the next byte into the output buffer if it is free (the keyboard's first), and drive
 * the lines to match. Lock held. */
static void update(struct i8042 *k)
{
	struct i8042_state *st = &k->st;
	if (!(st->status & STS_OBF)) {
		if (st->kbd.q.count) {
			st->out = ps2_pop(&st->kbd.q);
			st->status = (uint8_t)((st->status | STS_OBF) & ~STS_AUX_OBF);
		} else if (k->has_aux && st->mouse.q.count) {
			st->out = ps2_pop(&st->mouse.q);
			st->status |= STS_OBF | STS_AUX_OBF;
		}
	}
	bool full = st->status & STS_OBF, aux = st->status & STS_AUX_OBF;
	uint8_t kl = full && !aux && (st->ctr & CTR_KBD_INT), al = full && aux && (st->ctr & CTR_AUX_INT);
	if (kl != st->irq_level) {
		st->irq_level = kl;
		irq_line_set(&k->irq, kl);
	}
	if (k->has_aux && al != st->aux_irq_level) {
		st->aux_irq_level = al;
		irq_line_set(&k->aux_irq, al);
	}
}

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	power_on(&k->st);
	irq_line_set(&k->irq, 0);
	if (k->has_aux)
		irq_line_set(&k->aux_irq, 0);
	pthread_mutex_unlock(&k->lock);
}

int i8042_restore(struct i8042 *k, const struct i8042_state *st, char *err, size_t errlen)
{
	int e;
	if ((e = ps2_kbd_check(&st->kbd, err, errlen)) < 0 || (e = ps2_mouse_check(&st->mouse, err, errlen)) < 0)
		return e;
	pthread_mutex_lock(&k->lock);
	k->st = *st;
	if (!k->has_aux) { /* no mouse: nothing of one may come out */
		k->st.mouse.q.count = 0;
		ps2_mouse_reset(&k->st.mouse);
	}
	k->st.irq_level = k->st.aux_irq_level = 0;
	irq_line_set(&k->irq, 0);
	if (k->has_aux)
		irq_line_set(&k->aux_irq, 0);
	update(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

/* A reply of the controller itself: through the keyboard's queue. */
static void reply(struct i8042_state *st, uint8_t b)
{
	ps2_push1(&st->kbd.q, b);
}

static void reset(struct i8042 *k, const char *why)
{
	stat_add(&k->reset_count, 1);
	power_request(&k->power, VM_STOP_RESET, 0, why);
}

static void command(struct i8042 *k, uint8_t cmd)
{
	struct i8042_state *st = &k->st;
	switch (cmd) {
	case 0x20: reply(st, st->ctr); break;                /* read CTR */
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
		st->pending_cmd = cmd;                       /* data byte follows */
		break;
	case 0xa7: st->ctr |= CTR_AUX_DISABLE; break;
	case 0xa8: st->ctr &= ~CTR_AUX_DISABLE; break;
	case 0xa9: reply(st, k->has_aux ? 0x00 : 0xff); break; /* aux interface test */
	case 0xaa: reply(st, 0x55); break;                   /* controller self-test passed */
	case 0xab: reply(st, 0x00); break;                   /* keyboard interface test ok */
	case 0xad: st->ctr |= CTR_KBD_DISABLE; break;
	case 0xae: st->ctr &= ~CTR_KBD_DISABLE; break;
	case 0xc0: reply(st, 0x00); break;                   /* read input port */
	case 0xd0: reply(st, 0x01); break;                   /* read output port: reset line high */
	case 0xfe: reset(k, "guest reset (i8042 command 0xfe)"); break;
	default: break;
	}
}

static void data_byte(struct i8042 *k, uint8_t b)
{
	struct i8042_state *st = &k->st;
	uint8_t cmd = st->pending_cmd;
	st->pending_cmd = 0;
	switch (cmd) {
	case 0x60: st->ctr = b; break;
	case 0xd1: if (!(b & 1)) reset(k, "guest reset (i8042 output port)"); break;
	case 0xd2: reply(st, b); break;                       /* write keyboard output buffer */
	case 0xd3: if (k->has_aux) ps2_push1(&st->mouse.q, b); break; /* aux output buffer */
	case 0xd4: if (k->has_aux) ps2_mouse_write(&st->mouse, b); break;
	default:
		/* a keyboard reset also drops a key byte still in the output buffer */
		if (b == 0xff && !st->kbd.pending && (st->status & (STS_OBF | STS_AUX_OBF)) == STS_OBF)
			st->status &= ~STS_OBF;
		ps2_kbd_write(&st->kbd, b, st->ctr & CTR_XLATE);
		break;
	}
}

void i8042_data_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	struct i8042_state *st = &k->st;
	pthread_mutex_lock(&k->lock);
	stat_add(&k->read_count, 1);
	data[0] = (st->status & STS_OBF) ? st->out : 0;
	for (uint32_t i = 1; i < len; i++)
		data[i] = 0xff;
	st->status &= ~(STS_OBF | STS_AUX_OBF);
	/* IRQ 1 and 12 are edge-triggered: drop the line so the next byte makes a new edge. */
	if (st->irq_level) {
		st->irq_level = 0;
		irq_line_set(&k->irq, 0);
	}
	if (st->aux_irq_level) {
		st->aux_irq_level = 0;
		irq_line_set(&k->aux_irq, 0);
	}
	if (k->has_aux && !(st->ctr & CTR_AUX_DISABLE))
		ps2_mouse_flush(&st->mouse);   /* motion kept while the queue was full */
	update(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_data_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	stat_add(&k->write_count, 1);
	k->st.status &= ~STS_CMD;
	data_byte(k, data[0]);
	update(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_cmd_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	stat_add(&k->read_count, 1);
	data[0] = k->st.status;
	for (uint32_t i = 1; i < len; i++)
		data[i] = 0xff;
	pthread_mutex_unlock(&k->lock);
}

void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	stat_add(&k->write_count, 1);
	k->st.status |= STS_CMD;
	command(k, data[0]);
	update(k);
	pthread_mutex_unlock(&k->lock);
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* Ctrl, Alt, Del pressed, then released in reverse order; sent even to a keyboard the
	 * driver disabled (what Firecracker's SendCtrlAltDel always did) */
	static const uint16_t keys[] = { 0x1d, 0x38, 0x53 };
	struct ps2_kbd_state *kb = &k->st.kbd;
	pthread_mutex_lock(&k->lock);
	struct ps2_queue saved = kb->q;
	bool was_disabled = kb->disabled, xlate = k->st.ctr & CTR_XLATE;
	int err = 0;
	kb->disabled = false;
	for (int i = 0; !err && i < 6; i++)
		err = ps2_kbd_key(kb, keys[i < 3 ? i : 5 - i], i < 3, xlate);
	kb->disabled = was_disabled;
	if (err) {
		kb->q = saved;   /* all or nothing */
		err = -ENOSPC;
	} else {
		stat_add(&k->ctrl_alt_del_count, 1);
	}
	update(k);
	pthread_mutex_unlock(&k->lock);
	return err;
}

void i8042_key(struct i8042 *k, uint16_t xt, bool down)
{
	pthread_mutex_lock(&k->lock);
	if ((k->st.ctr & CTR_KBD_DISABLE) || ps2_kbd_key(&k->st.kbd, xt, down, k->st.ctr & CTR_XLATE) < 0)
		stat_add(&k->keys_dropped, 1);
	update(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_mouse(struct i8042 *k, int32_t dx, int32_t dy, int32_t dz, uint8_t buttons)
{
	if (!k->has_aux)
		return;
	pthread_mutex_lock(&k->lock);
	if (!(k->st.ctr & CTR_AUX_DISABLE))
		ps2_mouse_move(&k->st.mouse, dx, dy, dz, buttons);
	update(k);
	pthread_mutex_unlock(&k->lock);
}
