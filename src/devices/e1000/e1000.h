/* An emulated Intel 82540EM ("E1000") network card on petrel's PCI bus, beside virtio-net: the
 * card every OS has a driver for, at the price of a VM exit on almost every register access.
 *
 * BAR 0: the 128 KiB register file (e1000_regs.c); BAR 1: the I/O-port window, IOADDR at 0 and
 * IODATA at 4, a window onto the same registers. The EEPROM (MAC address, IDs, checksum) is
 * read through EERD or bit-banged through EECD as Linux's e1000 does, the M88E1011-like PHY
 * through MDIC (e1000_nvm.c). Receive and transmit use legacy descriptors and the extended ones
 * with checksum and TCP segmentation contexts (e1000_tx.c, e1000_rx.c). Interrupts are INTx,
 * with ICR/ICS/IMS/IMC, ITR throttling and the RDTR/RADV/TIDV/TADV delay timers (e1000_irq.c).
 *
 * The backend is the host tap with the vnet header, as for virtio-net (net/tap.h), with the
 * same rate limiters. Transmit runs on the vCPU thread that writes TDT (as on real hardware a
 * doorbell); receive on the I/O thread when the tap is readable, stopping (frames wait in the
 * tap) while the driver's ring is full, and going on when it writes RDT.
 *
 * Everything the guest writes is untrusted: ring bases and lengths are checked against guest
 * RAM per access, buffers outside RAM are skipped, a packet longer than E1000_TX_MAX or a ring
 * walk longer than the ring ends the walk.
 */
#ifndef PETREL_DEVICES_E1000_E1000_H
#define PETREL_DEVICES_E1000_E1000_H

#include "devices/dev_state.h"
#include "devices/e1000/e1000_regs.h"
#include "devices/pci/pci.h"
#include "net/tap.h"
#include "util/rate_limiter.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct e1000_mmds;
struct guest_mem;
struct mmds;
struct outgate;
struct io_thread;

#define E1000_ID_MAX 64           /* the longest iface_id kept (the definition allows DEVICES_ID_MAX) */
#define E1000_EEPROM_WORDS 64
#define E1000_PHY_REGS 32
#define E1000_MTA_WORDS 128
#define E1000_RA_WORDS 32
#define E1000_VFTA_WORDS 128
#define E1000_TX_MAX (65536 + 4096)   /* largest packet (a TSO one before segmentation) */
#define E1000_RX_MAX (TAP_VNET_HDR_LEN + 65535 + 18)

/* A transmit context (set by a context descriptor, used by the data descriptors after it). */
struct e1000_tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdr_len;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

/* The bit-banged EEPROM interface's progress (EECD). */
struct e1000_eecd {
	uint32_t latch;        /* SK, CS, DI, FWE, REQ as the driver last wrote them */
	uint16_t in;           /* bits shifted in (opcode, address) */
	uint8_t nin;           /* how many */
	uint8_t reading;       /* a READ opcode and address came: data goes out */
	uint16_t addr;         /* word being shifted out */
	uint8_t nout;          /* bits of it already out (0..15) */
};

/* The whole guest-visible state of the card (besides its PCI configuration space). */
struct e1000_state {
	uint32_t ctrl, status, ctrl_ext, eerd, mdic, fcal, fcah, fct, vet, fcttv, txcw, rxcw;
	uint32_t icr, ims, itr;
	uint32_t rctl, rdbal, rdbah, rdlen, rdh, rdt, rdtr, rxdctl, radv, rsrpd, rxcsum;
	uint32_t fcrtl, fcrth, pba, ledctl;
	uint32_t tctl, tipg, tdbal, tdbah, tdlen, tdh, tdt, tidv, txdctl, tadv, tspmt;
	uint32_t wuc, wufc, wus, manc;
	uint32_t ioaddr;       /* the I/O window's address latch */
	uint32_t mta[E1000_MTA_WORDS], ra[E1000_RA_WORDS], vfta[E1000_VFTA_WORDS];
	uint32_t stats[E1000_NSTATS];
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[E1000_PHY_REGS];
	struct e1000_eecd eecd;
	struct e1000_tx_ctx tx_ctx;
};

/* Host-side counters (petrel's metrics; the guest's own are in st.stats). */
struct e1000_host_stats {
	uint64_t rx_frames, rx_bytes, rx_dropped, rx_filtered, rx_errors, rx_blocked;
	uint64_t tx_frames, tx_bytes, tx_errors, tx_malformed, tx_blocked, tx_segments;
	uint64_t interrupts, reg_reads, reg_writes, bad_dma;
};

