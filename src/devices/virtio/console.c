/* virtio-console with MULTIPORT: the device, its control queues and its saved state (see
 * console.h); a port's byte stream is console_port.c's. */
#include "devices/virtio/console_int.h"
#include "devices/dev_state.h"
#include "devices/dev_stats.h"
#include "util/codec.h"
#include "util/error.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/stat.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct virtio_console *to_vcon(struct virtio_dev *d)
{
	return (struct virtio_console *)((char *)d - offsetof(struct virtio_console, vdev));
}

static void vcon_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	uint8_t cfg[VCON_CONFIG_LEN] = { 0 };   /* cols, rows (no F_SIZE), max_nr_ports, emerg_wr */
	le_store(cfg + 4, to_vcon(d)->nports, 4);
	memcpy(data, cfg + off, len);
}

/* ---- control messages to the driver: derived from the ports' state, so what is pending is
 * bounded by the ports whatever the driver does ---- */

struct ctrl_msg {
	unsigned port;
	uint16_t event, value;
};

static bool ctrl_next(const struct virtio_console *c, struct ctrl_msg *m)
{
	if (!c->device_ready)
		return false;
	for (unsigned n = 1; n < c->nports; n++) {
		const struct vcon_port *p = &c->ports[n];
		bool host = vcon_port_host_connected(p);
		if (!p->st.announced)
			*m = (struct ctrl_msg){ n, VIRTIO_CONSOLE_DEVICE_ADD, 1 };
		else if (p->st.ready && !p->st.named)
			*m = (struct ctrl_msg){ n, VIRTIO_CONSOLE_PORT_NAME, 1 };
		else if (p->st.named && (host != p->st.told_open || p->resend_open))
			*m = (struct ctrl_msg){ n, VIRTIO_CONSOLE_PORT_OPEN, host };
		else
			continue;
		return true;
	}
	return false;
}

static bool ctrl_has_data(void *ctx)
{
	struct ctrl_msg m;
	return ctrl_next(ctx, &m);
}

static int ctrl_rx_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *ch, void *ctx)
{
	struct virtio_console *c = ctx;
	struct ctrl_msg m;
	if (!ctrl_next(c, &m)) {
		virtq_unpop(&d->vq[q], 1);
		return VIRTIO_SERVE_STOP;
	}
	struct vcon_port *p = &c->ports[m.port];
	uint8_t buf[VCON_CTRL_HDR + VCON_NAME_MAX + 1];
	size_t len = VCON_CTRL_HDR;
	le_store(buf, m.port, 4);
	le_store(buf + 4, m.event, 2);
	le_store(buf + 6, m.value, 2);
	if (m.event == VIRTIO_CONSOLE_PORT_NAME) {   /* the name and a NUL, as QEMU sends it */
		size_t n = strlen(p->st.name) + 1;
		memcpy(buf + len, p->st.name, n);
		len += n;
	}
	if (ch->in_len < len) {
		stat_add(&c->stats.ctrl_bad, 1);
		log_limited(LOG_WARN, "%s: a control buffer of %llu bytes for a message of %zu", d->name,
			    (unsigned long long)ch->in_len, len);
		virtq_push(&d->vq[q], ch->head, 0);  /* the message waits for the next buffer */
		return VIRTIO_SERVE_PUSHED;
	}
	iov_copy_at(ch->iov + ch->n_out, ch->n_in, 0, buf, len, true);
	virtq_push(&d->vq[q], ch->head, (uint32_t)len);
	stat_add(&c->stats.ctrl_out, 1);
	if (m.event == VIRTIO_CONSOLE_DEVICE_ADD)
		p->st.announced = true;
	else if (m.event == VIRTIO_CONSOLE_PORT_NAME)
		p->st.named = true;
	else {
		p->st.told_open = m.value;
		p->resend_open = false;
	}
	return VIRTIO_SERVE_PUSHED;
}

void vcon_ctrl_serve(struct virtio_console *c)
{
	struct virtio_dev *d = &c->vdev;
	if (!virtio_is_running(d) || !virtq_is_enabled(&d->vq[VCON_CTRL_RXQ]))
		return;
	struct virtio_server s = { .chain = ctrl_rx_chain, .ctx = c, .has_data = ctrl_has_data,
				   .waiting = &c->ctrl_waiting };
	virtio_serve(d, VCON_CTRL_RXQ, &c->chain, &s);
}

/* ---- control messages from the driver (untrusted) ---- */

