/* SPDX-License-Identifier: Apache-2.0 */
/* A guest-side virtio-console MULTIPORT driver for the test guests: see virtio_console_lib.h. */
#include "virtio_console_lib.h"

#define QSIZE 16
#define NQ (4 + 2 * (VCG_MAX_PORTS - 1))

static struct vq queues[NQ];
static struct vq_mem qmem[NQ];
static uint8_t rxbuf[VCG_MAX_PORTS][VCG_RX_BUFS][VCG_RX_LEN] __attribute__((aligned(64)));
static uint8_t ctrlbuf[VCG_RX_BUFS][VCG_RX_LEN] __attribute__((aligned(64)));
static uint8_t ctrl_out[VCG_RX_LEN] __attribute__((aligned(64)));
static uint8_t tx_out[65536] __attribute__((aligned(4096)));

static unsigned rxq_of(unsigned port)
{
	return port == 0 ? 0 : 4 + 2 * (port - 1);
}

struct vq *vcg_txq(struct vcg *g, unsigned port)
{
	(void)g;
	return &queues[rxq_of(port) + 1];
}

static void post(struct vq *vq, void *buf)
{
	struct vbuf b = { buf, VCG_RX_LEN, true };
	vq_add(vq, &b, 1);
}

void vcg_init(struct vcg *g)
{
	memset(g, 0, sizeof(*g));
	g->mmio = vdev_find_on_cmdline_transport(VIRTIO_ID_CONSOLE, &g->dev);
	uint64_t feats;
	check(vdev_negotiate(&g->dev, VF_VERSION_1 | VCON_F_MULTIPORT, &feats), "device refused FEATURES_OK");
	check(feats & VCON_F_MULTIPORT, "the device does not offer MULTIPORT");
	g->max_nr_ports = vdev_cfg_read(&g->dev, 4, 4);
	check(g->max_nr_ports >= 1 && g->max_nr_ports <= 32, "max_nr_ports %u", g->max_nr_ports);
	g->nq_ports = g->max_nr_ports < VCG_MAX_PORTS ? g->max_nr_ports : VCG_MAX_PORTS;
	unsigned nq = 4 + 2 * (g->nq_ports - 1);
	for (unsigned q = 0; q < nq; q++)
		check(vq_setup(&g->dev, &queues[q], q, &qmem[q], QSIZE, 0xffff), "queue %u setup failed", q);
	vdev_driver_ok(&g->dev);
	for (unsigned i = 0; i < VCG_RX_BUFS; i++)
		post(&queues[2], ctrlbuf[i]);
	vq_kick(&queues[2]);
	for (unsigned p = 0; p < g->nq_ports; p++) {
		for (unsigned i = 0; i < VCG_RX_BUFS; i++)
			post(&queues[rxq_of(p)], rxbuf[p][i]);
		vq_kick(&queues[rxq_of(p)]);
	}
	check(vcg_ctrl_send(g, 0xffffffffu, VCON_DEVICE_READY, 1), "DEVICE_READY not taken");
}

bool vcg_ctrl_send_raw(struct vcg *g, const void *buf, uint32_t len)
{
	(void)g;
	if (len > sizeof(ctrl_out))
		len = sizeof(ctrl_out);
	memcpy(ctrl_out, buf, len);
	struct vbuf b = { ctrl_out, len, false };
	vq_add(&queues[3], &b, 1);
	vq_kick(&queues[3]);
	return vq_wait(&queues[3], NULL, NULL, 10);
}

bool vcg_ctrl_send(struct vcg *g, uint32_t id, uint16_t event, uint16_t value)
{
	uint8_t m[8];
	memcpy(m, &id, 4);
	memcpy(m + 4, &event, 2);
	memcpy(m + 6, &value, 2);
	return vcg_ctrl_send_raw(g, m, 8);
}

