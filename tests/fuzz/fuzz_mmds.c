/* libFuzzer target: the MMDS network stack (src/mmds/stack.h) fed guest frames, with a store.
 *
 * Input: byte 0 = settings (bit 0 V2, bit 1 imds_compat, bit 2 frames marked NEEDS_CSUM, bits
 * 3-4 the document: an object, a string, an array or a number, as PUT /mmds takes any), then
 * records of [kind, len_lo, len_hi, payload...]:
 *   kind % 4 == 0: a raw Ethernet frame;
 *   kind % 4 == 1: a TCP segment to port 80 of the MMDS address, built with valid checksums:
 *      payload[0] bits 0-1 the guest port (one of four), bit 2 "acknowledge what MMDS sent",
 *      bit 3 "send at the guest's next sequence number", bit 4 add an MSS option;
 *      payload[1] TCP flags, payload[2..5] seq, [6..9] ack (when not derived), [10..11]
 *      window, the rest data;
 *   kind % 4 == 2: advance the clock by payload[0..1] ms (retransmissions, eviction);
 *   kind % 4 == 3: an ARP request for the MMDS address from payload[0..3].
 * After each record every frame MMDS has is drained and checked: no larger than
 * MMDS_FRAME_MAX, a well-formed ARP reply or an IPv4/TCP packet whose checksums verify; at
 * most MMDS_TCP_MAX_CONN connections. Nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mmds/mmds.h"
#include "mmds/proto.h"
#include "config/mmds_config.h"
#include "mmds/stack.h"

FUZZ_QUIET_LOGS()

#define GUEST_IP 0x0a000002u
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct port_state {
	uint32_t next_seq;   /* the guest's */
	uint32_t mmds_next;  /* what acknowledges everything MMDS sent on it */
};

static struct port_state ports[4];

static void drain(struct mmds_stack *s, uint64_t now)
{
	static uint8_t out[MMDS_FRAME_MAX];
	for (unsigned n = 0; n < 4096; n++) {
		size_t len = mmds_stack_tx(s, out, now);
		if (!len)
			return;
		if (len > MMDS_FRAME_MAX || len < ETH_HDR_LEN)
			abort();
		if (rd16(out + 12) == ETHERTYPE_ARP) {
			if (len != ETH_HDR_LEN + ARP_LEN || rd16(out + ETH_HDR_LEN + 6) != 2)
				abort();
			continue;
		}
		struct mmds_tcp_seg seg;
		uint32_t dst = rd32(out + ETH_HDR_LEN + 16);
		if (ip_parse_tcp(out + ETH_HDR_LEN, len - ETH_HDR_LEN, dst, false, &seg) != IP_OK)
			abort();   /* MMDS wrote a bad packet */
		if (seg.remote_ip != s->ip || seg.len > MMDS_TCP_MSS)
			abort();
		for (unsigned p = 0; p < 4; p++)
			if (seg.local_port == 40000 + p)
				ports[p].mmds_next = seg.seq + (uint32_t)seg.len + !!(seg.flags & TCP_SYN) +
						     !!(seg.flags & TCP_FIN);
	}
	abort();   /* MMDS never stops sending */
}

static void tcp_record(struct mmds_stack *s, const uint8_t *p, size_t n, bool partial, uint64_t now)
{
	static uint8_t f[ETH_HDR_LEN + IPV4_HDR_LEN + TCP_HDR_LEN + 4 + 4096];
	if (n < 12)
		return;
	unsigned port = p[0] & 3;
	struct port_state *ps = &ports[port];
	struct mmds_tcp_seg seg = {
		.remote_ip = s->ip, .remote_port = MMDS_TCP_PORT, .local_port = (uint16_t)(40000 + port),
		.flags = p[1], .window = rd16(p + 10), .mss = (p[0] & 16) ? rd16(p + 2) : 0,
		.data = p + 12, .len = n - 12 > 4096 ? 4096 : n - 12,
	};
	seg.seq = (p[0] & 8) ? ps->next_seq : rd32(p + 2);
	seg.ack = (p[0] & 4) ? ps->mmds_next : rd32(p + 6);
	memcpy(f, s->mac, 6);
	memcpy(f + 6, guest_mac, 6);
	wr16(f + 12, ETHERTYPE_IPV4);
	size_t len = ETH_HDR_LEN + ip_write_tcp(f + ETH_HDR_LEN, GUEST_IP, 7, &seg);
	ps->next_seq = seg.seq + (uint32_t)seg.len + !!(seg.flags & TCP_SYN) + !!(seg.flags & TCP_FIN);
	if (mmds_stack_wants(s, f, len))
		mmds_stack_rx(s, f, len, partial, now);
}

static void arp_record(struct mmds_stack *s, const uint8_t *p, size_t n, uint64_t now)
{
	uint8_t f[ETH_HDR_LEN + ARP_LEN];
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	wr16(f + 12, ETHERTYPE_ARP);
	static const uint8_t unknown[6];
	arp_write(f + ETH_HDR_LEN, ARP_OP_REQUEST, guest_mac, n >= 4 ? rd32(p) : GUEST_IP, unknown, s->ip);
	if (mmds_stack_wants(s, f, sizeof(f)))
		mmds_stack_rx(s, f, sizeof(f), false, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static struct mmds *m;
	static json_t *docs[4];
	if (!m) {
		m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
		docs[0] = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\",\"n\":[1,2.5,"
				     "{\"x\":\"y\"}],\"big\":\"" "0123456789abcdef0123456789abcdef0123456789"
				     "abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}},\"user-data\":"
				     "\"hello\",\"t\":true}", 0, NULL);
		docs[1] = json_loads("\"just a string\"", JSON_DECODE_ANY, NULL);
		docs[2] = json_loads("[1,\"a\",{\"k\":[true,null]},2.5]", JSON_DECODE_ANY, NULL);
		docs[3] = json_loads("-42", JSON_DECODE_ANY, NULL);
		if (!m || !docs[0] || !docs[1] || !docs[2] || !docs[3])
			abort();
	}
	if (mmds_put(m, docs[(data[0] >> 3) & 3]) != MMDS_STORE_OK)
		abort();
	mmds_configure(m, (data[0] & 1) ? MMDS_V2 : MMDS_V1, (data[0] & 2) != 0);
	bool partial = (data[0] & 4) != 0;
	struct mmds_stack s;
	mmds_stack_init(&s, m, MMDS_DEFAULT_IPV4);
	memset(ports, 0, sizeof(ports));
	uint64_t now = 1000;
	size_t off = 1;
	while (off + 3 <= size) {
		uint8_t kind = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off += 3;
		if (len > size - off)
			len = size - off;
		uint8_t *p = fuzz_dup(data + off, len);
		off += len;
		switch (kind % 4) {
		case 0:
			if (mmds_stack_wants(&s, p, len))
				mmds_stack_rx(&s, p, len, partial, now);
			break;
		case 1:
			tcp_record(&s, p, len, partial, now);
			break;
		case 2:
			now += len >= 2 ? rd16(p) : 1;
			break;
		default:
			arp_record(&s, p, len, now);
			break;
		}
		free(p);
		drain(&s, now);
		if (mmds_tcp_connections(&s.tcp) > MMDS_TCP_MAX_CONN)
			abort();
	}
	mmds_stack_free(&s);
	return 0;
}
