/* SPDX-License-Identifier: Apache-2.0 */
/* dhcpnet's frames (dhcpnet_pkt.h): builders and bounds-checked readers. */
#include "dhcpnet_pkt.h"

#define DHCP_FIXED 236 /* op .. file */
#define DHCP_MAGIC 0x63825363u

size_t ip4_parse(const char *s, size_t n, uint32_t *a)
{
	uint32_t v = 0;
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
		unsigned x = 0, digits = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 3) {
			x = x * 10 + (unsigned)(s[i++] - '0');
			digits++;
		}
		if (!digits || x > 255)
			return 0;
		v = v << 8 | x;
	}
	*a = v;
	return i;
}

uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

bool pkt_parse(const uint8_t *f, uint32_t len, struct pkt *p)
{
	memset(p, 0, sizeof(*p));
	if (len < ETH_HLEN)
		return false;
	p->eth = f;
	p->len = len;
	p->type = get16(f + 12);
	const uint8_t *b = f + ETH_HLEN;
	uint32_t n = len - ETH_HLEN;
	if (p->type == ETH_ARP) {
		if (n < 28 || get16(b) != 1 || get16(b + 2) != ETH_IP4 || b[4] != 6 || b[5] != 4)
			return false;
		p->arp_op = get16(b + 6);
		p->arp_sha = b + 8;
		p->arp_spa = get32(b + 14);
		p->arp_tpa = get32(b + 24);
		return true;
	}
	if (p->type != ETH_IP4)
		return true;
	if (n < IP4_HLEN || b[0] >> 4 != 4)
		return false;
	uint32_t ihl = (b[0] & 15u) * 4, tot = get16(b + 2);
	if (ihl < IP4_HLEN || tot < ihl || tot > n || (get16(b + 6) & 0x3fff)) /* no fragments */
		return false;
	p->proto = b[9];
	p->src = get32(b + 12);
	p->dst = get32(b + 16);
	p->l4 = b + ihl;
	p->l4len = tot - ihl;
	if (p->proto == PROTO_UDP) {
		if (p->l4len < UDP_HLEN || get16(p->l4 + 4) < UDP_HLEN || get16(p->l4 + 4) > p->l4len)
			return false;
		p->sport = get16(p->l4);
		p->dport = get16(p->l4 + 2);
		p->data = p->l4 + UDP_HLEN;
		p->dlen = get16(p->l4 + 4) - UDP_HLEN;
	}
	return true;
}

size_t build_eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return ETH_HLEN;
}

size_t build_arp(uint8_t *f, const uint8_t eth_src[6], uint16_t op, const uint8_t sha[6], uint32_t spa,
		 const uint8_t tha[6], uint32_t tpa, const char *tag)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	size_t n = build_eth(f, op == 1 ? bcast : tha, eth_src, ETH_ARP);
	uint8_t *b = f + n;
	put16(b, 1);
	put16(b + 2, ETH_IP4);
	b[4] = 6;
	b[5] = 4;
	put16(b + 6, op);
	memcpy(b + 8, sha, 6);
	put32(b + 14, spa);
	if (op == 1)
		memset(b + 18, 0, 6);
	else
		memcpy(b + 18, tha, 6);
	put32(b + 24, tpa);
	memset(b + 28, 0, 18); /* the padding to 60 bytes: where a tag goes */
	if (tag)
		memcpy(b + 28, tag, strlen(tag) < 18 ? strlen(tag) : 18);
	return ETH_HLEN + 28 + 18;
}

static size_t build_ip4(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src, uint32_t dst,
			uint8_t proto, size_t l4len)
{
	size_t n = build_eth(f, dst_mac, src_mac, ETH_IP4);
	uint8_t *h = f + n;
	static uint16_t ident;
	h[0] = 0x45;
	h[1] = 0;
	put16(h + 2, (uint16_t)(IP4_HLEN + l4len));
	put16(h + 4, ++ident);
	put16(h + 6, 0x4000); /* DF */
	h[8] = 64;
	h[9] = proto;
	put16(h + 10, 0);
	put32(h + 12, src);
	put32(h + 16, dst);
	put16(h + 10, csum_fold(csum_add(0, h, IP4_HLEN)));
	return n + IP4_HLEN + l4len;
}

