/* libFuzzer target: the E1000 (src/devices/e1000) driven by a hostile driver. A datagram
 * socket pair stands in for the tap. Input: byte 0 = flags (bit 0: rings already set up at
 * 0x1000 (transmit) and 0x2000 (receive), 16 descriptors each, both directions enabled;
 * bit 1: bus mastering off; bit 2: the card answers MMDS, src/devices/e1000/e1000_mmds.c), bytes 1-2 = how many bytes of guest RAM follow (RAM is 64 KiB
 * from address 0), then a script of operations until the input ends:
 *   0: register write   [bar:1][offset:3][width:1][value:8]  (width 1, 2, 4 or 8)
 *   1: register read    [bar:1][offset:3][width:1]
 *   2: a frame from the host [len:2] (contents: a pattern, the first 14 bytes from the input)
 *   3: the I/O thread runs (tap, timers)
 *   4: save the card's state (its save verb) and load it into a second card, which goes on
 *      in its place
 *   5: the guest sends a frame for MMDS (169.254.169.254) through a legacy descriptor at TDT
 *      [arp:1][port:2][seq:4][ack:4][flags:1][len:1][payload:len]: an ARP request, or a TCP
 *      segment with right checksums, the rest from the input (replies go to the receive ring)
 * Nothing may crash or touch memory outside RAM, no frame reaches the host longer than the
 * card's largest packet, no frame for the MMDS address reaches the host, and without MMDS
 * the guest never gets more frames than the host sent. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/mmds_config.h"   /* MMDS_DEFAULT_IPV4 */
#include "devices/e1000/e1000.h"
#include "fuzz_common.h"
#include "mmds/proto.h"
#include "mmds/stack.h"
#include "fuzz_e1000_card.h"

FUZZ_QUIET_LOGS()

#define RAM (1u << 16)

#define MMDS_FRAME_AT 0x8000u   /* where op 5 builds its frame in RAM */

static void reg32(struct e1000 *e, uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	e1000_bar_write(e, 0, off, b, 4);
}

static struct mmds *service(void)
{
	static struct mmds *svc;
	if (!svc) {
		svc = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
		json_t *d = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\"}}}", 0, NULL);
		if (svc && d)
			mmds_put(svc, d);
		json_decref(d);
	}
	return svc;
}

/* Op 5: a frame for MMDS at MMDS_FRAME_AT, a legacy descriptor for it at TDT (where the ring
 * base the driver wrote says, if that is in RAM), and TDT moved on. */
