/* The MMDS network stack of one network interface: Ethernet frames from the guest in,
 * frames to the guest out, with no device or KVM involved (tests and the fuzzer drive it
 * directly; src/devices/virtio/net/net_mmds.c puts it between virtio-net and the tap).
 *
 * MMDS has its own MAC address (Firecracker's 06:01:23:45:67:01) and answers ARP requests for
 * its IPv4 address; TCP to port 80 of that address goes to struct mmds_tcp, other IPv4 to it is
 * swallowed (counted as unusual). Replies go to the MAC the guest last sent from. One ARP
 * reply is pending at most (a newer request replaces it). Not thread-safe: the device lock
 * covers it.
 */
#ifndef PETREL_MMDS_STACK_H
#define PETREL_MMDS_STACK_H

#include "mmds/mmds.h"
#include "mmds/proto.h"
#include "mmds/tcp.h"

#define MMDS_TCP_PORT 80

struct mmds_stack {
	struct mmds *svc;              /* a reference */
	uint32_t ip;                   /* host order */
	uint8_t mac[6];
	uint8_t guest_mac[6];
	bool arp_due;
	uint8_t arp_tha[6];
	uint32_t arp_tpa;
	uint16_t ip_id;
	struct mmds_tcp tcp;
};

/* 0 or -errno. Takes a reference on svc. */
int mmds_stack_init(struct mmds_stack *s, struct mmds *svc, uint32_t ip);
void mmds_stack_free(struct mmds_stack *s);
/* Whether a frame from the guest is for MMDS (ARP asking for its address, IPv4 to it): such
 * frames go to mmds_stack_rx and not to the tap. Looks only at headers. */
bool mmds_stack_wants(const struct mmds_stack *s, const uint8_t *frame, size_t len);
/* Take one frame for MMDS (see mmds_stack_wants); csum_partial as ip_parse_tcp. */
void mmds_stack_rx(struct mmds_stack *s, const uint8_t *frame, size_t len, bool csum_partial,
		   uint64_t now_ms);
/* The next frame for the guest into buf (MMDS_FRAME_MAX bytes): its length, 0 if none now. */
size_t mmds_stack_tx(struct mmds_stack *s, uint8_t *buf, uint64_t now_ms);
/* Milliseconds until mmds_stack_tx has a retransmission to make, -1 if none. */
int64_t mmds_stack_next_timer(const struct mmds_stack *s, uint64_t now_ms);

#endif
