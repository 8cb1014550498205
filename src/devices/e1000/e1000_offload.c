/* What the E1000 does to a gathered packet before it leaves (8254x SDM 3.3.5-3.3.7):
 * - checksum insertion: the IP header checksum (IXSM) over [IPCSS, IPCSE] at IPCSO, the TCP or
 *   UDP checksum (TXSM) over [TUCSS, TUCSE] (0: to the end) at TUCSO, the driver having put
 *   the pseudo-header's sum in the field; a legacy descriptor's one checksum from CSS at CSO;
 * - TCP segmentation (TSE): the first HDRLEN bytes are the header of every segment, the rest is
 *   cut in MSS-byte payloads; each segment gets its IPv4 total length, identification (+1 per
 *   segment) and header checksum, or its IPv6 payload length, its TCP sequence number (FIN and
 *   PSH only on the last) or UDP length, and its TCP/UDP checksum, whose pseudo-header sum
 *   the driver left without the length (Linux's e1000_tso does exactly that);
 * - VLAN insertion (VLE with CTRL.VME): the 802.1Q tag (VET, then the descriptor's tag) after
 *   the addresses.
 * Each frame then goes to the tap with a zero vnet header: every offload is done here, so the
 * host sees ordinary frames whatever the tap's settings. Except one case: a TCP segmentation
 * packet on a real tap (e->gso) goes as ONE frame, its vnet header asking the host kernel to
 * segment it (GSO, TCPV4/TCPV6, MSS as gso_size) and to finish the TCP checksum (NEEDS_CSUM):
 * one write per 64 KiB instead of one per segment, as virtio-net's guests get. The guest sees
 * the same either way (the same statistics, per segment). Packets the kernel could not take
 * that way stay segmented here: VLAN insertion, UDP, frames for MMDS, no TXSM, more than
 * 64 KiB of IP.
 */
#include "devices/e1000/e1000_int.h"
#include "util/outgate.h"
#include "util/log.h"
#include "util/stat.h"

#include <errno.h>
#include <unistd.h>

