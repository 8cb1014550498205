/* virtio-input as a tablet: see input.h. */
#include "devices/virtio/input.h"
#include "devices/dev_state.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

enum {
	CFG_UNSET = 0x00, CFG_ID_NAME = 0x01, CFG_ID_SERIAL = 0x02, CFG_ID_DEVIDS = 0x03,
	CFG_PROP_BITS = 0x10, CFG_EV_BITS = 0x11, CFG_ABS_INFO = 0x12,
};

static struct virtio_input *to_input(struct virtio_dev *d)
{
	return (struct virtio_input *)((char *)d - offsetof(struct virtio_input, vdev));
}

static void put_le(uint8_t *p, uint32_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void set_bit(uint8_t *bitmap, unsigned bit, uint8_t *size)
{
	bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
	if (bit / 8 + 1u > *size)
		*size = (uint8_t)(bit / 8 + 1);
}

void virtio_input_config_image(const struct virtio_input_state *st, uint8_t c[VIRTIO_INPUT_CONFIG_LEN])
{
	static const char name[] = "petrel tablet";
	memset(c, 0, VIRTIO_INPUT_CONFIG_LEN);
	c[0] = st->select;
	c[1] = st->subsel;
	uint8_t *u = c + 8, size = 0;
	switch (st->select) {
	case CFG_ID_NAME:
		if (st->subsel == 0) {
			memcpy(u, name, sizeof(name) - 1);
			size = sizeof(name) - 1;
		}
		break;
	case CFG_ID_DEVIDS:
		if (st->subsel == 0) {  /* BUS_VIRTUAL, QEMU's vendor and tablet ids */
			put_le(u, 0x06, 2);
			put_le(u + 2, 0x0627, 2);
			put_le(u + 4, 0x0003, 2);
			put_le(u + 6, 0x0001, 2);
			size = 8;
		}
		break;
	case CFG_EV_BITS:
		if (st->subsel == EV_KEY) {
			set_bit(u, BTN_LEFT, &size);
			set_bit(u, BTN_RIGHT, &size);
			set_bit(u, BTN_MIDDLE, &size);
		} else if (st->subsel == EV_REL) {
			set_bit(u, REL_WHEEL, &size);
		} else if (st->subsel == EV_ABS) {
			set_bit(u, ABS_X, &size);
			set_bit(u, ABS_Y, &size);
		}
		break;
	case CFG_ABS_INFO:
		if (st->subsel == ABS_X || st->subsel == ABS_Y) {
			put_le(u, 0, 4);                          /* min */
			put_le(u + 4, VIRTIO_INPUT_ABS_MAX, 4);   /* max; fuzz, flat, res 0 */
			size = 20;
		}
		break;
	default: /* UNSET, the serial number, property bits: nothing */
		break;
	}
	c[2] = size;
}

static void input_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	uint8_t c[VIRTIO_INPUT_CONFIG_LEN];
	virtio_input_config_image(&to_input(d)->st, c);
	memcpy(data, c + off, len);
}

static void input_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_input *v = to_input(d);
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == 0)
			v->st.select = data[i];
		else if (off + i == 1)
			v->st.subsel = data[i];
	}
}

/* ---- events to the driver ---- */

static bool has_events(void *ctx)
{
	return ((struct virtio_input *)ctx)->st.count > 0;
}

static int event_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_input *v = ctx;
	struct virtio_input_event *ev = &v->st.pending[v->st.head];
	uint8_t b[8];
	put_le(b, ev->type, 2);
	put_le(b + 2, ev->code, 2);
	put_le(b + 4, ev->value, 4);
	uint32_t done = 0;
	for (unsigned i = 0; i < c->n_in && done < sizeof(b); i++) {
		struct iovec *io = &c->iov[c->n_out + i];
		size_t n = io->iov_len < sizeof(b) - done ? io->iov_len : sizeof(b) - done;
		memcpy(io->iov_base, b + done, n);
		done += (uint32_t)n;
	}
	if (done < sizeof(b)) /* a buffer too small for an event: the driver's bug, not ours */
		log_limited(LOG_WARN, "%s: an event buffer of %u bytes (8 needed)", d->name, done);
	v->st.head = (uint16_t)((v->st.head + 1) % VIRTIO_INPUT_PENDING);
	v->st.count--;
	v->events++;
	virtq_push(&d->vq[q], c->head, done);
	return VIRTIO_SERVE_PUSHED;
}

/* The status queue: LED changes and the like, read and dropped. */
static int status_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	virtq_push(&d->vq[q], c->head, 0);
	return VIRTIO_SERVE_PUSHED;
}

static void input_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_input *v = to_input(d);
	if (q == 1) {
		virtio_serve_queue(d, q, &v->chain, 0, status_chain, v);
		return;
	}
	v->waiting = false;
	struct virtio_server s = { .chain = event_chain, .ctx = v, .has_data = has_events, .waiting = &v->waiting };
	virtio_serve(d, 0, &v->chain, &s);
}

static void input_reset(struct virtio_dev *d)
{
	struct virtio_input *v = to_input(d);
	v->st.head = v->st.count = 0;
	v->st.buttons = 0;
	v->waiting = false;
}

