/* The E1000's receive side: frames from the tap, through the card's filters (RCTL: unicast
 * addresses RA with their valid bit, promiscuous UPE/MPE, broadcast BAM, the 4096-bit multicast
 * table MTA hashed by RCTL.MO, the VLAN filter table VFTA with RCTL.VFE), VLAN tag stripping
 * (CTRL.VME: the tag goes in the descriptor's special field, VP in its status), a 4-byte CRC
 * unless RCTL.SECRC strips it (Linux's e1000 takes four bytes off every length), into the
 * receive ring: descriptors from RDH up to (not including) RDT, each with one buffer of
 * RCTL.BSIZE bytes; a frame takes as many as it needs, EOP on the last.
 *
 * When the ring has no room the frame waits in rx_buf and the tap is not read (frames queue
 * in the host) until the driver writes RDT; RNBC counts those times. The receive rate limiter
 * holds a frame in rx_buf the same way until its timer fires.
 */
#include "devices/e1000/e1000_int.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/util.h"

#include <errno.h>
#include <unistd.h>

#define RX_BUDGET 256
/* The longest frame the card takes, CRC included (8254x SDM, RCTL.LPE): 1522 bytes (a VLAN
 * frame), or 16384 with long packets on (jumbo frames, 9018 bytes and more); longer ones are
 * dropped and counted in ROC. */
#define E1000_RX_SHORT_MAX 1522u
#define E1000_RX_LONG_MAX 16384u
#define ETH_MIN 60
#define VNET_F_NEEDS_CSUM 1

static uint32_t ring_size(const struct e1000 *e)
{
	return e->st.rdlen / E1000_DESC_SIZE;
}

