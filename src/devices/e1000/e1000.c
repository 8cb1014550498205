/* The E1000 on the PCI bus: identity, BARs, the device's life cycle and its I/O-thread side
 * (tap readiness, the delay/throttle timer, the rate limiters' timers). See e1000.h. */
#include "devices/e1000/e1000.h"
#include "devices/e1000/e1000_int.h"
#include "devices/dev_stats.h"
#include "kvm/kvm_coalesced.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/util.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define IO_BAR_SIZE 0x40        /* IOADDR, IODATA and reserved space */
#define E1000_REVISION 0x03
#define E1000_SUBSYS 0x001e

/* ---- guest memory ---- */

static bool dma_allowed(struct e1000 *e)
{
	/* No bus mastering, no DMA: a driver enables it before it hands out rings. */
	return pci_get(e->pci.st.cfg, PCI_COMMAND, 2) & PCI_COMMAND_MASTER;
}

bool e1000_dma_read(struct e1000 *e, uint64_t gpa, void *buf, uint32_t len)
{
	if (!len)
		return true;
	if (!dma_allowed(e) || guest_mem_read(e->mem, gpa, buf, len) < 0) {
		stat_add(&e->stats.bad_dma, 1);
		return false;
	}
	return true;
}

bool e1000_dma_write(struct e1000 *e, uint64_t gpa, const void *buf, uint32_t len)
{
	if (!len)
		return true;
	if (!dma_allowed(e) || guest_mem_write(e->mem, gpa, buf, len) < 0) {
		stat_add(&e->stats.bad_dma, 1);
		return false;
	}
	return true;
}

/* ---- coalesced MMIO (kvm/kvm_coalesced.h) ----
 * Writes to most registers do not exit: KVM queues them, and they take effect at the next exit
 * of any vCPU, in order. Not the ones the guest waits on or whose reads act (as QEMU's E1000
 * leaves them out): MDIC, ICR, ICS, IMS, IMC, TCTL and TDT (transmit runs on the TDT write).
 * RDT is coalesced: a driver reads or writes one of those soon after it (Linux's IMS write when
 * its poll ends), and should it not, the I/O thread replays the queue itself while the card
 * waits for receive buffers (flush_fd). */

static const uint32_t exits_always[] = { E1000_MDIC, E1000_ICR, E1000_ICS, E1000_IMS, E1000_IMC,
					 E1000_TCTL, E1000_TDT, E1000_BAR0_SIZE };

static struct kvm *coalescing_kvm(const struct e1000 *e)
{
	struct kvm *kvm = e->pci.bus ? e->pci.bus->kvm : NULL;
	return kvm && kvm_coalesced_available(kvm) ? kvm : NULL;
}

static void e1000_bar_moved(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct e1000 *e = dev->opaque;
	struct kvm *kvm = coalescing_kvm(e);
	if (bar != 0 || !kvm)
		return;
	if (old_addr)
		kvm_coalesced_zone(kvm, old_addr, E1000_BAR0_SIZE, false);
	if (!new_addr)
		return;
	uint32_t from = 0;
	for (size_t i = 0; i < sizeof(exits_always) / sizeof(exits_always[0]); i++) {
		if (exits_always[i] > from && kvm_coalesced_zone(kvm, new_addr + from, exits_always[i] - from, true) < 0) {
			kvm_coalesced_zone(kvm, new_addr, E1000_BAR0_SIZE, false);   /* all exit, as before */
			return;
		}
		from = exits_always[i] + 4;
	}
}

/* ---- epoll interest and the timers ---- */

/* While the card waits for receive buffers, replay coalesced writes every millisecond: the
 * RDT write that gives them back may be queued with no exit to come (a driver that polls its
 * descriptors in memory). */