struct e1000 {
	struct pci_device pci;
	struct e1000_state st;
	pthread_mutex_t lock;
	char name[32];
	char iface_id[E1000_ID_MAX + 1];
	uint8_t mac[6];            /* the configured (or generated) MAC: the EEPROM's words 0..2 */
	bool mac_fixed;            /* configured (a restore must match it), else chosen by petrel */
	const struct guest_mem *mem;
	struct io_thread *io;
	struct pci_irq irq;
	bool irq_level;            /* what we last put on the line */
	struct tap tap;
	bool is_tap;               /* false: a datagram socket stands in (tests, fuzzing) */
	bool gso;                  /* the backend segments TSO packets itself (a tap): e1000_offload.c */
	struct outgate *gate;      /* while replicated: sent frames held per epoch (util/outgate.h) */
	int epfd;                  /* tap, timer, kick, limiter timers (watched by the I/O thread) */
	int timer_fd;
	int kick_fd;               /* eventfd: receive on the I/O thread (resume, MMDS replies) */
	int flush_fd;              /* timerfd: replay coalesced writes while rx_waiting (e1000.c) */
	bool flush_armed;
	uint32_t tap_events;
	bool rx_waiting;           /* the ring is full: not reading the tap until RDT moves */
	bool tx_waiting;           /* the tap refused a write: EPOLLOUT */
	bool paused;               /* quiesced: no tap traffic, no timers */
	/* delay timers and throttling, in now_ns() time; 0 = not armed */
	uint64_t rx_pkt_due, rx_abs_due, tx_pkt_due, tx_abs_due;
	uint32_t delayed;          /* causes waiting for their delay timer */
	uint64_t itr_next;         /* no interrupt may start before this */
	struct rate_limiter rx_rl, tx_rl;
	uint8_t *rx_buf;           /* E1000_RX_MAX: a frame from the tap */
	uint32_t rx_len;           /* a frame waits in rx_buf (for buffers or the limiter) */
	bool rx_paid;
	uint8_t *tx_buf;           /* E1000_TX_MAX + vnet header: a packet being gathered */
	uint8_t *seg_buf;          /* one segment of a TSO packet */
	struct e1000_mmds *mmds;   /* this interface answers MMDS (e1000_mmds.c), or NULL */
	struct e1000_host_stats stats;
};

/* What an E1000 is made from (vm/device_params.c fills it from the VM definition's network
 * interface; devices/ never sees config/). */
struct e1000_params {
	const char *iface_id;
	const char *host_dev_name;    /* the tap (e1000_create) */
	bool has_mac;
	uint8_t guest_mac[6];
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
};

/* Create the card for an interface (opens its tap) and put it on the bus. index names it. */
int e1000_create(struct e1000 *e, const struct e1000_params *cfg, unsigned index,
		 const struct guest_mem *mem, struct io_thread *io, struct pci_bus *bus);
/* The same over a datagram fd that carries whole frames with the vnet header (tests,
 * fuzzing); bus may be NULL (no INTx then). Takes fd. */
int e1000_create_fd(struct e1000 *e, const struct e1000_params *cfg, unsigned index, int fd,
		    const struct guest_mem *mem, struct io_thread *io, struct pci_bus *bus);
void e1000_destroy(struct e1000 *e);
/* Register accesses as the PCI bus makes them (BAR 0 registers, BAR 1 I/O window). */
void e1000_bar_read(struct e1000 *e, int bar, uint64_t off, uint8_t *data, uint32_t len);
void e1000_bar_write(struct e1000 *e, int bar, uint64_t off, const uint8_t *data, uint32_t len);
/* What the I/O thread does when the tap or a timer is ready (tests drive it by hand). */
void e1000_poll(struct e1000 *e);
/* Pausing: stop tap traffic and timers, turn delayed interrupt causes into pending ones, so
 * the whole state is in e->st and guest memory. Resume starts again. */
/* The machine's reset: every register as at power-on (the card's own reset, CTRL.RST; its
 * PCI configuration space is the bus's: pci_bus_reset). */
void e1000_reset(struct e1000 *e);
void e1000_quiesce(struct e1000 *e);
void e1000_resume(struct e1000 *e);
/* New rate limits at run time (PATCH /network-interfaces); absent configs change nothing. */
int e1000_set_rate_limiters(struct e1000 *e, const struct rate_limiter_config *rx,
			    const struct rate_limiter_config *tx);

/* Answer the metadata service svc at ip (host order) on this interface, as virtio-net does
 * (docs/mmds.md): before the VM runs. 0 or -errno. */
int e1000_mmds_enable(struct e1000 *e, struct mmds *svc, uint32_t ip);

/* Its saved state (e1000_state.c, section E1K in docs/snapshots.md; devices/dev_state.h):
 * dev is the struct e1000. */
extern const struct dev_state_ops e1000_state_ops;
/* Its counters for the metrics, under virtio-net's names ("net", "net_ID"; devices/dev_stats.h). */
struct dev_stats_ops;
extern const struct dev_stats_ops e1000_stats_ops;

#endif