static void refuse(struct virtio_console *c, uint32_t id, uint16_t event, uint16_t value, const char *why)
{
	stat_add(&c->stats.ctrl_bad, 1);
	log_limited(LOG_WARN, "%s: control message refused (port %u, event %u, value %u): %s", c->vdev.name, id,
		    event, value, why);
}

static void ctrl_handle(struct virtio_console *c, uint32_t id, uint16_t event, uint16_t value)
{
	struct vcon_port *p = id >= 1 && id < c->nports ? &c->ports[id] : NULL;
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (!value)
			return refuse(c, id, event, value, "the driver could not set the device up");
		if (c->device_ready)
			return refuse(c, id, event, value, "DEVICE_READY again");
		c->device_ready = true;
		return;
	case VIRTIO_CONSOLE_PORT_READY:
		if (!p || !p->st.announced)
			return refuse(c, id, event, value, "no such port announced");
		if (!value) {
			log_limited(LOG_WARN, "%s: the driver could not add port %u (%s)", c->vdev.name, id, p->st.name);
			p->st.ready = false;
			return;
		}
		p->st.ready = true;   /* again (a DEVICE_ADD answered twice): nothing new */
		return;
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (!p || !p->st.ready)
			return refuse(c, id, event, value, "no such port ready");
		__atomic_store_n(&p->st.guest_open, value != 0, __ATOMIC_RELEASE);
		log_limited(LOG_INFO, "%s: the guest %s port %u (%s)", c->vdev.name, value ? "opened" : "closed", id,
			    p->st.name);
		vcon_port_serve(c, id);
		return;
	default:
		return refuse(c, id, event, value, "not an event a driver sends");
	}
}

static int ctrl_tx_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *ch, void *ctx)
{
	struct virtio_console *c = ctx;
	uint8_t m[VCON_CTRL_HDR];
	size_t got = iov_copy_at(ch->iov, ch->n_out, 0, m, sizeof(m), false);
	virtq_push(&d->vq[q], ch->head, 0);
	stat_add(&c->stats.ctrl_in, 1);
	if (got < sizeof(m))
		refuse(c, 0, 0, 0, "a control message shorter than 8 bytes");
	else
		ctrl_handle(c, (uint32_t)le_load(m, 4), (uint16_t)le_load(m + 4, 2), (uint16_t)le_load(m + 6, 2));
	return VIRTIO_SERVE_PUSHED;
}

static void vcon_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_console *c = to_vcon(d);
	if (q == VCON_CTRL_TXQ)
		virtio_serve_queue(d, q, &c->chain, 0, ctrl_tx_chain, c);
	if (q == VCON_CTRL_RXQ || q == VCON_CTRL_TXQ) {
		c->ctrl_waiting = false;
		vcon_ctrl_serve(c);
		return;
	}
	unsigned n = q < 2 ? 0 : (q - 4) / 2 + 1;
	if (n < c->nports) {
		if (q == VCON_RXQ(n))
			c->ports[n].rx_waiting = false;
		vcon_port_serve(c, n);
	}
}

static void vcon_reset(struct virtio_dev *d)
{
	struct virtio_console *c = to_vcon(d);
	c->device_ready = c->ctrl_waiting = false;
	for (unsigned n = 0; n < c->nports; n++)
		vcon_port_reset(&c->ports[n]);
}

static void vcon_destroy(struct virtio_dev *d)
{
	struct virtio_console *c = to_vcon(d);
	for (unsigned n = 0; n < VCON_MAX_PORTS; n++)
		vcon_port_destroy(c, n);
	if (c->stats.ctrl_bad)
		log_info("%s: %llu control messages refused", d->name, (unsigned long long)c->stats.ctrl_bad);
}

/* After a restore the host side is new (a socketpair made again, a socket listening again):
 * tell the driver its state whatever it was told before; the I/O thread does it. */
static void vcon_restored(struct virtio_dev *d)
{
	struct virtio_console *c = to_vcon(d);
	for (unsigned n = 1; n < c->nports; n++)
		c->ports[n].resend_open = c->ports[n].st.named;
	virtio_queue_kick(d, VCON_CTRL_RXQ);
	for (unsigned n = 0; n < c->nports; n++)
		virtio_queue_kick(d, VCON_RXQ(n));
}

/* ---- saved state (section VCON, docs/snapshots.md) ---- */

