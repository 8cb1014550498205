/* See stack.h. */
#include "mmds/stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

static const uint8_t mmds_mac[6] = { 0x06, 0x01, 0x23, 0x45, 0x67, 0x01 };

int mmds_stack_init(struct mmds_stack *s, struct mmds *svc, uint32_t ip)
{
	memset(s, 0, sizeof(*s));
	uint32_t isn = 0;
	if (getrandom(&isn, sizeof(isn), GRND_NONBLOCK) != sizeof(isn))
		isn = (uint32_t)mmds_now_ms() * 2654435761u;
	s->svc = mmds_ref(svc);
	s->ip = ip;
	memcpy(s->mac, mmds_mac, 6);
	memset(s->guest_mac, 0xff, 6);
	mmds_tcp_init(&s->tcp, svc, MMDS_TCP_PORT, isn);
	return 0;
}

void mmds_stack_free(struct mmds_stack *s)
{
	if (!s->svc)
		return;
	mmds_tcp_free(&s->tcp);
	mmds_unref(s->svc);
	s->svc = NULL;
}

bool mmds_stack_wants(const struct mmds_stack *s, const uint8_t *f, size_t len)
{
	if (len < ETH_HDR_LEN)
		return false;
	uint16_t type = rd16(f + 12);
	if (type == ETHERTYPE_ARP)
		return len >= ETH_HDR_LEN + ARP_LEN && rd32(f + ETH_HDR_LEN + 24) == s->ip;
	if (type == ETHERTYPE_IPV4)
		return len >= ETH_HDR_LEN + IPV4_HDR_LEN && rd32(f + ETH_HDR_LEN + 16) == s->ip;
	return false;
}

void mmds_stack_rx(struct mmds_stack *s, const uint8_t *f, size_t len, bool csum_partial, uint64_t now)
{
	struct mmds *m = s->svc;
	if (len < ETH_HDR_LEN) {
		mmds_count(m, rx_bad_eth, 1);
		return;
	}
	const uint8_t *p = f + ETH_HDR_LEN;
	size_t plen = len - ETH_HDR_LEN;
	uint16_t type = rd16(f + 12);
	if (type == ETHERTYPE_ARP) {
		uint8_t sha[6];
		uint32_t spa;
		if (!arp_parse_request(p, plen, s->ip, sha, &spa)) {
			mmds_count(m, rx_accepted_unusual, 1);
			return;
		}
		memcpy(s->arp_tha, sha, 6);
		s->arp_tpa = spa;
		s->arp_due = true;
		mmds_count(m, rx_accepted, 1);
		return;
	}
	if (type != ETHERTYPE_IPV4) {
		mmds_count(m, rx_bad_eth, 1);
		return;
	}
	struct mmds_tcp_seg seg;
	enum ip_parse r = ip_parse_tcp(p, plen, s->ip, csum_partial, &seg);
	if (r == IP_BAD) {
		mmds_count(m, rx_accepted_err, 1);
		return;
	}
	if (r == IP_NOT_TCP) {
		mmds_count(m, rx_accepted_unusual, 1);
		return;
	}
	memcpy(s->guest_mac, f + 6, 6);   /* replies go where the guest sends from */
	mmds_count(m, rx_accepted, 1);
	mmds_count(m, rx_count, 1);
	mmds_tcp_rx(&s->tcp, &seg, now);
}

static void eth_header(const struct mmds_stack *s, uint8_t *b, const uint8_t dst[6], uint16_t type)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, s->mac, 6);
	wr16(b + 12, type);
}

size_t mmds_stack_tx(struct mmds_stack *s, uint8_t *buf, uint64_t now)
{
	size_t len = 0;
	if (s->arp_due) {
		s->arp_due = false;
		eth_header(s, buf, s->arp_tha, ETHERTYPE_ARP);
		arp_write(buf + ETH_HDR_LEN, ARP_OP_REPLY, s->mac, s->ip, s->arp_tha, s->arp_tpa);
		len = ETH_HDR_LEN + ARP_LEN;
	} else {
		struct mmds_tcp_seg seg;
		if (!mmds_tcp_tx(&s->tcp, &seg, now))
			return 0;
		eth_header(s, buf, s->guest_mac, ETHERTYPE_IPV4);
		len = ETH_HDR_LEN + ip_write_tcp(buf + ETH_HDR_LEN, s->ip, s->ip_id++, &seg);
		mmds_count(s->svc, tx_bytes, seg.len);
	}
	mmds_count(s->svc, tx_count, 1);
	mmds_count(s->svc, tx_frames, 1);
	return len;
}

int64_t mmds_stack_next_timer(const struct mmds_stack *s, uint64_t now)
{
	return mmds_tcp_next_timer(&s->tcp, now);
}