static uint32_t buf_size(const struct e1000 *e)
{
	unsigned b = (e->st.rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;
	if (e->st.rctl & E1000_RCTL_BSEX)
		return b == 1 ? 16384 : b == 2 ? 8192 : b == 3 ? 4096 : 2048;
	return 2048u >> b;
}

static bool mta_hit(const struct e1000 *e, const uint8_t *da)
{
	/* RCTL.MO picks which 12 bits of the address index the table */
	static const uint8_t shift[4] = { 4, 3, 2, 0 };
	unsigned mo = (e->st.rctl >> E1000_RCTL_MO_SHIFT) & 3;
	unsigned h = (((unsigned)da[4] >> shift[mo]) | ((unsigned)da[5] << (8 - shift[mo]))) & 0xfff;
	return (e->st.mta[h >> 5] >> (h & 31)) & 1;
}

bool e1000_rx_accept(const struct e1000 *e, const uint8_t *f, uint32_t len)
{
	const struct e1000_state *s = &e->st;
	if (len < 14)
		return false;
	if ((s->rctl & E1000_RCTL_VFE) && be16(f + 12) == (s->vet & 0xffff) && len >= 16) {
		unsigned vid = be16(f + 14) & 0xfff;
		if (!((s->vfta[vid >> 5] >> (vid & 31)) & 1))
			return false;
	}
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	if (!memcmp(f, bcast, 6))
		return (s->rctl & (E1000_RCTL_BAM | E1000_RCTL_MPE)) != 0;
	if (f[0] & 1)
		return (s->rctl & E1000_RCTL_MPE) || mta_hit(e, f);
	if (s->rctl & E1000_RCTL_UPE)
		return true;
	for (unsigned i = 0; i < E1000_RA_WORDS; i += 2) {
		if (!(s->ra[i + 1] & E1000_RAH_AV))
			continue;
		uint8_t a[6] = { (uint8_t)s->ra[i], (uint8_t)(s->ra[i] >> 8), (uint8_t)(s->ra[i] >> 16),
				 (uint8_t)(s->ra[i] >> 24), (uint8_t)s->ra[i + 1], (uint8_t)(s->ra[i + 1] >> 8) };
		if (!memcmp(f, a, 6))
			return true;
	}
	return false;
}

static void count_rx(struct e1000 *e, const uint8_t *f, uint32_t wire)
{
	uint32_t *s = e->st.stats;
	s[E1000_ST_TPR]++;
	s[E1000_ST_GPRC]++;
	e1000_stat64_add(s, E1000_ST_GORCL, wire);
	e1000_stat64_add(s, E1000_ST_TORL, wire);
	s[E1000_ST_PRC64 + e1000_size_bucket(wire)]++;
	if (f[0] == 0xff && f[1] == 0xff && f[2] == 0xff && f[3] == 0xff && f[4] == 0xff && f[5] == 0xff)
		s[E1000_ST_BPRC]++;
	else if (f[0] & 1)
		s[E1000_ST_MPRC]++;
}

/* A frame the kernel left for the reader to checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the card
 * hands the guest finished frames. */
static void finish_csum(uint8_t *vh, uint8_t *f, uint32_t len)
{
	if (!(vh[0] & VNET_F_NEEDS_CSUM))
		return;
	uint32_t start = get16(vh + 6), field = start + get16(vh + 8);
	if (start >= len || field + 2 > len)
		return;
	put_be16(f + field, 0);
	put_be16(f + field, (uint16_t)~e1000_csum_fold(e1000_csum_add(0, f + start, len - start)));
}

int e1000_rx_deliver(struct e1000 *e, uint8_t *buf, uint32_t buf_len)
{
	struct e1000_state *s = &e->st;
	uint8_t *f = buf + TAP_VNET_HDR_LEN;
	uint32_t len = buf_len - TAP_VNET_HDR_LEN;
	uint32_t n = ring_size(e);
	if (!n || s->rdh >= n || s->rdt >= n)
		return 0;   /* no usable ring: wait for the driver to set one up */
	/* Work out the frame's final length before touching it: it stays as read while it waits. */
	bool strip = (s->ctrl & E1000_CTRL_VME) && len >= 18 && be16(f + 12) == (s->vet & 0xffff);
	uint32_t flen = strip ? len - 4 : len;
	if (flen < ETH_MIN)
		flen = ETH_MIN;
	uint32_t total = flen + ((s->rctl & E1000_RCTL_SECRC) ? 0 : 4);
	if (len + 4 > ((s->rctl & E1000_RCTL_LPE) ? E1000_RX_LONG_MAX : E1000_RX_SHORT_MAX)) {   /* as on the wire */
		s->stats[E1000_ST_ROC]++;
		stat_add(&e->stats.rx_dropped, 1);
		return 1;
	}
	uint32_t bs = buf_size(e);
	uint32_t need = (total + bs - 1) / bs;
	uint32_t avail = (s->rdt + n - s->rdh) % n;
	if (need > avail) {
		s->stats[E1000_ST_RNBC]++;
		return 0;
	}
	uint16_t special = 0;
	uint8_t status = E1000_RXD_STAT_IXSM;   /* the guest checks checksums itself */
	if (strip) {
		special = be16(f + 14);
		memmove(f + 12, f + 16, len - 16);
		len -= 4;
		status |= E1000_RXD_STAT_VP;
	}
	if (len < ETH_MIN)
		memset(f + len, 0, ETH_MIN - len);
	len = flen;
	if (total > flen) {
		put32(f + len, e1000_fcs(f, len));   /* the FCS, least significant byte first as on the wire */
	}
	uint64_t base = (uint64_t)s->rdbah << 32 | s->rdbal;
	uint32_t done = 0;
	for (uint32_t k = 0; k < need; k++) {
		uint64_t da = base + (uint64_t)s->rdh * E1000_DESC_SIZE;
		uint8_t d[E1000_DESC_SIZE];
		uint32_t part = total - done < bs ? total - done : bs;
		if (e1000_dma_read(e, da, d, E1000_DESC_SIZE)) {
			e1000_dma_write(e, get64(d), f + done, part);   /* a buffer outside RAM is counted, skipped */
			uint8_t wb[8];
			put16(wb, (uint16_t)part);
			put16(wb + 2, 0);
			wb[4] = (uint8_t)(status | (k + 1 == need ? E1000_RXD_STAT_EOP | E1000_RXD_STAT_DD : E1000_RXD_STAT_DD));
			wb[5] = 0;
			put16(wb + 6, special);
			e1000_dma_write(e, da + 8, wb, sizeof(wb));
		}
		done += part;
		s->rdh = (s->rdh + 1) % n;
	}
	count_rx(e, f, total);
	stat_add(&e->stats.rx_frames, 1);
	stat_add(&e->stats.rx_bytes, len);
	uint32_t left = (s->rdt + n - s->rdh) % n;
	unsigned rdmts = (s->rctl >> E1000_RCTL_RDMTS_SHIFT) & 3;
	if (rdmts < 3 && left < (n >> (rdmts + 1)))
		e1000_raise(e, E1000_ICR_RXDMT0);   /* the driver should hand out buffers soon */
	return 1;
}

void e1000_rx(struct e1000 *e)
{
	bool got = false;
	if (e->mmds && !e->paused)
		got = e1000_mmds_rx(e);   /* MMDS's replies need no tap traffic to go out */
	for (unsigned budget = RX_BUDGET; budget && !e->rx_waiting && !e->paused; budget--) {
		if (!e->rx_len) {
			ssize_t r = read(e->tap.fd, e->rx_buf, E1000_RX_MAX);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN) {
					if (!stat_read(&e->stats.rx_errors))
						log_warn("%s: reading tap '%s': %s", e->name, e->tap.ifname, strerror(errno));
					stat_add(&e->stats.rx_errors, 1);
					e->rx_waiting = true;   /* a broken tap: wait for the driver, do not spin */
				}
				break;
			}
			if (r < TAP_VNET_HDR_LEN + 14 || e->rx_buf[1] != 0 /* GSO: never asked for */) {
				stat_add(&e->stats.rx_dropped, 1);
				continue;
			}
			e->rx_len = (uint32_t)r;
			e->rx_paid = false;
		}
		uint8_t *f = e->rx_buf + TAP_VNET_HDR_LEN;
		uint32_t len = e->rx_len - TAP_VNET_HDR_LEN;
		if (!(e->st.rctl & E1000_RCTL_EN) || !e1000_rx_accept(e, f, len)) {
			stat_add(&e->stats.rx_filtered, 1);
			e->rx_len = 0;
			continue;
		}
		if (!e->rx_paid && rate_limiter_active(&e->rx_rl) &&
		    !(e->rx_paid = rate_limiter_admit(&e->rx_rl, len, now_ns())))
			break;   /* rx_rate_limiter: the frame waits for the timer */
		finish_csum(e->rx_buf, f, len);
		if (!e1000_rx_deliver(e, e->rx_buf, e->rx_len)) {
			e->rx_waiting = true;
			stat_add(&e->stats.rx_blocked, 1);
			break;
		}
		e->rx_len = 0;
		got = true;
	}
	if (got)
		e1000_rx_done(e);
}

/* The driver gave buffers back (RDT, RCTL) while the card waited for them: receive at once, on
 * the thread that wrote the register, as the card would on the doorbell. The frame that waited
 * in rx_buf and those queued in the tap meanwhile go into the new buffers inside this one exit,
 * where waking the I/O thread for them would cost two thread switches per refill and leave the
 * guest polling an empty ring in between (the driver refills 16 buffers at a time). */
void e1000_rx_kick(struct e1000 *e)
{
	if (e->rx_waiting) {
		e->rx_waiting = false;
		e1000_rx(e);
		e1000_set_interest(e);
	}
}