static void vcon_save_state(void *dev, struct enc *e)
{
	struct virtio_console *c = to_vcon(dev);
	pthread_mutex_lock(&c->vdev.lock);
	put_u8(e, (uint8_t)c->nports);
	put_bool(e, c->device_ready);
	for (unsigned n = 1; n < c->nports; n++) {
		const struct vcon_port *p = &c->ports[n];
		size_t len = strlen(p->st.name);
		put_u8(e, (uint8_t)len);
		put_bytes(e, p->st.name, len);
		put_bool(e, p->st.announced);
		put_bool(e, p->st.ready);
		put_bool(e, p->st.named);
		put_bool(e, p->st.told_open);
		put_bool(e, __atomic_load_n(&p->st.guest_open, __ATOMIC_RELAXED));
		put_u32(e, p->st.tx_done);
		put_u32(e, (uint32_t)p->len);
		size_t first = p->len < VCON_BUF_SIZE - p->head ? p->len : VCON_BUF_SIZE - p->head;
		put_bytes(e, p->buf + p->head, first);
		put_bytes(e, p->buf, p->len - first);
	}
	pthread_mutex_unlock(&c->vdev.lock);
}

#define VCON_TX_DONE_MAX (1u << 30)

struct saved_port {
	struct vcon_port_state st;
	uint32_t len;
};

/* One port's saved state into sp (its bytes into buf): checked against the port as built. */
static int load_port(struct virtio_console *c, unsigned n, struct dec *d, bool device_ready, struct saved_port *sp,
		     uint8_t *buf, char *err, size_t errlen)
{
	const char *name = c->ports[n].st.name;
	unsigned len = get_u8(d);
	char saved[VCON_NAME_MAX + 1] = "";
	if (len <= VCON_NAME_MAX)
		get_bytes(d, saved, len);
	if (!d->err && (len > VCON_NAME_MAX || strlen(saved) != len || strcmp(saved, name)))
		return error_set(err, errlen, -EINVAL, "%s: port %u is '%s' here, the saved one is another ('%.*s')",
				 c->vdev.name, n, name, len <= VCON_NAME_MAX ? (int)len : 0, saved);
	struct vcon_port_state *s = &sp->st;
	s->announced = get_bool(d);
	s->ready = get_bool(d);
	s->named = get_bool(d);
	s->told_open = get_bool(d);
	s->guest_open = get_bool(d);
	s->tx_done = get_u32(d);
	sp->len = get_u32(d);
	if (d->err)
		return error_set(err, errlen, -EINVAL, "%s: port %u's state is cut short", c->vdev.name, n);
	if ((s->announced && !device_ready) || (s->ready && !s->announced) || (s->named && !s->ready) ||
	    (s->told_open && !s->named) || (s->guest_open && !s->ready))
		return error_set(err, errlen, -EINVAL,
				 "%s: port %u's saved state does not hold together (device ready %d, announced %d, "
				 "ready %d, named %d, told open %d, guest open %d)",
				 c->vdev.name, n, device_ready, s->announced, s->ready, s->named, s->told_open,
				 s->guest_open);
	if (s->tx_done > VCON_TX_DONE_MAX)
		return error_set(err, errlen, -EINVAL, "%s: port %u: %u bytes of a chain written, more than %u",
				 c->vdev.name, n, s->tx_done, VCON_TX_DONE_MAX);
	if (sp->len > VCON_BUF_SIZE)
		return error_set(err, errlen, -EINVAL, "%s: port %u: %u bytes buffered, more than %d", c->vdev.name, n,
				 sp->len, VCON_BUF_SIZE);
	get_bytes(d, buf, sp->len);
	return d->err ? error_set(err, errlen, -EINVAL, "%s: port %u's bytes are cut short", c->vdev.name, n) : 0;
}

static int vcon_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_console *c = to_vcon(dev);
	unsigned nports = get_u8(d);
	bool device_ready = get_bool(d);
	if (d->err)
		return error_set(err, errlen, -EINVAL, "%s: the saved state is cut short", c->vdev.name);
	if (nports != c->nports)
		return error_set(err, errlen, -EINVAL, "%s: %u ports here, %u in the saved state", c->vdev.name,
				 c->nports - 1, nports ? nports - 1 : 0);
	struct saved_port sp[VCON_MAX_PORTS] = { 0 };
	uint8_t *bufs = malloc((size_t)VCON_MAX_PORTS * VCON_BUF_SIZE);
	if (!bufs)
		return error_oom(err, errlen);
	int r = 0;
	for (unsigned n = 1; r == 0 && n < nports; n++)
		r = load_port(c, n, d, device_ready, &sp[n], bufs + (size_t)n * VCON_BUF_SIZE, err, errlen);
	if (r == 0)
		r = dec_end(d, c->vdev.name, err, errlen);
	if (r == 0) {
		pthread_mutex_lock(&c->vdev.lock);
		c->device_ready = device_ready;
		for (unsigned n = 1; n < nports; n++) {
			struct vcon_port *p = &c->ports[n];
			bool open = sp[n].st.guest_open;
			memcpy(sp[n].st.name, p->st.name, sizeof(p->st.name));
			p->st = sp[n].st;
			__atomic_store_n(&p->st.guest_open, open, __ATOMIC_RELEASE);
			memcpy(p->buf, bufs + (size_t)n * VCON_BUF_SIZE, sp[n].len);
			p->head = 0;
			p->len = sp[n].len;
		}
		pthread_mutex_unlock(&c->vdev.lock);
	}
	free(bufs);
	return r;
}

