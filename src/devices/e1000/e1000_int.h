/* What the E1000's files share (private to src/devices/e1000). Every function here runs with
 * the device lock held. */
#ifndef PETREL_DEVICES_E1000_INT_H
#define PETREL_DEVICES_E1000_INT_H

#include "devices/e1000/e1000.h"

#include <string.h>

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16; }
static inline uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
/* Big-endian (network order) fields of frames. */
static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static inline void put_be32(uint8_t *p, uint32_t v) { put_be16(p, (uint16_t)(v >> 16)); put_be16(p + 2, (uint16_t)v); }

/* Statistics registers: a 64-bit count in a low/high pair, and the size buckets (64, 65-127,
 * 128-255, 256-511, 512-1023, 1024 and up) of the PRC and PTC counters. */
static inline void e1000_stat64_add(uint32_t *s, unsigned lo, uint64_t v)
{
	uint64_t b = ((uint64_t)s[lo + 1] << 32 | s[lo]) + v;
	s[lo] = (uint32_t)b;
	s[lo + 1] = (uint32_t)(b >> 32);
}

static inline unsigned e1000_size_bucket(uint32_t wire)
{
	return wire <= 64 ? 0 : wire <= 127 ? 1 : wire <= 255 ? 2 : wire <= 511 ? 3 : wire <= 1023 ? 4 : 5;
}

/* e1000_regs.c */
uint32_t e1000_reg_read(struct e1000 *e, uint32_t off);
void e1000_reg_write(struct e1000 *e, uint32_t off, uint32_t val);
/* Power-on / CTRL.RST: every register to its reset value (EEPROM contents and MAC kept). */
void e1000_reset_regs(struct e1000 *e);

/* e1000_nvm.c: the EEPROM and the PHY */
void e1000_eeprom_init(struct e1000 *e);
uint32_t e1000_eecd_read(const struct e1000 *e);
void e1000_eecd_write(struct e1000 *e, uint32_t val);
uint32_t e1000_eerd_write(struct e1000 *e, uint32_t val);   /* the EERD value after a read */
void e1000_phy_reset(struct e1000 *e);
void e1000_mdic_write(struct e1000 *e, uint32_t val);
/* Link up/down as the PHY and STATUS show it (the tap is always up: up after reset). */
void e1000_set_link(struct e1000 *e, bool up);

/* e1000_irq.c */
/* Causes happened now: set them in ICR and interrupt if unmasked (and ITR allows). */
void e1000_raise(struct e1000 *e, uint32_t causes);
/* RXT0 after the receive delay timers, TXDW after the transmit ones (ide: delayed). */
void e1000_rx_done(struct e1000 *e);
void e1000_tx_done(struct e1000 *e, bool ide);
/* ICR/IMS/IMC/ICS changed: put the line where it belongs. */
void e1000_update_irq(struct e1000 *e);
/* The timer fired (or pausing: flush = every delayed cause becomes pending now). */
void e1000_timers_run(struct e1000 *e, bool flush);
void e1000_timers_cancel(struct e1000 *e);

/* e1000_tx.c: walk the transmit ring from TDH to TDT */
void e1000_tx(struct e1000 *e);
/* e1000_offload.c: checksums and segmentation of one gathered packet (tx_buf, len bytes
 * after the vnet header): writes it (or its segments) to the tap. 0, or -EAGAIN when the
 * tap refused the first frame (nothing was sent). */
int e1000_tx_packet(struct e1000 *e, uint32_t len, bool tse, uint8_t popts, bool vle, uint16_t vlan,
		     int legacy_cso, int legacy_css);
/* Checksum helpers (ones' complement sums over big-endian 16-bit words). */
uint32_t e1000_csum_add(uint32_t sum, const uint8_t *p, uint32_t len);
uint16_t e1000_csum_fold(uint32_t sum);
/* Write one frame (vnet header first) to the tap: 0, or -EAGAIN when the tap is full. */
int e1000_tap_write(struct e1000 *e, const uint8_t *frame, uint32_t len);

/* e1000_rx.c */
/* Move frames from the tap into the receive ring (I/O thread). */
void e1000_rx(struct e1000 *e);
/* Whether a frame's destination passes RCTL's unicast/multicast/broadcast/VLAN filters. */
bool e1000_rx_accept(const struct e1000 *e, const uint8_t *frame, uint32_t len);
/* Put one frame (buf: the vnet header, then the frame; room for 64 more bytes after it) into
 * the receive ring. 1: done (delivered, or dropped as too long), 0: no room yet (buf as it was). */
int e1000_rx_deliver(struct e1000 *e, uint8_t *buf, uint32_t buf_len);
/* e1000_fcs.c: the received frame's Ethernet CRC-32 (the FCS appended unless RCTL.SECRC);
 * e1000_fcs_init loads the fast one (libdeflate) once, from a thread that may load libraries. */
void e1000_fcs_init(void);
uint32_t e1000_fcs(const uint8_t *f, size_t len);
/* RDT moved, RCTL changed: the ring may have room again. */
void e1000_rx_kick(struct e1000 *e);

/* e1000_mmds.c: MMDS on this interface (e->mmds set) */
/* Whether a frame is for MMDS (false without MMDS). */
bool e1000_mmds_wants(const struct e1000 *e, const uint8_t *frame, uint32_t len);
/* A frame leaving the card (after its offloads): true if it was for MMDS and taken. */
bool e1000_mmds_tx(struct e1000 *e, const uint8_t *frame, uint32_t len);
/* The stack's replies into the receive ring (I/O thread); true if any was delivered. */
bool e1000_mmds_rx(struct e1000 *e);
int e1000_mmds_timer_fd(const struct e1000 *e);
void e1000_mmds_timer(struct e1000 *e);
void e1000_mmds_destroy(struct e1000 *e);

/* e1000.c */
/* Watch the tap / timer for what the device can act on now. */
void e1000_set_interest(struct e1000 *e);
void e1000_arm_timer(struct e1000 *e, uint64_t due_ns);
/* Have the I/O thread run the device (its kick eventfd). */
void e1000_wake(struct e1000 *e);

/* Guest memory for descriptor rings and buffers; false (and counted) when outside RAM. */
bool e1000_dma_read(struct e1000 *e, uint64_t gpa, void *buf, uint32_t len);
bool e1000_dma_write(struct e1000 *e, uint64_t gpa, const void *buf, uint32_t len);

#endif
