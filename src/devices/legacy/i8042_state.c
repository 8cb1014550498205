/* The i8042's saved state (section I804, docs/snapshots.md): the controller, its keyboard and
 * its mouse. Version 1 (before the PS/2 devices: one 16-byte output queue) still loads. */
#include "devices/legacy/i8042.h"
#include "devices/dev_state.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

#define V1_QUEUE_LEN 16

static void put_queue(struct enc *e, const struct ps2_queue *q)
{
	put_bytes(e, q->data, sizeof(q->data));
	put_u8(e, q->head);
	put_u8(e, q->count);
}

static void get_queue(struct dec *d, struct ps2_queue *q)
{
	get_bytes(d, q->data, sizeof(q->data));
	q->head = get_u8(d);
	q->count = get_u8(d);
}

static void i8042_save_state(void *dev, struct enc *e)
{
	struct i8042 *k = dev;
	pthread_mutex_lock(&k->lock);
	struct i8042_state st = k->st;
	bool has_aux = k->has_aux;
	pthread_mutex_unlock(&k->lock);
	put_u8(e, st.ctr);
	put_u8(e, st.status);
	put_u8(e, st.pending_cmd);
	put_u8(e, st.out);
	put_u8(e, st.irq_level);
	put_u8(e, st.aux_irq_level);
	put_queue(e, &st.kbd.q);
	put_u8(e, st.kbd.pending);
	put_u8(e, st.kbd.set);
	put_u8(e, st.kbd.leds);
	put_bool(e, st.kbd.disabled);
	put_bool(e, has_aux);
	const struct ps2_mouse_state *m = &st.mouse;
	put_queue(e, &m->q);
	put_u8(e, m->pending);
	put_u8(e, m->id);
	put_u8(e, m->rate);
	put_u8(e, m->resolution);
	put_bytes(e, m->rates, sizeof(m->rates));
	put_bool(e, m->reporting);
	put_bool(e, m->remote);
	put_bool(e, m->wrap);
	put_bool(e, m->scale21);
	put_u8(e, m->buttons);
	put_u32(e, (uint32_t)m->dx);
	put_u32(e, (uint32_t)m->dy);
	put_u32(e, (uint32_t)m->dz);
}

/* Version 1: ctr, status, pending_cmd, the keyboard's pending command, a 16-byte queue (head,
 * count) of what the guest reads next, the IRQ 1 level. */
static int load_v1(struct dec *d, struct i8042_state *st, char *err, size_t errlen)
{
	uint8_t q[V1_QUEUE_LEN];
	st->ctr = get_u8(d);
	st->status = get_u8(d);
	st->pending_cmd = get_u8(d);
	st->kbd.pending = get_u8(d);
	get_bytes(d, q, sizeof(q));
	uint8_t head = get_u8(d), count = get_u8(d);
	st->irq_level = get_u8(d);
	int e = dec_end(d, "i8042 (I804)", err, errlen);
	if (e < 0)
		return e;
	if (head >= V1_QUEUE_LEN || count > V1_QUEUE_LEN)
		return error_set(err, errlen, -EINVAL, "i8042: saved output queue at %u with %u bytes (of %u)", head,
				 count, V1_QUEUE_LEN);
	st->kbd.set = 2;
	st->status &= (uint8_t)~0x21;   /* OBF from the queue, below */
	for (unsigned i = 0; i < count; i++)
		ps2_push1(&st->kbd.q, q[(head + i) % V1_QUEUE_LEN]);
	if (st->kbd.q.count) {
		st->out = ps2_pop(&st->kbd.q);
		st->status |= 0x01;
	}
	return 0;
}

static int i8042_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	struct i8042 *k = dev;
	struct i8042_state st = { 0 };
	ps2_mouse_reset(&st.mouse);
	if (version == 1) {
		int e = load_v1(d, &st, err, errlen);
		return e < 0 ? e : i8042_restore(k, &st, err, errlen);
	}
	st.ctr = get_u8(d);
	st.status = get_u8(d);
	st.pending_cmd = get_u8(d);
	st.out = get_u8(d);
	st.irq_level = get_u8(d);
	st.aux_irq_level = get_u8(d);
	get_queue(d, &st.kbd.q);
	st.kbd.pending = get_u8(d);
	st.kbd.set = get_u8(d);
	st.kbd.leds = get_u8(d);
	st.kbd.disabled = get_bool(d);
	bool has_aux = get_bool(d);
	struct ps2_mouse_state *m = &st.mouse;
	get_queue(d, &m->q);
	m->pending = get_u8(d);
	m->id = get_u8(d);
	m->rate = get_u8(d);
	m->resolution = get_u8(d);
	get_bytes(d, m->rates, sizeof(m->rates));
	m->reporting = get_bool(d);
	m->remote = get_bool(d);
	m->wrap = get_bool(d);
	m->scale21 = get_bool(d);
	m->buttons = get_u8(d);
	m->dx = (int32_t)get_u32(d);
	m->dy = (int32_t)get_u32(d);
	m->dz = (int32_t)get_u32(d);
	int e = dec_end(d, "i8042 (I804)", err, errlen);
	if (e < 0)
		return e;
	if (has_aux != k->has_aux)
		return error_set(err, errlen, -EINVAL, "i8042: saved %s a PS/2 mouse, this machine has %s",
				 has_aux ? "with" : "without", k->has_aux ? "one" : "none");
	return i8042_restore(k, &st, err, errlen);
}

const struct dev_state_ops i8042_state_ops = {
	.id = STATE_ID('I', '8', '0', '4'), .version = 2, .min_version = 1,
	.save = i8042_save_state, .load = i8042_load_state,
};