static void arm_flush(struct e1000 *e)
{
	bool want = e->flush_fd >= 0 && e->rx_waiting && !e->paused && coalescing_kvm(e);
	if (want == e->flush_armed)
		return;
	struct itimerspec its = { 0 };
	if (want)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = 1000000;
	if (timerfd_settime(e->flush_fd, 0, &its, NULL) == 0)
		e->flush_armed = want;
}

void e1000_set_interest(struct e1000 *e)
{
	uint32_t ev = 0;
	if (!e->paused && !e->rx_waiting && !e->rx_rl.blocked)
		ev |= EPOLLIN;
	if (!e->paused && e->tx_waiting)
		ev |= EPOLLOUT;
	arm_flush(e);
	if (ev == e->tap_events || e->epfd < 0)
		return;
	struct epoll_event x = { .events = ev, .data.fd = e->tap.fd };
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, e->tap.fd, &x) < 0)
		log_warn("%s: cannot watch the tap: %s", e->name, strerror(errno));
	else
		e->tap_events = ev;
}

void e1000_arm_timer(struct e1000 *e, uint64_t due_ns)
{
	if (e->timer_fd < 0)
		return;
	struct itimerspec its = { 0 };
	if (due_ns && !e->paused) {
		its.it_value.tv_sec = (time_t)(due_ns / 1000000000ull);
		its.it_value.tv_nsec = (long)(due_ns % 1000000000ull);
	}
	timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void e1000_wake(struct e1000 *e)
{
	uint64_t one = 1;
	if (e->kick_fd >= 0 && write(e->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: kick: %s", e->name, strerror(errno));
}

static void e1000_ready(void *opaque, int fd, uint32_t events)
{
	struct e1000 *e = opaque;
	(void)fd;
	(void)events;
	struct epoll_event ev[7];   /* tap, timer, kick, two limiter timers, MMDS's timer, flush */
	pthread_mutex_lock(&e->lock);
	int k = epoll_wait(e->epfd, ev, 7, 0);
	bool rx = false, tx = false, flush = false;
	for (int i = 0; i < k; i++) {
		int f = ev[i].data.fd;
		if (f == e->flush_fd) {
			uint64_t ticks;
			if (read(f, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				log_debug("%s: flush timer: %s", e->name, strerror(errno));
			flush = true;
		} else if (f == e->timer_fd) {
			uint64_t ticks;
			if (read(f, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				log_debug("%s: timer: %s", e->name, strerror(errno));
			e1000_timers_run(e, false);
		} else if (f == e->kick_fd) {
			uint64_t n;
			if (read(f, &n, sizeof(n)) < 0 && errno != EAGAIN)
				log_debug("%s: kick: %s", e->name, strerror(errno));
			rx = true;
		} else if (f == e->rx_rl.timer_fd) {
			rate_limiter_timer_event(&e->rx_rl);
			rx = true;
		} else if (f == e->tx_rl.timer_fd) {
			rate_limiter_timer_event(&e->tx_rl);
			tx = true;
		} else if (f == e1000_mmds_timer_fd(e)) {
			e1000_mmds_timer(e);   /* a retransmission is due: the receive turn sends it */
			rx = true;
		} else {
			if ((ev[i].events & (EPOLLOUT | EPOLLERR)) && e->tx_waiting) {
				e->tx_waiting = false;
				tx = true;
			}
			if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				rx = true;
		}
	}
	if (!e->paused) {
		if (tx)
			e1000_tx(e);
		if (rx)
			e1000_rx(e);
	}
	e1000_set_interest(e);
	struct kvm *kvm = flush && e->rx_waiting ? coalescing_kvm(e) : NULL;
	pthread_mutex_unlock(&e->lock);
	/* without the lock: the replayed writes come back through e1000_bar_write, which takes
	 * it (an RDT one receives at once, e1000_rx_kick) */
	if (kvm && kvm_coalesced_flush(kvm) < 0)
		log_warn("%s: KVM's coalesced MMIO ring is corrupt", e->name);
}

void e1000_poll(struct e1000 *e)
{
	e1000_ready(e, e->epfd, EPOLLIN);
}

/* ---- register access from the bus ---- */

void e1000_bar_read(struct e1000 *e, int bar, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	pthread_mutex_lock(&e->lock);
	if (bar == 1) {
		/* the I/O window: IOADDR at 0, IODATA at 4 (dword accesses) */
		if (off == 0 && len == 4)
			put32(data, e->st.ioaddr);
		else if (off == 4 && len == 4 && e->st.ioaddr < E1000_BAR0_SIZE)
			put32(data, e1000_reg_read(e, e->st.ioaddr & ~3u));
	} else if (bar == 0) {
		for (uint32_t done = 0; done < len;) {
			/* every width: the bytes of the dwords it covers (reads act as dword reads) */
			uint32_t o = (uint32_t)(off + done), in = o & 3, n = 4 - in < len - done ? 4 - in : len - done;
			uint8_t v[4];
			put32(v, e1000_reg_read(e, o & ~3u));
			memcpy(data + done, v + in, n);
			done += n;
		}
	}
	pthread_mutex_unlock(&e->lock);
}

void e1000_bar_write(struct e1000 *e, int bar, uint64_t off, const uint8_t *data, uint32_t len)
{
	pthread_mutex_lock(&e->lock);
	if (bar == 1) {
		if (off == 0 && len == 4)
			e->st.ioaddr = get32(data) & (E1000_BAR0_SIZE - 4);
		else if (off == 4 && len == 4)
			e1000_reg_write(e, e->st.ioaddr, get32(data));
	} else if (bar == 0 && !(off & 3) && (len == 4 || len == 8)) {
		/* registers are written a dword at a time; narrower writes are ignored */
		e1000_reg_write(e, (uint32_t)off, get32(data));
		if (len == 8 && off + 4 < E1000_BAR0_SIZE)
			e1000_reg_write(e, (uint32_t)off + 4, get32(data + 4));
	}
	pthread_mutex_unlock(&e->lock);
}

static void pci_bar_read(struct pci_device *dev, int bar, uint64_t off, uint8_t *data, uint32_t len)
{
	e1000_bar_read(dev->opaque, bar, off, data, len);
}

static void pci_bar_write(struct pci_device *dev, int bar, uint64_t off, const uint8_t *data, uint32_t len)
{
	e1000_bar_write(dev->opaque, bar, off, data, len);
}

static const struct pci_device_ops e1000_pci_ops = {
	.bar_read = pci_bar_read,
	.bar_write = pci_bar_write,
	.bar_moved = e1000_bar_moved,
};

/* ---- life cycle ---- */

void e1000_reset(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	e1000_reset_regs(e);
	pthread_mutex_unlock(&e->lock);
}

void e1000_quiesce(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	e1000_timers_run(e, true);   /* delayed causes are pending now: the state says it all */
	e->paused = true;
	e1000_arm_timer(e, 0);
	e1000_set_interest(e);
	pthread_mutex_unlock(&e->lock);
}

void e1000_resume(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	e->paused = false;
	e->rx_waiting = false;
	e1000_update_irq(e);
	e1000_tx(e);
	e1000_wake(e);   /* a frame may wait in rx_buf */
	e1000_set_interest(e);
	pthread_mutex_unlock(&e->lock);
}

int e1000_set_rate_limiters(struct e1000 *e, const struct rate_limiter_config *rx,
			    const struct rate_limiter_config *tx)
{
	pthread_mutex_lock(&e->lock);
	uint64_t now = now_ns();
	int err = 0;
	if (rx && rx->present)
		err = rate_limiter_update(&e->rx_rl, rx, now);
	if (!err && tx && tx->present)
		err = rate_limiter_update(&e->tx_rl, tx, now);
	e1000_set_interest(e);
	pthread_mutex_unlock(&e->lock);
	return err;
}

static int watch(struct e1000 *e, int fd, uint32_t events)
{
	struct epoll_event x = { .events = events, .data.fd = fd };
	return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &x) < 0 ? -errno : 0;
}

static int setup(struct e1000 *e, const struct e1000_params *cfg, unsigned index, const struct guest_mem *mem,
		 struct io_thread *io, struct pci_bus *bus)
{
	e->mem = mem;
	e1000_fcs_init();
	snprintf(e->name, sizeof(e->name), "e1000-%u", index);
	snprintf(e->iface_id, sizeof(e->iface_id), "%s", cfg->iface_id ? cfg->iface_id : "");
	if (cfg->has_mac) {
		memcpy(e->mac, cfg->guest_mac, 6);
		e->mac_fixed = true;
	} else {
		/* a card needs an address in its EEPROM: a random locally administered one */
		if (getrandom(e->mac, 6, 0) != 6)
			return -EIO;
		e->mac[0] = (uint8_t)((e->mac[0] & 0xfe) | 0x02);
	}
	e->rx_buf = malloc(E1000_RX_MAX + 64);
	e->tx_buf = malloc(TAP_VNET_HDR_LEN + E1000_TX_MAX + 16);
	e->seg_buf = malloc(TAP_VNET_HDR_LEN + E1000_TX_MAX + 16);
	if (!e->rx_buf || !e->tx_buf || !e->seg_buf)
		return -ENOMEM;
	uint64_t now = now_ns();
	int err = rate_limiter_init(&e->rx_rl, &cfg->rx_rate_limiter, now);
	if (!err)
		err = rate_limiter_init(&e->tx_rl, &cfg->tx_rate_limiter, now);
	if (!err)
		err = rate_limiter_make_timer(&e->rx_rl);
	if (!err)
		err = rate_limiter_make_timer(&e->tx_rl);
	if (err)
		return err;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	e->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->flush_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (e->epfd < 0 || e->timer_fd < 0 || e->kick_fd < 0 || e->flush_fd < 0)
		return -errno;
	if ((err = watch(e, e->tap.fd, 0)) < 0 || (err = watch(e, e->timer_fd, EPOLLIN)) < 0 ||
	    (err = watch(e, e->kick_fd, EPOLLIN)) < 0 || (err = watch(e, e->flush_fd, EPOLLIN)) < 0 ||
	    (err = watch(e, e->rx_rl.timer_fd, EPOLLIN)) < 0 || (err = watch(e, e->tx_rl.timer_fd, EPOLLIN)) < 0)
		return err;

	e1000_eeprom_init(e);
	e1000_reset_regs(e);
	pci_device_init(&e->pci, e->name, E1000_VENDOR_INTEL, E1000_DEV_82540EM, 0x020000, E1000_REVISION,
			E1000_VENDOR_INTEL, E1000_SUBSYS, &e1000_pci_ops, e);
	pci_device_set_bar(&e->pci, 0, E1000_BAR0_SIZE);
	pci_device_set_io_bar(&e->pci, 1, IO_BAR_SIZE);
	if (bus) {
		if ((err = pci_bus_add(bus, &e->pci)) < 0)
			return err;
		pci_irq_init(&e->irq, bus, pci_intx_gsi(e->pci.slot));
	}
	e1000_set_interest(e);
	if (io) {
		if ((err = io_thread_add(io, e->epfd, EPOLLIN, e1000_ready, e)) < 0)
			return err;
		e->io = io;
	}
	return 0;
}

static void init_struct(struct e1000 *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	e->tap.fd = e->epfd = e->timer_fd = e->kick_fd = e->flush_fd = -1;
	e->rx_rl.timer_fd = e->tx_rl.timer_fd = -1;
}

int e1000_create(struct e1000 *e, const struct e1000_params *cfg, unsigned index,
		 const struct guest_mem *mem, struct io_thread *io, struct pci_bus *bus)
{
	init_struct(e);
	int err = tap_open(&e->tap, cfg->host_dev_name);
	if (err < 0)
		return err;
	e->is_tap = true;
	e->gso = true;   /* the kernel takes GSO frames from a tap with the vnet header */
	if ((err = setup(e, cfg, index, mem, io, bus)) < 0) {
		log_error("network interface '%s': cannot set up the E1000: %s", cfg->iface_id, strerror(-err));
		e1000_destroy(e);
		return err;
	}
	log_info("%s: interface '%s' on tap '%s', MAC %02x:%02x:%02x:%02x:%02x:%02x", e->name, e->iface_id,
		 e->tap.ifname, e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
	return 0;
}

int e1000_create_fd(struct e1000 *e, const struct e1000_params *cfg, unsigned index, int fd,
		    const struct guest_mem *mem, struct io_thread *io, struct pci_bus *bus)
{
	init_struct(e);
	e->tap.fd = fd;
	snprintf(e->tap.ifname, sizeof(e->tap.ifname), "fd%d", fd);
	int err = setup(e, cfg, index, mem, io, bus);
	if (err < 0)
		e1000_destroy(e);
	return err;
}

void e1000_destroy(struct e1000 *e)
{
	if (e->io && e->epfd >= 0)
		io_thread_remove(e->io, e->epfd);
	e->io = NULL;
	if (e->stats.rx_frames || e->stats.tx_frames)
		log_info("%s: rx %llu frames %llu bytes (%llu dropped, %llu filtered, waited %llu times), tx %llu "
			 "frames %llu bytes (%llu TSO segments, %llu errors, %llu malformed), %llu interrupts", e->name,
			 (unsigned long long)e->stats.rx_frames, (unsigned long long)e->stats.rx_bytes,
			 (unsigned long long)e->stats.rx_dropped, (unsigned long long)e->stats.rx_filtered,
			 (unsigned long long)e->stats.rx_blocked,
			 (unsigned long long)e->stats.tx_frames, (unsigned long long)e->stats.tx_bytes,
			 (unsigned long long)e->stats.tx_segments, (unsigned long long)e->stats.tx_errors, (unsigned long long)e->stats.tx_malformed,
			 (unsigned long long)e->stats.interrupts);
	e1000_mmds_destroy(e);
	rate_limiter_destroy(&e->rx_rl);
	rate_limiter_destroy(&e->tx_rl);
	if (e->timer_fd >= 0)
		close(e->timer_fd);
	if (e->kick_fd >= 0)
		close(e->kick_fd);
	if (e->flush_fd >= 0)
		close(e->flush_fd);
	e->kick_fd = e->flush_fd = -1;
	if (e->epfd >= 0)
		close(e->epfd);
	e->timer_fd = e->epfd = -1;
	tap_close(&e->tap);
	free(e->rx_buf);
	free(e->tx_buf);
	free(e->seg_buf);
	e->rx_buf = e->tx_buf = e->seg_buf = NULL;
}

static const char *const counter_names[DEV_NET_COUNTERS] = { DEV_NET_COUNTER_NAMES };

/* A card's counters under the names every interface has (what it does not count is 0). */
static void read_counters(void *dev, uint64_t *v)
{
	const struct e1000_host_stats *h = &((const struct e1000 *)dev)->stats;
	const uint64_t f[DEV_NET_COUNTERS] = {
		stat_read(&h->rx_bytes), stat_read(&h->rx_frames), stat_read(&h->rx_errors), stat_read(&h->rx_blocked),
		stat_read(&h->tx_bytes), stat_read(&h->tx_frames), stat_read(&h->tx_errors), stat_read(&h->tx_malformed),
		stat_read(&h->rx_dropped), 0 /* rx_bad_buffers */, stat_read(&h->tx_blocked), 0 /* tap_write_submits */,
	};
	memcpy(v, f, sizeof(f));
}

const struct dev_stats_ops e1000_stats_ops = {
	.group = "net", .own_group = true, .n = DEV_NET_COUNTERS, .names = counter_names, .read = read_counters,
};
