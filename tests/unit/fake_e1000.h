/* A driver for petrel's E1000 written by the test: guest memory is a heap buffer, the tap a
 * SOCK_DGRAM socket pair (one datagram = one frame with its 12-byte vnet header), registers are
 * reached through e1000_bar_read/write as the PCI bus would. Rings: transmit at TX_RING,
 * receive at RX_RING, RING_N descriptors each; buffers from TX_BUF and RX_BUF. Included by one
 * test file (its state is per file). */
#ifndef PETREL_TESTS_UNIT_FAKE_E1000_H
#define PETREL_TESTS_UNIT_FAKE_E1000_H

#include "devices/e1000/e1000.h"
#include "memory/guest_mem.h"
#include "util/codec.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FE_MEM (1u << 20)
#define TX_RING 0x1000u
#define RX_RING 0x2000u
#define RING_N 16u
#define TX_BUF 0x10000u
#define RX_BUF 0x40000u   /* RX_BUF + 0x4000 i: 16 KiB per buffer */

static struct guest_mem fe_mem;
static uint8_t *fe_ram;
static struct e1000 fe;
static int fe_peer = -1;
static const uint8_t fe_mac[6] = { 0x02, 0x00, 0x00, 0xe1, 0x00, 0x01 };

static inline void fe_w(uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	e1000_bar_write(&fe, 0, off, b, 4);
}