/* ---- from the host ---- */

static int queue_events(struct virtio_input_state *st, const struct virtio_input_event *ev, unsigned n)
{
	if ((unsigned)(VIRTIO_INPUT_PENDING - st->count) < n)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		st->pending[(st->head + st->count++) % VIRTIO_INPUT_PENDING] = ev[i];
	return 0;
}

void virtio_input_tablet(struct virtio_input *v, uint32_t x, uint32_t y, uint8_t buttons, int32_t wheel)
{
	static const uint16_t btn[3] = { BTN_LEFT, BTN_RIGHT, BTN_MIDDLE };
	struct virtio_input_event ev[8];
	unsigned n = 0;
	ev[n++] = (struct virtio_input_event){ EV_ABS, ABS_X, x > VIRTIO_INPUT_ABS_MAX ? VIRTIO_INPUT_ABS_MAX : x };
	ev[n++] = (struct virtio_input_event){ EV_ABS, ABS_Y, y > VIRTIO_INPUT_ABS_MAX ? VIRTIO_INPUT_ABS_MAX : y };
	struct virtio_dev *d = &v->vdev;
	pthread_mutex_lock(&d->lock);
	for (unsigned b = 0; b < 3; b++)
		if ((buttons ^ v->st.buttons) & (1u << b))
			ev[n++] = (struct virtio_input_event){ EV_KEY, btn[b], (buttons >> b) & 1u };
	if (wheel)
		ev[n++] = (struct virtio_input_event){ EV_REL, REL_WHEEL, (uint32_t)(wheel > 0 ? 1 : -1) };
	ev[n++] = (struct virtio_input_event){ EV_SYN, SYN_REPORT, 0 };
	bool run = virtio_is_running(d);
	if (run && queue_events(&v->st, ev, n) == 0)
		v->st.buttons = buttons & 7;
	else if (run)
		v->dropped++;
	pthread_mutex_unlock(&d->lock);
	if (run)
		virtio_queue_kick(d, 0);
}

bool virtio_input_ready(struct virtio_input *v)
{
	pthread_mutex_lock(&v->vdev.lock);
	bool r = virtio_is_running(&v->vdev);
	pthread_mutex_unlock(&v->vdev.lock);
	return r;
}

/* ---- saved state (the device's part of its VIRT section's device; docs/snapshots.md) ---- */

static void input_save_state(void *dev, struct enc *e)
{
	struct virtio_input *v = to_input(dev);
	pthread_mutex_lock(&v->vdev.lock);
	struct virtio_input_state st = v->st;
	pthread_mutex_unlock(&v->vdev.lock);
	put_u8(e, st.select);
	put_u8(e, st.subsel);
	put_u8(e, st.buttons);
	put_u16(e, st.count);
	for (unsigned i = 0; i < st.count; i++) {
		const struct virtio_input_event *ev = &st.pending[(st.head + i) % VIRTIO_INPUT_PENDING];
		put_u16(e, ev->type);
		put_u16(e, ev->code);
		put_u32(e, ev->value);
	}
}

static int input_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_input *v = to_input(dev);
	struct virtio_input_state st = { 0 };
	st.select = get_u8(d);
	st.subsel = get_u8(d);
	st.buttons = get_u8(d);
	st.count = get_u16(d);
	if (!d->err && st.count > VIRTIO_INPUT_PENDING)
		return error_set(err, errlen, -EINVAL, "%s: %u saved events (at most %u)", v->vdev.name, st.count,
				 VIRTIO_INPUT_PENDING);
	for (unsigned i = 0; i < st.count && !d->err; i++) {
		st.pending[i].type = get_u16(d);
		st.pending[i].code = get_u16(d);
		st.pending[i].value = get_u32(d);
	}
	int e = dec_end(d, v->vdev.name, err, errlen);
	if (e < 0)
		return e;
	if (st.buttons > 7)
		return error_set(err, errlen, -EINVAL, "%s: saved buttons %#x", v->vdev.name, st.buttons);
	pthread_mutex_lock(&v->vdev.lock);
	v->st = st;
	pthread_mutex_unlock(&v->vdev.lock);
	return 0;
}

static const struct dev_state_ops input_state_ops = {
	.id = STATE_ID('V', 'I', 'N', 'P'), .version = 1,
	.save = input_save_state, .load = input_load_state,
};

static const struct virtio_dev_ops input_ops = {
	.config_read = input_config_read,
	.config_write = input_config_write,
	.reset = input_reset,
	.queue_notify = input_queue_notify,
	.state = &input_state_ops,
};

int virtio_input_create(struct virtio_input *v, const struct guest_mem *mem, struct io_thread *io)
{
	memset(v, 0, sizeof(*v));
	int err = virtio_dev_init(&v->vdev, "virtio-tablet0", VIRTIO_ID_INPUT, VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 2,
				  VIRTIO_INPUT_QUEUE_SIZE, VIRTIO_INPUT_CONFIG_LEN, &input_ops, mem, io);
	if (err < 0)
		virtio_dev_destroy(&v->vdev);
	return err;
}
