/* 16550A UART model. Register map (offset from base, DLAB = LCR bit 7):
 *   0 RBR/THR (DLL with DLAB)   1 IER (DLM with DLAB)   2 IIR (read) / FCR (write)
 *   3 LCR   4 MCR   5 LSR   6 MSR   7 SCR
 * Transmission is instantaneous: THR is always empty again right after a write. The output
 * side (console fd, rate limiter, replication gate, buffering): serial_out.c. */
#include "devices/legacy/serial.h"
#include "devices/legacy/serial_int.h"
#include "devices/dev_state.h"
#include "util/error.h"
#include "util/stat.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
	IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08,
	IIR_NO_INT = 0x01, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLS = 0x06, IIR_FIFO = 0xc0,
	LSR_DR = 0x01, LSR_BI = 0x10, LSR_THRE = 0x20, LSR_TEMT = 0x40,
	LCR_DLAB = 0x80,
	MCR_LOOP = 0x10, MCR_OUT2 = 0x08,
	MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_DCD = 0x80,
	FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02,
};

static void power_on(struct serial_state *st)
{
	memset(st, 0, sizeof(*st));
	st->lsr = LSR_THRE | LSR_TEMT;
	st->msr = MSR_CTS | MSR_DSR | MSR_DCD;
	st->dll = 0x0c; /* 9600 baud, as after a BIOS */
}

void serial_init(struct serial *s, int out_fd, struct irq_line irq)
{
	memset(s, 0, offsetof(struct serial, out_buf));
	s->out_timer = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->irq = irq;
	power_on(&s->st);
}

