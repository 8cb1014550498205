/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dhcpnet_pkt.h - the frames of the dhcpnet guest (dhcpnet.c), built and read byte by byte:
 * Ethernet, ARP, IPv4 with UDP and ICMP, IPv6 with UDP and ICMPv6, DHCP (RFC 2131) and DNS
 * (RFC 1035) messages. Addresses are host-order uint32_t (IPv4) or 16-byte arrays (IPv6).
 * Every reader takes the frame's length and checks each field it reads against it: what
 * arrives comes from the host's network (dnsmasq, other guests, anything on the bridge).
 */
#ifndef PETREL_GUEST_DHCPNET_PKT_H
#define PETREL_GUEST_DHCPNET_PKT_H

#include "guest.h"

#define ETH_HLEN 14
#define ETH_ARP 0x0806
#define ETH_IP4 0x0800
#define ETH_IP6 0x86dd
#define IP4_HLEN 20
#define IP6_HLEN 40
#define UDP_HLEN 8
#define PROTO_ICMP 1
#define PROTO_UDP 17
#define PROTO_ICMP6 58
#define MAX_FRAME 1514

#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_ACK 5
#define DHCP_NAK 6

static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

#define IP4_FMT "%u.%u.%u.%u"
#define IP4_ARGS(a) (unsigned)((a) >> 24), (unsigned)((a) >> 16 & 0xff), (unsigned)((a) >> 8 & 0xff), (unsigned)((a) & 0xff)

/* "A.B.C.D" of n bytes (or up to a ':' or '/') into *a: the characters used, 0 if malformed. */
size_t ip4_parse(const char *s, size_t n, uint32_t *a);

/* A received frame, taken apart (what pkt_parse found; the pointers are into the frame). */
struct pkt {
	const uint8_t *eth;
	uint32_t len;
	uint16_t type;              /* the ethertype */
	/* ARP (type ETH_ARP): */
	uint16_t arp_op;
	const uint8_t *arp_sha;
	uint32_t arp_spa, arp_tpa;
	/* IPv4 (type ETH_IP4): */
	uint32_t src, dst;
	uint8_t proto;
	const uint8_t *l4;          /* the UDP or ICMP header */
	uint32_t l4len;             /* to the end of the IPv4 packet */
	/* UDP: */
	uint16_t sport, dport;
	const uint8_t *data;
	uint32_t dlen;
};
/* False for a frame too short for the headers it says it has (or bad IPv4 header lengths). */
bool pkt_parse(const uint8_t *f, uint32_t len, struct pkt *p);

uint16_t csum_fold(uint32_t sum);
uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n);

/* Builders write at f and return the frame's length. */
size_t build_eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type);
size_t build_arp(uint8_t *f, const uint8_t eth_src[6], uint16_t op, const uint8_t sha[6], uint32_t spa,
		 const uint8_t tha[6], uint32_t tpa, const char *tag);
/* IPv4 + UDP around a payload (copied), checksums included. */
size_t build_udp4(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src, uint32_t dst,
		  uint16_t sport, uint16_t dport, const void *payload, size_t n);
/* IPv4 + ICMP (type, code, id, seq) around a payload. */
size_t build_icmp4(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src, uint32_t dst,
		   uint8_t type, uint16_t id, uint16_t seq, const void *payload, size_t n);
/* IPv6 + next header nh (UDP: the checksum at 6, ICMPv6: at 2) around l4 (copied, checksummed). */
size_t build_ip6(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], const uint8_t src[16],
		 const uint8_t dst[16], uint8_t nh, const uint8_t *l4, size_t n);
/* The modified EUI-64 link-local address of mac. */
void ip6_link_local(const uint8_t mac[6], uint8_t out[16]);

/* A DHCP client message (DISCOVER, or REQUEST of `want` from `server`) into m: its length. */
size_t dhcp_client_msg(uint8_t *m, uint8_t type, uint32_t xid, const uint8_t mac[6], uint32_t want, uint32_t server,
		       const char *hostname);
/* A DHCP server's OFFER (what a rogue server would send): its length. sname holds tag. */
size_t dhcp_offer_msg(uint8_t *m, uint32_t xid, const uint8_t chaddr[6], uint32_t yiaddr, uint32_t server,
		      const char *tag);
struct dhcp_reply {
	uint8_t type;
	uint32_t yiaddr, server, mask, router, dns;
};
/* A server's reply to xid for mac: false if it is not one (or malformed). */
bool dhcp_parse(const uint8_t *m, uint32_t n, uint32_t xid, const uint8_t mac[6], struct dhcp_reply *r);

/* A DNS query for name's A record: its length (0 if the name does not fit). */
size_t dns_query(uint8_t *m, uint16_t id, const char *name);
/* The first A record of a reply to id: 1 found (*a), 0 an answer without one, -1 not a reply/malformed. */
int dns_answer(const uint8_t *m, uint32_t n, uint16_t id, uint32_t *a);

#endif
