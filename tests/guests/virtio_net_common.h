/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_net_common.h - what the virtio-net test guests share with each other and with
 * tests/virtio/test_net.py: feature bits, the vnet header, and the test frame format.
 *
 * Test frames use the local experimental EtherType 0x88B5:
 *   dst[6] src[6] type[2]=0x88b5 | "PTST" kind[1] seq[4, LE] len[2, LE] pattern...
 * kind: 'H' hello (guest is up), 'D' data, 'E' end (seq = frames the guest received).
 * len is the whole frame length (14-byte Ethernet header included); byte i of the frame
 * (i >= 25) is net_pattern(seq, i).
 */
#ifndef PETREL_GUEST_VIRTIO_NET_COMMON_H
#define PETREL_GUEST_VIRTIO_NET_COMMON_H

#include "virtio_common.h"

#define VIRTIO_ID_NET 1

#define NET_F_CSUM (1ull << 0)
#define NET_F_GUEST_CSUM (1ull << 1)
#define NET_F_MTU (1ull << 3)
#define NET_F_MAC (1ull << 5)
#define NET_F_GUEST_TSO4 (1ull << 7)
#define NET_F_HOST_TSO4 (1ull << 11)
#define NET_F_MRG_RXBUF (1ull << 15)
#define NET_F_STATUS (1ull << 16)

#define NET_RXQ 0
#define NET_TXQ 1
#define NET_HDR_LEN 12

struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define TEST_ETHERTYPE 0x88b5
#define TEST_HDR_LEN 25   /* Ethernet 14 + "PTST" 4 + kind 1 + seq 4 + len 2 */

/* The bench guests' handshake with the host (bench/e1000.py): print "TAG: what", then wait (in
 * ring 3, polling COM1) for a byte from the host, at most 120 s. The host reads the VM's exit
 * counters between the line and the byte, so the counts cover the measured part only. */
static inline void bench_sync(const char *tag, const char *what, uint64_t tsc_hz)
{
	printf("%s: %s\n", tag, what);
	uint64_t until = rdtsc() + 120 * tsc_hz;
	while (!(inb(COM1 + UART_LSR) & LSR_DR))
		check(rdtsc() < until, "no %s from the host", what);
	(void)inb(COM1 + UART_RBR);
}

static inline uint8_t net_pattern(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 31u + i * 7u + 0x3cu);
}

/* Parse "aa:bb:cc:dd:ee:ff"; false if malformed. */
static inline bool net_parse_mac(const char *s, size_t n, uint8_t mac[6])
{
	if (n != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[3 * i + j];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned)(c - 'A' + 10);
			else
				return false;
		}
		if (i < 5 && s[3 * i + 2] != ':')
			return false;
		mac[i] = (uint8_t)v;
	}
	return true;
}

/* Build a test frame of len bytes (>= TEST_HDR_LEN) at p. */
static inline void net_build_frame(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], char kind,
				   uint32_t seq, uint16_t len)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = TEST_ETHERTYPE >> 8;
	p[13] = TEST_ETHERTYPE & 0xff;
	memcpy(p + 14, "PTST", 4);
	p[18] = (uint8_t)kind;
	memcpy(p + 19, &seq, 4);
	memcpy(p + 23, &len, 2);
	for (uint32_t i = TEST_HDR_LEN; i < len; i++)
		p[i] = net_pattern(seq, i);
}

/* Check a received frame; returns a static reason or NULL if it is a good test frame. */
static inline const char *net_check_frame(const uint8_t *p, uint32_t len, char *kind, uint32_t *seq)
{
	if (len < TEST_HDR_LEN)
		return "short";
	if (p[12] != (TEST_ETHERTYPE >> 8) || p[13] != (TEST_ETHERTYPE & 0xff) || memcmp(p + 14, "PTST", 4))
		return "not a test frame";
	uint16_t flen;
	*kind = (char)p[18];
	memcpy(seq, p + 19, 4);
	memcpy(&flen, p + 23, 2);
	if (flen != len)
		return "length field differs from the frame length";
	for (uint32_t i = TEST_HDR_LEN; i < len; i++)
		if (p[i] != net_pattern(*seq, i))
			return "payload differs from the pattern";
	return NULL;
}

#endif