static uint8_t iir_of(const struct serial_state *st)
{
	uint8_t fifo = (st->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
	if ((st->ier & IER_RLSI) && (st->lsr & LSR_BI))
		return IIR_RLS | fifo;
	if ((st->ier & IER_RDI) && st->rx_count)
		return IIR_RDI | fifo;
	if ((st->ier & IER_THRI) && st->iir_pending_thri)
		return IIR_THRI | fifo;
	return IIR_NO_INT | fifo;
}

/* Level-triggered line: high while an enabled condition is pending. As on a PC, the
 * line reaches the interrupt controller only when MCR.OUT2 is set. */
static void update_irq(struct serial *s)
{
	uint8_t level = !(iir_of(&s->st) & IIR_NO_INT) && (s->st.mcr & MCR_OUT2) &&
			!(s->st.mcr & MCR_LOOP);
	if (level != s->st.irq_level) {
		s->st.irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

int serial_restore(struct serial *s, const struct serial_state *st, char *err, size_t errlen)
{
	if (st->rx_head >= SERIAL_FIFO_LEN || st->rx_count > SERIAL_FIFO_LEN)
		return error_set(err, errlen, -EINVAL, "serial: saved receive FIFO at %u with %u bytes (of %u)", st->rx_head,
			 st->rx_count, SERIAL_FIFO_LEN);
	pthread_mutex_lock(&s->lock);
	s->st = *st;
	s->st.irq_level = 0;
	irq_line_set(&s->irq, 0);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void serial_reset(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	power_on(&s->st); /* input not yet read is dropped; output already written goes on out */
	irq_line_set(&s->irq, 0);
	pthread_mutex_unlock(&s->lock);
}

static void rx_push(struct serial_state *st, uint8_t b)
{
	if (st->rx_count == SERIAL_FIFO_LEN)
		return;
	st->rx[(st->rx_head + st->rx_count) % SERIAL_FIFO_LEN] = b;
	st->rx_count++;
	st->lsr |= LSR_DR;
}

static uint8_t reg_read(struct serial *s, unsigned off)
{
	struct serial_state *st = &s->st;
	switch (off) {
	case 0:
		if (st->lcr & LCR_DLAB)
			return st->dll;
		if (!st->rx_count)
			return 0;
		{
			uint8_t b = st->rx[st->rx_head];
			st->rx_head = (st->rx_head + 1) % SERIAL_FIFO_LEN;
			if (--st->rx_count == 0)
				st->lsr &= ~LSR_DR;
			return b;
		}
	case 1:
		return (st->lcr & LCR_DLAB) ? st->dlm : st->ier;
	case 2: {
		uint8_t iir = iir_of(st);
		if ((iir & 0x0f) == IIR_THRI)
			st->iir_pending_thri = 0; /* reading IIR acknowledges THRE */
		return iir;
	}
	case 3: return st->lcr;
	case 4: return st->mcr;
	case 5: {
		uint8_t lsr = st->lsr;
		st->lsr &= ~LSR_BI; /* reading LSR clears the line-status bits */
		return lsr;
	}
	case 6:
		if (st->mcr & MCR_LOOP) /* loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			return (uint8_t)(((st->mcr & 0x01) << 5) | ((st->mcr & 0x02) << 3) |
					 ((st->mcr & 0x0c) << 4));
		return st->msr;
	default: return st->scr;
	}
}

static void reg_write(struct serial *s, unsigned off, uint8_t v)
{
	struct serial_state *st = &s->st;
	switch (off) {
	case 0:
		if (st->lcr & LCR_DLAB) {
			st->dll = v;
			break;
		}
		if (st->mcr & MCR_LOOP)
			rx_push(st, v);
		else
			serial_emit(s, v);
		st->iir_pending_thri = 1;
		break;
	case 1:
		if (st->lcr & LCR_DLAB) {
			st->dlm = v;
			break;
		}
		/* Enabling THRI while THR is empty raises the interrupt at once. */
		if ((v & IER_THRI) && !(st->ier & IER_THRI))
			st->iir_pending_thri = 1;
		st->ier = v & 0x0f;
		break;
	case 2:
		if (v & FCR_CLEAR_RX) {
			st->rx_count = 0;
			st->lsr &= ~LSR_DR;
		}
		st->fcr = v & 0xc9;
		break;
	case 3: st->lcr = v; break;
	case 4: st->mcr = v & 0x1f; break;
	case 5: break; /* LSR is read-only */
	case 6: break;
	default: st->scr = v; break;
	}
}

void serial_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = reg_read(s, (unsigned)((off + i) & 7));
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		reg_write(s, (unsigned)((off + i) & 7), data[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = SERIAL_FIFO_LEN - s->st.rx_count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	size_t n = 0;
	while (n < len && s->st.rx_count < SERIAL_FIFO_LEN)
		rx_push(&s->st, buf[n++]);
	stat_add(&s->rx_bytes, n);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool serial_send_break(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	bool ok = s->st.rx_count == 0 && !(s->st.lsr & LSR_BI);
	if (ok) {
		rx_push(&s->st, 0); /* a break arrives as a zero character with BI set */
		s->st.lsr |= LSR_BI;
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* ---- saved state (section UART, docs/snapshots.md) ---- */

static void serial_save_state(void *dev, struct enc *e)
{
	struct serial *s = dev;
	pthread_mutex_lock(&s->lock);
	struct serial_state st = s->st;
	pthread_mutex_unlock(&s->lock);
	const uint8_t regs[] = { st.ier, st.iir_pending_thri, st.lcr, st.mcr, st.lsr, st.msr, st.scr, st.fcr,
				 st.dll, st.dlm };
	put_bytes(e, regs, sizeof(regs));
	put_bytes(e, st.rx, sizeof(st.rx));
	put_u8(e, st.rx_head);
	put_u8(e, st.rx_count);
	put_u8(e, st.irq_level);
}

static int serial_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct serial_state st = { 0 };
	st.ier = get_u8(d);
	st.iir_pending_thri = get_u8(d);
	st.lcr = get_u8(d);
	st.mcr = get_u8(d);
	st.lsr = get_u8(d);
	st.msr = get_u8(d);
	st.scr = get_u8(d);
	st.fcr = get_u8(d);
	st.dll = get_u8(d);
	st.dlm = get_u8(d);
	get_bytes(d, st.rx, sizeof(st.rx));
	st.rx_head = get_u8(d);
	st.rx_count = get_u8(d);
	st.irq_level = get_u8(d);
	int e = dec_end(d, "serial (UART)", err, errlen);
	return e < 0 ? e : serial_restore(dev, &st, err, errlen);
}

const struct dev_state_ops serial_state_ops = {
	.id = STATE_ID('U', 'A', 'R', 'T'), .version = 1,
	.save = serial_save_state, .load = serial_load_state,
};