static inline uint32_t fe_r(uint32_t off)
{
	uint8_t b[4];
	e1000_bar_read(&fe, 0, off, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A card with bus mastering on, no rings yet. has_mac: the configured fe_mac; pci: the PCI
 * bus it is plugged into (NULL: none, its registers reached only through fe_w/fe_r). */
static inline int fe_setup_on(bool has_mac, struct pci_bus *pci)
{
	if (!fe_ram) {
		void *p = mmap(NULL, FE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			abort();
		fe_ram = p;
		fe_mem.regions[0] = (struct guest_region){ 0, FE_MEM, fe_ram };
		fe_mem.nregions = 1;
		fe_mem.total = FE_MEM;
		log_set_level(LOG_OFF);
	}
	memset(fe_ram, 0, FE_MEM);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	struct e1000_params cfg = { .iface_id = "eth0", .host_dev_name = "sp", .has_mac = has_mac };
	memcpy(cfg.guest_mac, fe_mac, 6);
	int err = e1000_create_fd(&fe, &cfg, 0, sv[0], &fe_mem, NULL, pci);
	if (err < 0) {
		close(sv[1]);
		return err;
	}
	fe_peer = sv[1];
	fe.pci.st.cfg[4] |= 0x4;   /* PCI_COMMAND_MASTER, as the driver's pci_set_master */
	return 0;
}

static inline int fe_setup(bool has_mac)
{
	return fe_setup_on(has_mac, NULL);
}

static inline void fe_teardown(void)
{
	e1000_destroy(&fe);
	close(fe_peer);
	fe_peer = -1;
}


/* Transmit ring of RING_N descriptors, enabled. */
static inline void fe_tx_ring(void)
{
	fe_w(0x3800, TX_RING);    /* TDBAL */
	fe_w(0x3804, 0);
	fe_w(0x3808, RING_N * 16); /* TDLEN */
	fe_w(0x3810, 0);
	fe_w(0x3818, 0);
	fe_w(0x0400, 0x2 | 0x8);  /* TCTL: EN, PSP */
}

static inline uint8_t *txd(unsigned i) { return fe_ram + TX_RING + 16 * (i % RING_N); }
static inline uint8_t *rxd(unsigned i) { return fe_ram + RX_RING + 16 * (i % RING_N); }

/* A legacy descriptor: buffer, length, command. */
static inline void fe_txd_legacy(unsigned i, uint64_t addr, uint16_t len, uint8_t cmd)
{
	uint8_t *d = txd(i);
	memset(d, 0, 16);
	le_store(d, addr, 8);
	le_store(d + 8, len, 2);
	d[11] = cmd;
}

/* An extended data descriptor: buffer, length, DCMD, POPTS. */
static inline void fe_txd_data(unsigned i, uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts)
{
	uint8_t *d = txd(i);
	memset(d, 0, 16);
	le_store(d, addr, 8);
	le_store(d + 8, (len & 0xfffff) | 1u << 20 | (uint32_t)(dcmd | 0x20) << 24, 4);
	d[13] = popts;
}

/* A context descriptor. */
static inline void fe_txd_ctx(unsigned i, uint8_t ipcss, uint8_t ipcso, uint16_t ipcse, uint8_t tucss,
			      uint8_t tucso, uint16_t tucse, uint32_t paylen, uint8_t tucmd, uint8_t hdrlen,
			      uint16_t mss)
{
	uint8_t *d = txd(i);
	memset(d, 0, 16);
	d[0] = ipcss;
	d[1] = ipcso;
	le_store(d + 2, ipcse, 2);
	d[4] = tucss;
	d[5] = tucso;
	le_store(d + 6, tucse, 2);
	le_store(d + 8, (paylen & 0xfffff) | (uint32_t)(tucmd | 0x20) << 24, 4);
	d[13] = hdrlen;
	le_store(d + 14, mss, 2);
}

/* Receive ring with n usable descriptors (RDT = n), buffers at RX_BUF + 0x4000 i. */
static inline void fe_rx_ring(unsigned n, uint32_t rctl)
{
	for (unsigned i = 0; i < RING_N; i++) {
		memset(rxd(i), 0, 16);
		le_store(rxd(i), RX_BUF + 0x4000ull * i, 8);
	}
	fe_w(0x2800, RX_RING);
	fe_w(0x2804, 0);
	fe_w(0x2808, RING_N * 16);
	fe_w(0x2810, 0);
	fe_w(0x2818, n);
	fe_w(0x0100, rctl | 0x2);   /* RCTL.EN */
}

/* A frame from the host: zero vnet header, then the bytes. */
static inline int fe_host_send(const uint8_t *frame, uint32_t len)
{
	static uint8_t b[70000];
	memset(b, 0, 12);
	memcpy(b + 12, frame, len);
	return (int)send(fe_peer, b, 12 + len, 0);
}

/* The next frame the card sent to the host, without its vnet header (-1: none). */
static inline int fe_host_recv(uint8_t *frame, uint32_t cap)
{
	static uint8_t b[70000];
	ssize_t r = recv(fe_peer, b, sizeof(b), MSG_DONTWAIT);
	if (r < 12)
		return -1;
	uint32_t n = (uint32_t)r - 12 < cap ? (uint32_t)r - 12 : cap;
	memcpy(frame, b + 12, n);
	return (int)(r - 12);
}

/* ---- independent helpers: a ones' complement sum as RFC 1071 describes it ---- */

static inline uint16_t sum16(const uint8_t *p, uint32_t len, uint32_t init)
{
	uint32_t s = init;
	for (uint32_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* A TCP/UDP checksum over an IPv4 packet at ip is right when the sum with the pseudo
 * header is 0xffff. */
static inline bool l4_ok(const uint8_t *ip, uint8_t proto)
{
	unsigned ihl = (ip[0] & 15) * 4u;
	unsigned tot = (unsigned)(ip[2] << 8 | ip[3]);
	uint32_t ps = 0;
	for (unsigned i = 12; i < 20; i += 2)
		ps += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	ps += proto + (tot - ihl);
	return sum16(ip + ihl, tot - ihl, ps) == 0xffff;
}

static inline bool ip_ok(const uint8_t *ip)
{
	return sum16(ip, (ip[0] & 15) * 4u, 0) == 0xffff;
}

static inline void put_be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t get_be(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static uint8_t frame[70000];

static inline void fill(uint8_t *p, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static inline uint32_t eth(uint8_t *p, const uint8_t *dst, uint32_t len, uint8_t seed)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, "\x02\x00\x00\x00\x00\x09", 6);
	p[12] = 0x08;
	p[13] = 0x00;
	fill(p + 14, len - 14, seed);
	return len;
}

#endif
