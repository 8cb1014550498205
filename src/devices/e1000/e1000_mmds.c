/* The E1000's side of MMDS (docs/mmds.md), as virtio-net's: on an interface "mmds-config"
 * lists, the frames the guest sends for the metadata service (ARP for its address, IPv4 to it),
 * as they leave the card (after its checksum and segmentation offloads, so they are whole
 * frames with their checksums), go to the interface's MMDS stack (src/mmds/stack.h) instead of
 * the tap; the stack's replies go into the receive ring through the card's filters, ahead of
 * the tap's frames, on the I/O thread. A reply that finds no room waits (the tap is not read
 * meanwhile) until the driver writes RDT; the stack's retransmission timer is one more fd in
 * the card's epoll set. Everything runs with the device lock held.
 */
#include "devices/e1000/e1000_int.h"
#include "mmds/port.h"
#include "util/log.h"
#include "util/stat.h"

#include <errno.h>
#include <stdlib.h>

#define MMDS_RX_BUDGET 64                /* replies per turn before the tap gets its own */

struct e1000_mmds {
	struct mmds_port port;
	uint32_t out_len;                /* a reply (vnet header first) waits in out when non-zero */
	/* room after the frame for the padding to 60 bytes and the CRC that delivery adds */
	uint8_t out[TAP_VNET_HDR_LEN + MMDS_FRAME_MAX + 64];
};

int e1000_mmds_enable(struct e1000 *e, struct mmds *svc, uint32_t ip)
{
	struct e1000_mmds *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	int err = mmds_port_init(&m->port, svc, ip, e->epfd);
	if (err < 0) {
		free(m);
		return err;
	}
	pthread_mutex_lock(&e->lock);
	e->mmds = m;
	pthread_mutex_unlock(&e->lock);
	log_info("%s: answers MMDS at %u.%u.%u.%u", e->name, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return 0;
}

void e1000_mmds_destroy(struct e1000 *e)
{
	struct e1000_mmds *m = e->mmds;
	if (!m)
		return;
	e->mmds = NULL;
	mmds_port_free(&m->port, e->epfd);
	free(m);
}

int e1000_mmds_timer_fd(const struct e1000 *e)
{
	return e->mmds ? e->mmds->port.timerfd : -1;
}

void e1000_mmds_timer(struct e1000 *e)
{
	mmds_port_timer_fired(&e->mmds->port, e->name);
}

bool e1000_mmds_wants(const struct e1000 *e, const uint8_t *frame, uint32_t len)
{
	return e->mmds && mmds_stack_wants(&e->mmds->port.stack, frame, len);
}

bool e1000_mmds_tx(struct e1000 *e, const uint8_t *frame, uint32_t len)
{
	struct e1000_mmds *m = e->mmds;
	if (!m || !mmds_stack_wants(&m->port.stack, frame, len))
		return false;
	/* the card finished every checksum the driver asked for: nothing is left partial */
	mmds_stack_rx(&m->port.stack, frame, len, false, mmds_now_ms());
	e1000_wake(e);   /* the I/O thread puts the replies in the receive ring */
	return true;
}

bool e1000_mmds_rx(struct e1000 *e)
{
	struct e1000_mmds *m = e->mmds;
	bool got = false;
	uint64_t now = mmds_now_ms();
	for (unsigned budget = MMDS_RX_BUDGET;; budget--) {
		if (!budget) {
			e1000_wake(e);   /* more next turn */
			break;
		}
		if (!m->out_len) {
			size_t len = mmds_stack_tx(&m->port.stack, m->out + TAP_VNET_HDR_LEN, now);
			if (!len)
				break;
			memset(m->out, 0, TAP_VNET_HDR_LEN);
			m->out_len = (uint32_t)(TAP_VNET_HDR_LEN + len);
		}
		const uint8_t *f = m->out + TAP_VNET_HDR_LEN;
		uint32_t len = m->out_len - TAP_VNET_HDR_LEN;
		if (!(e->st.rctl & E1000_RCTL_EN) || !e1000_rx_accept(e, f, len)) {
			stat_add(&e->stats.rx_filtered, 1);   /* as a frame from the wire would be */
			m->out_len = 0;
			continue;
		}
		if (!e1000_rx_deliver(e, m->out, m->out_len)) {
			e->rx_waiting = true;   /* RDT's kick brings us back */
			stat_add(&e->stats.rx_blocked, 1);
			break;
		}
		m->out_len = 0;
		got = true;
	}
	mmds_port_arm(&m->port, now);
	return got;
}