size_t build_udp4(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src, uint32_t dst,
		  uint16_t sport, uint16_t dport, const void *payload, size_t n)
{
	uint8_t *u = f + ETH_HLEN + IP4_HLEN;
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(UDP_HLEN + n));
	put16(u + 6, 0);
	memcpy(u + UDP_HLEN, payload, n);
	uint8_t pseudo[12];
	put32(pseudo, src);
	put32(pseudo + 4, dst);
	put16(pseudo + 8, PROTO_UDP);
	put16(pseudo + 10, (uint16_t)(UDP_HLEN + n));
	uint16_t c = csum_fold(csum_add(csum_add(0, pseudo, 12), u, UDP_HLEN + n));
	put16(u + 6, c ? c : 0xffff);
	return build_ip4(f, dst_mac, src_mac, src, dst, PROTO_UDP, UDP_HLEN + n);
}

size_t build_icmp4(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src, uint32_t dst,
		   uint8_t type, uint16_t id, uint16_t seq, const void *payload, size_t n)
{
	uint8_t *c = f + ETH_HLEN + IP4_HLEN;
	c[0] = type;
	c[1] = 0;
	put16(c + 2, 0);
	put16(c + 4, id);
	put16(c + 6, seq);
	memcpy(c + 8, payload, n);
	put16(c + 2, csum_fold(csum_add(0, c, 8 + n)));
	return build_ip4(f, dst_mac, src_mac, src, dst, PROTO_ICMP, 8 + n);
}

size_t build_ip6(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], const uint8_t src[16],
		 const uint8_t dst[16], uint8_t nh, const uint8_t *l4, size_t n)
{
	size_t e = build_eth(f, dst_mac, src_mac, ETH_IP6);
	uint8_t *h = f + e;
	put32(h, 0x60000000u);
	put16(h + 4, (uint16_t)n);
	h[6] = nh;
	h[7] = 255;
	memcpy(h + 8, src, 16);
	memcpy(h + 24, dst, 16);
	uint8_t *l = h + IP6_HLEN;
	memcpy(l, l4, n);
	size_t off = nh == PROTO_UDP ? 6 : 2;
	put16(l + off, 0);
	uint8_t tail[8];
	put32(tail, (uint32_t)n);
	put32(tail + 4, nh);
	uint32_t s = csum_add(csum_add(csum_add(0, src, 16), dst, 16), tail, 8);
	put16(l + off, csum_fold(csum_add(s, l, n)));
	return e + IP6_HLEN + n;
}

void ip6_link_local(const uint8_t mac[6], uint8_t out[16])
{
	memset(out, 0, 16);
	out[0] = 0xfe;
	out[1] = 0x80;
	out[8] = mac[0] ^ 2;
	out[9] = mac[1];
	out[10] = mac[2];
	out[11] = 0xff;
	out[12] = 0xfe;
	out[13] = mac[3];
	out[14] = mac[4];
	out[15] = mac[5];
}

static size_t dhcp_fixed(uint8_t *m, uint8_t op, uint32_t xid, const uint8_t mac[6])
{
	memset(m, 0, DHCP_FIXED + 4);
	m[0] = op;
	m[1] = 1;
	m[2] = 6;
	put32(m + 4, xid);
	memcpy(m + 28, mac, 6);
	put32(m + DHCP_FIXED, DHCP_MAGIC);
	return DHCP_FIXED + 4;
}

static size_t opt(uint8_t *m, size_t at, uint8_t code, const void *v, size_t n)
{
	m[at] = code;
	m[at + 1] = (uint8_t)n;
	memcpy(m + at + 2, v, n);
	return at + 2 + n;
}

static size_t opt32(uint8_t *m, size_t at, uint8_t code, uint32_t a)
{
	uint8_t b[4];
	put32(b, a);
	return opt(m, at, code, b, 4);
}

size_t dhcp_client_msg(uint8_t *m, uint8_t type, uint32_t xid, const uint8_t mac[6], uint32_t want, uint32_t server,
		       const char *hostname)
{
	size_t n = dhcp_fixed(m, 1, xid, mac);
	static const uint8_t params[] = { 1, 3, 6, 15 }; /* mask, router, DNS, domain */
	uint8_t cid[7] = { 1 };
	memcpy(cid + 1, mac, 6);
	n = opt(m, n, 53, &type, 1);
	n = opt(m, n, 61, cid, sizeof(cid));
	if (want)
		n = opt32(m, n, 50, want);
	if (server)
		n = opt32(m, n, 54, server);
	if (hostname && *hostname)
		n = opt(m, n, 12, hostname, strlen(hostname) < 63 ? strlen(hostname) : 63);
	n = opt(m, n, 55, params, sizeof(params));
	m[n++] = 255;
	while (n < 300) /* BOOTP's minimum */
		m[n++] = 0;
	return n;
}