static const struct dev_state_ops vcon_state_ops = {
	.id = STATE_ID('V', 'C', 'O', 'N'), .version = 1,
	.save = vcon_save_state, .load = vcon_load_state,
};

static const struct virtio_dev_ops vcon_ops = {
	.config_read = vcon_config_read,
	.reset = vcon_reset,
	.queue_notify = vcon_queue_notify,
	.destroy = vcon_destroy,
	.state = &vcon_state_ops,
	.restored = vcon_restored,
};

int virtio_console_create(struct virtio_console *c, const struct vcon_port_params *ports, unsigned nports,
			  struct guest_mem *mem, struct io_thread *io, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	for (unsigned n = 0; n < VCON_MAX_PORTS; n++)
		c->ports[n] = (struct vcon_port){ .owner = c, .index = n, .fd = -1, .listen_fd = -1 };
	/* the fds handed over are the device's from now on, whatever happens */
	if (nports + 1 > VCON_MAX_PORTS) {
		for (unsigned i = 0; i < nports; i++)
			if (ports[i].fd >= 0)
				close(ports[i].fd);
		return error_set(err, errlen, -EINVAL, "virtio-console: %u ports, at most %d", nports,
				 VCON_MAX_PORTS - 1);
	}
	for (unsigned i = 0; i < nports; i++)
		c->ports[i + 1].fd = ports[i].fd;
	c->nports = nports + 1;
	int r = virtio_dev_init(&c->vdev, "virtio-console", VIRTIO_ID_CONSOLE, VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT),
				4 + 2 * nports, VCON_QUEUE_SIZE, VCON_CONFIG_LEN, &vcon_ops, mem, io);
	if (r < 0) {
		virtio_dev_destroy(&c->vdev);
		vcon_destroy(&c->vdev);
		return error_set(err, errlen, r, "virtio-console: %s", strerror(-r));
	}
	for (unsigned n = 0; r == 0 && n < c->nports; n++)
		r = vcon_port_init(c, n, n ? &ports[n - 1] : &(struct vcon_port_params){ 0 }, err, errlen);
	if (r < 0) {
		virtio_dev_destroy(&c->vdev);
		return r;
	}
	return 0;
}

bool virtio_console_port_guest_open(struct virtio_console *c, const char *name)
{
	for (unsigned n = 1; n < c->nports; n++)    /* names and nports do not change after create */
		if (!strcmp(c->ports[n].st.name, name))
			return __atomic_load_n(&c->ports[n].st.guest_open, __ATOMIC_ACQUIRE);
	return false;
}

/* ---- the metrics' counters ---- */

static const char *const counter_names[] = { "ctrl_in", "ctrl_out", "ctrl_refused", "connects", "rx_bytes",
					     "tx_bytes", "tx_dropped" };

static void read_counters(void *dev, uint64_t *v)
{
	const struct virtio_console *c = dev;
	v[0] = stat_read(&c->stats.ctrl_in);
	v[1] = stat_read(&c->stats.ctrl_out);
	v[2] = stat_read(&c->stats.ctrl_bad);
	v[3] = stat_read(&c->stats.connects);
	v[4] = v[5] = v[6] = 0;
	for (unsigned n = 0; n < VCON_MAX_PORTS; n++) {
		v[4] += stat_read(&c->ports[n].rx_bytes);
		v[5] += stat_read(&c->ports[n].tx_bytes);
		v[6] += stat_read(&c->ports[n].dropped);
	}
}

const struct dev_stats_ops virtio_console_stats_ops = {
	.group = "console", .n = 7, .names = counter_names, .read = read_counters,
};