uint32_t e1000_csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	uint64_t s = sum;
	uint32_t i = 0;
	for (; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t e1000_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* A held frame's time has come (the standby acknowledged its epoch): written from the
 * replication thread under the device's lock. A full tap drops it, as a congested link would. */
static void write_held(void *opaque, const void *frame, size_t len)
{
	struct e1000 *e = opaque;
	ssize_t r;
	pthread_mutex_lock(&e->lock);
	do
		r = write(e->tap.fd, frame, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		stat_add(&e->stats.tx_errors, 1);
	pthread_mutex_unlock(&e->lock);
}

int e1000_tap_write(struct e1000 *e, const uint8_t *frame, uint32_t len)
{
	if (e->mmds && e1000_mmds_tx(e, frame + TAP_VNET_HDR_LEN, len - TAP_VNET_HDR_LEN))
		return 0;   /* for the metadata service: it never reaches the tap */
	struct outgate *g = __atomic_load_n(&e->gate, __ATOMIC_ACQUIRE);
	if (g && e->is_tap && outgate_hold(g, write_held, e, frame, len, false)) {
		/* replicated: out when the standby has this epoch (src/ha) */
		stat_add(&e->stats.tx_frames, 1);
		stat_add(&e->stats.tx_bytes, len - TAP_VNET_HDR_LEN);
		return 0;
	}
	ssize_t r;
	do
		r = write(e->tap.fd, frame, len);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
		return -EAGAIN;
	if (r < 0) {
		stat_add(&e->stats.tx_errors, 1);
		if (e->stats.tx_errors <= 5)
			log_debug("%s: tap write of %u bytes: %s", e->name, len, strerror(errno));
		return 0;   /* refused (interface down): dropped, as a link without carrier would */
	}
	stat_add(&e->stats.tx_frames, 1);
	stat_add(&e->stats.tx_bytes, len - TAP_VNET_HDR_LEN);
	return 0;
}

/* Store ~sum of [start, end) at field (the field's bytes count as they are). */
static void insert_csum(uint8_t *f, uint32_t len, uint32_t start, uint32_t end, uint32_t field, uint32_t extra)
{
	if (end > len || end == 0)
		end = len;
	if (start >= end || field + 2 > len)
		return;   /* a context that does not fit the packet: left as it is */
	uint16_t c = (uint16_t)~e1000_csum_fold(e1000_csum_add(extra, f + start, end - start));
	put_be16(f + field, c);
}

/* Guest-visible statistics of a frame sent (len: without the CRC the wire adds). */
static void count_tx(struct e1000 *e, const uint8_t *f, uint32_t len)
{
	uint32_t *s = e->st.stats;
	uint32_t wire = len + 4;
	s[E1000_ST_TPT]++;
	s[E1000_ST_GPTC]++;
	e1000_stat64_add(s, E1000_ST_GOTCL, wire);
	e1000_stat64_add(s, E1000_ST_TOTL, wire);
	s[E1000_ST_PTC64 + e1000_size_bucket(wire)]++;
	if (len >= 6 && f[0] == 0xff && f[1] == 0xff && f[2] == 0xff && f[3] == 0xff && f[4] == 0xff && f[5] == 0xff)
		s[E1000_ST_BPTC]++;
	else if (len >= 6 && (f[0] & 1))
		s[E1000_ST_MPTC]++;
}

/* Send frame (vnet header first, len bytes after it), with the VLAN tag inserted if asked.
 * buf must have 4 bytes of room after the frame. */
static int emit(struct e1000 *e, uint8_t *buf, uint32_t len, bool vle, uint16_t vlan)
{
	uint8_t *f = buf + TAP_VNET_HDR_LEN;
	memset(buf, 0, TAP_VNET_HDR_LEN);
	if (vle && (e->st.ctrl & E1000_CTRL_VME) && len >= 12) {
		memmove(f + 16, f + 12, len - 12);
		put_be16(f + 12, (uint16_t)e->st.vet);
		put_be16(f + 14, vlan);
		len += 4;
	}
	int r = e1000_tap_write(e, buf, TAP_VNET_HDR_LEN + len);
	if (r == 0)
		count_tx(e, f, len);
	return r;
}

#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_TCPV4 1
#define VNET_GSO_TCPV6 4

/* A TSO packet as one GSO frame (see the top). hdr, mss, ip, l4: the context's, checked. */
static int send_gso(struct e1000 *e, uint32_t len, uint8_t popts, uint32_t hdr, uint32_t mss, uint32_t ip,
		    uint32_t l4, bool v4)
{
	const struct e1000_tx_ctx *c = &e->st.tx_ctx;
	uint8_t *out = e->seg_buf + TAP_VNET_HDR_LEN;
	/* a copy: the packet stays as the driver left it if the tap makes it wait */
	memcpy(out, e->tx_buf + TAP_VNET_HDR_LEN, len);
	if (v4) {
		put_be16(out + ip + 2, (uint16_t)(len - ip));
		if (popts & E1000_TXD_POPTS_IXSM) {
			put_be16(out + c->ipcso, 0);
			uint32_t end = c->ipcse ? c->ipcse + 1u : l4;
			insert_csum(out, len, ip, end > l4 ? l4 : end, c->ipcso, 0);
		}
	} else {
		put_be16(out + ip + 4, (uint16_t)(len - ip - 40));
	}
	/* the pseudo-header sum with the whole TCP length, not complemented: the host finishes it
	 * per segment (the driver left it without the length) */
	put_be16(out + c->tucso, e1000_csum_fold((uint32_t)be16(out + c->tucso) + (len - l4)));
	uint8_t *vh = e->seg_buf;
	memset(vh, 0, TAP_VNET_HDR_LEN);
	vh[0] = VNET_F_NEEDS_CSUM;
	vh[1] = v4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;
	put16(vh + 2, (uint16_t)hdr);
	put16(vh + 4, (uint16_t)mss);
	put16(vh + 6, (uint16_t)l4);
	put16(vh + 8, (uint16_t)(c->tucso - l4));
	int r = e1000_tap_write(e, e->seg_buf, TAP_VNET_HDR_LEN + len);
	if (r < 0)
		return r;   /* -EAGAIN: nothing went, the packet waits for the tap */
	uint32_t payload = len - hdr;
	for (uint32_t off = 0; off < payload; off += mss) {
		count_tx(e, out, hdr + (payload - off < mss ? payload - off : mss));
		stat_add(&e->stats.tx_segments, 1);
	}
	e->st.stats[E1000_ST_TSCTC]++;
	return 0;
}

static int send_tso(struct e1000 *e, uint32_t len, uint8_t popts, bool vle, uint16_t vlan)
{
	const struct e1000_tx_ctx *c = &e->st.tx_ctx;
	const uint8_t *pkt = e->tx_buf + TAP_VNET_HDR_LEN;
	uint32_t hdr = c->hdr_len, mss = c->mss, ip = c->ipcss, l4 = c->tucss;
	bool v4 = c->tucmd & E1000_TUCMD_IP, tcp = c->tucmd & E1000_TUCMD_TCP;
	/* The header must hold what we rewrite: the IP header's fields and the L4 header's. */
	uint32_t l4_need = tcp ? 20 : 8;
	if (!mss || hdr >= len || hdr > 240 || l4 + l4_need > hdr || ip + (v4 ? 20 : 40) > l4 ||
	    c->tucso + 2u > hdr || (v4 && c->ipcso + 2u > hdr)) {
		stat_add(&e->stats.tx_malformed, 1);
		return 0;
	}
	if (e->gso && tcp && (popts & E1000_TXD_POPTS_TXSM) && c->tucso == l4 + 16 && len - ip <= 65535 &&
	    len - hdr > mss && !(vle && (e->st.ctrl & E1000_CTRL_VME)) && !e1000_mmds_wants(e, pkt, len))
		return send_gso(e, len, popts, hdr, mss, ip, l4, v4);
	uint16_t id = v4 ? be16(pkt + ip + 4) : 0;
	uint32_t seq = tcp ? be32(pkt + l4 + 4) : 0;
	uint8_t flags = tcp ? pkt[l4 + 13] : 0;
	uint16_t pseudo = be16(pkt + c->tucso);   /* the driver's pseudo-header sum, no length */
	uint32_t payload = len - hdr;
	uint8_t *out = e->seg_buf + TAP_VNET_HDR_LEN;
	bool first = true;
	for (uint32_t off = 0; off < payload; off += mss) {
		uint32_t part = payload - off < mss ? payload - off : mss;
		bool last = off + part >= payload;
		uint32_t seg = hdr + part;
		memcpy(out, pkt, hdr);
		memcpy(out + hdr, pkt + hdr + off, part);
		if (v4) {
			put_be16(out + ip + 2, (uint16_t)(seg - ip));
			put_be16(out + ip + 4, id++);
			if (popts & E1000_TXD_POPTS_IXSM) {
				put_be16(out + c->ipcso, 0);
				uint32_t end = c->ipcse ? c->ipcse + 1u : l4;
				insert_csum(out, seg, ip, end > l4 ? l4 : end, c->ipcso, 0);
			}
		} else {
			put_be16(out + ip + 4, (uint16_t)(seg - ip - 40));
		}
		if (tcp) {
			put_be32(out + l4 + 4, seq + off);
			if (!last)
				out[l4 + 13] = flags & (uint8_t)~0x09;   /* FIN and PSH: the last segment's */
		} else {
			put_be16(out + l4 + 4, (uint16_t)(seg - l4));
		}
		if (popts & E1000_TXD_POPTS_TXSM) {
			put_be16(out + c->tucso, 0);
			insert_csum(out, seg, l4, 0, c->tucso, (uint32_t)pseudo + (seg - l4));
		}
		int r = emit(e, e->seg_buf, seg, vle, vlan);
		if (r == -EAGAIN) {
			if (first)
				return -EAGAIN;   /* nothing went yet: the packet waits for the tap */
			stat_add(&e->stats.tx_errors, 1);   /* the rest is lost, as on a congested link */
			break;
		}
		first = false;
		stat_add(&e->stats.tx_segments, 1);
	}
	e->st.stats[E1000_ST_TSCTC]++;
	return 0;
}

int e1000_tx_packet(struct e1000 *e, uint32_t len, bool tse, uint8_t popts, bool vle, uint16_t vlan,
		    int legacy_cso, int legacy_css)
{
	if (tse)
		return send_tso(e, len, popts, vle, vlan);
	uint8_t *f = e->tx_buf + TAP_VNET_HDR_LEN;
	const struct e1000_tx_ctx *c = &e->st.tx_ctx;
	if (legacy_cso >= 0) {
		insert_csum(f, len, (uint32_t)legacy_css, 0, (uint32_t)legacy_cso, 0);
	} else {
		if (popts & E1000_TXD_POPTS_IXSM)
			insert_csum(f, len, c->ipcss, c->ipcse ? c->ipcse + 1u : 0, c->ipcso, 0);
		if (popts & E1000_TXD_POPTS_TXSM)
			insert_csum(f, len, c->tucss, c->tucse ? c->tucse + 1u : 0, c->tucso, 0);
	}
	return emit(e, e->tx_buf, len, vle, vlan);
}
