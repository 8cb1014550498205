/* IPv4 (RFC 791) and TCP (RFC 9293) headers: parsing what the guest sends MMDS, writing what
 * MMDS sends back (checksums complete: the frames MMDS injects carry no offload flags). */
#include "mmds/proto.h"

#include <string.h>

uint32_t inet_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += rd16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

uint16_t inet_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, size_t tcp_len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + IPPROTO_TCP_ +
	       (uint32_t)tcp_len;
}

/* The MSS option of a SYN, 0 if absent or malformed. */
static uint16_t find_mss(const uint8_t *opt, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t kind = opt[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			break;
		if (kind == 2 && opt[i + 1] == 4)
			return rd16(opt + i + 2);
		i += opt[i + 1];
	}
	return 0;
}

enum ip_parse ip_parse_tcp(const uint8_t *p, size_t len, uint32_t local_ip, bool csum_partial,
			   struct mmds_tcp_seg *seg)
{
	if (len < IPV4_HDR_LEN || (p[0] >> 4) != 4)
		return IP_BAD;
	size_t ihl = (size_t)(p[0] & 15) * 4;
	size_t total = rd16(p + 2);
	if (ihl < IPV4_HDR_LEN || total < ihl || total > len)
		return IP_BAD;
	if (inet_fold(inet_sum(0, p, ihl)) != 0)
		return IP_BAD;
	if (rd32(p + 16) != local_ip)
		return IP_BAD;
	if ((rd16(p + 6) & 0x3fff) != 0 || p[9] != IPPROTO_TCP_)
		return IP_NOT_TCP;   /* a fragment (MF or an offset), or not TCP */
	const uint8_t *t = p + ihl;
	size_t tlen = total - ihl;
	if (tlen < TCP_HDR_LEN)
		return IP_BAD;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HDR_LEN || doff > tlen)
		return IP_BAD;
	uint32_t src = rd32(p + 12);
	if (!csum_partial && inet_fold(inet_sum(pseudo_sum(src, local_ip, tlen), t, tlen)) != 0)
		return IP_BAD;
	memset(seg, 0, sizeof(*seg));
	seg->remote_ip = src;
	seg->remote_port = rd16(t);
	seg->local_port = rd16(t + 2);
	seg->seq = rd32(t + 4);
	seg->ack = rd32(t + 8);
	seg->flags = t[13] & 0x3f;
	seg->window = rd16(t + 14);
	if (seg->flags & TCP_SYN)
		seg->mss = find_mss(t + TCP_HDR_LEN, doff - TCP_HDR_LEN);
	seg->data = t + doff;
	seg->len = tlen - doff;
	return IP_OK;
}

size_t ip_write_tcp(uint8_t *b, uint32_t local_ip, uint16_t id, const struct mmds_tcp_seg *s)
{
	size_t optlen = s->mss ? 4 : 0;
	size_t tlen = TCP_HDR_LEN + optlen + s->len;
	size_t total = IPV4_HDR_LEN + tlen;
	memset(b, 0, IPV4_HDR_LEN + TCP_HDR_LEN + optlen);
	b[0] = 0x45;
	wr16(b + 2, (uint16_t)total);
	wr16(b + 4, id);
	wr16(b + 6, 0x4000);           /* don't fragment */
	b[8] = 64;
	b[9] = IPPROTO_TCP_;
	wr32(b + 12, local_ip);
	wr32(b + 16, s->remote_ip);
	wr16(b + 10, inet_fold(inet_sum(0, b, IPV4_HDR_LEN)));

	uint8_t *t = b + IPV4_HDR_LEN;
	wr16(t, s->local_port);
	wr16(t + 2, s->remote_port);
	wr32(t + 4, s->seq);
	wr32(t + 8, s->ack);
	t[12] = (uint8_t)(((TCP_HDR_LEN + optlen) / 4) << 4);
	t[13] = s->flags;
	wr16(t + 14, s->window);
	if (optlen) {
		t[20] = 2;
		t[21] = 4;
		wr16(t + 22, s->mss);
	}
	if (s->len)
		memcpy(t + TCP_HDR_LEN + optlen, s->data, s->len);
	wr16(t + 16, inet_fold(inet_sum(pseudo_sum(local_ip, s->remote_ip, tlen), t, tlen)));
	return total;
}
