#include "devices/legacy/i8042.h"
#include "devices/dev_state.h"
#include "util/error.h"
#include "util/stat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum {
	STS_OBF = 0x01, STS_SYS = 0x04, STS_CMD = 0x08, STS_UNLOCKED = 0x10,
	CTR_KBD_INT = 0x01, CTR_SYS = 0x04, CTR_KBD_DISABLE = 0x10, CTR_AUX_DISABLE = 0x20,
	CTR_XLATE = 0x40,
};

static void power_on(struct i8042_state *st)
{
	memset(st, 0, sizeof(*st));
	st->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE | CTR_AUX_DISABLE;
	st->status = STS_SYS | STS_UNLOCKED;
}

void i8042_init(struct i8042 *k, struct irq_line irq, struct power_ctl power)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->irq = irq;
	k->power = power;
	power_on(&k->st);
}

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	power_on(&k->st);
	irq_line_set(&k->irq, 0);
	pthread_mutex_unlock(&k->lock);
}

static void update_irq(struct i8042 *k)
{
	uint8_t level = k->st.out_count && (k->st.ctr & CTR_KBD_INT);
	if (level != k->st.irq_level) {
		k->st.irq_level = level;
		irq_line_set(&k->irq, level);
	}
}

int i8042_restore(struct i8042 *k, const struct i8042_state *st, char *err, size_t errlen)
{
	if (st->out_head >= I8042_QUEUE_LEN || st->out_count > I8042_QUEUE_LEN)
		return error_set(err, errlen, -EINVAL, "i8042: saved output queue at %u with %u bytes (of %u)", st->out_head,
			 st->out_count, I8042_QUEUE_LEN);
	pthread_mutex_lock(&k->lock);
	k->st = *st;
	k->st.irq_level = 0;
	irq_line_set(&k->irq, 0);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int push(struct i8042_state *st, uint8_t b)
{
	if (st->out_count == I8042_QUEUE_LEN)
		return -ENOSPC;
	st->outq[(st->out_head + st->out_count) % I8042_QUEUE_LEN] = b;
	st->out_count++;
	st->status |= STS_OBF;
	return 0;
}

static uint8_t pop(struct i8042_state *st)
{
	if (!st->out_count)
		return 0;
	uint8_t b = st->outq[st->out_head];
	st->out_head = (st->out_head + 1) % I8042_QUEUE_LEN;
	if (--st->out_count == 0)
		st->status &= ~STS_OBF;
	return b;
}

static void flush_queue(struct i8042_state *st)
{
	st->out_count = 0;
	st->status &= ~STS_OBF;
}

/* A byte the guest sends to the keyboard itself (port 0x60 with no controller command). */
static void keyboard_byte(struct i8042_state *st, uint8_t b)
{
	if (st->kbd_pending) { /* argument of LEDs / typematic / scancode-set */
		uint8_t cmd = st->kbd_pending;
		st->kbd_pending = 0;
		push(st, 0xfa);
		if (cmd == 0xf0 && b == 0)
			push(st, 0x02); /* current scancode set */
		return;
	}
	switch (b) {
	case 0xff: /* reset */
		flush_queue(st);
		push(st, 0xfa);
		push(st, 0xaa);
		break;
	case 0xf2: /* identify: MF2 keyboard (translated id when translation is on) */
		push(st, 0xfa);
		push(st, 0xab);
		push(st, (st->ctr & CTR_XLATE) ? 0x41 : 0x83);
		break;
	case 0xed: case 0xf3: case 0xf0:
		st->kbd_pending = b;
		push(st, 0xfa);
		break;
	case 0xee: /* echo */
		push(st, 0xee);
		break;
	default: /* enable, disable, set defaults, ...: acknowledge */
		push(st, 0xfa);
		break;
	}
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
	case 0x20: push(st, st->ctr); break;                 /* read CTR */
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
		st->pending_cmd = cmd;                       /* data byte follows */
		break;
	case 0xa7: st->ctr |= CTR_AUX_DISABLE; break;
	case 0xa8: st->ctr &= ~CTR_AUX_DISABLE; break;
	case 0xa9: push(st, 0xff); break;                    /* aux interface test: no aux */
	case 0xaa: push(st, 0x55); break;                    /* controller self-test passed */
	case 0xab: push(st, 0x00); break;                    /* keyboard interface test ok */
	case 0xad: st->ctr |= CTR_KBD_DISABLE; break;
	case 0xae: st->ctr &= ~CTR_KBD_DISABLE; break;
	case 0xc0: push(st, 0x00); break;                    /* read input port */
	case 0xd0: push(st, 0x01); break;                    /* read output port: reset line high */
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
	case 0xd2: push(st, b); break;       /* write keyboard output buffer */
	case 0xd3: case 0xd4: break;         /* aux: there is no mouse */
	default: keyboard_byte(st, b); break;
	}
}

void i8042_data_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	stat_add(&k->read_count, 1);
	data[0] = pop(&k->st);
	for (uint32_t i = 1; i < len; i++)
		data[i] = 0xff;
	/* IRQ 1 is edge-triggered: drop the line so the next queued byte makes a new edge. */
	if (k->st.irq_level) {
		k->st.irq_level = 0;
		irq_line_set(&k->irq, 0);
	}
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_data_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	stat_add(&k->write_count, 1);
	k->st.status &= ~STS_CMD;
	data_byte(k, data[0]);
	update_irq(k);
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
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* Scancode set 1 (what the guest sees with translation on): Ctrl, Alt, Del pressed,
	 * then released in reverse order. */
	static const uint8_t seq[] = { 0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d };
	int err = 0;
	pthread_mutex_lock(&k->lock);
	if ((size_t)(I8042_QUEUE_LEN - k->st.out_count) < sizeof(seq))
		err = -ENOSPC;
	for (size_t i = 0; !err && i < sizeof(seq); i++)
		push(&k->st, seq[i]);
	if (!err)
		stat_add(&k->ctrl_alt_del_count, 1);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return err;
}

/* ---- saved state (section I804, docs/snapshots.md) ---- */

static void i8042_save_state(void *dev, struct enc *e)
{
	struct i8042 *k = dev;
	pthread_mutex_lock(&k->lock);
	struct i8042_state st = k->st;
	pthread_mutex_unlock(&k->lock);
	put_u8(e, st.ctr);
	put_u8(e, st.status);
	put_u8(e, st.pending_cmd);
	put_u8(e, st.kbd_pending);
	put_bytes(e, st.outq, sizeof(st.outq));
	put_u8(e, st.out_head);
	put_u8(e, st.out_count);
	put_u8(e, st.irq_level);
}

static int i8042_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct i8042_state st = { 0 };
	st.ctr = get_u8(d);
	st.status = get_u8(d);
	st.pending_cmd = get_u8(d);
	st.kbd_pending = get_u8(d);
	get_bytes(d, st.outq, sizeof(st.outq));
	st.out_head = get_u8(d);
	st.out_count = get_u8(d);
	st.irq_level = get_u8(d);
	int e = dec_end(d, "i8042 (I804)", err, errlen);
	return e < 0 ? e : i8042_restore(dev, &st, err, errlen);
}

const struct dev_state_ops i8042_state_ops = {
	.id = STATE_ID('I', '8', '0', '4'), .version = 1,
	.save = i8042_save_state, .load = i8042_load_state,
};