size_t dhcp_offer_msg(uint8_t *m, uint32_t xid, const uint8_t chaddr[6], uint32_t yiaddr, uint32_t server,
		      const char *tag)
{
	size_t n = dhcp_fixed(m, 2, xid, chaddr);
	put32(m + 16, yiaddr);
	put32(m + 20, server);
	memcpy(m + 44, tag, strlen(tag) < 63 ? strlen(tag) : 63); /* sname */
	uint8_t type = DHCP_OFFER;
	n = opt(m, n, 53, &type, 1);
	n = opt32(m, n, 54, server);
	n = opt32(m, n, 51, 3600);
	n = opt32(m, n, 1, 0xffffff00u);
	n = opt32(m, n, 3, server);
	n = opt32(m, n, 6, server);
	m[n++] = 255;
	while (n < 300)
		m[n++] = 0;
	return n;
}

bool dhcp_parse(const uint8_t *m, uint32_t n, uint32_t xid, const uint8_t mac[6], struct dhcp_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (n < DHCP_FIXED + 4 || m[0] != 2 || get32(m + 4) != xid || memcmp(m + 28, mac, 6) ||
	    get32(m + DHCP_FIXED) != DHCP_MAGIC)
		return false;
	r->yiaddr = get32(m + 16);
	for (uint32_t i = DHCP_FIXED + 4; i < n && m[i] != 255;) {
		if (m[i] == 0) {
			i++;
			continue;
		}
		if (i + 2 > n || i + 2 + m[i + 1] > n)
			return false;
		uint8_t code = m[i], len = m[i + 1];
		const uint8_t *v = m + i + 2;
		if (code == 53 && len >= 1)
			r->type = v[0];
		else if (len >= 4 && code == 54)
			r->server = get32(v);
		else if (len >= 4 && code == 1)
			r->mask = get32(v);
		else if (len >= 4 && code == 3)
			r->router = get32(v);
		else if (len >= 4 && code == 6)
			r->dns = get32(v);
		i += 2u + len;
	}
	return r->type != 0;
}

size_t dns_query(uint8_t *m, uint16_t id, const char *name)
{
	put16(m, id);
	put16(m + 2, 0x0100); /* a standard query, recursion desired */
	put16(m + 4, 1);
	memset(m + 6, 0, 6);
	size_t n = 12, len = strlen(name);
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i <= len;) {
		size_t j = i;
		while (j < len && name[j] != '.')
			j++;
		if (j == i || j - i > 63)
			return 0;
		m[n++] = (uint8_t)(j - i);
		memcpy(m + n, name + i, j - i);
		n += j - i;
		i = j + 1;
	}
	m[n++] = 0;
	put16(m + n, 1);     /* A */
	put16(m + n + 2, 1); /* IN */
	return n + 4;
}

/* Past a (possibly compressed) name at i: the offset after it, or 0 if it runs off the end. */
static uint32_t dns_skip_name(const uint8_t *m, uint32_t n, uint32_t i)
{
	while (i < n) {
		if ((m[i] & 0xc0) == 0xc0)
			return i + 2 <= n ? i + 2 : 0;
		if (m[i] & 0xc0)
			return 0;
		if (m[i] == 0)
			return i + 1;
		i += 1u + m[i];
	}
	return 0;
}

int dns_answer(const uint8_t *m, uint32_t n, uint16_t id, uint32_t *a)
{
	if (n < 12 || get16(m) != id || !(m[2] & 0x80))
		return -1;
	uint32_t qd = get16(m + 4), an = get16(m + 6), i = 12;
	for (uint32_t q = 0; q < qd; q++) {
		i = dns_skip_name(m, n, i);
		if (!i || i + 4 > n)
			return -1;
		i += 4;
	}
	for (uint32_t k = 0; k < an; k++) {
		i = dns_skip_name(m, n, i);
		if (!i || i + 10 > n)
			return -1;
		uint16_t type = get16(m + i), class = get16(m + i + 2), rdlen = get16(m + i + 8);
		i += 10;
		if (i + rdlen > n)
			return -1;
		if (type == 1 && class == 1 && rdlen == 4) {
			*a = get32(m + i);
			return 1;
		}
		i += rdlen;
	}
	return 0;
}