static void take(struct vcg *g, const uint8_t *m, uint32_t len)
{
	g->ctrl_msgs++;
	if (len < 8)
		return;
	uint32_t id;
	uint16_t ev, val;
	memcpy(&id, m, 4);
	memcpy(&ev, m + 4, 2);
	memcpy(&val, m + 6, 2);
	if (id >= g->max_nr_ports) {
		g->bad_ids++;
		return;
	}
	if (ev == VCON_DEVICE_ADD) {
		g->adds++;
		bool ok = id < g->nq_ports;
		if (ok)
			g->port[id].added = g->port[id].ready = true;
		vcg_ctrl_send(g, id, VCON_PORT_READY, ok);   /* as Linux: 0 when it cannot add it */
		return;
	}
	if (id >= g->nq_ports)
		return;
	struct vcg_port *p = &g->port[id];
	if (ev == VCON_PORT_NAME) {
		uint32_t n = len - 8 < VCG_NAME_MAX - 1 ? len - 8 : VCG_NAME_MAX - 1;
		memcpy(p->name, m + 8, n);
		p->name[n] = 0;
		p->names_seen++;
	} else if (ev == VCON_PORT_OPEN) {
		p->host_open = val != 0;
		p->opens_seen++;
	}
}

void vcg_poll(struct vcg *g)
{
	uint32_t id, len;
	while (vq_poll(&queues[2], &id, &len)) {
		uint8_t *m = (uint8_t *)(uintptr_t)queues[2].desc[id & (QSIZE - 1)].addr;
		take(g, m, len < VCG_RX_LEN ? len : VCG_RX_LEN);
		post(&queues[2], m);
		vq_kick(&queues[2]);
	}
}

int vcg_wait_name(struct vcg *g, const char *name, int seconds)
{
	struct deadline dl;
	deadline_start(&dl, seconds);
	do {
		vcg_poll(g);
		for (unsigned p = 0; p < g->nq_ports; p++)
			if (g->port[p].ready && !strcmp(g->port[p].name, name))
				return (int)p;
		for (int i = 0; i < 2000; i++)
			pause();
	} while (!deadline_expired(&dl));
	return -1;
}

bool vcg_wait_host(struct vcg *g, unsigned port, bool want, int seconds)
{
	struct deadline dl;
	deadline_start(&dl, seconds);
	do {
		vcg_poll(g);
		if (g->port[port].host_open == want)
			return true;
		for (int i = 0; i < 2000; i++)
			pause();
	} while (!deadline_expired(&dl));
	return false;
}

void vcg_open(struct vcg *g, unsigned port, bool open)
{
	g->port[port].guest_open = open;
	vcg_ctrl_send(g, port, VCON_PORT_OPEN, open);
}

bool vcg_write(struct vcg *g, unsigned port, const void *buf, uint32_t len, int seconds)
{
	if (port >= g->nq_ports || len > sizeof(tx_out))
		return false;
	memcpy(tx_out, buf, len);
	struct vq *vq = vcg_txq(g, port);
	struct vbuf b = { tx_out, len, false };
	vq_add(vq, &b, 1);
	vq_kick(vq);
	return vq_wait(vq, NULL, NULL, seconds);
}

uint32_t vcg_read(struct vcg *g, unsigned port, void *buf, uint32_t cap)
{
	if (port >= g->nq_ports)
		return 0;
	struct vcg_port *p = &g->port[port];
	struct vq *vq = &queues[rxq_of(port)];
	if (!p->has_pending) {
		uint32_t id, len;
		if (!vq_poll(vq, &id, &len))
			return 0;
		p->pending_head = (uint16_t)(id & (QSIZE - 1));
		p->pending_off = 0;
		p->pending_len = len < VCG_RX_LEN ? len : VCG_RX_LEN;
		p->has_pending = true;
	}
	uint8_t *src = (uint8_t *)(uintptr_t)vq->desc[p->pending_head].addr;
	uint32_t n = p->pending_len - p->pending_off < cap ? p->pending_len - p->pending_off : cap;
	memcpy(buf, src + p->pending_off, n);
	p->pending_off += n;
	if (p->pending_off == p->pending_len) {
		p->has_pending = false;
		post(vq, src);
		vq_kick(vq);
	}
	return n;
}
