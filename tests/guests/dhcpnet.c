/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dhcpnet: a guest on a petreld network (issue 54's proofs, tests/net/test_net_guests.py and
 * bench/net_guards_vm.py). Ring 3, polling a virtio-net device (PCI or MMIO) without interrupts;
 * its frames are built and read in dhcpnet_pkt.c. It speaks just enough IPv4 to be a VM on a
 * bridge: it answers ARP for its address and ICMP echo requests to it all along, and resolves
 * the MACs it sends to by ARP (the gateway's for addresses outside its subnet).
 *
 * mode=dhcp (the default): its address by DHCP (DISCOVER, OFFER, REQUEST, ACK; the host name
 * hostname=NAME in option 12), or ip=A.B.C.D/P [gw=A.B.C.D] without DHCP. Prints
 *   "dhcpnet addr=A mask=M gw=G dns=D server=S"
 * then, each when asked on the command line:
 *   resolve=NAME      an A query to the DNS server DHCP named: "dhcpnet resolve NAME=A.B.C.D"
 *                     ("... NAME: no address", "... NAME: no answer");
 *   ping=A[,B...]     ICMP echo: "dhcpnet ping A: reply" or "dhcpnet ping A: no reply" (no route,
 *                     no arp);
 *   udp=A:PORT        a datagram "dhcpnet hello" to A:PORT: "dhcpnet udp A:PORT reply=TEXT" (the
 *                     reply's printable bytes) or "... no reply";
 *   bench=N           N ICMP echo round trips to peer=A, one at a time:
 *                     "dhcpnet bench peer=A rtts=N lost=L tsc=T tsc_hz=H min_us=.. max_us=..";
 *   flood=N           then N UDP datagrams (frames of size=B bytes, default 60) to peer=A's port
 *                     9, as fast as the ring takes them:
 *                     "dhcpnet flood peer=A frames=N size=B tsc=T tsc_hz=H";
 *   serve=S           "dhcpnet serving", then only answers ARP and pings (and counts datagrams to
 *                     its port 9) until a byte comes on the console or S seconds pass:
 *                     "dhcpnet served pings=N arps=N discard=N".
 * mode=forge: after getting its address as in dhcp mode, sends frames its guards must drop,
 * each tagged (the tag is in the frame's bytes: the host looks for it), between honest ones
 * that must pass, and prints each: "dhcpnet forge KIND tag=TAG", "dhcpnet honest tag=TAG".
 * The forged kinds: mac (a foreign source MAC), ip4 (a foreign IPv4 source), ip6 (a foreign
 * IPv6 source), arp (an ARP whose sender is the gateway's address), dhcp (an OFFER from port 67),
 * ra (an ICMPv6 router advertisement). Then the ping=/udp=/serve= steps as in dhcp mode.
 * Ends with "dhcpnet done ..." and "ok dhcpnet" (exit 0); a broken exchange (no DHCP answer,
 * a device that misbehaves) fails the guest.
 *
 * Command line: transport=pci|mmio, mac=MAC (config space must say it), and the above.
 */
#include "dhcpnet_pkt.h"
#include "virtio_net_common.h"

DEFINE_GUEST("dhcpnet");

#define QSIZE 64
#define NBUFS 32
#define BUFSIZE 2048
#define TX_SLOTS 32
#define ARP_SLOTS 16
#define ECHO_ID 0x5045

static struct vdev dev;
static struct vq rxq, txq;
static struct vq_mem rxmem, txmem;
static uint8_t rxbuf[NBUFS][BUFSIZE] __attribute__((aligned(4096)));
static uint8_t txbuf[TX_SLOTS][NET_HDR_LEN + MAX_FRAME] __attribute__((aligned(64)));
static uint8_t frame[BUFSIZE], out[MAX_FRAME], msg[600];
static uint32_t tx_slot, tx_inflight;
static uint64_t tsc_hz;
static uint8_t mac[6];
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint32_t myip, mask, gw, dns;
static struct {
	uint32_t ip;
	uint8_t mac[6];
} arp_cache[ARP_SLOTS];
static unsigned arp_next;
static uint32_t pings_answered, arps_answered, forged, honest, discards;
static char hostname[64];

static uint64_t after_ms(uint64_t ms) { return rdtsc() + ms * (tsc_hz / 1000); }

/* The value of key= on the command line into buf (NUL-terminated): false if absent or too long. */
static bool arg(const char *key, char *buf, size_t size)
{
	size_t n;
	const char *v = cmdline_value(key, &n);
	if (!v || n >= size)
		return false;
	memcpy(buf, v, n);
	buf[n] = 0;
	return true;
}

static bool arg_ip4(const char *key, uint32_t *a)
{
	char b[20];
	return arg(key, b, sizeof(b)) && ip4_parse(b, strlen(b), a) == strlen(b);
}

/* ---- the device ---- */

static void rx_post(unsigned b)
{
	rxq.desc[b] = (struct vring_desc){ (uintptr_t)rxbuf[b], BUFSIZE, VD_WRITE, 0 };
	vq_publish(&rxq, (uint16_t)b);
}

/* One frame into `frame`: its length, or -1 if none came. */
static long rx_frame(void)
{
	uint32_t id, len;
	if (!vq_poll(&rxq, &id, &len))
		return -1;
	check(id < NBUFS && len >= NET_HDR_LEN && len <= BUFSIZE, "used id %u length %u", id, len);
	uint32_t n = len - NET_HDR_LEN;
	memcpy(frame, rxbuf[id] + NET_HDR_LEN, n);
	rx_post(id);
	vq_kick(&rxq);
	return n;
}

static void tx(const uint8_t *f, size_t n)
{
	while (vq_poll(&txq, NULL, NULL))
		tx_inflight--;
	if (tx_inflight >= TX_SLOTS - 1) {
		check(vq_wait(&txq, NULL, NULL, 30), "transmit completions stopped (%u in flight)", tx_inflight);
		tx_inflight--;
	}
	uint8_t *p = txbuf[tx_slot++ % TX_SLOTS];
	memset(p, 0, NET_HDR_LEN);
	memcpy(p + NET_HDR_LEN, f, n);
	if (n < 60) { /* Ethernet's minimum, zero padded */
		memset(p + NET_HDR_LEN + n, 0, 60 - n);
		n = 60;
	}
	struct vbuf b = { p, (uint32_t)(NET_HDR_LEN + n), false };
	vq_add(&txq, &b, 1);
	tx_inflight++;
	vq_kick(&txq);
}

/* ---- ARP and echo: answered whatever else the guest is doing ---- */

static const uint8_t *arp_lookup(uint32_t ip)
{
	for (unsigned i = 0; i < ARP_SLOTS; i++)
		if (arp_cache[i].ip == ip && ip)
			return arp_cache[i].mac;
	return NULL;
}

static void arp_learn(uint32_t ip, const uint8_t *m)
{
	if (!ip || (m[0] & 1))
		return;
	for (unsigned i = 0; i < ARP_SLOTS; i++)
		if (arp_cache[i].ip == ip) {
			memcpy(arp_cache[i].mac, m, 6);
			return;
		}
	arp_cache[arp_next % ARP_SLOTS].ip = ip;
	memcpy(arp_cache[arp_next++ % ARP_SLOTS].mac, m, 6);
}

/* A frame the guest answers by itself (ARP, echo requests to it): true if it was one. */
static bool handle_common(const struct pkt *p)
{
	if (p->type == ETH_ARP) {
		arp_learn(p->arp_spa, p->arp_sha);
		if (p->arp_op == 1 && myip && p->arp_tpa == myip) {
			tx(out, build_arp(out, mac, 2, mac, myip, p->arp_sha, p->arp_spa, NULL));
			arps_answered++;
		}
		return true;
	}
	if (p->type == ETH_IP4 && p->proto == PROTO_ICMP && myip && p->dst == myip && p->l4len >= 8 &&
	    p->l4[0] == 8 && p->l4len <= 8 + 1400) {
		tx(out, build_icmp4(out, p->eth + 6, mac, myip, p->src, 0, get16(p->l4 + 4), get16(p->l4 + 6),
				    p->l4 + 8, p->l4len - 8));
		pings_answered++;
		return true;
	}
	return false;
}

/* One received frame: 0 none, 1 answered here (or not for us), 2 for the caller (in *p). */
static int poll_once(struct pkt *p)
{
	long n = rx_frame();
	if (n < 0)
		return 0;
	if (!pkt_parse(frame, (uint32_t)n, p))
		return 1;
	if (memcmp(frame, mac, 6) && !(frame[0] & 1)) /* unicast to someone else */
		return 1;
	return handle_common(p) ? 1 : 2;
}

/* Frames until pred(p, ctx) holds for one (true) or ms pass (false). */
static bool wait_for(bool (*pred)(const struct pkt *, void *), void *ctx, uint64_t ms)
{
	uint64_t until = after_ms(ms);
	struct pkt p;
	while (rdtsc() < until) {
		int r = poll_once(&p);
		if (r && pred && pred(&p, ctx)) /* ARP replies too (arp_known) */
			return true;
		if (r == 0)
			pause();
	}
	return false;
}

static bool arp_known(const struct pkt *p, void *ctx)
{
	(void)p;
	return arp_lookup(*(uint32_t *)ctx) != NULL;
}

/* The MAC to send to ip through (the gateway outside the subnet): NULL and why if none. */
static const uint8_t *route(uint32_t ip, const char **why)
{
	uint32_t hop = ip == 0xffffffffu ? ip : ((ip ^ myip) & mask) == 0 ? ip : gw;
	if (hop == 0xffffffffu)
		return bcast;
	if (!hop) {
		*why = "no route";
		return NULL;
	}
	for (int t = 0; t < 3; t++) {
		const uint8_t *m = arp_lookup(hop);
		if (m)
			return m;
		tx(out, build_arp(out, mac, 1, mac, myip, NULL, hop, NULL));
		if (wait_for(arp_known, &hop, 1000))
			return arp_lookup(hop);
	}
	*why = "no arp";
	return NULL;
}

/* ---- DHCP ---- */

struct dhcp_wait {
	uint32_t xid;
	uint8_t want; /* OFFER, or ACK (a NAK ends the wait too) */
	struct dhcp_reply r;
};

static bool dhcp_reply_to(const struct pkt *p, void *ctx)
{
	struct dhcp_wait *w = ctx;
	if (p->proto != PROTO_UDP || p->sport != 67 || p->dport != 68)
		return false;
	if (!dhcp_parse(p->data, p->dlen, w->xid, mac, &w->r))
		return false;
	return w->r.type == w->want || (w->want == DHCP_ACK && w->r.type == DHCP_NAK);
}

static void dhcp_send(uint8_t type, uint32_t xid, uint32_t want, uint32_t server)
{
	size_t n = dhcp_client_msg(msg, type, xid, mac, want, server, hostname);
	tx(out, build_udp4(out, bcast, mac, 0, 0xffffffffu, 68, 67, msg, n));
}

static void dhcp(void)
{
	for (int attempt = 0; attempt < 10; attempt++) {
		struct dhcp_wait w = { .xid = (uint32_t)rdtsc() ^ 0x50455452u, .want = DHCP_OFFER };
		dhcp_send(DHCP_DISCOVER, w.xid, 0, 0);
		if (!wait_for(dhcp_reply_to, &w, 2000))
			continue;
		uint32_t offered = w.r.yiaddr, server = w.r.server;
		w.want = DHCP_ACK;
		dhcp_send(DHCP_REQUEST, w.xid, offered, server);
		if (!wait_for(dhcp_reply_to, &w, 2000) || w.r.type != DHCP_ACK)
			continue;
		myip = w.r.yiaddr;
		mask = w.r.mask ? w.r.mask : 0xffffff00u;
		gw = w.r.router;
		dns = w.r.dns;
		printf("dhcpnet addr=" IP4_FMT " mask=" IP4_FMT " gw=" IP4_FMT " dns=" IP4_FMT " server=" IP4_FMT "\n",
		       IP4_ARGS(myip), IP4_ARGS(mask), IP4_ARGS(gw), IP4_ARGS(dns), IP4_ARGS(w.r.server));
		return;
	}
	fail("no DHCP address after 10 attempts");
}

static void static_address(const char *spec)
{
	size_t used = ip4_parse(spec, strlen(spec), &myip);
	check(used && spec[used] == '/', "ip=%s: not A.B.C.D/P", spec);
	long prefix = 0;
	for (const char *s = spec + used + 1; *s >= '0' && *s <= '9'; s++)
		prefix = prefix * 10 + (*s - '0');
	check(prefix >= 8 && prefix <= 30, "ip=%s: prefix", spec);
	mask = 0xffffffffu << (32 - prefix);
	if (!arg_ip4("gw", &gw))
		gw = 0;
	if (!arg_ip4("dns", &dns))
		dns = gw;
	printf("dhcpnet addr=" IP4_FMT " mask=" IP4_FMT " gw=" IP4_FMT " dns=" IP4_FMT " server=static\n",
	       IP4_ARGS(myip), IP4_ARGS(mask), IP4_ARGS(gw), IP4_ARGS(dns));
}

/* ---- DNS, echo, UDP ---- */

struct udp_wait {
	uint32_t from;
	uint16_t sport, dport;
	const uint8_t *data;
	uint32_t dlen;
};

static bool udp_reply(const struct pkt *p, void *ctx)
{
	struct udp_wait *w = ctx;
	if (p->proto != PROTO_UDP || p->src != w->from || p->sport != w->sport || p->dport != w->dport ||
	    p->dst != myip)
		return false;
	w->data = p->data;
	w->dlen = p->dlen;
	return true;
}

/* Send payload to dst:dport from myip:sport and wait for the answer (w->data): true if one came. */
static bool udp_exchange(uint32_t dst, uint16_t dport, uint16_t sport, const void *payload, size_t n,
			 struct udp_wait *w, const char **why)
{
	*w = (struct udp_wait){ .from = dst, .sport = dport, .dport = sport };
	for (int t = 0; t < 3; t++) {
		const uint8_t *to = route(dst, why);
		if (!to)
			return false;
		tx(out, build_udp4(out, to, mac, myip, dst, sport, dport, payload, n));
		if (wait_for(udp_reply, w, 1500))
			return true;
	}
	*why = "no reply";
	return false;
}

static void resolve(const char *name)
{
	uint16_t id = (uint16_t)rdtsc();
	size_t n = dns_query(msg, id, name);
	check(n, "resolve=%s: not a name", name);
	struct udp_wait w;
	const char *why = "no answer";
	uint32_t a;
	if (!dns || !udp_exchange(dns, 53, 40053, msg, n, &w, &why))
		printf("dhcpnet resolve %s: %s\n", name, dns ? why : "no DNS server");
	else if (dns_answer(w.data, w.dlen, id, &a) == 1)
		printf("dhcpnet resolve %s=" IP4_FMT "\n", name, IP4_ARGS(a));
	else
		printf("dhcpnet resolve %s: no address\n", name);
}

struct echo_wait {
	uint32_t from;
	uint16_t seq;
};

static bool echo_reply(const struct pkt *p, void *ctx)
{
	struct echo_wait *w = ctx;
	return p->proto == PROTO_ICMP && p->src == w->from && p->dst == myip && p->l4len >= 8 && p->l4[0] == 0 &&
	       get16(p->l4 + 4) == ECHO_ID && get16(p->l4 + 6) == w->seq;
}

/* One echo round trip to dst: true if the reply came within ms. */
static bool echo(uint32_t dst, uint16_t seq, uint64_t ms, const char **why)
{
	static const char payload[] = "dhcpnet echo 0123456789abcdef";
	const uint8_t *to = route(dst, why);
	if (!to)
		return false;
	tx(out, build_icmp4(out, to, mac, myip, dst, 8, ECHO_ID, seq, payload, sizeof(payload)));
	struct echo_wait w = { dst, seq };
	if (wait_for(echo_reply, &w, ms))
		return true;
	*why = "no reply";
	return false;
}

static void pings(const char *list)
{
	static uint16_t seq;
	for (const char *s = list; *s;) {
		uint32_t a;
		size_t used = ip4_parse(s, strlen(s), &a);
		check(used, "ping=%s: not a list of addresses", list);
		const char *why = "no reply";
		bool ok = false;
		for (int t = 0; t < 3 && !ok; t++)
			ok = echo(a, ++seq, 1000, &why);
		if (ok)
			printf("dhcpnet ping " IP4_FMT ": reply\n", IP4_ARGS(a));
		else
			printf("dhcpnet ping " IP4_FMT ": %s\n", IP4_ARGS(a), why);
		s += used;
		if (*s == ',')
			s++;
	}
}

static void udp_probe(const char *spec)
{
	uint32_t a;
	size_t used = ip4_parse(spec, strlen(spec), &a);
	check(used && spec[used] == ':', "udp=%s: not A.B.C.D:PORT", spec);
	long port = 0;
	for (const char *s = spec + used + 1; *s >= '0' && *s <= '9'; s++)
		port = port * 10 + (*s - '0');
	check(port > 0 && port < 65536, "udp=%s: port", spec);
	static const char hello[] = "dhcpnet hello";
	struct udp_wait w;
	const char *why;
	if (!udp_exchange(a, (uint16_t)port, 40000, hello, sizeof(hello) - 1, &w, &why)) {
		printf("dhcpnet udp %s %s\n", spec, why);
		return;
	}
	char text[65];
	uint32_t n = w.dlen < 64 ? w.dlen : 64;
	for (uint32_t i = 0; i < n; i++)
		text[i] = w.data[i] >= 0x21 && w.data[i] < 0x7f ? (char)w.data[i] : '.';
	text[n] = 0;
	printf("dhcpnet udp %s reply=%s\n", spec, text);
}

static void bench(long n, uint32_t peer)
{
	const char *why = "";
	uint64_t lo = ~0ull, hi = 0, total = 0;
	long lost = 0;
	check(echo(peer, 0, 3000, &why), "bench: the peer does not answer (%s)", why); /* ARP, warm */
	for (long i = 1; i <= n; i++) {
		uint64_t t0 = rdtsc();
		if (!echo(peer, (uint16_t)i, 1000, &why)) {
			lost++;
			continue;
		}
		uint64_t dt = rdtsc() - t0;
		total += dt;
		lo = dt < lo ? dt : lo;
		hi = dt > hi ? dt : hi;
	}
	uint64_t per_us = tsc_hz / 1000000 ? tsc_hz / 1000000 : 1;
	printf("dhcpnet bench peer=" IP4_FMT " rtts=%ld lost=%ld tsc=%lu tsc_hz=%lu min_us=%lu max_us=%lu\n",
	       IP4_ARGS(peer), n - lost, lost, (unsigned long)total, (unsigned long)tsc_hz,
	       (unsigned long)(lo / per_us), (unsigned long)(hi / per_us));
}

/* n datagrams of size bytes (the frame) to peer's discard port, as fast as the ring takes them. */
static void flood(long n, long size, uint32_t peer)
{
	const char *why = "";
	const uint8_t *to = route(peer, &why);
	check(to, "flood: no way to the peer (%s)", why);
	uint8_t dst[6];
	memcpy(dst, to, 6);
	static uint8_t payload[MAX_FRAME];
	long plen = size - ETH_HLEN - IP4_HLEN - UDP_HLEN;
	check(plen >= 0 && plen <= MAX_FRAME - ETH_HLEN - IP4_HLEN - UDP_HLEN, "size=%ld", size);
	memset(payload, 0x5a, (size_t)plen);
	uint64_t t0 = rdtsc();
	for (long i = 0; i < n; i++) {
		memcpy(payload, &i, plen >= 8 ? 8 : 0);
		tx(out, build_udp4(out, dst, mac, myip, peer, 9, 9, payload, (size_t)plen));
	}
	while (tx_inflight && vq_wait(&txq, NULL, NULL, 10))
		tx_inflight--;
	uint64_t dt = rdtsc() - t0;
	printf("dhcpnet flood peer=" IP4_FMT " frames=%ld size=%ld tsc=%lu tsc_hz=%lu\n", IP4_ARGS(peer), n, size,
	       (unsigned long)dt, (unsigned long)tsc_hz);
}

static void serve(long seconds)
{
	printf("dhcpnet serving\n");
	uint64_t until = after_ms((uint64_t)seconds * 1000), next_look = 0;
	struct pkt p;
	while (rdtsc() < until) {
		int r = poll_once(&p);
		if (r == 0)
			pause();
		else if (r == 2 && p.proto == PROTO_UDP && p.dst == myip && p.dport == 9)
			discards++;
		if (rdtsc() >= next_look) { /* the console, now and then: a byte ends the wait */
			if (inb(COM1 + UART_LSR) & LSR_DR) {
				(void)inb(COM1 + UART_RBR);
				break;
			}
			next_look = after_ms(5);
		}
	}
	printf("dhcpnet served pings=%u arps=%u discard=%u\n", pings_answered, arps_answered, discards);
}

/* ---- forge ---- */

static void honest_frame(void)
{
	char tag[16];
	snprintf(tag, sizeof(tag), "HONEST-%u", honest++);
	tx(out, build_udp4(out, bcast, mac, myip, 0xffffffffu, 9, 9, tag, strlen(tag)));
	printf("dhcpnet honest tag=%s\n", tag);
}

static void forged_frame(const char *kind, const char *tag, size_t n)
{
	tx(out, n);
	forged++;
	printf("dhcpnet forge %s tag=%s\n", kind, tag);
	honest_frame();
}

static void forge(void)
{
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	static const uint8_t foreign6[16] = { 0xfd, 0x00, 0x66, [15] = 0x66 };
	uint8_t fake_mac[6] = { 0x52, 0x54, 0x00, 0x66, 0x66, 0x66 }, ll[16], l4[64];
	uint32_t fake_ip;
	if (!arg_ip4("forge_ip", &fake_ip))
		fake_ip = (myip & mask) | ((myip & ~mask) == 250 ? 251 : 250);
	ip6_link_local(mac, ll);
	honest_frame();

	static const char t_mac[] = "FORGE-MAC", t_ip4[] = "FORGE-IP4", t_ip6[] = "FORGE-IP6", t_arp[] = "FORGE-ARP",
			  t_dhcp[] = "FORGE-DHCP", t_ra[] = "FORGE-RA";
	forged_frame("mac", t_mac, build_udp4(out, bcast, fake_mac, myip, 0xffffffffu, 9, 9, t_mac, sizeof(t_mac) - 1));
	forged_frame("ip4", t_ip4, build_udp4(out, bcast, mac, fake_ip, 0xffffffffu, 9, 9, t_ip4, sizeof(t_ip4) - 1));

	memset(l4, 0, sizeof(l4)); /* UDP 9 -> 9 */
	put16(l4, 9);
	put16(l4 + 2, 9);
	put16(l4 + 4, (uint16_t)(UDP_HLEN + sizeof(t_ip6) - 1));
	memcpy(l4 + UDP_HLEN, t_ip6, sizeof(t_ip6) - 1);
	forged_frame("ip6", t_ip6, build_ip6(out, all_nodes_mac, mac, foreign6, all_nodes, PROTO_UDP, l4,
					      UDP_HLEN + sizeof(t_ip6) - 1));
	/* the same from its own link-local address passes */
	memcpy(l4 + UDP_HLEN, "HONEST-LL", 9);
	tx(out, build_ip6(out, all_nodes_mac, mac, ll, all_nodes, PROTO_UDP, l4, UDP_HLEN + sizeof(t_ip6) - 1));
	printf("dhcpnet honest tag=HONEST-LL\n");

	/* an ARP announcing the gateway's address at this guest's MAC (poisoning); its own passes */
	forged_frame("arp", t_arp, build_arp(out, mac, 1, mac, gw ? gw : fake_ip, NULL, gw ? gw : fake_ip, t_arp));
	tx(out, build_arp(out, mac, 1, mac, myip, NULL, myip, "HONEST-ARP"));
	printf("dhcpnet honest tag=HONEST-ARP\n");

	size_t n = dhcp_offer_msg(msg, 0x12345678u, bcast, fake_ip, myip, t_dhcp);
	forged_frame("dhcp", t_dhcp, build_udp4(out, bcast, mac, myip, 0xffffffffu, 67, 68, msg, n));

	/* RA: type 134, hop limit 64, lifetime 1800 s; an option of an unassigned type holds the tag */
	memset(l4, 0, sizeof(l4));
	l4[0] = 134;
	l4[4] = 64;
	put16(l4 + 6, 1800);
	l4[16] = 253;
	l4[17] = 2; /* 16 bytes */
	memcpy(l4 + 18, t_ra, sizeof(t_ra) - 1);
	forged_frame("ra", t_ra, build_ip6(out, all_nodes_mac, mac, ll, all_nodes, PROTO_ICMP6, l4, 32));
	printf("dhcpnet forged=%u honest=%u\n", forged, honest);
}

static long body(long arg_unused)
{
	(void)arg_unused;
	uint64_t want = VF_VERSION_1 | NET_F_MAC, feats;
	check(vdev_negotiate(&dev, want, &feats), "device refused FEATURES_OK");
	size_t ml;
	const char *ms = cmdline_value("mac", &ml);
	uint8_t want_mac[6];
	check(ms && net_parse_mac(ms, ml, want_mac), "mac= missing or malformed");
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)vdev_cfg_read(&dev, i, 1);
	check(!memcmp(mac, want_mac, 6), "config space has another MAC");
	check(vq_setup(&dev, &rxq, NET_RXQ, &rxmem, QSIZE, 0xffff), "rx queue setup failed");
	check(vq_setup(&dev, &txq, NET_TXQ, &txmem, QSIZE, 0xffff), "tx queue setup failed");
	vdev_driver_ok(&dev);
	check(vdev_status(&dev) & VS_DRIVER_OK, "DRIVER_OK did not stick");
	for (unsigned b = 0; b < NBUFS; b++)
		rx_post(b);
	vq_kick(&rxq);
	tsc_hz = tsc_hz_from_rtc();
	if (!arg("hostname", hostname, sizeof(hostname)))
		hostname[0] = 0;

	char buf[256];
	if (arg("ip", buf, sizeof(buf)))
		static_address(buf);
	else
		dhcp();
	if (cmdline_is("mode", "forge"))
		forge();
	if (arg("resolve", buf, sizeof(buf)))
		resolve(buf);
	if (arg("ping", buf, sizeof(buf)))
		pings(buf);
	if (arg("udp", buf, sizeof(buf)))
		udp_probe(buf);
	uint32_t peer;
	if (cmdline_has("bench") && arg_ip4("peer", &peer))
		bench(cmdline_int("bench", 100), peer);
	if (cmdline_has("flood") && arg_ip4("peer", &peer))
		flood(cmdline_int("flood", 1000), cmdline_int("size", 60), peer);
	if (cmdline_has("serve"))
		serve(cmdline_int("serve", 60));
	printf("dhcpnet done pings=%u arps=%u forged=%u\n", pings_answered, arps_answered, forged);
	return 0;
}

void test_main(void)
{
	bool mmio = cmdline_is("transport", "mmio");
	check(vdev_find(VIRTIO_ID_NET, mmio, &dev), "no virtio-net device on %s", mmio ? "virtio-mmio" : "PCI");
	user_call(body, 0, USER_IF);
	pass();
}
