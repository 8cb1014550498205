/* Wire formats MMDS reads and writes: Ethernet II, ARP for IPv4 over Ethernet, IPv4 and TCP
 * (arp.c, ip.c). Every reader checks lengths before it looks; all fields big-endian. */
#ifndef PETREL_MMDS_PROTO_H
#define PETREL_MMDS_PROTO_H

#include "mmds/tcp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_LEN 28
#define IPV4_HDR_LEN 20
#define IPPROTO_TCP_ 6
#define TCP_HDR_LEN 20
/* The largest frame MMDS writes: Ethernet, IPv4 and TCP headers (with MSS option), a segment. */
#define MMDS_FRAME_MAX (ETH_HDR_LEN + IPV4_HDR_LEN + TCP_HDR_LEN + 4 + MMDS_TCP_MSS)

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* The Internet checksum (RFC 1071) of len bytes, continuing from sum. */
uint32_t inet_sum(uint32_t sum, const uint8_t *p, size_t len);
uint16_t inet_fold(uint32_t sum);

/* arp.c: an ARP request for target_ip (sender's MAC and IP out); false if it is not one. */
bool arp_parse_request(const uint8_t *arp, size_t len, uint32_t target_ip, uint8_t sha[6], uint32_t *spa);
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
/* An ARP packet for IPv4 over Ethernet (ARP_LEN bytes): op from (sha, spa) to (tha, tpa). The
 * stack answers with ARP_OP_REPLY ("spa is at sha"); tests and fuzzers ask with requests. */
void arp_write(uint8_t *arp, uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t tha[6],
	       uint32_t tpa);

/* ip.c */
enum ip_parse {
	IP_OK, IP_BAD,          /* malformed (or a bad checksum) */
	IP_NOT_TCP,             /* well formed but nothing MMDS serves (other protocols, fragments) */
};
/* A TCP segment in an IPv4 packet (pkt: the Ethernet payload) sent to local_ip. csum_partial:
 * the guest left the TCP checksum to the device (virtio's NEEDS_CSUM), so it is not checked. */
enum ip_parse ip_parse_tcp(const uint8_t *pkt, size_t len, uint32_t local_ip, bool csum_partial,
			   struct mmds_tcp_seg *seg);
/* IPv4 + TCP for seg from local_ip into buf (room for IPV4_HDR_LEN + TCP_HDR_LEN + 4 + seg->len);
 * returns the packet length. id: the IPv4 identification. */
size_t ip_write_tcp(uint8_t *buf, uint32_t local_ip, uint16_t id, const struct mmds_tcp_seg *seg);

#endif
