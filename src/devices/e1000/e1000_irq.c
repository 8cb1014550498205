/* The E1000's interrupts: causes in ICR (read to clear, or write ones to clear), set by the
 * device or by the driver through ICS, masked by IMS (IMS sets, IMC clears). The card asserts
 * its INTx line while ICR & IMS is not zero.
 *
 * Moderation, as the 8254x does it:
 * - ITR: an interrupt may not start sooner than ITR * 256 ns after the previous one started;
 *   a cause that arrives sooner waits (the line goes up when the interval ends).
 * - Receive: RXT0 comes RDTR * 1.024 us after the last frame (each frame restarts it), or at
 *   the latest RADV * 1.024 us after the first frame of the batch; RDTR 0: at once.
 * - Transmit: a descriptor with IDE delays TXDW by TIDV (restarted per descriptor), at most
 *   TADV after the first; without IDE, or with TIDV 0, TXDW comes at once.
 * One timerfd in the device's epoll set serves every deadline (e1000.c arms it).
 */
#include "devices/e1000/e1000_int.h"
#include "util/stat.h"
#include "util/util.h"

#define US_1024 1024ull   /* the delay timers count 1.024 us */
#define ITR_UNIT 256ull   /* ITR counts 256 ns */

static uint64_t earliest(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

static void rearm(struct e1000 *e)
{
	uint64_t due = 0;
	if (e->delayed & E1000_ICR_RXT0)
		due = earliest(e->rx_pkt_due, e->rx_abs_due);
	if (e->delayed & E1000_ICR_TXDW)
		due = earliest(due, earliest(e->tx_pkt_due, e->tx_abs_due));
	bool want = (e->st.icr & e->st.ims) != 0;
	if (want && !e->irq_level && e->itr_next)
		due = earliest(due, e->itr_next);
	e1000_arm_timer(e, due);
}

void e1000_update_irq(struct e1000 *e)
{
	bool want = (e->st.icr & e->st.ims) != 0;
	if (want && !e->irq_level) {
		uint64_t now = now_ns();
		if (e->st.itr && e->itr_next && now < e->itr_next) {
			rearm(e);   /* throttled: the timer raises it when the interval ends */
			return;
		}
		e->itr_next = e->st.itr ? now + e->st.itr * ITR_UNIT : 0;
		stat_add(&e->stats.interrupts, 1);
	}
	if (want != e->irq_level) {
		e->irq_level = want;
		if (e->irq.bus)
			pci_irq_set(&e->irq, want);
	}
}

void e1000_raise(struct e1000 *e, uint32_t causes)
{
	e->st.icr |= causes;
	e1000_update_irq(e);
}

void e1000_rx_done(struct e1000 *e)
{
	if (!e->st.rdtr) {
		e1000_raise(e, E1000_ICR_RXT0);
		return;
	}
	uint64_t now = now_ns();
	e->delayed |= E1000_ICR_RXT0;
	e->rx_pkt_due = now + e->st.rdtr * US_1024;
	if (e->st.radv && !e->rx_abs_due)
		e->rx_abs_due = now + e->st.radv * US_1024;
	rearm(e);
}

void e1000_tx_done(struct e1000 *e, bool ide)
{
	if (!ide || !e->st.tidv) {
		e1000_raise(e, E1000_ICR_TXDW);
		return;
	}
	uint64_t now = now_ns();
	e->delayed |= E1000_ICR_TXDW;
	e->tx_pkt_due = now + e->st.tidv * US_1024;
	if (e->st.tadv && !e->tx_abs_due)
		e->tx_abs_due = now + e->st.tadv * US_1024;
	rearm(e);
}

static bool due(uint64_t when, uint64_t now)
{
	return when && now >= when;
}

void e1000_timers_run(struct e1000 *e, bool flush)
{
	uint64_t now = now_ns();
	uint32_t fire = 0;
	if ((e->delayed & E1000_ICR_RXT0) && (flush || due(e->rx_pkt_due, now) || due(e->rx_abs_due, now))) {
		fire |= E1000_ICR_RXT0;
		e->rx_pkt_due = e->rx_abs_due = 0;
	}
	if ((e->delayed & E1000_ICR_TXDW) && (flush || due(e->tx_pkt_due, now) || due(e->tx_abs_due, now))) {
		fire |= E1000_ICR_TXDW;
		e->tx_pkt_due = e->tx_abs_due = 0;
	}
	e->delayed &= ~fire;
	if (flush)
		e->itr_next = 0;   /* a paused card owes no interval: the line goes up at once */
	e->st.icr |= fire;
	e1000_update_irq(e);
	rearm(e);
}

void e1000_timers_cancel(struct e1000 *e)
{
	e->delayed = 0;
	e->rx_pkt_due = e->rx_abs_due = e->tx_pkt_due = e->tx_abs_due = 0;
	e->itr_next = 0;
	e1000_arm_timer(e, 0);
}