static void guest_sends_to_mmds(struct e1000 *e, struct fuzz_input *in, uint8_t *ram)
{
	uint8_t arp = fuzz_byte(in) & 1, flags, plen;
	uint16_t port = 0;
	uint32_t seq = 0, ack = 0;
	fuzz_take(in, &port, 2);
	fuzz_take(in, &seq, 4);
	fuzz_take(in, &ack, 4);
	flags = fuzz_byte(in);
	plen = fuzz_byte(in);
	static uint8_t payload[256];
	size_t got = plen < in->left ? plen : in->left;
	fuzz_take(in, payload, got);
	uint8_t *f = ram + MMDS_FRAME_AT;
	static const uint8_t gmac[6] = { 2, 0, 0, 0, 0, 1 }, zero[6];
	memcpy(f + 6, gmac, 6);
	uint32_t len;
	if (arp) {
		memset(f, 0xff, 6);
		wr16(f + 12, ETHERTYPE_ARP);
		arp_write(f + ETH_HDR_LEN, ARP_OP_REQUEST, gmac, 0x0a000002u, zero, MMDS_DEFAULT_IPV4);
		len = ETH_HDR_LEN + ARP_LEN;
	} else {
		memcpy(f, "\x06\x01\x23\x45\x67\x01", 6);
		wr16(f + 12, ETHERTYPE_IPV4);
		struct mmds_tcp_seg sg = { .remote_ip = MMDS_DEFAULT_IPV4, .remote_port = 80, .local_port = port,
					   .seq = seq, .ack = ack, .flags = flags, .window = 65535, .mss = 1460,
					   .data = payload, .len = got };
		len = (uint32_t)(ETH_HDR_LEN + ip_write_tcp(f + ETH_HDR_LEN, 0x0a000002u, 1, &sg));
	}
	uint64_t d = ((uint64_t)e->st.tdbah << 32 | e->st.tdbal) + (uint64_t)e->st.tdt * 16;
	if (d + 16 > RAM)
		return;
	memset(ram + d, 0, 16);
	for (unsigned i = 0; i < 8; i++)
		ram[d + i] = (uint8_t)((uint64_t)MMDS_FRAME_AT >> (8 * i));
	ram[d + 8] = (uint8_t)len;
	ram[d + 9] = (uint8_t)(len >> 8);
	ram[d + 11] = 0x01 | 0x02 | 0x08;   /* EOP, IFCS, RS */
	uint32_t n = e->st.tdlen / 16;
	reg32(e, 0x3818, n ? (e->st.tdt + 1) % n : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_byte(&in);
	uint16_t ramlen = 0;
	fuzz_take(&in, &ramlen, 2);
	struct guest_mem *mem = fuzz_guest_mem(RAM);
	uint8_t *ram = mem->regions[0].hva;
	memset(ram, 0, RAM);
	size_t n = ramlen < in.left ? ramlen : in.left;
	fuzz_take(&in, ram, n);

	static struct e1000 e;
	int peer;
	if (fuzz_e1000_make(&e, &peer, mem) < 0)
		return 0;
	bool mmds = flags & 4;
	if (mmds && (!service() || e1000_mmds_enable(&e, service(), MMDS_DEFAULT_IPV4) < 0)) {
		e1000_destroy(&e);
		close(peer);
		return 0;
	}
	if (!(flags & 2))
		e.pci.st.cfg[4] |= 0x4;
	if (flags & 1) {
		reg32(&e, 0x3800, 0x1000);
		reg32(&e, 0x3808, 256);
		reg32(&e, 0x0400, 0x2);
		reg32(&e, 0x2800, 0x2000);
		reg32(&e, 0x2808, 256);
		reg32(&e, 0x2818, 15);
		reg32(&e, 0x0100, 0x2 | 0x8000);
	}
	uint64_t sent = 0;
	static uint8_t frame[E1000_RX_MAX + 16];
	for (unsigned ops = 0; in.left && ops < 256; ops++) {
		uint8_t op = fuzz_byte(&in) % 6;
		if (op <= 1) {
			uint8_t bar = fuzz_byte(&in) & 1, w = fuzz_byte(&in);
			uint32_t off = 0;
			fuzz_take(&in, &off, 3);
			uint8_t val[8] = { 0 };
			unsigned width = 1u << (w & 3);
			uint32_t limit = bar ? 0x40 : E1000_BAR0_SIZE;
			off %= limit;
			if (off + width > limit)
				off = limit - width;
			if (op == 0) {
				fuzz_take(&in, val, 8);
				e1000_bar_write(&e, bar, off, val, width);
			} else {
				e1000_bar_read(&e, bar, off, val, width);
			}
		} else if (op == 2) {
			uint16_t len = 0;
			fuzz_take(&in, &len, 2);
			len = (uint16_t)(len % 9100);
			memset(frame, 0, 12);
			for (unsigned i = 0; i < len; i++)
				frame[12 + i] = (uint8_t)(i * 13);
			fuzz_take(&in, frame + 12, len < 14 ? len : 14);
			if (send(peer, frame, 12u + len, 0) > 0)
				sent++;
		} else if (op == 3) {
			e1000_poll(&e);
		} else if (op == 5) {
			guest_sends_to_mmds(&e, &in, ram);
		} else {
			e1000_quiesce(&e);
			struct enc en;
			enc_init(&en);
			e1000_state_ops.save(&e, &en);
			FUZZ_CHECK(en.err == 0);
			static struct e1000 e2;
			int peer2;
			int made = fuzz_e1000_make(&e2, &peer2, mem);
			if (made == 0 && mmds && e1000_mmds_enable(&e2, service(), MMDS_DEFAULT_IPV4) < 0) {
				e1000_destroy(&e2);   /* as a restore whose device cannot be made */
				close(peer2);
				made = -1;
			}
			if (made == 0) {
				char err[128];
				struct dec d;
				dec_init(&d, en.buf, en.len);
				FUZZ_CHECK(e1000_state_ops.load(&e2, &d, e1000_state_ops.version, err, sizeof(err)) == 0);
				FUZZ_CHECK(!memcmp(&e2.st.eeprom, &e.st.eeprom, sizeof(e.st.eeprom)));
				uint64_t got = e.stats.rx_frames;
				e1000_destroy(&e);
				close(peer);
				e = e2;   /* the restored card goes on (its fds move with it) */
				e.stats.rx_frames = got;
				peer = peer2;
			} else {
				e1000_resume(&e);
			}
			enc_free(&en);
		}
	}
	e1000_poll(&e);
	FUZZ_CHECK(mmds || e.stats.rx_frames <= sent);
	for (;;) {
		ssize_t r = recv(peer, frame, sizeof(frame), MSG_DONTWAIT);
		if (r < 0)
			break;
		FUZZ_CHECK(r >= 12 && r <= 12 + E1000_TX_MAX + 4);
		/* nothing for MMDS's address leaves: neither IPv4 to it nor ARP asking for it */
		if (mmds && r >= 12 + 42 && frame[12 + 12] == 0x08 && frame[12 + 13] == 0x00)
			FUZZ_CHECK(rd32(frame + 12 + 30) != MMDS_DEFAULT_IPV4);
		if (mmds && r >= 12 + 42 && frame[12 + 12] == 0x08 && frame[12 + 13] == 0x06)
			FUZZ_CHECK(rd32(frame + 12 + 38) != MMDS_DEFAULT_IPV4);
	}
	e1000_destroy(&e);
	close(peer);
	return 0;
}
