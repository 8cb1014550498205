/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_console_lib.h - a guest-side virtio-console MULTIPORT driver for the test guests
 * (polling, ring 3), on virtio_common's queues: the control queues, the ports' queues, the
 * handshake as Linux's drivers/char/virtio_console.c does it (DEVICE_READY, then PORT_READY
 * for each DEVICE_ADD; PORT_NAME and PORT_OPEN taken as they come), reads and writes.
 * Used by virtio_console.c and by the hostile agent guest (agent_evil.c).
 */
#ifndef PETREL_GUEST_VIRTIO_CONSOLE_LIB_H
#define PETREL_GUEST_VIRTIO_CONSOLE_LIB_H

#include "virtio_common.h"

#define VIRTIO_ID_CONSOLE 3
#define VCON_F_MULTIPORT (1ull << 1)

enum {
	VCON_DEVICE_READY, VCON_DEVICE_ADD, VCON_DEVICE_REMOVE, VCON_PORT_READY,
	VCON_CONSOLE_PORT, VCON_RESIZE, VCON_PORT_OPEN, VCON_PORT_NAME,
};

#define VCG_MAX_PORTS 8          /* ports 0..7 get queues; a DEVICE_ADD above is answered PORT_READY 0 */
#define VCG_RX_BUFS 8            /* per port, and on the control queue */
#define VCG_RX_LEN 512
#define VCG_NAME_MAX 128

struct vcg_port {
	bool added, ready;           /* DEVICE_ADD seen; we answered PORT_READY 1 */
	bool host_open;              /* the device's last PORT_OPEN */
	bool guest_open;             /* ours, sent */
	char name[VCG_NAME_MAX];     /* "" until PORT_NAME */
	unsigned names_seen, opens_seen;
	/* received bytes not yet taken */
	uint8_t pending[VCG_RX_LEN];
	uint32_t pending_off, pending_len;
	uint16_t pending_head;
	bool has_pending;
};

struct vcg {
	struct vdev dev;
	bool mmio;
	uint32_t max_nr_ports;       /* config space */
	unsigned nq_ports;           /* ports with queues: min(max_nr_ports, VCG_MAX_PORTS) */
	struct vcg_port port[VCG_MAX_PORTS];
	unsigned bad_ids, adds, ctrl_msgs;
};

/* Find the device on the command line's transport, negotiate MULTIPORT, set up the queues,
 * post receive buffers, DRIVER_OK and send DEVICE_READY. Fails the test when anything is off. */
void vcg_init(struct vcg *g);
/* Take the control messages the device sent (answering DEVICE_ADD with PORT_READY). */
void vcg_poll(struct vcg *g);
/* Poll until the port named `name` has its name (and PORT_READY went): its id, or -1. */
int vcg_wait_name(struct vcg *g, const char *name, int seconds);
/* Poll until the device said the host side is open (want true) or closed. */
bool vcg_wait_host(struct vcg *g, unsigned port, bool want, int seconds);
/* Send a control message (any values: hostile guests too); waits for the device to take it. */
bool vcg_ctrl_send(struct vcg *g, uint32_t id, uint16_t event, uint16_t value);
/* A raw control buffer of len bytes (short, long, garbage). */
bool vcg_ctrl_send_raw(struct vcg *g, const void *buf, uint32_t len);
/* PORT_OPEN from the guest: open or close the port. */
void vcg_open(struct vcg *g, unsigned port, bool open);
/* Write len bytes on port (one chain; up to 64 KiB); waits for the device to take them. */
bool vcg_write(struct vcg *g, unsigned port, const void *buf, uint32_t len, int seconds);
/* Bytes the device sent on port, up to cap (0: none now); never waits. */
uint32_t vcg_read(struct vcg *g, unsigned port, void *buf, uint32_t cap);
/* A port's transmit queue, for hostile chains. */
struct vq *vcg_txq(struct vcg *g, unsigned port);

#endif
